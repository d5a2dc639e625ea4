package dev.npukit.demo.core

/** How much of a model a delegate took. [key] is the device report's `delegate_coverage`. */
enum class Coverage(val key: String) {
    WHOLE("whole"), PARTIAL("partial"), NONE("none"), UNKNOWN("unknown");

    companion object {
        /**
         * From the interpreter's execution plan once the delegate is applied (with XNNPACK off, so
         * that only this delegate rewrites the graph): it replaces each partition it takes by one
         * node, so [planNodes] = partitions + operators left to the CPU. One node for a model of
         * several [operators]: all of it; as many nodes as operators: none of it.
         */
        fun of(planNodes: Int?, operators: Int): Coverage = when {
            planNodes == null || planNodes <= 0 || operators <= 1 -> UNKNOWN
            planNodes == 1 -> WHOLE
            planNodes >= operators -> NONE
            else -> PARTIAL
        }
    }
}
