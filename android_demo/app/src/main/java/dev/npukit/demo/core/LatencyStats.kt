package dev.npukit.demo.core

import kotlin.math.floor
import kotlin.math.sqrt

/**
 * Summary of times in milliseconds, with the definitions of npukit's host profiler
 * (numpy): population standard deviation, percentiles by linear interpolation between
 * the closest ranks (numpy.percentile's default).
 */
class LatencyStats(
    val count: Int,
    val mean: Double,
    val std: Double,
    val min: Double,
    val max: Double,
    val p50: Double,
    val p90: Double,
    val p99: Double,
) {
    companion object {
        fun of(timesMs: DoubleArray): LatencyStats {
            require(timesMs.isNotEmpty()) { "no times to summarize" }
            require(timesMs.all { it.isFinite() && it >= 0.0 }) { "times must be finite and non-negative" }
            val sorted = timesMs.sortedArray()
            val mean = timesMs.sum() / timesMs.size
            val variance = timesMs.sumOf { (it - mean) * (it - mean) } / timesMs.size
            return LatencyStats(
                timesMs.size, mean, sqrt(variance), sorted.first(), sorted.last(),
                percentile(sorted, 50.0), percentile(sorted, 90.0), percentile(sorted, 99.0),
            )
        }

        /** numpy.percentile(values, q) with method 'linear', on ascending [sorted] values. */
        fun percentile(sorted: DoubleArray, q: Double): Double {
            val position = (sorted.size - 1) * q / 100.0
            val lo = floor(position).toInt()
            val hi = minOf(lo + 1, sorted.size - 1)
            val t = position - lo
            val a = sorted[lo]
            val b = sorted[hi]
            // numpy's _lerp: exact at both ends
            return if (t >= 0.5) b - (b - a) * (1 - t) else a + (b - a) * t
        }
    }
}
