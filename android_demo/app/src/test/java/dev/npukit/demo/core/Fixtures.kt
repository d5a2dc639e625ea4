package dev.npukit.demo.core

import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder

/** Test helpers: the shipped bundles (app/src/main/assets) and hand-made bundle.json texts.
 *  Tests run with the app module folder as working directory (Gradle's default and
 *  tools/jvm_tests.sh's). */
object Fixtures {
    val assets = File("src/main/assets")

    fun bundleFolders(): List<File> =
        (assets.listFiles() ?: emptyArray()).filter { File(it, "bundle.json").isFile }.sortedBy { it.name }

    fun load(folder: File): Pair<BundleMetadata, TestVectors> =
        BundleMetadata.parse(File(folder, "bundle.json").readText()) to TestVectors.decode(File(folder, "vectors.bin").readBytes())

    /** A valid rate-mode bundle.json for an int8 2x2x1 input and 3 classes. */
    fun rateJson(classes: String = "[\"a\", \"b\", \"c\"]", format: String = "npukit-android-bundle", version: Int = 1): String = """
        {"format": "$format", "version": $version, "name": "tiny", "npukit_version": "0.1.0",
         "model": {"file": "model.tflite", "bytes": 100, "sha256": "${"0".repeat(64)}", "operators": 7},
         "vectors": {"file": "vectors.bin", "bytes": 72, "sha256": "${"1".repeat(64)}", "layout": "npkv1",
                     "samples": 2, "elements_per_frame": 4, "labeled": true, "data": "hand-made"},
         "labels": {"file": "labels.txt", "classes": $classes},
         "mode": "rate", "timesteps": 1, "encoding": "none", "frames_per_sample": 1,
         "inputs": [{"name": "x", "dtype": "int8", "shape": [1, 2, 2, 1], "scale": 0.5, "zero_point": -1}],
         "outputs": [{"name": "y", "dtype": "int8", "shape": [1, 3], "scale": 0.25, "zero_point": 0}],
         "frame_input": 0, "readout_output": 0, "states": [], "spiking_output": false,
         "host": {"interpreter": "ai_edge_litert", "accuracy": 0.5, "predictions": "vectors.bin"}}
    """.trimIndent()

    /** npkv1 bytes, written field by field (independently of [TestVectors.decode]). */
    fun vectorsBytes(labels: IntArray, predictions: IntArray, frames: FloatArray, framesPerSample: Int, labeled: Boolean = true): ByteArray {
        val n = labels.size
        val e = frames.size / (n * framesPerSample)
        val buf = ByteBuffer.allocate(24 + 8 * n + 4 * frames.size).order(ByteOrder.LITTLE_ENDIAN)
        buf.put("NPKV".toByteArray(Charsets.US_ASCII))
        buf.putInt(1).putInt(n).putInt(framesPerSample).putInt(e).putInt(if (labeled) 1 else 0)
        for (v in labels) buf.putInt(v)
        for (v in predictions) buf.putInt(v)
        for (v in frames) buf.putFloat(v)
        return buf.array()
    }
}
