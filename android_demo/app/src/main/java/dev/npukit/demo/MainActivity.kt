package dev.npukit.demo

import android.os.Bundle
import android.util.Log
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.lifecycle.lifecycleScope
import dev.npukit.demo.core.AcceleratorChoice
import dev.npukit.demo.core.BundleException
import dev.npukit.demo.core.Coverage
import dev.npukit.demo.core.DeviceReport
import dev.npukit.demo.core.Evaluation
import dev.npukit.demo.core.ReportFile
import dev.npukit.demo.core.SampleRunner
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.tensorflow.lite.gpu.CompatibilityList
import java.time.Instant
import java.time.ZoneOffset
import java.time.format.DateTimeFormatter

/**
 * The demo: pick a bundled model and an accelerator, run the bundled test samples (Run), or run
 * them after a warm-up and write the device report (Benchmark). Model facts come from the
 * bundle's metadata; the loop, statistics and report are the tested core (package core).
 */
class MainActivity : ComponentActivity() {
    private val state = DemoState()

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        state.bundles = try {
            AssetBundles.list(assets)
        } catch (e: Exception) {
            emptyList()
        }
        state.selected = state.bundles.firstOrNull()
        if (state.bundles.isEmpty()) state.error = "no bundles in the app's assets: run npukit bundle (README) and rebuild"
        state.gpuSupported = gpuOnCompatibilityList()
        setContent {
            DemoScreen(state, onRun = { start(benchmark = false) }, onBenchmark = { start(benchmark = true) })
        }
    }

    private fun gpuOnCompatibilityList(): Boolean = try {
        val list = CompatibilityList()
        try {
            list.isDelegateSupportedOnThisDevice
        } finally {
            list.close()
        }
    } catch (e: Throwable) {
        Log.w(TAG, "GPU CompatibilityList unavailable: ${e.message}")
        false
    }

    private fun start(benchmark: Boolean) {
        val name = state.selected ?: return
        if (state.running) return
        state.running = true
        state.error = null
        state.delegateMessage = null
        state.summary = emptyList()
        state.rows.clear()
        state.progress = 0
        val choice = AcceleratorChoice(state.accelerator, state.threads, state.preference)
        lifecycleScope.launch {
            try {
                val outcome = withContext(Dispatchers.Default) { evaluate(name, choice, benchmark) }
                state.rows.addAll(outcome.first)
                state.summary = outcome.second
            } catch (e: BundleException) {
                state.error = e.message
            } catch (e: Exception) {
                state.error = "${e.javaClass.simpleName}: ${e.message}"
                Log.e(TAG, "run failed", e)
            } finally {
                state.running = false
                state.status = ""
            }
        }
    }

    /** Runs on a worker thread: returns the per-sample rows and the summary lines. */
    private fun evaluate(name: String, choice: AcceleratorChoice, benchmark: Boolean): Pair<List<SampleRow>, List<String>> {
        state.status = "loading $name"
        val files = AssetBundles.load(assets, name)
        val meta = files.meta
        val vectors = files.vectors
        state.total = meta.samples
        LiteRtInvoker.create(files.model, meta, choice).use { invoker ->
            val setup = invoker.setup
            val warning = setup.delegateError ?: if (setup.coverage == Coverage.PARTIAL) {
                "${choice.accelerator.label} took part of the model (${setup.executionPlanNodes} plan nodes for " +
                    "${meta.modelOperators} operators); the rest runs on the CPU"
            } else {
                null
            }
            warning?.let {
                state.delegateMessage = it
                Log.w(TAG, it)
            }
            state.status = "${meta.samples} samples on ${setup.delegate} (${meta.mode} mode, T=${meta.timesteps})"
            val rows = ArrayList<SampleRow>(meta.samples)
            val evaluation = Evaluation.run(SampleRunner(meta, vectors), vectors, invoker, meta.temporal, if (benchmark) WARMUP else 0) { k, r ->
                val label = vectors.labels[k]
                rows.add(
                    SampleRow(
                        k, if (label >= 0) files.classes[label] else "-", files.classes[r.prediction],
                        if (vectors.labeled) r.prediction == label else null, r.prediction == vectors.hostPredictions[k],
                        r.invokeNanos.sum() / 1e6,
                    ),
                )
                state.progress = k + 1
            }
            val lines = ArrayList<String>()
            val accuracy = evaluation.accuracy
            lines.add(
                (if (accuracy != null) "accuracy %.2f%% (%d/%d)".format(100 * accuracy, evaluation.correct, evaluation.samples) else "unlabeled data") +
                    "; top-1 agreement with the host %.2f%%".format(100 * evaluation.hostAgreement) +
                    (meta.hostAccuracy?.let { "; host accuracy %.2f%%".format(100 * it) } ?: ""),
            )
            lines.add("latency per invoke: p50 %.3f ms, p90 %.3f ms (%d invokes)".format(evaluation.latency.p50, evaluation.latency.p90, evaluation.latency.count))
            evaluation.stepLoop?.let { lines.add("per sample (T=${meta.timesteps} steps): p50 %.3f ms, p90 %.3f ms".format(it.p50, it.p90)) }
            val coverage = setup.coverage?.let { " (${it.key}: ${setup.executionPlanNodes ?: "?"} plan nodes for ${meta.modelOperators} operators)" } ?: ""
            lines.add("delegate ${setup.delegate}$coverage, init %.1f ms, first invoke %.3f ms".format(setup.initMs, evaluation.firstInferenceMs))
            lines.add(setup.runtime)
            if (benchmark) {
                val now = Instant.now()
                val stamp = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss").withZone(ZoneOffset.UTC).format(now)
                val report = DeviceReport.build(meta, thisDevice(), setup, evaluation, DateTimeFormatter.ISO_INSTANT.format(now))
                val folder = getExternalFilesDir(null) ?: filesDir
                val file = ReportFile.write(folder, DeviceReport.fileName(meta, setup.delegate, stamp), report.toString(2) + "\n")
                Log.i(TAG, "device report: ${file.absolutePath}")
                lines.add("report: ${file.absolutePath}")
            }
            return rows to lines
        }
    }

    companion object {
        const val TAG = "npukit"
        const val WARMUP = 10
    }
}
