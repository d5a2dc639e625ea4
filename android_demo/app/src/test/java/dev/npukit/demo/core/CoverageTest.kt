package dev.npukit.demo.core

import org.junit.Assert.assertEquals
import org.junit.Test

class CoverageTest {
    @Test
    fun readsTheExecutionPlan() {
        assertEquals(Coverage.WHOLE, Coverage.of(1, 7))
        assertEquals(Coverage.PARTIAL, Coverage.of(3, 7)) // e.g. two partitions and one CPU op
        assertEquals(Coverage.NONE, Coverage.of(7, 7))
        assertEquals(Coverage.UNKNOWN, Coverage.of(null, 7)) // the plan could not be read
        assertEquals(Coverage.UNKNOWN, Coverage.of(1, 1)) // one operator: delegated or not, one node
    }
}
