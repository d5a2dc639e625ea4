package dev.npukit.demo

import dev.npukit.demo.core.Accelerator
import dev.npukit.demo.core.AcceleratorChoice
import dev.npukit.demo.core.BundleException
import dev.npukit.demo.core.BundleMetadata
import dev.npukit.demo.core.Coverage
import dev.npukit.demo.core.Invoker
import dev.npukit.demo.core.RunSetup
import org.tensorflow.lite.Delegate
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.TensorFlowLite
import org.tensorflow.lite.gpu.CompatibilityList
import org.tensorflow.lite.gpu.GpuDelegate
import org.tensorflow.lite.nnapi.NnApiDelegate
import java.io.Closeable
import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * LiteRT's Interpreter behind the [Invoker] the core loop calls. The user's accelerator is tried
 * first, with XNNPACK off so that the execution plan shows what the delegate took ([Coverage]).
 * If its delegate cannot be created or applied, or takes none of the model, the model runs on
 * the CPU (XNNPACK) and [setup] carries the reason, shown in the UI and written to the report.
 */
class LiteRtInvoker private constructor(
    private val interpreter: Interpreter,
    private val delegate: Delegate?,
    val setup: RunSetup,
) : Invoker, Closeable {
    private val outputMap = HashMap<Int, Any>()

    override fun invoke(inputs: Array<ByteBuffer>, outputs: Array<ByteBuffer>): Long {
        for ((k, buffer) in outputs.withIndex()) outputMap[k] = buffer
        val args: Array<Any> = Array(inputs.size) { inputs[it] }
        val start = System.nanoTime()
        interpreter.runForMultipleInputsOutputs(args, outputMap)
        val wall = System.nanoTime() - start
        // the native invoke alone, as the host profiler times it; the wall time if LiteRT has none
        return interpreter.lastNativeInferenceDurationNanoseconds ?: wall
    }

    override fun close() {
        interpreter.close()
        delegate?.close()
    }

    companion object {
        /** Build an interpreter for [model] (the bundle's .tflite) with [choice], checking its
         *  tensors against [meta]. A model that differs from bundle.json is a [BundleException]. */
        fun create(model: ByteArray, meta: BundleMetadata, choice: AcceleratorChoice): LiteRtInvoker {
            val buffer = ByteBuffer.allocateDirect(model.size).order(ByteOrder.nativeOrder())
            buffer.put(model)
            buffer.rewind()
            val runtime = "LiteRT ${BuildConfig.LITERT_VERSION} (TFLite runtime ${runtimeVersion()})"
            var error: String? = null
            if (choice.accelerator != Accelerator.CPU) {
                val start = System.nanoTime()
                var delegate: Delegate? = null
                var interpreter: Interpreter? = null
                try {
                    delegate = makeDelegate(choice)
                    val options = Interpreter.Options().setNumThreads(choice.threads).setUseXNNPACK(false).addDelegate(delegate)
                    interpreter = Interpreter(buffer, options)
                    interpreter.allocateTensors()
                    val initMs = (System.nanoTime() - start) / 1e6
                    checkTensors(interpreter, meta)
                    val nodes = executionPlanNodes(interpreter)
                    val coverage = Coverage.of(nodes, meta.modelOperators)
                    if (coverage == Coverage.NONE) {
                        throw UnsupportedOperationException("it took none of the model's ${meta.modelOperators} operators")
                    }
                    val setup = RunSetup(
                        choice.accelerator.key, choice.accelerator.key, null, choice.reportedPreference, choice.threads, runtime,
                        initMs, coverage, nodes,
                    )
                    return LiteRtInvoker(interpreter, delegate, setup)
                } catch (e: BundleException) {
                    interpreter?.close()
                    delegate?.close()
                    throw e
                } catch (e: Throwable) { // a missing driver, an unsupported op, a native library that failed to load
                    interpreter?.close()
                    delegate?.close()
                    error = "${choice.accelerator.label} delegate failed (${oneLine(e)}); running on the CPU"
                }
            }
            buffer.rewind()
            val start = System.nanoTime()
            val interpreter = Interpreter(buffer, Interpreter.Options().setNumThreads(choice.threads).setUseXNNPACK(true))
            interpreter.allocateTensors()
            val initMs = (System.nanoTime() - start) / 1e6
            try {
                checkTensors(interpreter, meta)
            } catch (e: BundleException) {
                interpreter.close()
                throw e
            }
            val setup = RunSetup(choice.accelerator.key, Accelerator.CPU.key, error, null, choice.threads, runtime, initMs)
            return LiteRtInvoker(interpreter, null, setup)
        }

        private fun makeDelegate(choice: AcceleratorChoice): Delegate = when (choice.accelerator) {
            Accelerator.NNAPI -> NnApiDelegate(
                NnApiDelegate.Options()
                    .setUseNnapiCpu(false) // NN-API's own CPU reference path would hide a missing accelerator (API 29+)
                    .setAllowFp16(false)
                    .setExecutionPreference(choice.preference.code),
            )
            Accelerator.GPU -> {
                val compatibility = CompatibilityList()
                try {
                    if (!compatibility.isDelegateSupportedOnThisDevice) {
                        throw UnsupportedOperationException("this GPU is not on LiteRT's CompatibilityList")
                    }
                    GpuDelegate(compatibility.bestOptionsForThisDevice)
                } finally {
                    compatibility.close()
                }
            }
            Accelerator.CPU -> throw IllegalArgumentException("the CPU needs no delegate")
        }

        /** The interpreter's execution plan length. LiteRT keeps the getter package-private (its
         *  tests use it); null when it cannot be read. */
        private fun executionPlanNodes(interpreter: Interpreter): Int? = try {
            // declared on Interpreter's package-private superclass (InterpreterImpl in LiteRT 1.4)
            val owner = generateSequence<Class<*>>(interpreter.javaClass) { it.superclass }
                .first { c -> c.declaredMethods.any { it.name == "getExecutionPlanLength" && it.parameterCount == 0 } }
            val method = owner.getDeclaredMethod("getExecutionPlanLength")
            method.isAccessible = true
            method.invoke(interpreter) as Int
        } catch (e: Throwable) {
            null
        }

        private fun checkTensors(interpreter: Interpreter, meta: BundleMetadata) {
            if (interpreter.inputTensorCount != meta.inputs.size || interpreter.outputTensorCount != meta.outputs.size) {
                throw BundleException(
                    "the model has ${interpreter.inputTensorCount} inputs and ${interpreter.outputTensorCount} outputs; " +
                        "bundle.json lists ${meta.inputs.size} and ${meta.outputs.size}",
                )
            }
            val pairs = meta.inputs.indices.map { meta.inputs[it] to interpreter.getInputTensor(it) } +
                meta.outputs.indices.map { meta.outputs[it] to interpreter.getOutputTensor(it) }
            for ((spec, tensor) in pairs) {
                val q = tensor.quantizationParams()
                spec.mismatch(tensor.shape().toList(), tensor.dataType().name, q.scale, q.zeroPoint)?.let { throw BundleException(it) }
            }
        }

        private fun runtimeVersion(): String = try {
            TensorFlowLite.runtimeVersion()
        } catch (e: Throwable) {
            "unknown"
        }

        private fun oneLine(e: Throwable): String = (e.message ?: e.javaClass.simpleName).lines().first().take(200)
    }
}
