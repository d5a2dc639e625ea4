package dev.npukit.demo

import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableIntStateOf
import androidx.compose.runtime.mutableStateListOf
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.setValue
import dev.npukit.demo.core.Accelerator
import dev.npukit.demo.core.ExecutionPreference

/** One line of the per-sample list: the true class (or "-"), the prediction, whether it is
 *  right (null for unlabeled data), whether it equals the host's, and the sample's invoke time. */
class SampleRow(val index: Int, val label: String, val predicted: String, val correct: Boolean?, val agreesWithHost: Boolean, val ms: Double)

/** What the screen shows; written by the activity (from a worker thread where noted). */
class DemoState {
    var bundles by mutableStateOf(listOf<String>())
    var selected by mutableStateOf<String?>(null)
    var gpuSupported by mutableStateOf(false)
    var accelerator by mutableStateOf(Accelerator.NNAPI)
    var threads by mutableIntStateOf(4)
    var preference by mutableStateOf(ExecutionPreference.SUSTAINED_SPEED)
    var running by mutableStateOf(false)
    var progress by mutableIntStateOf(0) // worker thread
    var total by mutableIntStateOf(0)
    var status by mutableStateOf("")
    var delegateMessage by mutableStateOf<String?>(null)
    var error by mutableStateOf<String?>(null)
    var summary by mutableStateOf(listOf<String>())
    val rows = mutableStateListOf<SampleRow>()
}
