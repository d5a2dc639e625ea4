package dev.npukit.demo.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File

/**
 * The app's loop (SampleRunner: quantization, state carrying, readout sums, argmax) against the
 * host's, byte for byte: a [ReplayInvoker] answers with the host's LiteRT outputs and fails on
 * any input byte the host loop did not feed.
 */
class HostTraceTest {
    private val traces = File("src/test/resources/host_traces")

    @Test
    fun everyShippedBundleReplaysTheHostLoop() {
        val folders = Fixtures.bundleFolders()
        assertTrue(folders.isNotEmpty())
        for (folder in folders) {
            val (meta, vectors) = Fixtures.load(folder)
            val replay = ReplayInvoker(File(traces, "${meta.name}.json"))
            assertEquals("trace and bundle name different models", meta.modelSha256, replay.modelSha256)
            val runner = SampleRunner(meta, vectors)
            for ((sample, hostPrediction) in replay.predictions) {
                val result = runner.run(sample, replay)
                assertEquals("${meta.name} sample $sample", hostPrediction, result.prediction)
                assertEquals(vectors.hostPredictions[sample], result.prediction)
                assertEquals(meta.timesteps, result.invokeNanos.size)
            }
            assertEquals(replay.predictions.size * meta.timesteps, replay.invokes)
        }
    }

    @Test
    fun aWrongQuantizationIsCaught() {
        val folder = Fixtures.bundleFolders().first { !Fixtures.load(it).first.temporal }
        val (meta, vectors) = Fixtures.load(folder)
        val text = File(folder, "bundle.json").readText()
        val zero = meta.inputs[0].zeroPoint!!
        val shifted = BundleMetadata.parse(text.replaceFirst("\"zero_point\": $zero", "\"zero_point\": ${zero + 1}"))
        val replay = ReplayInvoker(File(traces, "${meta.name}.json"))
        try {
            SampleRunner(shifted, vectors).run(0, replay)
            throw IllegalStateException("a shifted zero point went unnoticed")
        } catch (e: AssertionError) {
            assertTrue(e.message!!.contains("never fed"))
        }
    }
}
