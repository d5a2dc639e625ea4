package dev.npukit.demo.core

import org.json.JSONObject
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test

class DeviceReportTest {
    private val device = DeviceInfo("Pixel 8", "Google", "Google Tensor G3", 34, "arm64-v8a")

    private fun evaluation(labeled: Boolean) = Evaluation(
        predictions = intArrayOf(1, 0), labels = intArrayOf(1, 2), labeled = labeled, hostPredictions = intArrayOf(1, 1),
        firstInferenceMs = 2.0, warmup = 3, warmupMeanMs = null, latency = LatencyStats.of(doubleArrayOf(1.0, 3.0)),
        latencySamplesMs = doubleArrayOf(1.0, 3.0), stepLoop = null,
    )

    @Test
    fun writesTheFiguresTheProfilerReads() {
        val meta = BundleMetadata.parse(Fixtures.rateJson())
        val setup = RunSetup("nnapi", "nnapi", null, "sustained_speed", 4, "LiteRT 1.4.2", 12.5, Coverage.PARTIAL, 3)
        val text = DeviceReport.build(meta, device, setup, evaluation(labeled = true), "2026-11-27T08:00:00Z").toString(2)
        val report = JSONObject(text)
        assertEquals("npukit-device-report", report.getString("format"))
        assertEquals(34, report.getJSONObject("device").getInt("api_level"))
        assertEquals("nnapi", report.getString("delegate"))
        assertEquals("nnapi", report.getString("delegate_requested"))
        assertEquals("partial", report.getString("delegate_coverage"))
        assertEquals(3, report.getInt("execution_plan_nodes"))
        assertEquals(7, report.getInt("model_operators"))
        assertEquals(0.5, report.getDouble("accuracy"), 0.0)
        assertEquals(0.5, report.getDouble("host_agreement"), 0.0)
        assertEquals(2.0, report.getJSONObject("latency_ms").getDouble("mean"), 0.0)
        assertEquals(2.8, report.getJSONObject("latency_ms").getDouble("p90"), 1e-12)
        assertEquals(2, report.getInt("runs"))
        assertEquals(100L, report.getLong("model_bytes"))
        assertTrue(report.isNull("warmup_mean_ms")) // written as null, not dropped
        assertTrue(report.has("warmup_mean_ms"))
        assertFalse(report.has("step_loop_ms"))
    }

    @Test
    fun unlabeledDataHasNullAccuracy() {
        val meta = BundleMetadata.parse(Fixtures.rateJson())
        val setup = RunSetup("cpu", "cpu", null, null, null, "LiteRT 1.4.2", 1.0)
        val report = DeviceReport.build(meta, device, setup, evaluation(labeled = false), "t")
        assertTrue(report.has("accuracy") && report.isNull("accuracy"))
        assertTrue(report.isNull("delegate_error") && report.isNull("threads"))
        assertTrue(report.isNull("delegate_coverage") && report.isNull("execution_plan_nodes"))
        assertEquals("npukit-report-tiny-cpu-20261127.json", DeviceReport.fileName(meta, "cpu", "20261127"))
    }
}
