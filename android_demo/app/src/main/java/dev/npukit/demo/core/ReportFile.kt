package dev.npukit.demo.core

import java.io.File
import java.io.FileOutputStream

/** Writing a report: whole or not at all (a temporary file, synced, then renamed). */
object ReportFile {
    fun write(folder: File, name: String, text: String): File {
        require(!name.contains('/')) { "a file name, not a path: $name" }
        val target = File(folder, name)
        val tmp = File(folder, ".$name.tmp")
        try {
            FileOutputStream(tmp).use { out ->
                out.write(text.toByteArray(Charsets.UTF_8))
                out.fd.sync()
            }
            if (!tmp.renameTo(target)) throw java.io.IOException("cannot rename ${tmp.path} to ${target.path}")
        } finally {
            tmp.delete()
        }
        return target
    }
}
