package dev.npukit.demo

import dev.npukit.demo.core.Accelerator
import dev.npukit.demo.core.AcceleratorChoice
import dev.npukit.demo.core.BundleException
import dev.npukit.demo.core.BundleMetadata
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
 * first; if its delegate cannot be created or applied, the model runs on the CPU (XNNPACK) and
 * [setup] carries the reason, shown in the UI and written to the device report.
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
        (delegate as? AutoCloseable)?.close()
    }

    companion object {
        /** Build an interpreter for [model] (the bundle's .tflite) with [choice], checking its
         *  tensors against [meta]. A model that differs from bundle.json is a [BundleException]. */
        fun create(model: ByteArray, meta: BundleMetadata, choice: AcceleratorChoice): LiteRtInvoker {
            val buffer = ByteBuffer.allocateDirect(model.size).order(ByteOrder.nativeOrder())
            buffer.put(model)
            buffer.rewind()
            val runtime = try {
                "LiteRT ${TensorFlowLite.runtimeVersion()}"
            } catch (e: Throwable) {
                "LiteRT"
            }
            var error: String? = null
            if (choice.accelerator != Accelerator.CPU) {
                val start = System.nanoTime()
                var delegate: Delegate? = null
                try {
                    delegate = makeDelegate(choice)
                    val options = Interpreter.Options().setNumThreads(choice.threads).addDelegate(delegate)
                    val interpreter = Interpreter(buffer, options)
                    val initMs = (System.nanoTime() - start) / 1e6
                    checkTensors(interpreter, meta)
                    val setup = RunSetup(
                        choice.accelerator.key, choice.accelerator.key, null, choice.reportedPreference, choice.threads, runtime, initMs,
                    )
                    return LiteRtInvoker(interpreter, delegate, setup)
                } catch (e: BundleException) {
                    (delegate as? AutoCloseable)?.close()
                    throw e
                } catch (e: Throwable) { // a missing driver, an unsupported op, a native library that failed to load
                    (delegate as? AutoCloseable)?.close()
                    error = "${choice.accelerator.label} delegate failed (${oneLine(e)}); running on the CPU"
                }
            }
            buffer.rewind()
            val start = System.nanoTime()
            val interpreter = Interpreter(buffer, Interpreter.Options().setNumThreads(choice.threads).setUseXNNPACK(true))
            val initMs = (System.nanoTime() - start) / 1e6
            checkTensors(interpreter, meta)
            val setup = RunSetup(choice.accelerator.key, Accelerator.CPU.key, error, null, choice.threads, runtime, initMs)
            return LiteRtInvoker(interpreter, null, setup)
        }

        private fun makeDelegate(choice: AcceleratorChoice): Delegate = when (choice.accelerator) {
            Accelerator.NNAPI -> NnApiDelegate(
                NnApiDelegate.Options()
                    .setUseNnapiCpu(false) // NN-API's own CPU reference path would hide a missing accelerator
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

        private fun checkTensors(interpreter: Interpreter, meta: BundleMetadata) {
            if (interpreter.inputTensorCount != meta.inputs.size || interpreter.outputTensorCount != meta.outputs.size) {
                interpreter.close()
                throw BundleException(
                    "the model has ${interpreter.inputTensorCount} inputs and ${interpreter.outputTensorCount} outputs; " +
                        "bundle.json lists ${meta.inputs.size} and ${meta.outputs.size}",
                )
            }
            val pairs = meta.inputs.indices.map { meta.inputs[it] to interpreter.getInputTensor(it) } +
                meta.outputs.indices.map { meta.outputs[it] to interpreter.getOutputTensor(it) }
            for ((spec, tensor) in pairs) {
                val q = tensor.quantizationParams()
                val why = spec.mismatch(tensor.shape().toList(), tensor.dataType().name, q.scale, q.zeroPoint)
                if (why != null) {
                    interpreter.close()
                    throw BundleException(why)
                }
            }
        }

        private fun oneLine(e: Throwable): String =
            (e.message ?: e.javaClass.simpleName).lines().first().take(200)
    }
}
