package dev.npukit.demo.core

import java.io.File

/**
 * Writes android_demo/sample_device_report.json with the app's own report builder: the shipped
 * rate bundle evaluated by [SampleRunner] over every test sample, the model answered by the
 * host trace's replay ([ReplayInvoker]). No phone is involved: the device fields say so, and
 * the latencies are the replay's lookups on the JVM, not a model's inference times.
 * Run by tools/jvm_tests.sh: SampleReport OUTPUT [BUNDLE_NAME].
 */
fun main(args: Array<String>) {
    val out = File(args.getOrElse(0) { "../sample_device_report.json" })
    val name = args.getOrElse(1) { "digits_cnn" }
    val (meta, vectors) = Fixtures.load(File(Fixtures.assets, name))
    val replay = ReplayInvoker(File("src/test/resources/host_traces/$name.json"))
    val runner = SampleRunner(meta, vectors)
    val evaluation = Evaluation.run(runner, vectors, replay, meta.temporal, warmup = 10)
    val device = DeviceInfo("JVM replay of the host trace (no phone)", "none", "none", 35, System.getProperty("os.arch"))
    val setup = RunSetup("cpu", "cpu", null, null, 1, "host trace replay (tools/host_trace.py), not LiteRT", 0.0)
    val report = DeviceReport.build(meta, device, setup, evaluation, "sample")
    out.writeText(report.toString(2) + "\n")
    println("wrote ${out.path}: ${evaluation.samples} samples, accuracy ${evaluation.accuracy}, host agreement ${evaluation.hostAgreement}")
}
