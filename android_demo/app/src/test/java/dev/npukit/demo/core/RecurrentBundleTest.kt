package dev.npukit.demo.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import java.nio.ByteBuffer
import java.nio.ByteOrder

/** A recurrent ANN's bundle: int32 token ids as the frame, a state carried between steps, and
 *  the prediction taken from the last step's readout (bundle.json "readout": "last"). */
class RecurrentBundleTest {
    private fun json(readout: String) = """
        {"format": "npukit-android-bundle", "version": 1, "name": "tokens", "npukit_version": "0.1.0",
         "model": {"file": "model.tflite", "bytes": 100, "sha256": "${"0".repeat(64)}", "operators": 9},
         "vectors": {"file": "vectors.bin", "bytes": 64, "sha256": "${"1".repeat(64)}", "layout": "npkv1",
                     "samples": 2, "elements_per_frame": 1, "labeled": true, "data": "hand-made"},
         "labels": {"file": "labels.txt", "classes": ["a", "b", "c"]},
         "mode": "temporal", "readout": "$readout", "timesteps": 3, "encoding": "time_series", "frames_per_sample": 3,
         "inputs": [{"name": "x", "dtype": "int32", "shape": [1], "scale": null, "zero_point": null},
                    {"name": "state_000", "dtype": "int8", "shape": [1, 2], "scale": 0.5, "zero_point": 0}],
         "outputs": [{"name": "readout", "dtype": "float32", "shape": [1, 3], "scale": null, "zero_point": null},
                     {"name": "next_000", "dtype": "int8", "shape": [1, 2], "scale": 0.5, "zero_point": 0}],
         "frame_input": 0, "readout_output": 0, "states": [{"layer": "rnn/h_prev", "kind": "delay1", "input": 1, "output": 1, "init": 0.0}],
         "spiking_output": false,
         "host": {"interpreter": "ai_edge_litert", "accuracy": 0.5, "predictions": "vectors.bin"}}
    """.trimIndent()

    /** Answers the one-hot of (token id mod 3); its state counts the steps (+1.0 per invoke). */
    private class Counter : Invoker {
        val ids = ArrayList<Int>()
        val states = ArrayList<Int>()

        override fun invoke(inputs: Array<ByteBuffer>, outputs: Array<ByteBuffer>): Long {
            val id = inputs[0].getInt(0)
            ids.add(id)
            states.add(inputs[1].get(0).toInt())
            for (k in 0 until 3) outputs[0].putFloat(4 * k, if (k == id % 3) 1f else 0f)
            for (k in 0 until 2) outputs[1].put(k, (inputs[1].get(k) + 2).toByte())
            return 1L
        }
    }

    private fun run(readout: String): Pair<List<Int>, Counter> {
        val meta = BundleMetadata.parse(json(readout))
        // sample 0: tokens 0, 1, 2 (last: class 2; sum: a tie, the first class); sample 1: 1, 1, 0
        val frames = floatArrayOf(0f, 1f, 2f, 1f, 1f, 0f)
        val vectors = TestVectors.decode(Fixtures.vectorsBytes(intArrayOf(2, 0), intArrayOf(2, 0), frames, 3))
        val runner = SampleRunner(meta, vectors)
        val model = Counter()
        return (0 until 2).map { runner.run(it, model).prediction } to model
    }

    @Test
    fun feedsTokenIdsAndPredictsFromTheLastReadout() {
        val (predictions, model) = run("last")
        assertEquals(listOf(2, 0), predictions)
        assertEquals(listOf(0, 1, 2, 1, 1, 0), model.ids)
        assertEquals(listOf(0, 2, 4, 0, 2, 4), model.states) // init 0, then carried (+1.0 = 2 steps of 0.5)
        assertEquals(listOf(0, 1), run("mean").first) // the sum of the readouts: first maximum
    }

    @Test
    fun int32TensorsCarryWholeNumbersAndNoQuantization() {
        val meta = BundleMetadata.parse(json("last"))
        val ids = meta.inputs[0]
        assertEquals(DType.INT32, ids.dtype)
        assertEquals(4, ids.byteSize)
        val buffer = ByteBuffer.allocate(8).order(ByteOrder.nativeOrder())
        Quantization.write(floatArrayOf(7f, 41f), TensorSpec("x", DType.INT32, listOf(1, 2), null, null), buffer)
        buffer.rewind()
        assertArrayEquals(floatArrayOf(7f, 41f), Quantization.read(TensorSpec("x", DType.INT32, listOf(1, 2), null, null), buffer), 0f)
        try {
            BundleMetadata.parse(json("median"))
            fail("accepted an unknown readout")
        } catch (e: BundleException) {
            assertTrue(e.message!!.contains("unknown readout 'median'"))
        }
        assertEquals("mean", BundleMetadata.parse(Fixtures.rateJson()).readout) // older bundles: no key
    }
}
