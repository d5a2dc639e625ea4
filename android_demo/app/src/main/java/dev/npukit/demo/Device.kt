package dev.npukit.demo

import android.os.Build
import dev.npukit.demo.core.DeviceInfo

/** This phone as the device report names it. The SoC comes from Build.SOC_* (Android 12+),
 *  else from Build.HARDWARE (the board name, often the SoC's code name). */
fun thisDevice(): DeviceInfo {
    val soc = if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.S && Build.SOC_MODEL != Build.UNKNOWN) {
        "${Build.SOC_MANUFACTURER} ${Build.SOC_MODEL}"
    } else {
        Build.HARDWARE
    }
    return DeviceInfo(Build.MODEL, Build.MANUFACTURER, soc, Build.VERSION.SDK_INT, Build.SUPPORTED_ABIS.firstOrNull() ?: "unknown")
}
