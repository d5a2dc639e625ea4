package dev.npukit.demo

import android.content.res.AssetManager
import dev.npukit.demo.core.BundleFiles

/** The bundles `npukit bundle` wrote into app/src/main/assets: one folder each, holding
 *  bundle.json, model.tflite, vectors.bin and labels.txt (names fixed by the bundle schema). */
object AssetBundles {
    /** Names of the asset folders that hold a bundle.json, sorted. */
    fun list(assets: AssetManager): List<String> =
        (assets.list("") ?: emptyArray()).filter { name -> assets.list(name)?.contains("bundle.json") == true }.sorted()

    /** Read one bundle and check it against its bundle.json (sizes, SHA-256, classes). */
    fun load(assets: AssetManager, name: String): BundleFiles {
        fun bytes(file: String) = assets.open("$name/$file").use { it.readBytes() }
        return BundleFiles.load(
            String(bytes("bundle.json"), Charsets.UTF_8), bytes("model.tflite"), bytes("vectors.bin"),
            String(bytes("labels.txt"), Charsets.UTF_8),
        )
    }
}
