"""GPU-delegate compatibility as TensorFlow's model Analyzer reports it.

``tf.lite.experimental.Analyzer.analyze(..., gpu_compatibility=True)`` prints a model dump and,
per operator the GPU delegate cannot run, a line containing ``GPU COMPATIBILITY WARNING``, then
a verdict. npukit captures that text and returns the warnings and the verdict.

Caveat, measured with TensorFlow 2.21: its Analyzer calls every model compatible, including
models with CUMSUM, TOPK_V2 or rank-5 tensors, which the GPU delegate does not run (its library
carries no warning texts). The ``caveat`` field says so whenever the Analyzer found nothing.
"""

from __future__ import annotations

import contextlib
import io
import re
from typing import Any

_OP_LINE = re.compile(r"Op#(\d+) (\w+)")

CAVEAT = (
    "TensorFlow's Analyzer reported no GPU incompatibility; in TensorFlow 2.21 it reports none even for ops the "
    "GPU delegate lacks (CUMSUM, TOPK_V2), so treat this as unverified"
)


def gpu_compatibility(model: bytes) -> dict[str, Any]:
    """{"compatible": bool | None, "warnings": [...], "analyzer": version, "caveat": str | None}."""
    try:
        from npukit.quiet import import_tensorflow, native_output_captured

        tf = import_tensorflow()
    except ImportError:
        return {"compatible": None, "warnings": [], "analyzer": None, "caveat": "TensorFlow is not installed"}
    text = io.StringIO()
    try:
        with contextlib.redirect_stdout(text), native_output_captured():
            tf.lite.experimental.Analyzer.analyze(model_content=model, gpu_compatibility=True)
    except Exception as exc:  # the analyzer is experimental: report, never fail the check
        return {"compatible": None, "warnings": [], "analyzer": tf.__version__, "caveat": f"the Analyzer failed: {exc}"}
    warnings, last_op = [], None
    for line in text.getvalue().splitlines():
        match = _OP_LINE.search(line)
        if match:
            last_op = f"op {match.group(1)} {match.group(2)}"
        if "GPU COMPATIBILITY WARNING" in line:
            detail = line.split("GPU COMPATIBILITY WARNING", 1)[1].strip(" :")
            warnings.append(f"{last_op}: {detail}" if last_op else detail)
    verdict = "looks compatible with GPU delegate" in text.getvalue()
    compatible = verdict and not warnings
    return {
        "compatible": compatible,
        "warnings": warnings,
        "analyzer": f"tensorflow {tf.__version__}",
        "caveat": CAVEAT if compatible else None,
    }
