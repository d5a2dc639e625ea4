"""Profiler: MAC and SOP counts by hand, the energy of a hand-counted SNN from the published
per-operation costs, relative latency, the JSON report, device reports, the HTML report."""

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


# Published per-operation costs (shared/reference/energy.md), typed from the papers, not from
# energy_tables.json: the test also catches a table that drifts from its sources.
HOROWITZ_PJ = {"mac_fp32": 3.7 + 0.9, "mac_int8": 0.2 + 0.03, "sram_byte": 20 / 8, "ac_fp32": 0.9}  # ISSCC 2014
EXYNOS_PJ_PER_MAC = 2 / 11.5  # 11.5 TOPS/W, 2 operations per MAC (ISSCC 2019, 7.1)
NEURO_PJ = {"loihi": (23.6, 52.0), "truenorth": (26.0, 0.0), "spinnaker2": (450.0, 2190.0)}  # (per SOP, per update)


def tiny_snn():
    """4 inputs -> Dense a (4 x 3) -> IF s1 (threshold 1, v(0) = 0) -> Dense b (3 x 2)."""
    kernel = np.array([[0.5, 0.25, 0.0], [0.25, 0.0, 0.0], [1.0, -1.0, 0.5], [0.3, 0.3, 0.3]])
    nodes = [
        ir.Input("x", (), shape=(4,)),
        ir.Dense("a", ("x",), kernel=kernel, bias=np.zeros(3)),
        ir.IF("s1", ("a",), v_threshold=np.array(1.0), v_init=np.array(0.0)),
        ir.Dense("b", ("s1",), kernel=np.ones((3, 2)), bias=np.zeros(2)),
    ]
    return ir.Graph(nodes, "b")


def test_energy_of_a_hand_counted_snn():
    """Every figure counted by hand for two samples over T = 8 steps:

    * currents into s1: sample 0 (x = e0) [0.5, 0.25, 0] -> 4, 2, 0 spikes; sample 1 (x = e1)
      [0.25, 0, 0] -> 2, 0, 0 spikes; 4 spikes per sample on average;
    * each s1 spike reaches the 2 units of b: 8 SOPs per sample; 3 neurons x 8 steps = 24 updates;
    * MACs: a 4 x 3 = 12 (the first layer, fed by the analog input), b 3 x 2 = 6: 18;
    * values moved: a 15 weights + 3 outputs + 4 inputs read, s1 3 + 3, b 8 + 2 + 3: 41.
    """
    from npukit.profile.run import _first_layers

    graph = tiny_snn()
    x = np.eye(4, dtype=np.float32)[:2]
    result = simulate(graph, x, 8)
    np.testing.assert_array_equal(result.spike_counts["s1"], [[4, 2, 0], [2, 0, 0]])
    assert _first_layers(graph) == {"a"}
    rows = layer_counts(graph, result.spike_counts, 8)
    energy = estimate(rows, load_tables(), _first_layers(graph), spiking=True)
    h = HOROWITZ_PJ
    macs, first_macs, values, sops, updates = 18, 12, 41, 8, 24
    want_pj = {
        "cpu_fp32": macs * h["mac_fp32"] + values * 4 * h["sram_byte"],  # 82.8 + 410 = 492.8
        "npu_int8": macs * h["mac_int8"] + values * h["sram_byte"],  # 4.14 + 102.5 = 106.64
        "npu_int8_exynos": macs * EXYNOS_PJ_PER_MAC,  # 3.13
        "snn_45nm": first_macs * h["mac_fp32"] + sops * h["ac_fp32"],  # 55.2 + 7.2 = 62.4
        **{chip: first_macs * h["mac_fp32"] + sops * sop + updates * update for chip, (sop, update) in NEURO_PJ.items()},
    }
    assert want_pj["loihi"] == pytest.approx(1492.0) and want_pj["spinnaker2"] == pytest.approx(56215.2)
    assert set(energy) == set(want_pj)
    for platform, pj in want_pj.items():
        # the Exynos figure is rounded to 0.174 pJ in the table; the rest are exact
        assert energy[platform]["uj"] == pytest.approx(pj / 1e6, rel=1e-3 if platform.endswith("exynos") else 1e-9), platform
        assert energy[platform]["estimate"] is True and energy[platform]["source"]
    per_layer = {r["name"]: r["energy_pj"] for r in rows}
    assert per_layer["s1"]["loihi"] == pytest.approx(8 * 23.6 + 24 * 52.0)  # s1's own spikes and updates
    assert per_layer["b"]["loihi"] == 0.0  # b emits no spikes and reads no analog input
    assert per_layer["a"]["cpu_fp32"] == pytest.approx(12 * 4.6 + 22 * 4 * 2.5)


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
