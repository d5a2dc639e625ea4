package dev.npukit.demo.core

import java.nio.ByteBuffer
import java.nio.ByteOrder

/** Runs the model once on prepared buffers (inputs and outputs in model order, each rewound)
 *  and returns the inference time in nanoseconds. On the phone: LiteRT's Interpreter. */
fun interface Invoker {
    fun invoke(inputs: Array<ByteBuffer>, outputs: Array<ByteBuffer>): Long
}

/** The outcome for one sample: the predicted class, the readout (the mean over T, or the last
 *  step's for a recurrent ANN: bundle.json's readout), and the time of
 *  each invoke (ns; one per timestep) and of the whole sample (ns, host loop included). */
class SampleResult(val prediction: Int, val readout: DoubleArray, val invokeNanos: LongArray, val sampleNanos: Long)

/**
 * Feeds a bundle's test vectors through an [Invoker], as npukit's host loop does
 * (npukit.run_temporal): rate mode invokes once; temporal mode invokes T times, feeding the frame
 * and the states, reading the readout and the next states, which are dequantized with the
 * output's parameters and quantized with the input's for the next step. Readouts are summed
 * over T in float64; the prediction is their argmax, or the last readout's where bundle.json's
 * readout is "last" (a recurrent ANN).
 */
class SampleRunner(private val meta: BundleMetadata, private val vectors: TestVectors, private val clock: () -> Long = System::nanoTime) {
    val inputs: Array<ByteBuffer> = meta.inputs.map { direct(it.byteSize) }.toTypedArray()
    val outputs: Array<ByteBuffer> = meta.outputs.map { direct(it.byteSize) }.toTypedArray()

    init {
        if (vectors.samples != meta.samples || vectors.elementsPerFrame != meta.elementsPerFrame ||
            vectors.framesPerSample != meta.framesPerSample
        ) {
            throw BundleException("vectors.bin (N=${vectors.samples}, F=${vectors.framesPerSample}, E=${vectors.elementsPerFrame}) does not match bundle.json")
        }
    }

    fun run(sample: Int, invoker: Invoker): SampleResult {
        val start = clock()
        val sum = ReadoutSum(meta.outputs[meta.readoutOutput].elements)
        val times = LongArray(meta.timesteps)
        for (s in meta.states) {
            val buffer = rewound(inputs[s.input])
            Quantization.fill(s.init, meta.inputs[s.input], buffer)
        }
        for (t in 0 until meta.timesteps) {
            Quantization.write(vectors.frame(sample, t), meta.inputs[meta.frameInput], rewound(inputs[meta.frameInput]))
            for (b in inputs) b.rewind()
            for (b in outputs) b.rewind()
            times[t] = invoker.invoke(inputs, outputs)
            sum.add(Quantization.read(meta.outputs[meta.readoutOutput], rewound(outputs[meta.readoutOutput])))
            for (s in meta.states) {
                val next = Quantization.read(meta.outputs[s.output], rewound(outputs[s.output]))
                Quantization.write(next, meta.inputs[s.input], rewound(inputs[s.input]))
            }
        }
        return SampleResult(sum.prediction(meta.readout), sum.result(meta.readout), times, clock() - start)
    }

    private fun rewound(buffer: ByteBuffer): ByteBuffer {
        buffer.rewind()
        return buffer
    }

    private fun direct(bytes: Int): ByteBuffer = ByteBuffer.allocateDirect(bytes).order(ByteOrder.nativeOrder())
}
