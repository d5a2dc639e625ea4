package dev.npukit.demo.core

import org.junit.Assert.assertEquals
import org.junit.Test

/** Expected values printed by numpy 2 (np.mean, np.std, np.percentile) for the same data. */
class LatencyStatsTest {
    @Test
    fun matchesNumpy() {
        val s = LatencyStats.of(doubleArrayOf(3.0, 1.0, 4.0, 1.5, 9.0, 2.6, 5.0, 3.5, 8.9, 7.0, 0.25))
        assertEquals(11, s.count)
        assertEquals(4.159090909090909, s.mean, 1e-12)
        assertEquals(2.880247636277303, s.std, 1e-12)
        assertEquals(0.25, s.min, 0.0)
        assertEquals(9.0, s.max, 0.0)
        assertEquals(3.5, s.p50, 1e-12)
        assertEquals(8.9, s.p90, 1e-12)
        assertEquals(8.99, s.p99, 1e-12)
    }

    @Test
    fun interpolatesLikeNumpy() {
        assertEquals(1.5, LatencyStats.percentile(doubleArrayOf(1.0, 2.0), 50.0), 0.0)
        assertEquals(0.6, LatencyStats.percentile(doubleArrayOf(0.1, 0.2, 0.7), 90.0), 0.0)
        assertEquals(7.0, LatencyStats.of(doubleArrayOf(7.0)).p99, 0.0)
    }
}
