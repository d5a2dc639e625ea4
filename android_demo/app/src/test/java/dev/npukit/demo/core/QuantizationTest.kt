package dev.npukit.demo.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Test
import java.nio.ByteBuffer
import java.nio.ByteOrder

class QuantizationTest {
    private val int8 = TensorSpec("x", DType.INT8, listOf(1, 6), 0.5f, -1)

    @Test
    fun roundsHalfToEvenAndClamps() {
        val values = floatArrayOf(0.25f, 0.75f, 1.25f, -0.25f, 250f, -250f)
        val buffer = ByteBuffer.allocate(6)
        Quantization.write(values, int8, buffer)
        // 0.25/0.5 = 0.5 -> 0; 0.75/0.5 = 1.5 -> 2; 1.25/0.5 = 2.5 -> 2; -0.5 -> -0; then + zero point -1
        assertArrayEquals(byteArrayOf(-1, 1, 1, -1, 127, -128), buffer.array())
    }

    @Test
    fun uint8AndFloatTensors() {
        assertEquals(255, Quantization.quantize(10f, 0.01f, 128, DType.UINT8))
        assertEquals(0, Quantization.quantize(-10f, 0.01f, 128, DType.UINT8))
        assertEquals(131, Quantization.quantize(0.03f, 0.01f, 128, DType.UINT8))
        val u8 = TensorSpec("u", DType.UINT8, listOf(1, 2), 0.5f, 128)
        val bytes = ByteBuffer.wrap(byteArrayOf(0xFF.toByte(), 0))
        assertArrayEquals(floatArrayOf(63.5f, -64f), Quantization.read(u8, bytes), 0f)
        val f32 = TensorSpec("f", DType.FLOAT32, listOf(1, 2), null, null)
        val buffer = ByteBuffer.allocate(8).order(ByteOrder.nativeOrder())
        Quantization.write(floatArrayOf(1.5f, -2.25f), f32, buffer)
        buffer.rewind()
        assertArrayEquals(floatArrayOf(1.5f, -2.25f), Quantization.read(f32, buffer), 0f)
    }

    @Test
    fun dequantizesInt8() {
        val spec = TensorSpec("y", DType.INT8, listOf(1, 3), 0.25f, 2)
        assertArrayEquals(floatArrayOf(-32.5f, 0f, 31.25f), Quantization.read(spec, ByteBuffer.wrap(byteArrayOf(-128, 2, 127))), 0f)
    }
}
