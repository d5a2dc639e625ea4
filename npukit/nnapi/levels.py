"""The Android levels and tensor type names the NN-API rules speak of.

Levels are Android API levels (27 = Android 8.1, NN-API 1.0 ... 30 = Android 11, NN-API 1.3)
and, above 30, NN-API feature level codes as the delegate uses them (31 = feature level 5, the
level API 31-35 guarantee; 1000006-1000008 = feature levels 6-8 of updatable runtimes).
Type names are TFLite's ``TensorType`` names as ``npukit.tflite_file`` reads them.
"""

from __future__ import annotations

FL5, FL6, FL7, FL8 = 31, 1000006, 1000007, 1000008
#: levels a model is checked at when npukit looks for the lowest one that delegates it whole
LEVELS = (27, 28, 29, 30, FL5, FL6, FL7, FL8)
LEVEL_NAMES = {
    27: "API 27 (Android 8.1, NN-API 1.0)", 28: "API 28 (Android 9, NN-API 1.1)",
    29: "API 29 (Android 10, NN-API 1.2)", 30: "API 30 (Android 11, NN-API 1.3)",
    FL5: "API 31+ (Android 12, feature level 5)", FL6: "feature level 6", FL7: "feature level 7",
    FL8: "feature level 8",
}

F32, F16, U8, I8, I16, I32, I64, BOOL = "FLOAT32", "FLOAT16", "UINT8", "INT8", "INT16", "INT32", "INT64", "BOOL"
FQ8 = frozenset({F32, U8, I8})
Q8 = (U8, I8)
