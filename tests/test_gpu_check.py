"""TensorFlow's GPU Analyzer runs in an isolated child: a crash or a hang is a report field.

The mutants below are one-byte changes of ``conv_model()`` that npukit's reader accepts and that
crash TensorFlow 2.21's Analyzer with SIGSEGV (``python benchmarks/fuzz_gpu_analyzer.py
--mutants 300 --seed 7``: npukit's reader accepted 131 mutants, 6 of them crashed the Analyzer). Run in npukit's own process they killed ``npukit check``
(exit 139, no report).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from npukit.cli import app
from npukit.gpu_check import gpu_compatibility
from npukit.tflite_file import read_tflite
from tflite_builder import T, one_op

runner = CliRunner()

#: (position, new byte) of mutants of conv_model() that crash the Analyzer; the first is run (one
#: TensorFlow start in a child costs seconds), all are kept readable by npukit
CRASHING = [(415, 232), (136, 110)]


def conv_model() -> bytes:
    """A float32 1x1 CONV_2D (bias, VALID padding), 524 bytes."""
    return one_op("CONV_2D", [T((1, 4, 4, 2)), T((3, 1, 1, 2), data=np.ones((3, 1, 1, 2))), T((3,), data=np.zeros(3))],
                  [T((1, 4, 4, 3))], "Conv2DOptions", padding=1, strideW=1, strideH=1)


def mutant(position: int, byte: int) -> bytes:
    data = bytearray(conv_model())
    data[position] = byte
    read_tflite(bytes(data))  # npukit's reader accepts it: the Analyzer gets to see it
    return bytes(data)


def test_a_crashing_mutant_is_reported_not_fatal(tmp_path, monkeypatch):
    """From a folder holding a fake tensorflow.py: the child neither crashes npukit nor imports it."""
    model = tmp_path / "model.tflite"
    model.write_bytes(mutant(*CRASHING[0]))
    (tmp_path / "tensorflow.py").write_text(f"open({str(tmp_path / 'ran')!r}, 'w').write('x')\n")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["check", "model.tflite", "--json"])
    assert result.exit_code == 0, result.output
    gpu = json.loads(result.stdout)["gpu"]
    # SIGSEGV proves the real TensorFlow ran in the child; no marker proves the fake did not
    assert gpu["compatible"] is None and gpu["unavailable"] == "TensorFlow's Analyzer crashed on this model (SIGSEGV)"
    assert not (tmp_path / "ran").exists()
    text = runner.invoke(app, ["check", "model.tflite", "--no-gpu"]).stdout
    assert "runs fully on NN-API" in text and "GPU" not in text


def test_a_hang_is_cut_at_the_deadline():
    """A child that has not answered by the deadline is killed (here: still importing TensorFlow)."""
    gpu = gpu_compatibility(conv_model(), timeout=0.5)
    assert gpu["unavailable"] == "TensorFlow's Analyzer did not finish in 0.5 s" and gpu["compatible"] is None


def test_the_text_report_says_unavailable_in_one_line():
    from npukit.reports import render_check

    report = {"model": "m.tflite", "api_level": 30, "delegated_ops": 1, "total_ops": 1, "partitions": 1,
              "fully_delegated": True, "min_api_level": 27, "warnings": [], "dynamic": None,
              "ops": [{"index": 0, "op": "CONV_2D", "delegated": True, "min_api_level": 27, "reason": None,
                       "hint": None}],
              "gpu": {"compatible": None, "warnings": [], "analyzer": None, "caveat": None,
                      "unavailable": "TensorFlow's Analyzer crashed on this model (SIGSEGV)"}}
    lines = render_check(report).splitlines()
    assert lines[-1] == "GPU delegate: unavailable (TensorFlow's Analyzer crashed on this model (SIGSEGV))"


@pytest.mark.parametrize("position, byte", CRASHING)
def test_the_mutants_still_read_as_models(position, byte):
    """Guard: a change in the flatbuffer writer that moves these bytes fails here first."""
    info = read_tflite(mutant(position, byte))
    assert [op.op for op in info.operators] == ["CONV_2D"] and len(conv_model()) == 524
