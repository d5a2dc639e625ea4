package dev.npukit.demo.core

/** Where the model runs. [key] is the device report's `delegate` value. */
enum class Accelerator(val key: String, val label: String) {
    NNAPI("nnapi", "NN-API"), GPU("gpu", "GPU"), CPU("cpu", "CPU (XNNPACK)");
}

/** NN-API's execution preference; [key] is the device report's `execution_preference`, [code]
 *  the NnApiDelegate.Options.EXECUTION_PREFERENCE_* value. */
enum class ExecutionPreference(val key: String, val label: String, val code: Int) {
    LOW_POWER("low_power", "low power", 0),
    FAST_SINGLE_ANSWER("fast_single_answer", "fast single answer", 1),
    SUSTAINED_SPEED("sustained_speed", "sustained speed", 2);
}

/** The user's choice: accelerator, CPU threads (also used for ops a delegate leaves to the CPU),
 *  and NN-API's execution preference. */
class AcceleratorChoice(val accelerator: Accelerator, val threads: Int, val preference: ExecutionPreference) {
    init {
        require(threads in 1..16) { "threads must be in 1..16" }
    }

    /** The device report's `execution_preference`: only meaningful for NN-API. */
    val reportedPreference: String? get() = if (accelerator == Accelerator.NNAPI) preference.key else null
}
