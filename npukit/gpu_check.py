"""GPU-delegate compatibility as TensorFlow's model Analyzer reports it, run in a child process.

``tf.lite.experimental.Analyzer.analyze(..., gpu_compatibility=True)`` prints a model dump and,
per operator the GPU delegate cannot run, a line containing ``GPU COMPATIBILITY WARNING``, then
a verdict. npukit captures that text and returns the warnings and the verdict.

The Analyzer is native code that trusts the flatbuffer: one mutated byte in a model that npukit's
own reader accepts can crash it (SIGSEGV) or keep it busy. So it never runs in npukit's process:
an isolated child interpreter (``npukit.child``: ``python -I``, dies with its parent) started in
an empty temporary folder analyses a copy of the model under a deadline (``TIMEOUT_S``, also
armed inside the child with ``alarm``). A crash, a hang or a failure becomes ``unavailable`` with the reason; the NN-API report
is unaffected.

Caveat, measured with TensorFlow 2.21: its Analyzer calls every model compatible, including
models with CUMSUM, TOPK_V2 or rank-5 tensors, which the GPU delegate does not run (its library
carries no warning texts). The ``caveat`` field says so whenever the Analyzer found nothing.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

TIMEOUT_S = 120.0
_OP_LINE = re.compile(r"Op#(\d+) (\w+)")

CAVEAT = (
    "TensorFlow's Analyzer reported no GPU incompatibility; in TensorFlow 2.21 it reports none even for ops the "
    "GPU delegate lacks (CUMSUM, TOPK_V2), so treat this as unverified"
)

def _unavailable(reason: str) -> dict[str, Any]:
    return {"compatible": None, "warnings": [], "analyzer": None, "caveat": None, "unavailable": reason}


def gpu_compatibility(model: bytes, timeout: float = TIMEOUT_S) -> dict[str, Any]:
    """{"compatible": bool | None, "warnings": [...], "analyzer": version, "caveat": str | None,
    "unavailable": None or why no verdict could be had (a crash, a timeout, no TensorFlow)}."""
    import os

    from npukit.child import python_command

    with tempfile.TemporaryDirectory(prefix="npukit-gpu-") as tmp:
        source, result = Path(tmp) / "model.tflite", Path(tmp) / "result.json"
        source.write_bytes(model)
        try:
            done = subprocess.run(
                python_command("npukit.gpu_check:_child", str(os.getpid()), str(source), str(result), str(timeout)),
                cwd=tmp, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return _unavailable(f"TensorFlow's Analyzer did not finish in {timeout:g} s")
        if done.returncode < 0:
            name = signal.Signals(-done.returncode).name if -done.returncode in signal.valid_signals() else done.returncode
            return _unavailable(f"TensorFlow's Analyzer crashed on this model ({name})")
        if done.returncode != 0 or not result.exists():
            lines = done.stderr.decode(errors="replace").strip().splitlines()
            last = lines[-1][:200] if lines else f"exit code {done.returncode}"
            return _unavailable(f"TensorFlow's Analyzer failed ({last})")
        return json.loads(result.read_text())


def _child() -> None:
    """Run in the child (``npukit.child``): sys.argv = [entry, parent pid, model, result file,
    timeout]; dies with the parent and, past the timeout, by its own alarm."""
    from npukit.child import die_with_parent

    die_with_parent(int(sys.argv[1]))
    signal.alarm(int(float(sys.argv[4])) + 1)
    analyze_file(sys.argv[2], sys.argv[3])


def analyze_file(source: str, result: str) -> None:
    """The child's work: analyse the model at ``source``, write the verdict to ``result`` as JSON."""
    Path(result).write_text(json.dumps(_analyze(Path(source).read_bytes())))


def _analyze(model: bytes) -> dict[str, Any]:
    import contextlib
    import io

    try:
        from npukit.quiet import import_tensorflow, native_output_captured

        tf = import_tensorflow()
    except ImportError:
        return _unavailable("TensorFlow is not installed")
    text = io.StringIO()
    try:
        with contextlib.redirect_stdout(text), native_output_captured():
            tf.lite.experimental.Analyzer.analyze(model_content=model, gpu_compatibility=True)
    except Exception as exc:  # the analyzer is experimental: report, never fail the check
        return {**_unavailable(f"the Analyzer failed: {exc}"), "analyzer": f"tensorflow {tf.__version__}"}
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
        "unavailable": None,
    }
