"""NIR: hand-computed neuron traces, snnTorch-style graphs against an independent loop, layout,
graphs as found in the wild, rate and temporal TFLite modes, NIR export, bad input."""

from __future__ import annotations

import json

import nir
import numpy as np
import pytest
from typer.testing import CliRunner

import npukit
from npukit.cli import app
from npukit.errors import BadInputError
from npukit.snn import euler
from npukit.snn.simulate import simulate
from npukit.snn.stepwise import simulate_stepwise

DT = 1e-4
runner = CliRunner()


def trace(step, steps, **kw):
    spikes, potentials, v = [], [], np.zeros(1, np.float32)
    for current in steps:
        s, v = step(v, [current], dt=DT, **kw)
        spikes.append(int(s[0]))
        potentials.append(float(v[0]))
    return spikes, potentials


def test_if_trace_by_hand():
    # dv/dt = r I with dt * r = 1: v += I; fire on v > 1, reset to 0
    spikes, v = trace(euler.if_step, [0.4] * 6, r=1e4, v_threshold=1.0, v_reset=0.0)
    assert spikes == [0, 0, 1, 0, 0, 1]
    assert v == pytest.approx([0.4, 0.8, 0.0, 0.4, 0.8, 0.0])
    spikes, _ = trace(euler.if_step, [0.5, 0.5, 0.5], r=1e4, v_threshold=1.0, v_reset=0.0)
    assert spikes == [0, 0, 1]  # v = 1.0 is not > 1


def test_lif_trace_by_hand():
    # dt/tau = 0.5: v <- 0.5 v + 0.5 v_leak + 0.5 r I, with r = 2, v_leak = 0.2: v <- 0.5 v + 0.1 + I
    spikes, v = trace(euler.lif_step, [0.8] * 4, tau=2e-4, r=2.0, v_leak=0.2, v_threshold=1.0, v_reset=0.0)
    assert spikes == [0, 1, 0, 1]  # 0.9, then 0.45 + 0.1 + 0.8 = 1.35 fires
    assert v == pytest.approx([0.9, 0.0, 0.9, 0.0])


def test_cuba_lif_trace_by_hand():
    # i <- 0.5 i + 0.5 * 2 * S; v <- 0.75 v + 0.25 * 4 * i (the new current)
    v, i = np.zeros(1, np.float32), np.zeros(1, np.float32)
    spikes, vs, currents = [], [], []
    for _ in range(4):
        s, v, i = euler.cuba_lif_step(v, i, [0.5], tau_syn=2e-4, tau_mem=4e-4, r=4.0, v_leak=0.0, v_threshold=1.0,
                                      v_reset=0.0, w_in=2.0, dt=DT)
        spikes.append(int(s[0]))
        vs.append(float(v[0]))
        currents.append(float(i[0]))
    assert currents == [0.5, 0.75, 0.875, 0.9375]
    assert spikes == [0, 1, 0, 1]  # v: 0.5, 0.375 + 0.75 = 1.125 fires, 0.875, 0.65625 + 0.9375 fires
    assert vs == [0.5, 0.0, 0.875, 0.0]


def test_euler_refuses_bad_time_constants():
    with pytest.raises(BadInputError, match="positive time constants"):
        euler.lif_step([0.0], [0.0], tau=-1e-3, r=1.0, v_leak=0.0, v_threshold=1.0, v_reset=0.0, dt=DT)
    with pytest.raises(BadInputError, match="forward Euler would overshoot"):
        euler.lif_step([0.0], [0.0], tau=1e-5, r=1.0, v_leak=0.0, v_threshold=1.0, v_reset=0.0, dt=DT)


def snntorch_graph(beta: float, sizes=(20, 30, 10), seed=0, scalar=True):
    """A NIR graph the way snnTorch exports Leaky neurons (dt = 1e-4, tau = dt/(1-beta),
    r = tau/dt, v_leak 0, reset 0), with scalar parameters as found in the wild."""
    rng = np.random.default_rng(seed)
    beta = np.float32(beta)
    tau = np.float32(DT) / (np.float32(1) - beta)
    r = tau / np.float32(DT)
    weights = [rng.normal(0, 0.5, (b, a)).astype(np.float32) for a, b in zip(sizes[:-1], sizes[1:])]
    biases = [rng.normal(0, 0.1, b).astype(np.float32) for b in sizes[1:]]

    def lif(n):
        shape = () if scalar else (n,)
        full = lambda value: np.full(shape, value, np.float32)  # noqa: E731
        return nir.LIF(tau=full(tau), r=full(r), v_leak=full(0), v_threshold=full(1), v_reset=full(0))

    nodes = {"input": nir.Input(input_type={"input": np.array([sizes[0]])})}
    edges, last = [], "input"
    for k, (w, b) in enumerate(zip(weights, biases)):
        nodes[f"fc{k}"], nodes[f"lif{k}"] = nir.Affine(weight=w, bias=b), lif(w.shape[0])
        edges += [(last, f"fc{k}"), (f"fc{k}", f"lif{k}")]
        last = f"lif{k}"
    nodes["output"] = nir.Output(output_type={"output": np.array([sizes[-1]])})
    edges.append((last, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), weights, biases, beta


@pytest.mark.parametrize("beta", [0.9, 0.8, 0.95])
def test_snntorch_style_graph_matches_an_independent_loop_exactly(tmp_path, beta):
    graph, weights, biases, beta32 = snntorch_graph(beta)
    path = tmp_path / "leaky.nir"
    nir.write(str(path), graph, compression=None)
    model = npukit.load(path)
    assert model.meta["nir_typed_reader"] is False  # nir.read refuses scalar parameters; npukit reads them
    x = np.random.default_rng(1).uniform(0, 1, (64, 20)).astype(np.float32)
    T = 30
    got = simulate(model, x, T, batch_size=64)
    # independent loop: v <- beta v + W x + b; spike if v > 1; reset to 0
    current = x @ weights[0].T + biases[0]
    v = [np.zeros((64, w.shape[0]), np.float32) for w in weights]
    counts = [np.zeros((64, w.shape[0]), np.int64) for w in weights]
    for _ in range(T):
        drive = current
        for k, w in enumerate(weights):
            if k:
                drive = drive.astype(np.float32) @ w.T + biases[k]
            v[k] = v[k] * beta32 + drive
            s = v[k] > 1
            v[k][s] = 0
            counts[k] += s
            drive = s
    for k in range(len(weights)):
        np.testing.assert_array_equal(got.spike_counts[f"lif{k}"], counts[k])


def conv_graph(padding=1, pool="SumPool2d"):
    """Conv2d -> LIF (per-neuron thresholds) -> pool -> Flatten -> Affine -> LIF, integer
    weights and inputs so that every sum is exact in float32."""
    rng = np.random.default_rng(2)
    c, h, w = 3, 6, 6
    conv_w = rng.integers(-2, 3, (4, c, 3, 3)).astype(np.float32)
    thresholds = rng.integers(2, 6, (4, 6, 6)).astype(np.float32)
    tau = np.float32(2 * DT)  # decay 0.5, gain r/2
    nodes = {
        "input": nir.Input(input_type={"input": np.array([c, h, w])}),
        "conv": nir.Conv2d(input_shape=(h, w), weight=conv_w, stride=1, padding=padding, dilation=1, groups=1,
                           bias=np.array([1, 0, -1, 2], np.float32)),
        "lif1": nir.LIF(tau=np.full((4, 6, 6), tau), r=np.full((4, 6, 6), 2, np.float32),
                        v_leak=np.zeros((4, 6, 6), np.float32), v_threshold=thresholds, v_reset=np.zeros((4, 6, 6), np.float32)),
        "pool": getattr(nir, pool)(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([4, 3, 3])}, start_dim=0),
        "fc": nir.Affine(weight=rng.integers(-1, 2, (5, 36)).astype(np.float32), bias=np.zeros(5, np.float32)),
        "lif2": nir.LIF(tau=np.full(5, tau), r=np.full(5, 2, np.float32), v_leak=np.zeros(5, np.float32),
                        v_threshold=np.full(5, 2, np.float32), v_reset=np.zeros(5, np.float32)),
        "output": nir.Output(output_type={"output": np.array([5])}),
    }
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:]))), nodes


def chw_reference(nodes, x_chw: np.ndarray, T: int):
    """The graph in NIR's own channels-first layout, by loops (exact for integer data)."""
    conv = nodes["conv"]
    n = x_chw.shape[0]
    xp = np.pad(x_chw, ((0, 0), (0, 0), (1, 1), (1, 1)))
    current = np.zeros((n, 4, 6, 6), np.float32)
    for i in range(6):
        for j in range(6):
            current[:, :, i, j] = np.einsum("ncij,ocij->no", xp[:, :, i : i + 3, j : j + 3], conv.weight) + conv.bias
    v1, v2 = np.zeros((n, 4, 6, 6), np.float32), np.zeros((n, 5), np.float32)
    c1, c2 = np.zeros_like(v1, dtype=np.int64), np.zeros_like(v2, dtype=np.int64)
    th = nodes["lif1"].v_threshold
    for _ in range(T):
        v1 = v1 * np.float32(0.5) + current
        s1 = v1 > th
        v1[s1] = 0
        c1 += s1
        pooled = s1.reshape(n, 4, 3, 2, 3, 2).sum(axis=(3, 5)).astype(np.float32).reshape(n, 36)  # CHW flatten
        v2 = v2 * np.float32(0.5) + pooled @ nodes["fc"].weight.T
        s2 = v2 > 2
        v2[s2] = 0
        c2 += s2
    return c1, c2


def test_conv_flatten_affine_layout_is_exact(tmp_path):
    graph, nodes = conv_graph()
    path = tmp_path / "conv.nir"
    nir.write(str(path), graph)
    model = npukit.load(path)
    assert model.meta["nir_typed_reader"] is True and model.input_shape == (6, 6, 3)
    x_chw = np.random.default_rng(3).integers(0, 3, (40, 3, 6, 6)).astype(np.float32)
    got = simulate(model, x_chw, 12)  # channels-first data is accepted for NIR models
    want1, want2 = chw_reference(nodes, x_chw, 12)
    np.testing.assert_array_equal(got.spike_counts["lif1"], want1.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(got.spike_counts["lif2"], want2)
    hwc = simulate(model, x_chw.transpose(0, 2, 3, 1), 12)
    np.testing.assert_array_equal(hwc.spike_counts["lif2"], want2)


def test_every_neuron_type_folds_in_time_exactly(tmp_path):
    rng = np.random.default_rng(4)
    n = 12
    full = lambda value: np.full(n, value, np.float32)  # noqa: E731
    nodes = {
        "input": nir.Input(input_type={"input": np.array([8])}),
        "fc1": nir.Affine(weight=rng.normal(size=(n, 8)).astype(np.float32), bias=full(0.1)),
        "cuba": nir.CubaLIF(tau_syn=full(5e-4), tau_mem=full(1e-3), r=full(10), v_leak=full(0.05), v_threshold=full(1),
                            v_reset=full(0), w_in=full(5)),
        "fc2": nir.Affine(weight=rng.normal(size=(n, n)).astype(np.float32), bias=full(0)),
        "if": nir.IF(r=full(1e4), v_threshold=full(0.7), v_reset=full(-0.1)),
        "scale": nir.Scale(scale=full(0.5)),
        "integ": nir.I(r=full(1e4)),
        "thr": nir.Threshold(threshold=full(1.5)),
        "fc3": nir.Affine(weight=rng.normal(size=(4, n)).astype(np.float32), bias=np.zeros(4, np.float32)),
        "li": nir.CubaLI(tau_syn=np.full(4, 4e-4, np.float32), tau_mem=np.full(4, 8e-4, np.float32), r=np.full(4, 8, np.float32),
                         v_leak=np.zeros(4, np.float32), w_in=np.full(4, 4, np.float32)),
        "output": nir.Output(output_type={"output": np.array([4])}),
    }
    names = list(nodes)
    path = tmp_path / "all.nir"
    nir.write(str(path), nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:]))))
    model = npukit.load(path)
    kinds = {type(node).__name__ for node in model}
    assert {"CubaLIF", "IF", "Scale", "Integrator", "Threshold", "CubaLI"} <= kinds
    x = rng.uniform(0, 1, (30, 8)).astype(np.float32)
    for encoding in ("current", "bernoulli"):
        a = simulate(model, x, 20, encoding=encoding, batch_size=16)
        b = simulate_stepwise(model, x, 20, encoding=encoding, batch_size=16)
        assert set(a.spike_counts) == {"cuba", "if", "thr"}
        for k in a.spike_counts:
            np.testing.assert_array_equal(a.spike_counts[k], b.spike_counts[k], err_msg=k)
        np.testing.assert_array_equal(a.readouts, b.readouts)


def test_time_series_data(tmp_path):
    graph, *_ = snntorch_graph(0.9)
    path = tmp_path / "g.nir"
    nir.write(str(path), graph, compression=None)
    model = npukit.load(path)
    x = np.random.default_rng(5).uniform(0, 1, (10, 20)).astype(np.float32)
    series = np.repeat(x[:, None], 15, axis=1)  # (N, T, features), constant in time
    a, b = simulate(model, x, 15), simulate(model, series, None)
    assert b.encoding == "time_series" and b.timesteps == 15
    np.testing.assert_array_equal(a.spike_counts["lif1"], b.spike_counts["lif1"])
    with pytest.raises(BadInputError, match="the data has 15 timesteps"):
        simulate(model, series, 10)


def test_dt_changes_the_discretization(tmp_path):
    graph, *_ = snntorch_graph(0.9, scalar=False)
    path = tmp_path / "g.nir"
    nir.write(str(path), graph)
    fast, slow = npukit.load(path, dt=1e-4), npukit.load(path, dt=5e-4)
    assert float(fast["lif0"].decay.reshape(-1)[0]) == pytest.approx(0.9)
    assert float(slow["lif0"].decay.reshape(-1)[0]) == pytest.approx(0.5)
    with pytest.raises(BadInputError, match="dt=0.002 s exceeds"):
        npukit.load(path, dt=2e-3)


# -- shipped LIF SNN: rate and temporal modes --------------------------------------------------


@pytest.fixture(scope="module")
def lif_conversions(tmp_path_factory):
    from npukit.models import DIGITS_LIF, DIGITS_LIF_TIMESTEPS

    out = tmp_path_factory.mktemp("lif")
    made = {}
    for mode, quantize, level in (("rate", "int8", 29), ("temporal", "int8", 30), ("temporal", "int8", 29),
                                  ("temporal", "none", 29)):
        path = out / f"{mode}_{quantize}_{level}.tflite"
        npukit.convert(DIGITS_LIF, path, mode=mode, quantize=quantize, timesteps=DIGITS_LIF_TIMESTEPS, api_level=level)
        made[(mode, quantize) if level == 30 or quantize != "int8" or mode == "rate" else (mode, quantize, level)] = path
    return DIGITS_LIF, made


def test_shipped_lif_snn_acceptance(lif_conversions):
    source, made = lif_conversions
    temporal_f32 = npukit.parity(source, made[("temporal", "none")], "digits")
    assert temporal_f32["timesteps"] == 25 and temporal_f32["spiking_output"]
    assert temporal_f32["accuracy"]["snn"] >= 0.95
    assert temporal_f32["spike_agreement"] >= 0.999
    for key in (("temporal", "int8"), ("temporal", "int8", 29)):
        temporal_int8 = npukit.parity(source, made[key], "digits")
        assert temporal_int8["agreement"]["tflite_vs_snn"] >= 0.95 and temporal_int8["spike_agreement"] is not None
        assert temporal_int8["deployed"]["spike_agreement"]["deployed_vs_tflite"] >= 0.999
    rate = npukit.parity(source, made[("rate", "int8")], "digits")
    assert abs(rate["accuracy"]["tflite"] - rate["accuracy"]["snn"]) <= 0.02
    assert rate["tflite_model"]["rate_fit"]["lif1"]["a"] > 0


def test_temporal_and_rate_graphs_are_delegable_static_rank4(lif_conversions):
    from npukit.nnapi.check import check_model
    from npukit.runtime import make_interpreter

    _, made = lif_conversions
    for key, path in made.items():  # int8 temporal: float32 states from API 30, int8 states at 29
        report = check_model(path, 30 if key == ("temporal", "int8") else 29)
        assert report.fully_delegated, report.to_dict()
        if key == ("temporal", "int8"):
            assert not check_model(path, 29).fully_delegated  # QUANTIZE to int8 arrives with API 30
        assert not {"CAST", "SELECT_V2", "SHAPE"} & {o["op"] for o in report.ops}
        for t in make_interpreter(path, use_xnnpack=False).get_tensor_details():
            assert len(t["shape"]) <= 4 and -1 not in list(t["shape_signature"])


def test_run_temporal_matches_the_simulator_on_time_series(lif_conversions):
    from npukit.data import digits

    source, made = lif_conversions
    x = digits("test").x[:20]
    series = np.repeat(x[:, None], 25, axis=1)
    result = npukit.run_temporal(made[("temporal", "none")], series)
    sim = simulate(npukit.load(source), series, None)
    np.testing.assert_array_equal(result.output_counts, sim.spike_counts["lif3"])
    np.testing.assert_allclose(result.readouts, sim.outputs, atol=1e-6)


# -- NIR export -------------------------------------------------------------------------------


def test_exported_ann_reimports_with_identical_spikes(tmp_path, shipped_model):
    """npukit reads its own export back as the same network (the semantics NIR lacks travel as
    node metadata); a reader that ignores the metadata gets the export view (NIR's semantics)."""
    from npukit.converters.nir import from_nir_graph
    from npukit.converters.nir_export import export_view
    from npukit.data import digits
    from npukit.passes.ann_to_snn import ann_to_snn

    path = tmp_path / "cnn.nir"
    result = npukit.convert(shipped_model, path, to="nir", calibration_samples=256, timesteps=16)
    assert nir.read(str(path)) is not None  # NIR's own typed reader accepts the export
    accuracy = result.to_dict()["nir"]["accuracy"]
    assert accuracy["exported"] > 0.9 and accuracy["npukit_snn"] > 0.9
    snn = ann_to_snn(npukit.load(shipped_model), digits("train").x[:256])
    x = digits("test").x[:100]
    plain = nir.read(str(path))
    for node in plain.nodes.values():
        node.metadata = {}
    for reference, back in ((snn, npukit.load(path)), (export_view(snn), from_nir_graph(plain))):
        a, b = simulate(reference, x, 16), simulate(back, x, 16)
        for name, counts in a.spike_counts.items():
            np.testing.assert_array_equal(counts, b.spike_counts[name.replace("/", ".")])
        np.testing.assert_allclose(a.outputs, b.outputs, rtol=1e-5, atol=1e-6)
    assert not np.array_equal(simulate(snn, x, 16).spike_counts["conv1/relu"], simulate(export_view(snn), x, 16).spike_counts["conv1/relu"])


def test_lif_graph_survives_export_and_reimport(tmp_path):
    from npukit.models import DIGITS_LIF

    path = tmp_path / "again.nir"
    npukit.convert(DIGITS_LIF, path, to="nir", timesteps=25)
    from npukit.data import digits

    x = digits("test").x[:60]
    a, b = simulate(npukit.load(DIGITS_LIF), x, 25), simulate(npukit.load(path), x, 25)
    for name, counts in a.spike_counts.items():
        assert np.mean(counts == b.spike_counts[name]) >= 0.999, name


# -- bad input ------------------------------------------------------------------------------------


def bad_graphs(tmp_path):
    cases = []
    text = tmp_path / "text.nir"
    text.write_text("not hdf5")
    cases.append((text, "not a NIR file"))
    graph, *_ = snntorch_graph(0.9)
    cyclic = nir.NIRGraph(nodes=graph.nodes, edges=graph.edges + [("lif1", "fc1")], type_check=False)
    nir.write(str(tmp_path / "cycle.nir"), cyclic, compression=None)
    cases.append((tmp_path / "cycle.nir", "recurrent edge 'lif1' -> 'lif1.delayed' carries shape"))
    loop = nir.NIRGraph(nodes=graph.nodes, edges=graph.edges + [("fc1", "fc1")], type_check=False)
    nir.write(str(tmp_path / "loop.nir"), loop, compression=None)
    cases.append((tmp_path / "loop.nir", "has no neuron on it"))
    delay = nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": np.array([3])}), "d": nir.Delay(delay=np.full(3, 1.5e-4, np.float32)),
               "output": nir.Output(output_type={"output": np.array([3])})},
        edges=[("input", "d"), ("d", "output")], type_check=False,
    )
    nir.write(str(tmp_path / "delay.nir"), delay)
    cases.append((tmp_path / "delay.nir", "d: a delay of 0.00015 is not a whole number of steps of dt=0.0001"))
    nodes = dict(graph.nodes)
    nodes["fc0"] = nir.Affine(weight=np.ones((30, 19), np.float32), bias=np.zeros(30, np.float32))
    nir.write(str(tmp_path / "shapes.nir"), nir.NIRGraph(nodes=nodes, edges=graph.edges, type_check=False), compression=None)
    cases.append((tmp_path / "shapes.nir", "expects 19 inputs, receives 20"))
    nodes = dict(graph.nodes)
    lif = nodes["lif0"]
    nodes["lif0"] = nir.LIF(tau=-lif.tau, r=lif.r, v_leak=lif.v_leak, v_threshold=lif.v_threshold, v_reset=lif.v_reset)
    nir.write(str(tmp_path / "tau.nir"), nir.NIRGraph(nodes=nodes, edges=graph.edges, type_check=False), compression=None)
    cases.append((tmp_path / "tau.nir", "positive time constants"))
    return cases


def test_bad_nir_files_give_one_line_errors_and_no_output(tmp_path):
    for path, message in bad_graphs(tmp_path):
        out = tmp_path / "out.tflite"
        result = runner.invoke(app, ["convert", str(path), "-o", str(out)])
        assert result.exit_code == 2, (path, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (path, result.stderr)
        assert __import__("re").search(message, lines[0]), (path, lines[0])
        assert not out.exists()
    graph, *_ = snntorch_graph(0.9)
    good = tmp_path / "good.nir"
    nir.write(str(good), graph, compression=None)
    for dt in ("0", "-1e-4"):
        result = runner.invoke(app, ["simulate", str(good), "--dt", dt, "--data", "digits"])
        assert result.exit_code == 2 and "dt must be a positive number" in result.stderr


def test_cli_simulate_saves_output_spike_counts(tmp_path):
    from npukit.models import DIGITS_LIF

    out = tmp_path / "sim.npz"
    result = runner.invoke(app, ["simulate", str(DIGITS_LIF), "-T", "25", "--samples", "30", "--save", str(out), "--json"])
    assert result.exit_code == 0, result.stderr
    figures = json.loads(result.stdout)
    with np.load(out) as saved:
        assert saved["outputs"].dtype.kind == "i" and saved["outputs"].shape == (30, 10)
        np.testing.assert_array_equal(saved["outputs"], saved["spikes/lif3"])
    assert figures["accuracy"] > 0.9
