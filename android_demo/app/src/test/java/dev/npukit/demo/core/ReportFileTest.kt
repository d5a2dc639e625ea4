package dev.npukit.demo.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Test
import java.nio.file.Files

class ReportFileTest {
    @Test
    fun writesWholeFilesAndLeavesNoTemporary() {
        val folder = Files.createTempDirectory("reports").toFile()
        val file = ReportFile.write(folder, "r.json", "{\"a\": 1}\n")
        assertEquals("{\"a\": 1}\n", file.readText())
        ReportFile.write(folder, "r.json", "{}\n")
        assertEquals("{}\n", file.readText())
        assertEquals(listOf("r.json"), folder.list()!!.toList())
        assertFalse(folder.list()!!.any { it.endsWith(".tmp") })
        folder.deleteRecursively()
    }
}
