"""Fast subset of the robustness run (benchmarks/fuzz_inputs.py; the long run uses 2,000+ cases).

Mutated .keras, .h5, .onnx, .nir, .tflite and .npz files (hostile HDF5 storage, archive bombs
and odd member names among the mutations), event .npz files and N-MNIST folders with their
binning, ONNX constant-folding bombs, NIR Delays and cycles, hostile .tflite metadata, and
absurd temporal batch / T values go through the
readers a command uses, in a worker process: each must be read or refused with npukit's own
error, never raise another exception, crash the process or hang.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "fuzz_inputs.py"


@pytest.fixture(scope="module")
def fuzz():
    spec = importlib.util.spec_from_file_location("fuzz_inputs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mutated_inputs_are_read_or_refused_never_crash(fuzz):
    summary = fuzz.run(cases=96, seed=7, timeout=60)
    assert summary["failures"] == [], summary["failures"][:3]
    assert set(summary["by_format"]) == {"events", "flags", "h5", "keras", "nir", "nirdelay", "nmnist", "npz", "onnx",
                                         "onnxfold", "tflite", "tflmeta"}
    assert all(counts.get("refused", 0) > 0 for counts in summary["by_format"].values()), summary["by_format"]


def test_the_harness_reports_hangs_and_crashes(fuzz, tmp_path):
    import os
    import signal

    bad = tmp_path / "x.npz"
    bad.write_bytes(b"PK")
    worker = fuzz.Worker()
    try:
        assert worker.run("npz", bad, 60)["verdict"] == "refused"
        os.kill(worker.proc.pid, signal.SIGSTOP)  # a worker that never answers
        assert worker.run("npz", bad, 2)["verdict"] == "HANG"
    finally:
        worker.close()
    worker = fuzz.Worker()
    try:
        worker.proc.kill()  # a worker that died (as on a segfault)
        assert worker.run("npz", bad, 5)["verdict"] == "CRASH"
    finally:
        worker.close()
