package dev.npukit.demo.core

import org.json.JSONArray
import org.json.JSONObject

/** The phone, as android.os.Build describes it. */
class DeviceInfo(val model: String, val manufacturer: String, val soc: String, val apiLevel: Int, val abi: String)

/** How the interpreter was set up: the delegate asked for, the one that ran, why they differ,
 *  and how much of the model the delegate took ([Coverage]; null on the CPU). */
class RunSetup(
    val delegateRequested: String,
    val delegate: String,
    val delegateError: String?,
    val executionPreference: String?,
    val threads: Int?,
    val runtime: String,
    val initMs: Double,
    val coverage: Coverage? = null,
    val executionPlanNodes: Int? = null,
)

/**
 * The benchmark JSON that `npukit profile MODEL --device-report FILE` reads
 * (schema: npukit/schemas/device_report.schema.json). Times in ms, sizes in bytes,
 * accuracy and host agreement as fractions.
 */
object DeviceReport {
    const val FORMAT = "npukit-device-report"
    val DELEGATES = setOf("nnapi", "gpu", "cpu")

    fun build(meta: BundleMetadata, device: DeviceInfo, setup: RunSetup, evaluation: Evaluation, created: String): JSONObject {
        require(setup.delegate in DELEGATES && setup.delegateRequested in DELEGATES) { "delegate must be one of $DELEGATES" }
        val report = JSONObject()
        report.put("format", FORMAT)
        report.put("version", 1)
        report.put("model", meta.name)
        report.put("model_sha256", meta.modelSha256)
        report.put("model_bytes", meta.modelBytes)
        report.put("mode", meta.mode)
        report.put("timesteps", meta.timesteps)
        val phone = JSONObject()
        phone.put("model", device.model)
        phone.put("manufacturer", device.manufacturer)
        phone.put("soc", device.soc)
        phone.put("api_level", device.apiLevel)
        phone.put("abi", device.abi)
        report.put("device", phone)
        report.put("delegate", setup.delegate)
        report.put("delegate_requested", setup.delegateRequested)
        report.put("delegate_error", setup.delegateError ?: JSONObject.NULL)
        report.put("delegate_coverage", setup.coverage?.key ?: JSONObject.NULL)
        report.put("model_operators", meta.modelOperators)
        report.put("execution_plan_nodes", setup.executionPlanNodes ?: JSONObject.NULL)
        report.put("execution_preference", setup.executionPreference ?: JSONObject.NULL)
        report.put("threads", setup.threads ?: JSONObject.NULL)
        report.put("runtime", setup.runtime)
        report.put("init_ms", setup.initMs)
        report.put("first_inference_ms", evaluation.firstInferenceMs)
        report.put("warmup", evaluation.warmup)
        report.put("warmup_mean_ms", evaluation.warmupMeanMs ?: JSONObject.NULL)
        report.put("runs", evaluation.latency.count)
        report.put("latency_ms", stats(evaluation.latency))
        val samples = JSONArray()
        for (ms in evaluation.latencySamplesMs) samples.put(ms)
        report.put("latency_samples_ms", samples)
        evaluation.stepLoop?.let { report.put("step_loop_ms", stats(it)) }
        report.put("accuracy", evaluation.accuracy ?: JSONObject.NULL)
        report.put("samples", evaluation.samples)
        report.put("correct", evaluation.correct)
        report.put("host_agreement", evaluation.hostAgreement)
        report.put("created", created)
        return report
    }

    private fun stats(s: LatencyStats): JSONObject {
        val o = JSONObject()
        o.put("count", s.count)
        o.put("mean", s.mean)
        o.put("std", s.std)
        o.put("min", s.min)
        o.put("max", s.max)
        o.put("p50", s.p50)
        o.put("p90", s.p90)
        o.put("p99", s.p99)
        return o
    }

    /** A file name for the report: npukit-report-BUNDLE-DELEGATE-STAMP.json. */
    fun fileName(meta: BundleMetadata, delegate: String, stamp: String): String = "npukit-report-${meta.name}-$delegate-$stamp.json"
}
