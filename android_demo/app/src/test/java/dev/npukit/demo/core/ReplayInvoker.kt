package dev.npukit.demo.core

import org.json.JSONObject
import java.io.File
import java.nio.ByteBuffer
import java.util.Base64

/**
 * A recorded model: every (inputs -> outputs) pair of a host trace
 * (android_demo/tools/host_trace.py: the host's LiteRT, invoke by invoke). Invoked with inputs
 * the host never fed, it fails and says which bytes differ from the nearest recorded step; a
 * deterministic model gives the same outputs for the same inputs, so a lookup is a faithful
 * stand-in for it. Returns its own lookup time.
 */
class ReplayInvoker(traceFile: File) : Invoker {
    class Step(val inputs: List<ByteArray>, val outputs: List<ByteArray>)

    val modelSha256: String
    val predictions = HashMap<Int, Int>()
    val steps = ArrayList<Step>()
    private val table = HashMap<String, Step>()
    var invokes = 0
        private set

    init {
        val root = JSONObject(traceFile.readText())
        modelSha256 = root.getString("model_sha256")
        val samples = root.getJSONArray("samples")
        val decoder = Base64.getDecoder()
        for (k in 0 until samples.length()) {
            val sample = samples.getJSONObject(k)
            predictions[sample.getInt("index")] = sample.getInt("prediction")
            val list = sample.getJSONArray("steps")
            for (t in 0 until list.length()) {
                val step = list.getJSONObject(t)
                val ins = step.getJSONArray("inputs")
                val outs = step.getJSONArray("outputs")
                val s = Step(
                    (0 until ins.length()).map { decoder.decode(ins.getString(it)) },
                    (0 until outs.length()).map { decoder.decode(outs.getString(it)) },
                )
                steps.add(s)
                table[key(s.inputs)] = s
            }
        }
    }

    private fun key(parts: List<ByteArray>): String = parts.joinToString("|") { Base64.getEncoder().encodeToString(it) }

    override fun invoke(inputs: Array<ByteBuffer>, outputs: Array<ByteBuffer>): Long {
        val start = System.nanoTime()
        val fed = inputs.map { b -> ByteArray(b.remaining()).also { b.duplicate().get(it) } }
        val step = table[key(fed)] ?: throw AssertionError(describeMiss(fed))
        for ((k, out) in outputs.withIndex()) out.duplicate().put(step.outputs[k])
        invokes++
        return System.nanoTime() - start
    }

    private fun describeMiss(fed: List<ByteArray>): String {
        val nearest = steps.minByOrNull { s -> s.inputs.indices.sumOf { i -> s.inputs[i].indices.count { s.inputs[i][it] != fed[i].getOrNull(it) } } }
            ?: return "the trace is empty"
        val diffs = nearest.inputs.indices.map { i -> nearest.inputs[i].indices.count { nearest.inputs[i][it] != fed[i].getOrNull(it) } }
        return "the app fed inputs the host never fed; bytes differing from the nearest host step, per input: $diffs"
    }
}
