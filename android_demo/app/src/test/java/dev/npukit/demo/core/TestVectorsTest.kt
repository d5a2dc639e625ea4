package dev.npukit.demo.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

class TestVectorsTest {
    private val frames = FloatArray(12) { it * 0.5f }

    @Test
    fun decodesTheDocumentedLayout() {
        val v = TestVectors.decode(Fixtures.vectorsBytes(intArrayOf(2, -1), intArrayOf(2, 0), frames, framesPerSample = 3))
        assertEquals(2, v.samples)
        assertEquals(3, v.framesPerSample)
        assertEquals(2, v.elementsPerFrame)
        assertTrue(v.labeled)
        assertArrayEquals(intArrayOf(2, -1), v.labels)
        assertArrayEquals(intArrayOf(2, 0), v.hostPredictions)
        assertArrayEquals(floatArrayOf(4.0f, 4.5f), v.frame(1, 1), 0f) // sample 1, frame 1 = elements 8, 9
    }

    @Test
    fun oneFrameServesEveryStep() {
        val v = TestVectors.decode(Fixtures.vectorsBytes(intArrayOf(0, 1, 2), intArrayOf(0, 1, 2), frames, framesPerSample = 1, labeled = false))
        assertFalse(v.labeled)
        assertArrayEquals(v.frame(2, 0), v.frame(2, 24), 0f)
        assertArrayEquals(floatArrayOf(4.0f, 4.5f, 5.0f, 5.5f), v.frame(2, 7), 0f)
    }

    @Test
    fun refusesDamagedFiles() {
        val good = Fixtures.vectorsBytes(intArrayOf(1), intArrayOf(1), FloatArray(4), framesPerSample = 1)
        for ((bytes, fragment) in listOf(
            good.copyOf(10) to "shorter",
            good.copyOf(good.size - 1) to "make",
            (byteArrayOf(0x58, 0x58, 0x58, 0x58) + good.copyOfRange(4, good.size)) to "magic",
            (good.copyOf(4) + byteArrayOf(2, 0, 0, 0) + good.copyOfRange(8, good.size)) to "version 2",
        )) {
            try {
                TestVectors.decode(bytes)
                fail("accepted a file that should fail with '$fragment'")
            } catch (e: BundleException) {
                assertTrue(e.message!!, e.message!!.contains(fragment))
            }
        }
    }
}
