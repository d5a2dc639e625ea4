package dev.npukit.demo.core

import java.security.MessageDigest

/** The three data files of a bundle, checked against bundle.json before anything runs. */
class BundleFiles(val meta: BundleMetadata, val model: ByteArray, val vectors: TestVectors, val classes: List<String>) {
    companion object {
        /** Parse bundle.json and check the model, vectors.bin and labels.txt against it
         *  (sizes, SHA-256, class names); any difference is a [BundleException]. */
        fun load(metadataJson: String, model: ByteArray, vectorsBytes: ByteArray, labelsText: String): BundleFiles {
            val meta = BundleMetadata.parse(metadataJson)
            check(meta.modelFile, model, meta.modelBytes, meta.modelSha256)
            check(meta.vectorsFile, vectorsBytes, meta.vectorsBytes, meta.vectorsSha256)
            val classes = labelsText.lines().dropLastWhile { it.isEmpty() }
            if (classes != meta.classes) throw BundleException("${meta.labelsFile} does not match bundle.json's classes")
            val vectors = TestVectors.decode(vectorsBytes)
            if (vectors.samples != meta.samples || vectors.framesPerSample != meta.framesPerSample ||
                vectors.elementsPerFrame != meta.elementsPerFrame || vectors.labeled != meta.labeled
            ) {
                throw BundleException("${meta.vectorsFile} does not match bundle.json (samples, frames or elements)")
            }
            return BundleFiles(meta, model, vectors, classes)
        }

        fun sha256(bytes: ByteArray): String =
            MessageDigest.getInstance("SHA-256").digest(bytes).joinToString("") { "%02x".format(it.toInt() and 0xFF) }

        private fun check(name: String, bytes: ByteArray, size: Long, digest: String) {
            if (bytes.size.toLong() != size) throw BundleException("$name holds ${bytes.size} bytes; bundle.json says $size")
            if (sha256(bytes) != digest) throw BundleException("$name's SHA-256 differs from bundle.json (a stale or damaged copy)")
        }
    }
}
