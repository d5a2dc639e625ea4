"""Event-camera SNNs end to end: the NIR-paper N-MNIST CNN (Conv2d 5x5/2 -> IF -> Conv2d -> IF ->
SumPool2d -> Conv2d -> IF -> SumPool2d -> Flatten -> Affine -> IF -> Affine -> IF on 2x34x34
frames, built here with ``nir``) on time series of event frames, channels-first and NHWC; the
shipped event model through ``npukit demo --events``; silent networks warned about."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import npukit
from npukit.cli import app

runner = CliRunner()
SAMPLES, STEPS = 12, 50


def nir_paper_cnn(path):
    import nir

    rng = np.random.default_rng(0)

    def conv(cin, cout, k, stride, pad, hw):
        w = rng.normal(0, 2.0 / np.sqrt(cin * k * k), (cout, cin, k, k)).astype(np.float32)
        return nir.Conv2d(input_shape=hw, weight=w, stride=stride, padding=pad, dilation=1, groups=1,
                          bias=np.zeros(cout, np.float32))

    def neuron(shape):
        return nir.IF(r=np.ones(shape, np.float32), v_threshold=np.ones(shape, np.float32), v_reset=np.zeros(shape, np.float32))

    def pool():
        return nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))

    nodes = {
        "input": nir.Input(input_type={"input": np.array([2, 34, 34])}),
        "conv1": conv(2, 16, 5, 2, 1, (34, 34)), "if1": neuron((16, 16, 16)),
        "conv2": conv(16, 16, 3, 1, 1, (16, 16)), "if2": neuron((16, 16, 16)), "pool1": pool(),
        "conv3": conv(16, 8, 3, 1, 1, (8, 8)), "if3": neuron((8, 8, 8)), "pool2": pool(),
        "flatten": nir.Flatten(input_type={"input": np.array([8, 4, 4])}, start_dim=0),
        "fc1": nir.Affine(weight=rng.normal(0, 0.25, (256, 128)).astype(np.float32), bias=np.zeros(256, np.float32)),
        "if4": neuron((256,)),
        "fc2": nir.Affine(weight=rng.normal(0, 0.15, (10, 256)).astype(np.float32), bias=np.zeros(10, np.float32)),
        "if5": neuron((10,)),
        "output": nir.Output(output_type={"output": np.array([10])}),
    }
    names = list(nodes)
    nir.write(str(path), nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])), type_check=False))


@pytest.fixture(scope="module")
def event_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("events")
    nir_paper_cnn(folder / "cnn.nir")
    rng = np.random.default_rng(1)
    x = (rng.random((SAMPLES, STEPS, 2, 34, 34)) < 0.05).astype(np.float32)
    y = rng.integers(0, 10, SAMPLES)
    np.savez(folder / "chw.npz", x=x, y=y)
    np.savez(folder / "nhwc.npz", x=np.ascontiguousarray(x.transpose(0, 1, 3, 4, 2)), y=y)
    return folder


def test_nir_paper_cnn_on_event_frames_in_both_layouts(event_files, capsys):
    model = event_files / "cnn.nir"
    sims = [npukit.simulate(model, event_files / f"{layout}.npz", dt=1.0) for layout in ("chw", "nhwc")]
    assert sims[0].result.timesteps == STEPS and sims[0].result.encoding == "time_series"
    for name, counts in sims[0].result.spike_counts.items():  # the layout does not change the network
        np.testing.assert_array_equal(counts, sims[1].result.spike_counts[name])
        assert counts.sum() > 0, name
    figures = {}
    for layout in ("chw", "nhwc"):
        data = event_files / f"{layout}.npz"
        for mode, quantize in (("temporal", "none"), ("temporal", "int8"), ("rate", "int8")):
            out = event_files / f"{layout}_{mode}_{quantize}.tflite"
            converted = npukit.convert(model, out, mode=mode, quantize=quantize, data=data, dt=1.0, force=True)
            assert converted.delegation.fully_delegated
            assert converted.metadata["timesteps"] == STEPS  # T from the data
            report = npukit.parity(model, out, data, dt=1.0).to_dict()
            figures[(layout, mode, quantize)] = report
    for layout in ("chw", "nhwc"):
        exact = figures[(layout, "temporal", "none")]
        assert exact["spike_agreement"] >= 0.99 and exact["agreement"]["tflite_vs_snn"] == 1.0
    with capsys.disabled():  # printed for the record: int8 against the simulation on random weights and events
        for key, report in figures.items():
            print(f"\nNIR-paper CNN, {key}: top-1 agreement TFLite vs SNN {report['agreement']['tflite_vs_snn']:.2%}",
                  f"output spike counts equal {report['spike_agreement']:.2%}" if report["spike_agreement"] is not None else "")


def test_a_silent_network_warns(event_files):
    model = event_files / "cnn.nir"
    result = runner.invoke(app, ["simulate", str(model), "--data", str(event_files / "chw.npz"), "--json"])  # dt 1e-4
    assert result.exit_code == 0, result.stderr
    warnings = json.loads(result.stdout)["warnings"]
    assert len(warnings) == 1 and "never fired" in warnings[0] and "the step dt" in warnings[0] and "'if1'" in warnings[0]
    text = runner.invoke(app, ["simulate", str(model), "--data", str(event_files / "chw.npz")])
    assert "warning: spiking layer(s) 'if1'" in text.stdout
    loud = runner.invoke(app, ["simulate", str(model), "--data", str(event_files / "chw.npz"), "--dt", "1", "--json"])
    assert json.loads(loud.stdout)["warnings"] == []


def test_demo_events_accuracy_and_bundle(tmp_path):
    """The shipped event SNN: temporal float32 reproduces the simulation; temporal int8 stays
    within 2 points of it; the Android bundle is written and readable."""
    from npukit.bundle import read_bundle

    result = runner.invoke(app, ["demo", "--events", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.stderr
    figures = json.loads(result.stdout)
    runs = {(r["convert"]["mode"], r["convert"]["quantization"]): r["parity"] for r in figures["runs"]}
    simulated = runs[("temporal", "int8")]["accuracy"]["snn"]
    assert simulated >= 0.9
    assert runs[("temporal", "none")]["spike_agreement"] == 1.0
    assert abs(runs[("temporal", "int8")]["accuracy"]["tflite"] - simulated) <= 0.02
    meta, vectors = read_bundle(tmp_path / "bundles" / "digits_events_temporal")
    assert meta["mode"] == "temporal" and meta["frames_per_sample"] == 30 and vectors.frames.shape == (60, 30, 288)
