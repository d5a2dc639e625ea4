"""Three-way parity on the shipped model: the acceptance figures, and the report's contents."""

from __future__ import annotations

import numpy as np
import pytest

import npukit
from npukit.parity import cosine, plot_sweep

INT8_MAX_ACCURACY_DROP = 0.005  # int8 TFLite top-1 within 0.5 pp of the float model
SNN_MAX_ACCURACY_DROP = 0.015  # IF SNN at T = 32 within 1.5 pp of the float model


@pytest.fixture(scope="module")
def report(shipped_model, shipped_tflite):
    return npukit.parity(shipped_model, shipped_tflite, "digits", timesteps=32, sweep=[1, 2, 4, 8, 16, 32, 64])


def test_shipped_model_meets_the_accuracy_targets(report):
    acc = report["accuracy"]
    assert report["samples"] == 360 and report["timesteps"] == 32
    assert acc["reference"] >= 0.97  # the shipped model's own target
    assert abs(acc["tflite"] - acc["reference"]) <= INT8_MAX_ACCURACY_DROP
    assert acc["reference"] - acc["snn"] <= SNN_MAX_ACCURACY_DROP


def test_report_has_every_documented_key(report):
    figures = report.to_dict()
    for key in ("samples", "timesteps", "accuracy", "agreement", "layers", "first_divergent_layer", "sweep", "snn", "tflite_model"):
        assert key in figures
    assert set(figures["agreement"]) == {"snn_vs_reference", "tflite_vs_reference", "tflite_vs_snn"}
    assert figures["tflite_model"]["source_matches"] is True
    names = [layer["name"] for layer in figures["layers"]]
    assert names[-1] == "logits" and "conv1/relu" in names
    traced = [layer for layer in figures["layers"] if layer["tflite"] is not None]
    assert len(traced) >= 6
    assert all(layer["tflite"]["cosine"] > 0.99 for layer in traced)
    assert figures["first_divergent_layer"] == {"snn": None, "tflite": None}


def test_sweep_is_causal_and_improves_with_time(report):
    sweep = {row["timesteps"]: row for row in report["sweep"]}
    assert sweep[32]["snn_accuracy"] == report["accuracy"]["snn"]  # same simulation, read at T = 32
    assert sweep[1]["snn_accuracy"] < sweep[8]["snn_accuracy"] <= sweep[64]["snn_accuracy"] + 0.01


def test_layer_figures_recompute_from_arrays(shipped_model, shipped_tflite, digits_test):
    """The report's per-layer cosine is the plain formula over the arrays it compares."""
    from npukit.reference import evaluate
    from npukit.runtime import run_tflite
    from npukit.tflite_file import read_tflite

    x = digits_test.x[:60]
    rep = npukit.parity(shipped_model, shipped_tflite, "digits", samples=60)
    tensor_map = read_tflite(shipped_tflite).npukit_metadata()["tensor_map"]
    _, layers = run_tflite(shipped_tflite, x, {"pool2": tensor_map["pool2"]})
    ref = evaluate(npukit.load(shipped_model), x, keep=["pool2"])["pool2"]
    a, b = ref.ravel(), layers["pool2"].ravel().astype(np.float64)
    want = float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    row = next(layer for layer in rep["layers"] if layer["name"] == "pool2")
    assert row["tflite"]["cosine"] == pytest.approx(want, abs=1e-6)
    assert row["tflite"]["max_abs_error"] == pytest.approx(float(np.max(np.abs(a - b))), rel=1e-6)


def test_divergence_is_named_at_the_first_layer_below_the_threshold(shipped_model, shipped_tflite):
    rep = npukit.parity(shipped_model, shipped_tflite, "digits", timesteps=2, samples=80, divergence_cosine=0.999999)
    layers = rep["layers"]
    first = rep["first_divergent_layer"]["snn"]
    index = [layer["name"] for layer in layers].index(first)
    assert layers[index]["snn"]["cosine"] < 0.999999
    assert all(layer["snn"]["cosine"] >= 0.999999 for layer in layers[:index])


def test_sweep_plot_is_a_png(report, tmp_path):
    path = plot_sweep(report, tmp_path / "sweep.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cosine_edge_cases():
    assert cosine(np.zeros(3), np.zeros(3)) == 1.0
    assert cosine(np.zeros(3), np.ones(3)) == 0.0
    assert cosine(np.array([1.0, 2.0]), np.array([2.0, 4.0])) == pytest.approx(1.0)
