package dev.npukit.demo.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import java.io.File

class BundleFilesTest {
    private fun read(folder: File, name: String) = File(folder, name).readBytes()

    @Test
    fun shippedBundlesMatchTheirMetadata() {
        for (folder in Fixtures.bundleFolders()) {
            val files = BundleFiles.load(
                File(folder, "bundle.json").readText(), read(folder, "model.tflite"), read(folder, "vectors.bin"),
                File(folder, "labels.txt").readText(),
            )
            assertEquals((0..9).map { it.toString() }, files.classes)
            // the digits test split: all 360 samples, or the first 60 of the event bundle
            assertEquals(if (folder.name.startsWith("digits_events")) 60 else 360, files.vectors.samples)
        }
    }

    @Test
    fun damagedCopiesAreRefused() {
        val folder = Fixtures.bundleFolders().first()
        val json = File(folder, "bundle.json").readText()
        val model = read(folder, "model.tflite")
        val vectors = read(folder, "vectors.bin")
        val labels = File(folder, "labels.txt").readText()
        val flipped = model.copyOf().also { it[100] = (it[100].toInt() xor 1).toByte() }
        for ((attempt, fragment) in listOf(
            { BundleFiles.load(json, flipped, vectors, labels) } to "SHA-256",
            { BundleFiles.load(json, model.copyOf(model.size - 1), vectors, labels) } to "bytes",
            { BundleFiles.load(json, model, vectors, labels.replace("3", "three")) } to "classes",
        )) {
            try {
                attempt()
                fail("accepted a damaged bundle ($fragment)")
            } catch (e: BundleException) {
                assertTrue(e.message!!, e.message!!.contains(fragment))
            }
        }
    }

    @Test
    fun sha256OfKnownText() {
        assertEquals("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", BundleFiles.sha256("abc".toByteArray()))
    }
}
