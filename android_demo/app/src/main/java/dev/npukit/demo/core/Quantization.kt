package dev.npukit.demo.core

import java.nio.ByteBuffer
import kotlin.math.round

/**
 * Float values to and from a tensor's bytes, as npukit does on the host
 * (npukit.runtime.quantize / dequantize): q = clamp(round(x / scale) + zeroPoint) in float32
 * arithmetic, ties to even; x = (q - zeroPoint) * scale. Float32 tensors pass values through;
 * int32 tensors (token ids) take the values rounded to whole numbers.
 */
object Quantization {
    /** The integer a float [value] quantizes to (clamped to the dtype's range). */
    fun quantize(value: Float, scale: Float, zeroPoint: Int, dtype: DType): Int {
        val q = round(value / scale).toDouble() + zeroPoint // kotlin.math.round: ties to even, as numpy.round
        val (lo, hi) = if (dtype == DType.UINT8) 0.0 to 255.0 else -128.0 to 127.0
        return q.coerceIn(lo, hi).toInt()
    }

    /** Write [values] into [buffer] (from its current position) as [spec]'s element type. */
    fun write(values: FloatArray, spec: TensorSpec, buffer: ByteBuffer) {
        require(values.size == spec.elements) { "${values.size} values for tensor '${spec.name}' of ${spec.elements}" }
        when (spec.dtype) {
            DType.FLOAT32 -> for (v in values) buffer.putFloat(v)
            DType.INT32 -> for (v in values) buffer.putInt(round(v).toInt())
            else -> {
                val scale = spec.scale!!
                val zero = spec.zeroPoint!!
                for (v in values) buffer.put(quantize(v, scale, zero, spec.dtype).toByte())
            }
        }
    }

    /** Write [value] [spec.elements] times (a state's initial value). */
    fun fill(value: Float, spec: TensorSpec, buffer: ByteBuffer) = write(FloatArray(spec.elements) { value }, spec, buffer)

    /** Read [spec.elements] values from [buffer] (from its current position) as floats. */
    fun read(spec: TensorSpec, buffer: ByteBuffer): FloatArray = when (spec.dtype) {
        DType.FLOAT32 -> FloatArray(spec.elements) { buffer.getFloat() }
        DType.INT8 -> FloatArray(spec.elements) { (buffer.get().toFloat() - spec.zeroPoint!!) * spec.scale!! }
        DType.UINT8 -> FloatArray(spec.elements) { ((buffer.get().toInt() and 0xFF).toFloat() - spec.zeroPoint!!) * spec.scale!! }
        DType.INT32 -> FloatArray(spec.elements) { buffer.getInt().toFloat() }
    }
}
