package dev.npukit.demo.core

/**
 * One pass over the bundled test samples, timed as npukit's host profiler times a model:
 * the first invoke after the interpreter was built ([firstInferenceMs]), [warmup] samples whose
 * invokes are averaged into [warmupMeanMs], then every sample once: its invokes make the
 * steady-state statistics ([latency]; one invoke is one timestep for a temporal model) and,
 * for a temporal model, each whole T-step sample makes [stepLoop].
 */
class Evaluation(
    val predictions: IntArray,
    val labels: IntArray,
    val labeled: Boolean,
    val hostPredictions: IntArray,
    val firstInferenceMs: Double,
    val warmup: Int,
    val warmupMeanMs: Double?,
    val latency: LatencyStats,
    val latencySamplesMs: DoubleArray,
    val stepLoop: LatencyStats?,
) {
    val samples: Int get() = predictions.size

    /** Samples whose prediction equals their label (0 for unlabeled data). */
    val correct: Int get() = if (labeled) predictions.indices.count { predictions[it] == labels[it] } else 0

    /** Fraction of samples predicted right; null for unlabeled data. */
    val accuracy: Double? get() = if (labeled) correct.toDouble() / samples else null

    /** Fraction of samples where this device and the host's LiteRT agree on the top-1 class. */
    val hostAgreement: Double get() = predictions.indices.count { predictions[it] == hostPredictions[it] }.toDouble() / samples

    companion object {
        private const val NS_PER_MS = 1e6

        /** Run [runner] over all samples with [invoker]; [onSample] sees each timed result. */
        fun run(
            runner: SampleRunner,
            vectors: TestVectors,
            invoker: Invoker,
            temporal: Boolean,
            warmup: Int = 10,
            onSample: (Int, SampleResult) -> Unit = { _, _ -> },
        ): Evaluation {
            require(warmup >= 0) { "warmup must be >= 0" }
            val first = runner.run(0, invoker)
            val warm = ArrayList<Long>()
            warm.addAll(first.invokeNanos.drop(1))
            for (k in 0 until warmup) warm.addAll(runner.run(k % vectors.samples, invoker).invokeNanos.toList())
            val predictions = IntArray(vectors.samples)
            val steady = ArrayList<Double>()
            val loops = DoubleArray(vectors.samples)
            for (k in 0 until vectors.samples) {
                val result = runner.run(k, invoker)
                predictions[k] = result.prediction
                for (ns in result.invokeNanos) steady.add(ns / NS_PER_MS)
                loops[k] = result.sampleNanos / NS_PER_MS
                onSample(k, result)
            }
            val samplesMs = steady.toDoubleArray()
            return Evaluation(
                predictions, vectors.labels, vectors.labeled, vectors.hostPredictions,
                first.invokeNanos[0] / NS_PER_MS, warmup,
                if (warm.isEmpty()) null else warm.average() / NS_PER_MS,
                LatencyStats.of(samplesMs), samplesMs,
                if (temporal) LatencyStats.of(loops) else null,
            )
        }
    }
}
