"""The CLI: each command end to end, and bad input -> one line, non-zero exit, no output file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import npukit
from npukit.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_version_and_help():
    result = run("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"npukit {npukit.__version__}"
    result = run("-h")
    assert result.exit_code == 0
    for command in ("convert", "simulate", "parity", "inspect", "demo"):
        assert command in result.stdout


def test_inspect_prints_layers_and_macs(shipped_model):
    result = run("inspect", shipped_model, "--json")
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    conv1 = next(r for r in info["layers"] if r["name"] == "conv1")
    assert conv1["macs"] == 8 * 8 * 16 * 9 and conv1["params"] == 3 * 3 * 16 + 16
    assert info["total_macs"] == sum(r["macs"] for r in info["layers"])
    text = run("inspect", shipped_model).stdout
    assert "conv2/relu" in text and f"{info['total_macs']:,} MACs" in text


def test_convert_then_inspect_tflite(tmp_path, shipped_model, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("convert", shipped_model, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert (tmp_path / "digits_cnn.tflite").exists() and report["quantization"] == "int8"
    result = run("inspect", tmp_path / "digits_cnn.tflite", "--json")
    info = json.loads(result.stdout)
    assert info["format"] == "tflite" and info["metadata"]["source"]["file"] == "digits_cnn.keras"
    assert info["metadata"]["labels"] == [str(i) for i in range(10)]
    result = run("convert", shipped_model, "--to", "ir", "-o", tmp_path / "cnn.npkit")
    assert result.exit_code == 0, result.stderr
    assert npukit.load(tmp_path / "cnn.npkit").summary() == npukit.load(shipped_model).summary()


def test_simulate_saves_outputs_and_spike_counts(tmp_path, shipped_model):
    out = tmp_path / "sim.npz"
    result = run("simulate", shipped_model, "--data", "digits", "-T", 16, "--samples", 50, "--save", out, "--json")
    assert result.exit_code == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["samples"] == 50 and figures["timesteps"] == 16 and 0 <= figures["accuracy"] <= 1
    with np.load(out) as saved:
        assert saved["outputs"].shape == (50, 10) and saved["y"].shape == (50,)
        counts = saved["spikes/conv1/relu"]
        assert counts.shape == (50, 8, 8, 16) and counts.max() <= 16
        assert counts.sum() / 50 == pytest.approx(figures["spikes_per_sample"]["conv1/relu"])
    # SOPs from the run: every fc1 spike reaches the 10 logits, every conv2 spike (2x2-pooled) the 64 fc1 units
    spikes = figures["spikes_per_sample"]
    assert figures["layer_sops"]["logits"] == pytest.approx(spikes["fc1/relu"] * 10)
    assert figures["layer_sops"]["fc1"] == pytest.approx(spikes["conv2/relu"] * 64)
    assert figures["sops"] == pytest.approx(sum(figures["layer_sops"].values())) and figures["seconds"] > 0
    assert set(figures["synaptic_paths"]) == {"conv2", "fc1"}


def test_parity_json_and_plot(tmp_path, shipped_model, shipped_tflite):
    plot = tmp_path / "sweep.png"
    result = run("parity", shipped_model, shipped_tflite, "-T", 8, "--samples", 40, "--sweep", "1,4,8", "--plot", plot, "--json")
    assert result.exit_code == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["samples"] == 40 and [r["timesteps"] for r in figures["sweep"]] == [1, 4, 8]
    assert plot.read_bytes()[:4] == b"\x89PNG"
    text = run("parity", shipped_model, shipped_tflite, "-T", 8, "--samples", 40).stdout
    assert "top-1 accuracy" in text and "conv1/relu" in text


def test_npz_data_with_and_without_labels(tmp_path, shipped_model, shipped_tflite, digits_test):
    data = tmp_path / "d.npz"
    np.savez(data, x=digits_test.x[:30], y=digits_test.y[:30])
    result = run("parity", shipped_model, shipped_tflite, "--data", data, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["accuracy"] is not None
    np.savez(data, x=digits_test.x[:30])
    result = run("simulate", shipped_model, "--data", data, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["accuracy"] is None


def test_demo_runs_the_shipped_example(tmp_path):
    result = run("demo", "--out", tmp_path, "--json")
    assert result.exit_code == 0, result.stderr
    figures = json.loads(result.stdout)
    assert (tmp_path / "digits_cnn.tflite").exists()
    assert figures["parity"]["accuracy"]["tflite"] >= 0.97


def _litert_top1(path, x):
    """Top-1 of a batch-1 int8 .tflite on x, LiteRT called directly, one sample per invoke."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    # builtin kernels only: XNNPACK would show up as DELEGATE nodes in the op list
    interp = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interp.allocate_tensors()
    (inp,), (out,) = interp.get_input_details(), interp.get_output_details()
    (in_scale, in_zero), (out_scale, out_zero) = inp["quantization"], out["quantization"]
    predictions = []
    for sample in x:
        interp.set_tensor(inp["index"], np.clip(np.round(sample / in_scale) + in_zero, -128, 127).astype(np.int8)[None])
        interp.invoke()
        predictions.append(int(((interp.get_tensor(out["index"]).astype(np.float64) - out_zero) * out_scale).argmax()))
    ops = [op["op_name"] for op in interp._get_ops_details()]
    return np.array(predictions), ops


@pytest.mark.slow
def test_demo_snn_figures_match_independent_runs(tmp_path, digits_test):
    """`demo --snn --json`: each figure recomputed from the files it wrote, by other routes: the
    simulator through the API, LiteRT called directly (rate) or npukit.run_temporal (temporal),
    and numpy formulas for accuracies, agreements and spike counts."""
    from npukit.models import DIGITS_LIF, DIGITS_LIF_TIMESTEPS

    result = run("demo", "--snn", "--out", tmp_path, "--json")
    assert result.exit_code == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["model"] == DIGITS_LIF.name and figures["data"] == "digits"
    entries = figures["runs"]
    assert [(e["convert"]["mode"], e["convert"]["quantization"]) for e in entries] == [
        ("rate", "int8"), ("temporal", "int8"), ("temporal", "none")]
    x, y, T = digits_test.x, digits_test.y, DIGITS_LIF_TIMESTEPS
    sim = npukit.simulate(DIGITS_LIF, "digits", timesteps=T)
    counts = sim.result.spike_counts
    snn_top1 = np.argmax(sim.result.outputs, axis=1)
    output_counts = {}
    for entry in entries:
        converted, parity = entry["convert"], entry["parity"]
        path = tmp_path / Path(converted["output_file"]).name
        assert path.parent == tmp_path and converted["model_bytes"] == path.stat().st_size
        assert parity["samples"] == 360 and parity["timesteps"] == T
        assert parity["accuracy"]["snn"] == sim.accuracy() == np.mean(snn_top1 == y)
        for layer, per_sample in parity["snn"]["spikes_per_sample"].items():
            assert per_sample == pytest.approx(counts[layer].reshape(360, -1).sum(axis=1).mean(), rel=1e-12), layer
        if converted["mode"] == "rate":
            tfl_top1, ops = _litert_top1(path, x)
            assert converted["ops"] == ops and parity["spike_agreement"] is None
        else:
            temporal = npukit.run_temporal(path, x, T)
            tfl_top1 = np.argmax(temporal.readouts, axis=1)
            assert parity["spike_agreement"] == np.mean(temporal.output_counts == counts["lif3"])
            output_counts[converted["quantization"]] = temporal.output_counts
        assert parity["accuracy"]["tflite"] == np.mean(tfl_top1 == y)
        assert parity["agreement"]["tflite_vs_snn"] == np.mean(tfl_top1 == snn_top1)
    # float32 temporal mode runs the simulator's arithmetic: every output spike count is equal
    np.testing.assert_array_equal(output_counts["none"], counts["lif3"])
    assert entries[2]["parity"]["spike_agreement"] == 1.0
    assert entries[2]["parity"]["accuracy"]["snn"] >= 0.95


def bad_inputs(tmp_path, shipped_model):
    truncated = tmp_path / "cut.keras"
    truncated.write_bytes(shipped_model.read_bytes()[:5000])
    no_x = tmp_path / "no_x.npz"
    np.savez(no_x, y=np.arange(3))
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, x=np.zeros((4, 8, 8), np.float32))
    nan = tmp_path / "nan.npz"
    np.savez(nan, x=np.full((4, 8, 8, 1), np.nan, np.float32))
    return [
        (["simulate", tmp_path / "missing.keras"], "does not exist"),
        (["convert", truncated, "-o", tmp_path / "out.tflite"], "not a .keras archive"),
        (["simulate", shipped_model, "--data", no_x, "--save", tmp_path / "out.npz"], "no 'x' array"),
        (["simulate", shipped_model, "--data", wrong, "--save", tmp_path / "out.npz"], r"samples have shape \(8, 8\)"),
        (["simulate", shipped_model, "--data", nan, "--save", tmp_path / "out.npz"], "NaN"),
        (["simulate", shipped_model, "-T", 0, "--save", tmp_path / "out.npz"], "timesteps must be a positive integer"),
        (["simulate", shipped_model, "-T", -3, "--save", tmp_path / "out.npz"], "timesteps must be a positive integer"),
        (["convert", shipped_model, "-T", 0, "-o", tmp_path / "out.tflite"], "timesteps must be a positive integer"),
        (["convert", shipped_model, "--batch", 0, "-o", tmp_path / "out.tflite"], "batch must be an integer"),
        (["parity", shipped_model, truncated, "--plot", tmp_path / "out.png", "--sweep", "1,2"], "not a TFLite model"),
        (["parity", shipped_model, shipped_model, "--sweep", "1,x", "--plot", tmp_path / "out.png"], "--sweep takes"),
        (["simulate", shipped_model, "--data", "mnist", "--save", tmp_path / "out.npz"], "does not exist"),
    ]


def test_bad_input_gives_one_line_and_no_output(tmp_path, shipped_model):
    for args, message in bad_inputs(tmp_path, shipped_model):
        result = run(*args)
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, result.stderr)
        assert __import__("re").search(message, lines[0]), (args, lines[0])
        assert not list(tmp_path.glob("out*")), args


def test_existing_output_is_kept_without_force(tmp_path, shipped_model):
    target = tmp_path / "model.tflite"
    target.write_bytes(b"precious")
    result = run("convert", shipped_model, "-o", target)
    assert result.exit_code == 2 and "--force" in result.stderr
    assert target.read_bytes() == b"precious"
    result = run("convert", shipped_model, "-o", target, "--force", "--calibration-samples", 16)
    assert result.exit_code == 0 and target.read_bytes()[4:8] == b"TFL3"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_usage_errors_are_one_line_from_the_console_script():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    code = "from npukit.cli import main; main()"
    for args in (["simulate", "m.keras", "-T", "abc"], ["convert", "m.keras", "--quantize", "int4"], ["nosuch"]):
        proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)
        assert proc.returncode == 2, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, proc.stderr)
