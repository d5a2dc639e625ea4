package dev.npukit.demo.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

class BundleMetadataTest {
    private fun rejects(text: String, fragment: String) {
        try {
            BundleMetadata.parse(text)
            fail("accepted a bundle.json that should fail with '$fragment'")
        } catch (e: BundleException) {
            assertTrue("'${e.message}' should mention '$fragment'", e.message!!.contains(fragment))
        }
    }

    @Test
    fun parsesAHandMadeRateBundle() {
        val meta = BundleMetadata.parse(Fixtures.rateJson())
        assertEquals("tiny", meta.name)
        assertEquals("rate", meta.mode)
        assertEquals(1, meta.timesteps)
        assertEquals(listOf(1, 2, 2, 1), meta.inputs[0].shape)
        assertEquals(DType.INT8, meta.inputs[0].dtype)
        assertEquals(0.5f, meta.inputs[0].scale)
        assertEquals(-1, meta.inputs[0].zeroPoint)
        assertEquals(4, meta.inputs[0].byteSize)
        assertEquals(listOf("a", "b", "c"), meta.classes)
        assertEquals(0.5, meta.hostAccuracy!!, 0.0)
        assertTrue(meta.states.isEmpty())
    }

    @Test
    fun refusesWhatTheAppCannotRun() {
        rejects("{not json", "not valid JSON")
        rejects(Fixtures.rateJson(format = "other"), "format is 'other'")
        rejects(Fixtures.rateJson(version = 2), "version 2")
        rejects(Fixtures.rateJson(classes = "[\"a\", \"b\"]"), "2 classes for a readout of 3")
        rejects(Fixtures.rateJson().replace("\"mode\": \"rate\"", "\"mode\": \"burst\""), "unknown mode")
        rejects(Fixtures.rateJson().replace("\"dtype\": \"int8\", \"shape\": [1, 2, 2, 1]", "\"dtype\": \"int16\", \"shape\": [1, 2, 2, 1]"), "int16")
        rejects(Fixtures.rateJson().replace("\"states\": [],", ""), "states")
        rejects(Fixtures.rateJson().replace("\"scale\": 0.5", "\"scale\": null"), "lacks its quantization")
        rejects(Fixtures.rateJson().replace("[1, 2, 2, 1]", "[2, 2, 2, 1]"), "batch-1")
    }

    @Test
    fun tensorMismatchNamesTheDifference() {
        val spec = BundleMetadata.parse(Fixtures.rateJson()).inputs[0]
        assertNull(spec.mismatch(listOf(1, 2, 2, 1), "INT8", 0.5f, -1))
        assertTrue(spec.mismatch(listOf(1, 4), "INT8", 0.5f, -1)!!.contains("shape"))
        assertTrue(spec.mismatch(listOf(1, 2, 2, 1), "FLOAT32", 0f, 0)!!.contains("FLOAT32"))
        assertTrue(spec.mismatch(listOf(1, 2, 2, 1), "INT8", 0.25f, -1)!!.contains("quantization"))
    }

    @Test
    fun parsesEveryShippedBundle() {
        val folders = Fixtures.bundleFolders()
        assertTrue("no bundles under ${Fixtures.assets.absolutePath}", folders.size >= 2)
        for (folder in folders) {
            val (meta, vectors) = Fixtures.load(folder)
            assertEquals(folder.name, meta.name)
            assertEquals(meta.samples, vectors.samples)
            assertEquals(meta.elementsPerFrame, vectors.elementsPerFrame)
            if (meta.temporal) assertEquals(meta.inputs.size - 1, meta.states.size)
        }
        assertTrue(folders.map { Fixtures.load(it).first.mode }.toSet() == setOf("rate", "temporal"))
    }
}
