package dev.npukit.demo.core

import org.json.JSONArray
import org.json.JSONException
import org.json.JSONObject

/** A bundle that cannot be used: the message is one line, shown to the user as is. */
class BundleException(message: String) : Exception(message)

/** Element types of model inputs and outputs a bundle may declare; [quantized] ones carry a
 *  scale and zero point (INT32: token ids, fed as the whole numbers they are). */
enum class DType(val bytes: Int, val label: String, val quantized: Boolean) {
    FLOAT32(4, "float32", false), INT8(1, "int8", true), UINT8(1, "uint8", true), INT32(4, "int32", false);

    companion object {
        fun parse(label: String): DType =
            values().firstOrNull { it.label == label } ?: throw BundleException("unsupported tensor dtype '$label'")
    }
}

/** One model input or output as bundle.json describes it. [scale] and [zeroPoint] are null for
 *  float32 tensors; an integer value q stands for (q - zeroPoint) * scale. */
class TensorSpec(val name: String, val dtype: DType, val shape: List<Int>, val scale: Float?, val zeroPoint: Int?) {
    val elements: Int get() = shape.fold(1) { a, b -> a * b }
    val byteSize: Int get() = elements * dtype.bytes

    /** Why a tensor the interpreter reports differs from this spec, or null when it matches. */
    fun mismatch(actualShape: List<Int>, actualDtype: String, actualScale: Float, actualZeroPoint: Int): String? {
        if (actualShape != shape) return "tensor '$name': the model has shape $actualShape, bundle.json says $shape"
        if (!actualDtype.equals(dtype.label, ignoreCase = true)) return "tensor '$name': the model has $actualDtype, bundle.json says ${dtype.label}"
        if (dtype.quantized && (actualScale != scale || actualZeroPoint != zeroPoint)) {
            return "tensor '$name': the model's quantization ($actualScale, $actualZeroPoint) differs from bundle.json ($scale, $zeroPoint)"
        }
        return null
    }
}

/** A recurrent state tensor of a temporal model: fed as input [input], read back as output [output]. */
class StateSpec(val layer: String, val kind: String, val input: Int, val output: Int, val init: Float)

/** bundle.json, written by `npukit bundle` (schema: npukit/schemas/bundle.schema.json). */
class BundleMetadata(
    val name: String,
    val modelFile: String,
    val modelBytes: Long,
    val modelSha256: String,
    val modelOperators: Int,
    val vectorsFile: String,
    val vectorsBytes: Long,
    val vectorsSha256: String,
    val samples: Int,
    val elementsPerFrame: Int,
    val labeled: Boolean,
    val data: String,
    val labelsFile: String,
    val classes: List<String>,
    val temporal: Boolean,
    val timesteps: Int,
    val encoding: String,
    val framesPerSample: Int,
    val inputs: List<TensorSpec>,
    val outputs: List<TensorSpec>,
    val frameInput: Int,
    val readoutOutput: Int,
    val states: List<StateSpec>,
    val spikingOutput: Boolean,
    val hostAccuracy: Double?,
    val hostInterpreter: String,
    /** What the per-step readouts make: "mean" (a spiking network) or "last" (a recurrent ANN). */
    val readout: String = "mean",
) {
    val mode: String get() = if (temporal) "temporal" else "rate"

    companion object {
        const val FORMAT = "npukit-android-bundle"
        const val VERSION = 1

        /** Parse and check bundle.json; any problem is a [BundleException] naming it. */
        fun parse(text: String): BundleMetadata {
            val root = try {
                JSONObject(text)
            } catch (e: JSONException) {
                throw BundleException("bundle.json is not valid JSON (${e.message})")
            }
            try {
                return fromJson(root)
            } catch (e: JSONException) {
                throw BundleException("bundle.json: ${e.message}")
            }
        }

        private fun fromJson(root: JSONObject): BundleMetadata {
            val format = root.getString("format")
            if (format != FORMAT) throw BundleException("bundle.json: format is '$format', not '$FORMAT'")
            val version = root.getInt("version")
            if (version != VERSION) throw BundleException("bundle.json: version $version; this app reads version $VERSION")
            val model = root.getJSONObject("model")
            val vectors = root.getJSONObject("vectors")
            val labels = root.getJSONObject("labels")
            val host = root.getJSONObject("host")
            val mode = root.getString("mode")
            if (mode != "rate" && mode != "temporal") throw BundleException("bundle.json: unknown mode '$mode'")
            val readout = root.optString("readout", "mean") // absent in bundles from before recurrent ANNs
            if (readout != "mean" && readout != "last") throw BundleException("bundle.json: unknown readout '$readout'")
            val inputs = tensors(root.getJSONArray("inputs"))
            val outputs = tensors(root.getJSONArray("outputs"))
            val states = states(root.getJSONArray("states"))
            val meta = BundleMetadata(
                name = root.getString("name"),
                modelFile = model.getString("file"),
                modelBytes = model.getLong("bytes"),
                modelSha256 = model.getString("sha256"),
                modelOperators = model.getInt("operators"),
                vectorsFile = vectors.getString("file"),
                vectorsBytes = vectors.getLong("bytes"),
                vectorsSha256 = vectors.getString("sha256"),
                samples = vectors.getInt("samples"),
                elementsPerFrame = vectors.getInt("elements_per_frame"),
                labeled = vectors.getBoolean("labeled"),
                data = vectors.getString("data"),
                labelsFile = labels.getString("file"),
                classes = strings(labels.getJSONArray("classes")),
                temporal = mode == "temporal",
                timesteps = root.getInt("timesteps"),
                encoding = root.getString("encoding"),
                framesPerSample = root.getInt("frames_per_sample"),
                inputs = inputs,
                outputs = outputs,
                frameInput = root.getInt("frame_input"),
                readoutOutput = root.getInt("readout_output"),
                states = states,
                spikingOutput = root.getBoolean("spiking_output"),
                hostAccuracy = if (host.isNull("accuracy")) null else host.getDouble("accuracy"),
                hostInterpreter = host.getString("interpreter"),
                readout = readout,
            )
            meta.check()
            return meta
        }

        private fun tensors(array: JSONArray): List<TensorSpec> = (0 until array.length()).map { k ->
            val t = array.getJSONObject(k)
            val shape = t.getJSONArray("shape")
            TensorSpec(
                name = t.getString("name"),
                dtype = DType.parse(t.getString("dtype")),
                shape = (0 until shape.length()).map { shape.getInt(it) },
                scale = if (t.isNull("scale")) null else t.getDouble("scale").toFloat(),
                zeroPoint = if (t.isNull("zero_point")) null else t.getInt("zero_point"),
            )
        }

        private fun states(array: JSONArray): List<StateSpec> = (0 until array.length()).map { k ->
            val s = array.getJSONObject(k)
            StateSpec(s.getString("layer"), s.getString("kind"), s.getInt("input"), s.getInt("output"), s.getDouble("init").toFloat())
        }

        private fun strings(array: JSONArray): List<String> = (0 until array.length()).map { array.getString(it) }
    }

    /** Consistency the app relies on; bundle.json from `npukit bundle` always passes. */
    private fun check() {
        fun fail(why: String): Nothing = throw BundleException("bundle.json: $why")
        if (inputs.isEmpty() || outputs.isEmpty()) fail("no inputs or outputs")
        if (frameInput != 0 || readoutOutput != 0) fail("the frame must be input 0 and the readout output 0")
        if (inputs[0].shape.firstOrNull() != 1) fail("the app runs batch-1 models; input 0 has shape ${inputs[0].shape}")
        for (t in inputs + outputs) {
            if (t.shape.any { it <= 0 }) fail("tensor '${t.name}' has a non-positive dimension")
            if (t.dtype.quantized && (t.scale == null || t.scale <= 0f || t.zeroPoint == null)) fail("tensor '${t.name}' lacks its quantization")
        }
        if (inputs[0].elements != elementsPerFrame) fail("input 0 holds ${inputs[0].elements} values, the vectors $elementsPerFrame per frame")
        if (classes.size != outputs[0].elements) fail("${classes.size} classes for a readout of ${outputs[0].elements} values")
        if (timesteps < 1 || framesPerSample < 1 || samples < 1) fail("timesteps, frames per sample and samples must be positive")
        if (framesPerSample != 1 && framesPerSample != timesteps) fail("frames per sample must be 1 or T")
        if (!temporal && (timesteps != 1 || inputs.size != 1 || states.isNotEmpty())) fail("a rate-mode model has one input and T = 1")
        if (temporal && states.size != inputs.size - 1) fail("${inputs.size} inputs but ${states.size} state tensors")
        for (s in states) {
            if (s.input !in 1 until inputs.size || s.output !in 1 until outputs.size) fail("state '${s.layer}' names a tensor the model lacks")
            if (inputs[s.input].shape != outputs[s.output].shape) fail("state '${s.layer}': input and output shapes differ")
        }
    }
}
