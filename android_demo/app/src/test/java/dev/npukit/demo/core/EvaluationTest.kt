package dev.npukit.demo.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Test
import java.nio.ByteBuffer

class EvaluationTest {
    /** A model that answers class (first input byte mod 3) and takes 1, 2, 3, ... ms per invoke. */
    private class Fake : Invoker {
        var calls = 0L

        override fun invoke(inputs: Array<ByteBuffer>, outputs: Array<ByteBuffer>): Long {
            val cls = Math.floorMod(inputs[0].get(0).toInt(), 3)
            for (k in 0 until 3) outputs[0].put(k, (if (k == cls) 100 else 0).toByte())
            calls++
            return calls * 1_000_000L
        }
    }

    @Test
    fun timesAndScoresLikeTheHostProfiler() {
        val meta = BundleMetadata.parse(Fixtures.rateJson())
        // frame values x -> int8 rint(x / 0.5) - 1: sample 0 -> 1 (class 1), sample 1 -> 3 (class 0)
        val frames = floatArrayOf(1f, 0f, 0f, 0f, 2f, 0f, 0f, 0f)
        val vectors = TestVectors.decode(Fixtures.vectorsBytes(intArrayOf(1, 2), intArrayOf(1, 0), frames, 1))
        var ticks = 0L
        val runner = SampleRunner(meta, vectors) { ticks += 500_000L; ticks }
        val seen = ArrayList<Int>()
        val e = Evaluation.run(runner, vectors, Fake(), temporal = false, warmup = 3) { k, _ -> seen.add(k) }
        assertArrayEquals(intArrayOf(1, 0), e.predictions)
        assertEquals(listOf(0, 1), seen)
        assertEquals(1.0, e.firstInferenceMs, 0.0) // invoke 1
        assertEquals(3.0, e.warmupMeanMs!!, 0.0) // invokes 2, 3, 4
        assertArrayEquals(doubleArrayOf(5.0, 6.0), e.latencySamplesMs, 0.0)
        assertEquals(5.5, e.latency.p50, 0.0)
        assertEquals(1, e.correct)
        assertEquals(0.5, e.accuracy!!, 0.0)
        assertEquals(1.0, e.hostAgreement, 0.0)
        assertNull(e.stepLoop)
    }
}
