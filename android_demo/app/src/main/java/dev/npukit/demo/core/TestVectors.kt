package dev.npukit.demo.core

import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * vectors.bin (layout npkv1, little-endian), as `npukit bundle` writes it:
 * magic "NPKV", uint32 version (1), N samples, F frames per sample, E elements per frame, flags
 * (bit 0: labels are real); int32[N] labels (-1: none); int32[N] host predictions;
 * float32[N * F * E] frames (sample, then frame, then element in the model's input layout).
 */
class TestVectors(
    val samples: Int,
    val framesPerSample: Int,
    val elementsPerFrame: Int,
    val labeled: Boolean,
    val labels: IntArray,
    val hostPredictions: IntArray,
    private val frames: FloatArray,
) {
    /** The frame fed at [step] to [sample]: with one frame per sample, the same at every step. */
    fun frame(sample: Int, step: Int): FloatArray {
        require(sample in 0 until samples) { "sample $sample out of 0..${samples - 1}" }
        val f = if (framesPerSample == 1) 0 else step
        require(f in 0 until framesPerSample) { "step $step out of 0..${framesPerSample - 1}" }
        val start = (sample * framesPerSample + f) * elementsPerFrame
        return frames.copyOfRange(start, start + elementsPerFrame)
    }

    companion object {
        const val HEADER_BYTES = 24
        private const val MAGIC = 0x564B504E // "NPKV" read as a little-endian int

        /** Decode npkv1 bytes; a wrong magic, version or length is a [BundleException]. */
        fun decode(bytes: ByteArray): TestVectors {
            if (bytes.size < HEADER_BYTES) throw BundleException("vectors.bin: ${bytes.size} bytes, shorter than its header")
            val buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN)
            if (buf.getInt() != MAGIC) throw BundleException("vectors.bin: not an npukit vectors file (bad magic)")
            val version = buf.getInt()
            if (version != 1) throw BundleException("vectors.bin: layout version $version; this app reads 1")
            val n = buf.getInt()
            val f = buf.getInt()
            val e = buf.getInt()
            val flags = buf.getInt()
            if (n <= 0 || f <= 0 || e <= 0) throw BundleException("vectors.bin: empty (N=$n, F=$f, E=$e)")
            val expected = HEADER_BYTES.toLong() + 8L * n + 4L * n * f * e
            if (bytes.size.toLong() != expected) {
                throw BundleException("vectors.bin: ${bytes.size} bytes, but N=$n, F=$f, E=$e make $expected")
            }
            val labels = IntArray(n) { buf.getInt() }
            val predictions = IntArray(n) { buf.getInt() }
            val frames = FloatArray(n * f * e)
            buf.asFloatBuffer().get(frames)
            return TestVectors(n, f, e, flags and 1 == 1, labels, predictions, frames)
        }
    }
}
