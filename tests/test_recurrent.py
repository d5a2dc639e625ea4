"""Recurrent and sequence SNNs in NIR: a Conv1d audio-style network (SHD's 700 channels as a 1-D
signal per step), delay lines (NIR Delay nodes), recurrent loops, checked against independent
numpy loops written here; their temporal-mode conversion; and the refusals."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

import npukit
from npukit.cli import app
from npukit.converters.nir import from_nir_graph
from npukit.snn.simulate import simulate

nir = pytest.importorskip("nir")
runner = CliRunner()
BETA, DT = 0.9, 1e-4


def lif(shape, threshold=1.0):
    tau = np.float32(DT) / (np.float32(1) - np.float32(BETA))
    full = lambda v: np.full(shape, v, np.float32)  # noqa: E731
    return nir.LIF(tau=full(tau), r=full(tau / np.float32(DT)), v_leak=full(0.0), v_threshold=full(threshold), v_reset=full(0.0))


def chain(nodes: dict) -> "nir.NIRGraph":
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])), type_check=False)


def lif_loop(currents: list[np.ndarray], threshold=1.0) -> tuple[np.ndarray, list[np.ndarray]]:
    """NIR's LIF under Euler at dt = 1e-4 as snnTorch writes it: v = beta v + I, spike on v > thr, v = 0."""
    v = np.zeros_like(currents[0])
    spikes = []
    for current in currents:
        v = np.float32(BETA) * v + current
        s = (v > threshold).astype(np.float32)
        v = v * (1 - s)
        spikes.append(s)
    return np.sum(spikes, axis=0), spikes


def conv1d(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int) -> np.ndarray:
    """(N, C_in, L) * (C_out, C_in, k) -> (N, C_out, L_out), a plain loop over output positions."""
    k = w.shape[2]
    positions = range(0, x.shape[2] - k + 1, stride)
    return np.stack([np.einsum("ncl,ocl->no", x[:, :, p:p + k], w) for p in positions], axis=2) + b[None, :, None]


def test_conv1d_audio_snn_equals_an_independent_loop_and_converts(tmp_path):
    rng = np.random.default_rng(0)
    w1 = rng.normal(0, 0.5, (8, 1, 7)).astype(np.float32)
    w2 = rng.normal(0, 0.4, (8, 8, 5)).astype(np.float32)
    b1, b2 = np.full(8, 0.05, np.float32), np.zeros(8, np.float32)
    l1 = (700 - 7) // 3 + 1
    l2 = (l1 - 5) // 2 + 1
    w3 = rng.normal(0, 0.05, (20, 8 * l2)).astype(np.float32)
    graph_nir = chain({
        "input": nir.Input(input_type={"input": np.array([1, 700])}),
        "conv1": nir.Conv1d(input_shape=700, weight=w1, stride=3, padding=0, dilation=1, groups=1, bias=b1),
        "lif1": lif((8, l1)),
        "conv2": nir.Conv1d(input_shape=l1, weight=w2, stride=2, padding=0, dilation=1, groups=1, bias=b2),
        "lif2": lif((8, l2)),
        "flatten": nir.Flatten(input_type={"input": np.array([8, l2])}, start_dim=0),
        "fc": nir.Affine(weight=w3, bias=np.zeros(20, np.float32)),
        "lif3": lif((20,)),
        "output": nir.Output(output_type={"output": np.array([20])}),
    })
    x = (rng.random((6, 40, 1, 700)) < 0.1).astype(np.float32)  # SHD-like: spikes of 700 channels per step
    graph = from_nir_graph(graph_nir)
    ours = simulate(graph, x, None)  # (N, T, C, L) channels first
    layer1 = [conv1d(x[:, t], w1, b1, 3) for t in range(x.shape[1])]
    counts1, spikes1 = lif_loop(layer1)
    layer2 = [conv1d(s, w2, b2, 2) for s in spikes1]
    counts2, spikes2 = lif_loop(layer2)
    counts3, _ = lif_loop([s.reshape(len(s), -1) @ w3.T for s in spikes2])  # CHW flattening, as NIR says
    assert counts1.sum() > 0 and counts3.sum() > 0
    np.testing.assert_array_equal(ours.spike_counts["lif1"], counts1.transpose(0, 2, 1)[:, None])  # IR (1, L, C)
    np.testing.assert_array_equal(ours.spike_counts["lif2"], counts2.transpose(0, 2, 1)[:, None])
    np.testing.assert_array_equal(ours.spike_counts["lif3"], counts3)
    nhwc = simulate(graph, np.ascontiguousarray(x.transpose(0, 1, 3, 2)), None)  # (N, T, L, C) too
    np.testing.assert_array_equal(nhwc.spike_counts["lif3"], counts3)
    path = tmp_path / "shd.nir"
    nir.write(str(path), graph_nir)
    np.savez(tmp_path / "spikes.npz", x=x)
    result = npukit.convert(path, tmp_path / "shd.tflite", mode="temporal", quantize="none", data=tmp_path / "spikes.npz")
    assert result.delegation.fully_delegated and "CONV_2D" in result.ops
    report = npukit.parity(path, tmp_path / "shd.tflite", tmp_path / "spikes.npz").to_dict()
    assert report["spike_agreement"] == 1.0


def test_a_delay_line_and_a_recurrent_loop_equal_an_independent_loop(tmp_path):
    """input -> fc -> lif1 -> Delay(3 steps) -> fc2 -> lif2, and lif2 -> w_rec -> lif2 (one step)."""
    rng = np.random.default_rng(1)
    w1, w2, wr = (rng.normal(0, s, shape).astype(np.float32) for s, shape in ((0.8, (10, 6)), (0.7, (4, 10)), (0.5, (4, 4))))
    br = np.full(4, 0.1, np.float32)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([6])}),
        "fc": nir.Affine(weight=w1, bias=np.zeros(10, np.float32)), "lif1": lif((10,)),
        "delay": nir.Delay(delay=np.full(10, 3 * DT, np.float32)),
        "fc2": nir.Affine(weight=w2, bias=np.zeros(4, np.float32)), "lif2": lif((4,), 0.8),
        "w_rec": nir.Affine(weight=wr, bias=br),
        "output": nir.Output(output_type={"output": np.array([4])}),
    }
    edges = [("input", "fc"), ("fc", "lif1"), ("lif1", "delay"), ("delay", "fc2"), ("fc2", "lif2"), ("lif2", "w_rec"),
             ("w_rec", "lif2"), ("lif2", "output")]
    graph_nir = nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)
    x = rng.normal(0.4, 0.8, (8, 60, 6)).astype(np.float32)
    graph = from_nir_graph(graph_nir)
    assert graph.is_recurrent
    ours = simulate(graph, x, None)
    counts1, spikes1 = lif_loop([x[:, t] @ w1.T for t in range(60)])
    delayed = [np.zeros_like(spikes1[0])] * 3 + spikes1[:-3]
    v, previous, counts2 = np.zeros((8, 4), np.float32), np.zeros((8, 4), np.float32), 0
    for t in range(60):  # the recurrent edge carries the last step's spikes: its Affine gives the bias at t = 0
        v = np.float32(BETA) * v + (delayed[t] @ w2.T + (previous @ wr.T + br))
        previous = (v > 0.8).astype(np.float32)
        v = v * (1 - previous)
        counts2 = counts2 + previous
    np.testing.assert_array_equal(ours.spike_counts["lif1"], counts1)
    np.testing.assert_array_equal(ours.spike_counts["lif2"], counts2)
    from npukit.converters.tflite_temporal import TemporalBackend
    from npukit.runtime import run_temporal

    blob, meta = TemporalBackend(60, "time_series").convert(graph, None, "none", metadata={"spiking_output": True})
    kinds = sorted(s["kind"] for s in meta["state_order"])
    assert kinds == ["delay1", "delay1", "delay2", "delay3", "v", "v"]  # the delay line's ring, the loop's spikes
    np.testing.assert_array_equal(run_temporal(blob, x).output_counts, counts2)


def _write(tmp_path, name, nodes, edges=None):
    path = tmp_path / f"{name}.nir"
    names = list(nodes)
    graph = nir.NIRGraph(nodes=nodes, edges=edges or list(zip(names[:-1], names[1:])), type_check=False)
    nir.write(str(path), graph, compression=None)
    return path


@pytest.mark.parametrize("case, message", [
    ("negative_delay", "cannot be negative"),
    ("fractional_delay", "not a whole number of steps"),
    ("rate_mode", "rate mode runs a model once per input"),
])
def test_recurrent_refusals_are_one_line(tmp_path, case, message):
    nodes = {"input": nir.Input(input_type={"input": np.array([3])}),
             "fc": nir.Affine(weight=np.eye(3, dtype=np.float32), bias=np.zeros(3, np.float32)), "lif": lif((3,))}
    edges = None
    if case == "rate_mode":
        nodes["w_rec"] = nir.Affine(weight=np.eye(3, dtype=np.float32), bias=np.zeros(3, np.float32))
        edges = [("input", "fc"), ("fc", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")]
    else:
        nodes["delay"] = nir.Delay(delay=np.full(3, -DT if case == "negative_delay" else 1.5 * DT, np.float32))
    nodes["output"] = nir.Output(output_type={"output": np.array([3])})
    path = _write(tmp_path, case, nodes, edges)
    out = tmp_path / "out.tflite"
    data = tmp_path / "x.npz"
    np.savez(data, x=np.ones((2, 5, 3), np.float32))
    result = runner.invoke(app, ["convert", str(path), "-o", str(out), "--data", str(data)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert not out.exists()


def test_demo_rsnn(tmp_path, capsys):
    """The shipped recurrent SNN: >= 90% on digits-rows; float32 temporal mode equals the
    simulation; int8 printed; its Android bundle carries the recurrent state."""
    import json

    from npukit.bundle import read_bundle

    result = runner.invoke(app, ["demo", "--rsnn", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.stderr
    figures = json.loads(result.stdout)
    runs = {r["convert"]["quantization"]: r["parity"] for r in figures["runs"]}
    assert runs["none"]["accuracy"]["snn"] >= 0.9
    assert runs["none"]["agreement"]["tflite_vs_snn"] == 1.0 and runs["none"]["output"]["cosine"] > 0.99999
    with capsys.disabled():
        print(f"\ndigits_rsnn temporal int8: accuracy {runs['int8']['accuracy']['tflite']:.2%}, "
              f"top-1 agreement with the simulation {runs['int8']['agreement']['tflite_vs_snn']:.2%}")
    meta, _ = read_bundle(tmp_path / "bundles" / "digits_rsnn_temporal")
    assert "delay1" in {s["kind"] for s in meta["states"]}
