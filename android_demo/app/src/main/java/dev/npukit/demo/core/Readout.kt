package dev.npukit.demo.core

/** Index of the largest value; the first one on ties (as numpy's argmax). */
fun argmax(values: DoubleArray): Int {
    require(values.isNotEmpty()) { "argmax of nothing" }
    var best = 0
    for (k in 1 until values.size) if (values[k] > values[best]) best = k
    return best
}

/** Sums a model's per-step readouts over T steps (float64, as the host loop does) and keeps the
 *  last one: a spiking network's result is their mean, a recurrent ANN's the last. */
class ReadoutSum(size: Int) {
    val total = DoubleArray(size)
    val last = DoubleArray(size)
    var steps = 0
        private set

    fun add(readout: FloatArray) {
        require(readout.size == total.size) { "readout of ${readout.size} values, expected ${total.size}" }
        for (k in readout.indices) {
            total[k] += readout[k].toDouble()
            last[k] = readout[k].toDouble()
        }
        steps++
    }

    /** The mean readout over the steps added. */
    fun mean(): DoubleArray = DoubleArray(total.size) { total[it] / steps }

    fun prediction(): Int = argmax(total)

    /** bundle.json's readout: "mean" (the mean, predicted by the sum) or "last". */
    fun result(readout: String): DoubleArray = if (readout == "last") last.copyOf() else mean()

    fun prediction(readout: String): Int = if (readout == "last") argmax(last) else prediction()
}
