"""Profiler: MAC and SOP counts by hand, energy recomputed from the tables, relative latency,
the JSON report, device reports, the HTML report."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

import npukit
from npukit import ir
from npukit.cli import app
from npukit.errors import BadInputError
from npukit.profile.counts import fan_out, layer_counts, tflite_counts
from npukit.profile.energy import estimate, load_tables
from npukit.snn.simulate import simulate
from npukit.tflite_file import read_tflite

runner = CliRunner()


def cnn_graph():
    rng = np.random.default_rng(0)
    nodes = [
        ir.Input("x", (), shape=(8, 8, 2)),
        ir.Conv2D("conv", ("x",), kernel=rng.normal(size=(3, 3, 2, 4)), bias=np.zeros(4), padding="same"),
        ir.ReLU("r1", ("conv",)),
        ir.DepthwiseConv2D("dw", ("r1",), kernel=rng.normal(size=(3, 3, 4, 1)), bias=np.zeros(4), padding="valid"),
        ir.ReLU("r2", ("dw",)),
        ir.AveragePool2D("pool", ("r2",), pool_size=(2, 2), strides=(2, 2)),
        ir.Flatten("flat", ("pool",)),
        ir.Dense("fc", ("flat",), kernel=rng.normal(size=(36, 5)), bias=np.zeros(5)),
    ]
    return ir.Graph(nodes, "fc")


def test_mac_counts_by_hand_from_the_ir_and_from_the_tflite(tmp_path):
    graph = cnn_graph()
    rows = {r["name"]: r for r in layer_counts(graph)}
    assert rows["conv"]["macs"] == 8 * 8 * 4 * (3 * 3 * 2)
    assert rows["dw"]["macs"] == 6 * 6 * 4 * (3 * 3)
    assert rows["pool"]["macs"] == 3 * 3 * 4 * (2 * 2)
    assert rows["fc"]["macs"] == 36 * 5
    calib = np.random.default_rng(1).uniform(0, 1, (32, 8, 8, 2)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=calib)
    result = npukit.convert(graph, tmp_path / "m.tflite", data=tmp_path / "d.npz", calibration_samples=32)
    ops = {r["type"]: r["macs"] for r in tflite_counts(read_tflite(result.path))}
    assert ops["CONV_2D"] == rows["conv"]["macs"]
    assert ops["DEPTHWISE_CONV_2D"] == rows["dw"]["macs"]
    assert ops["AVERAGE_POOL_2D"] == rows["pool"]["macs"]
    assert ops["FULLY_CONNECTED"] == rows["fc"]["macs"]


def dense_snn():
    rng = np.random.default_rng(2)
    nodes = [
        ir.Input("x", (), shape=(10,)),
        ir.Dense("a", ("x",), kernel=rng.normal(size=(10, 16)), bias=np.zeros(16)),
        ir.IF("s1", ("a",), v_threshold=np.array(0.5), v_init=np.array(0.25)),
        ir.Dense("b", ("s1",), kernel=rng.normal(size=(16, 7)), bias=np.zeros(7)),
        ir.IF("s2", ("b",), v_threshold=np.array(0.5)),
        ir.Dense("c", ("s2",), kernel=rng.normal(size=(7, 3)), bias=np.zeros(3)),
    ]
    return ir.Graph(nodes, "c")


def test_sop_counts_are_spikes_times_fan_out():
    graph = dense_snn()
    x = np.random.default_rng(3).uniform(0, 1, (20, 10)).astype(np.float32)
    result = simulate(graph, x, 16)
    rows = {r["name"]: r for r in layer_counts(graph, result.spike_counts, 16)}
    spikes1 = result.spike_counts["s1"].sum() / 20
    spikes2 = result.spike_counts["s2"].sum() / 20
    assert rows["s1"]["sops"] == pytest.approx(spikes1 * 7)  # each s1 spike reaches the 7 units of b
    assert rows["s2"]["sops"] == pytest.approx(spikes2 * 3)
    assert rows["s1"]["neuron_updates"] == 16 * 16 and rows["s2"]["neuron_updates"] == 7 * 16


def test_runtime_sops_sit_on_the_weighted_layers_and_match_spikes_times_fan_out():
    graph = dense_snn()
    x = np.random.default_rng(3).uniform(0, 1, (20, 10)).astype(np.float32)
    result = simulate(graph, x, 16)
    assert set(result.sops) == {"b", "c"}  # "a" reads the analog input: MACs, not SOPs
    rows = {r["name"]: r for r in layer_counts(graph, result.spike_counts, 16, sops=result.sops)}
    assert rows["b"]["sops"] == pytest.approx(result.spike_counts["s1"].sum() / 20 * 7)  # counted, not estimated
    assert rows["c"]["sops"] == pytest.approx(result.spike_counts["s2"].sum() / 20 * 3)  # the readout reads s2
    assert rows["s1"]["sops"] is None and rows["s1"]["spikes"] == pytest.approx(result.spike_counts["s1"].sum() / 20)


def test_fan_out_through_pooling_counts_the_next_convolution():
    rng = np.random.default_rng(4)
    nodes = [
        ir.Input("x", (), shape=(8, 8, 1)),
        ir.Conv2D("c1", ("x",), kernel=rng.normal(size=(3, 3, 1, 3)), bias=np.zeros(3), padding="same"),
        ir.IF("s", ("c1",), v_threshold=np.array(1.0)),
        ir.AveragePool2D("p", ("s",), pool_size=(2, 2), strides=(2, 2)),
        ir.Conv2D("c2", ("p",), kernel=rng.normal(size=(3, 3, 3, 5)), bias=np.zeros(5), padding="same"),
    ]
    graph = ir.Graph(nodes, "c2")
    assert fan_out(graph, "s") == pytest.approx(3 * 3 * 5)  # a pooled cell feeds a 3x3 window of 5 maps


def test_energy_recomputes_from_the_table():
    graph = dense_snn()
    x = np.random.default_rng(5).uniform(0, 1, (8, 10)).astype(np.float32)
    result = simulate(graph, x, 10)
    rows = layer_counts(graph, result.spike_counts, 10)
    tables = load_tables()
    energy = estimate(rows, tables, {"a"}, spiking=True)
    macs = sum(r["macs"] for r in rows)
    traffic = sum(r["weights"] + r["activations"] + r["reads"] for r in rows)
    h = tables["tables"]["horowitz_45nm"]["pj"]
    assert energy["npu_int8"]["uj"] == pytest.approx((macs * h["mac_int8"] + traffic * h["sram_byte"]) / 1e6)
    assert energy["cpu_fp32"]["uj"] == pytest.approx((macs * h["mac_fp32"] + traffic * 4 * h["sram_byte"]) / 1e6)
    sops = sum(r["sops"] or 0 for r in rows)
    updates = sum(r["neuron_updates"] or 0 for r in rows)
    first = next(r for r in rows if r["name"] == "a")["macs"]
    loihi = tables["tables"]["loihi"]["pj"]
    assert energy["loihi"]["uj"] == pytest.approx((first * h["mac_fp32"] + sops * loihi["sop"] + updates * loihi["neuron_update"]) / 1e6)
    assert energy["snn_45nm"]["uj"] == pytest.approx((first * h["mac_fp32"] + sops * h["ac_fp32"]) / 1e6)
    assert all(e["estimate"] and e["source"] for e in energy.values())


def test_user_energy_table_overrides(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"tables": {"loihi": {"pj": {"sop": 1.0}}}}))
    tables = load_tables(path)
    assert tables["tables"]["loihi"]["pj"] == {"sop": 1.0, "neuron_update": 52.0}
    path.write_text("{not json")
    with pytest.raises(BadInputError, match="not valid JSON"):
        load_tables(path)
    path.write_text(json.dumps({"tables": {"loihi": {"pj": {"sop": -1}}}}))
    with pytest.raises(BadInputError, match="non-negative"):
        load_tables(path)


def dense_model(width: int):
    rng = np.random.default_rng(6)
    return ir.Graph(
        [ir.Input("x", (), shape=(width,)),
         ir.Dense("d", ("x",), kernel=rng.normal(size=(width, width)).astype(np.float32), bias=np.zeros(width))],
        "d",
    )


def test_four_times_the_macs_measure_slower(tmp_path):
    from npukit.profile.latency import measure_latency

    paths = {}
    for width in (1024, 2048):  # 2048^2 = 4 x 1024^2 MACs
        paths[width] = npukit.convert(dense_model(width), tmp_path / f"d{width}.tflite", quantize="none").path
    times = {w: measure_latency(p, runs=60, warmup=5, threads=1)["latency_ms"]["p50"] for w, p in paths.items()}
    assert times[2048] > times[1024]


@pytest.fixture(scope="module")
def profiled(shipped_model, shipped_tflite):
    result = runner.invoke(
        app, ["profile", str(shipped_tflite), "--source", str(shipped_model), "--data", "digits", "--runs", "30", "--json"]
    )
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_profile_report_keys(profiled):
    for key in ("latency_ms", "init_ms", "first_inference_ms", "runs", "threads", "model_bytes", "peak_rss_mb", "macs",
                "sops", "energy_uj", "layers"):
        assert key in profiled, key
    assert set(profiled["latency_ms"]) >= {"mean", "std", "min", "max", "p50", "p90", "p99"}
    assert profiled["runs"] == 30 and len(profiled["latency_samples_ms"]) == 30
    assert profiled["macs"] == npukit.inspect(npukit.models.DIGITS_CNN)["total_macs"]
    assert profiled["sops"] > 0 and {"npu_int8", "cpu_fp32", "loihi", "truenorth", "spinnaker2", "snn_45nm"} <= set(profiled["energy_uj"])
    assert all("energy_pj" in row for row in profiled["layers"])


def test_device_report_side_by_side(tmp_path, profiled, shipped_tflite):
    device = {k: profiled[k] for k in ("latency_ms", "init_ms", "first_inference_ms", "model_bytes", "runs", "threads")}
    device.update(device={"model": "Pixel 8", "soc": "Tensor G3", "api_level": 34}, delegate="nnapi", accuracy=0.98)
    path = tmp_path / "device.json"
    path.write_text(json.dumps(device))
    plot = tmp_path / "p.png"
    result = runner.invoke(app, ["profile", str(shipped_tflite), "--runs", "10", "--device-report", str(path), "--plot", str(plot)])
    assert result.exit_code == 0, result.stderr
    assert "Pixel 8" in result.stdout and "latency_ms.p90" in result.stdout
    assert plot.read_bytes()[:4] == b"\x89PNG"
    path.write_text(json.dumps({"latency_ms": {"mean": 1}}))
    result = runner.invoke(app, ["profile", str(shipped_tflite), "--runs", "5", "--device-report", str(path)])
    assert result.exit_code == 2 and "lacks model_bytes, device, delegate, accuracy" in result.stderr


def test_profile_bad_input(tmp_path):
    bad = tmp_path / "x.tflite"
    bad.write_bytes(b"garbage" * 10)
    for args, message in (
        (["profile", str(bad)], "not a TFLite model"),
        (["profile", str(tmp_path / "none.tflite")], "does not exist"),
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_html_report_has_every_section_and_plot(tmp_path, shipped_model):
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["report", str(shipped_model), "--data", "digits", "-o", str(out), "--runs", "20"])
    assert result.exit_code == 0, result.stderr
    page = out.read_text()
    for section in ("summary", "model", "conversion", "nnapi", "parity", "latency", "energy"):
        assert f"<section id='{section}'>" in page, section
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    assert len(images) == 3
    assert all(base64.b64decode(img)[:4] == b"\x89PNG" for img in images)
    assert "estimate" in page.lower() and "runs whole on NN-API" in page
