"""Spiking runtime: neuron traces by hand, the clip-floor bridge, time folding == step loop."""

from __future__ import annotations

import numpy as np
import pytest

from npukit import ir
from npukit.converters.keras import from_keras_model
from npukit.errors import BadInputError
from npukit.passes.ann_to_snn import ann_to_snn, spiking_relus
from npukit.reference import evaluate
from npukit.snn.encoders import encode
from npukit.snn.neurons import NeuronLayer, step
from npukit.snn.simulate import simulate
from npukit.snn.stepwise import simulate_stepwise


def if_node(theta=1.0, v_init=0.5, **kw):
    return ir.IF("n", ("x",), v_threshold=np.array(theta), v_init=np.array(v_init), **kw)


def run_trace(node, currents):
    v = np.broadcast_to(node.v_init.astype(np.float32), (1,)).copy()
    spikes, potentials = [], []
    for c in currents:
        s, state = step(node, {"v": v}, np.float32([c]))
        v = state["v"]
        spikes.append(int(s[0]))
        potentials.append(float(v[0]))
    return spikes, potentials


def test_if_subtractive_reset_trace_by_hand():
    # theta = 1, v(0) = 0.5, I = 0.25: m = 0.75, 1.0 (>= 1: spike, v = 0), 0.25, 0.5, 0.75, 1.0 ...
    spikes, v = run_trace(if_node(), [0.25] * 10)
    assert spikes == [0, 1, 0, 0, 0, 1, 0, 0, 0, 1]
    assert v == [0.75, 0.0, 0.25, 0.5, 0.75, 0.0, 0.25, 0.5, 0.75, 0.0]
    # the residue is kept: I = 0.75 from v(0) = 0.5 gives m = 1.25 -> v = 0.25, then 1.0 -> 0.0
    spikes, v = run_trace(if_node(), [0.75, 0.75, 0.75, -0.5])
    assert spikes == [1, 1, 0, 0] and v == [0.25, 0.0, 0.75, 0.25]


def test_if_reset_to_value_and_strict_threshold_by_hand():
    spikes, v = run_trace(if_node(v_init=0.0, reset="value", v_reset=-0.5), [0.5, 0.75, 0.5, 1.5])
    assert spikes == [0, 1, 0, 1] and v == [0.5, -0.5, 0.0, -0.5]
    spikes, _ = run_trace(if_node(v_init=0.5, fire_at_threshold=False), [0.25, 0.25, 0.25])
    assert spikes == [0, 0, 1]  # m = 1.0 does not fire with a strict threshold; 1.25 does


def test_in_place_layer_matches_the_pure_step():
    rng = np.random.default_rng(0)
    for node in (if_node(theta=0.7, v_init=0.35), if_node(theta=1.3, v_init=0.0, reset="value", v_reset=0.1)):
        layer = NeuronLayer(node, (64,))
        v = np.broadcast_to(node.v_init.astype(np.float32), (64,)).copy()
        out = np.empty(64, np.uint8)
        for _ in range(40):
            current = rng.normal(0.2, 0.5, 64).astype(np.float32)
            s, state = step(node, {"v": v}, current)
            v = state["v"]
            layer.step(current, out)
            np.testing.assert_array_equal(out, s)
            np.testing.assert_array_equal(layer.state["v"], v)


def dense_snn(theta=0.5, hidden=40, seed=0):
    rng = np.random.default_rng(seed)
    nodes = [
        ir.Input("x", (), shape=(12,)),
        ir.Dense("fc", ("x",), kernel=rng.normal(0, 0.4, (12, hidden)), bias=rng.normal(0, 0.1, hidden)),
        ir.IF("if", ("fc",), v_threshold=np.array(theta, np.float32), v_init=np.array(theta / 2, np.float32),
              amplitude=np.array(theta, np.float32)),
        ir.Dense("out", ("if",), kernel=rng.normal(0, 0.4, (hidden, 3)), bias=np.zeros(3)),
    ]
    return ir.Graph(nodes, "out")


def test_constant_current_spike_counts_follow_the_clip_floor_formula():
    theta, T = 0.5, 32
    graph = dense_snn(theta)
    x = np.random.default_rng(1).uniform(-1, 1, (200, 12)).astype(np.float32)
    counts = simulate(graph, x, T).spike_counts["if"]
    fc = graph["fc"]
    z = x.astype(np.float32) @ fc.kernel + fc.bias  # the layer's constant input current
    arg = z * T / theta + 0.5
    want = np.clip(np.floor(arg), 0, T)
    clear = np.abs(arg - np.round(arg)) > 1e-3  # away from float rounding ties
    assert clear.mean() > 0.95
    np.testing.assert_array_equal(counts[clear], want[clear])


def test_amplitude_scales_the_next_layer_like_the_equations_say():
    """An independent loop of the IR equations (output = amplitude * spike) for a dense SNN."""
    theta, T = 0.5, 24  # a power of two: scaling is exact, so spikes must match exactly
    graph = dense_snn(theta)
    x = np.random.default_rng(2).uniform(-1, 1, (50, 12)).astype(np.float32)
    got = simulate(graph, x, T)
    fc, out = graph["fc"], graph["out"]
    v = np.full((50, 40), theta / 2, np.float32)
    counts = np.zeros((50, 40), np.int64)
    total = np.zeros((50, 3))
    current = x @ fc.kernel + fc.bias
    for _ in range(T):
        v = v + current
        s = v >= theta
        v = np.where(s, v - np.float32(theta), v)
        counts += s
        total += (s * np.float32(theta)) @ out.kernel.astype(np.float64) + out.bias
    np.testing.assert_array_equal(got.spike_counts["if"], counts)
    np.testing.assert_allclose(got.outputs, total / T, atol=1e-5)


@pytest.fixture(scope="module")
def snn_models(keras_models, digits_train, shipped_model):
    import npukit

    rng = np.random.default_rng(3)
    out = {}
    for name, model in keras_models.items():
        graph = from_keras_model(model)
        calib = rng.uniform(0, 1, (128, *graph.input_shape)).astype(np.float32)
        out[name] = (ann_to_snn(graph, calib), calib)
    graph = npukit.load(shipped_model)
    out["digits_cnn"] = (ann_to_snn(graph, digits_train.x[:256]), digits_train.x[:256])
    return out


@pytest.mark.parametrize("name", ["digits_cnn", "sequential_cnn", "functional", "mlp"])
@pytest.mark.parametrize("encoding", ["current", "bernoulli", "poisson"])
def test_time_folded_equals_step_loop_exactly(snn_models, name, encoding):
    graph, x = snn_models[name]
    x = x[:48]
    folded = simulate(graph, x, 20, encoding=encoding, seed=5, batch_size=32, checkpoints=[4, 9])
    stepped = simulate_stepwise(graph, x, 20, encoding=encoding, seed=5, batch_size=32, checkpoints=[4, 9])
    assert folded.spike_counts.keys() == stepped.spike_counts.keys() and folded.spike_counts
    for layer, counts in folded.spike_counts.items():
        np.testing.assert_array_equal(counts, stepped.spike_counts[layer], err_msg=layer)
    np.testing.assert_array_equal(folded.readouts, stepped.readouts)
    assert sum(int(c.sum()) for c in folded.spike_counts.values()) > 0


@pytest.mark.parametrize("name", ["digits_cnn", "sequential_cnn", "functional", "mlp"])
def test_event_and_dense_synaptic_paths_both_equal_the_step_loop(snn_models, name):
    graph, x = snn_models[name]
    folded = simulate(graph, x[:24], 12, encoding="poisson", seed=2, batch_size=16)
    assert folded.paths, "the network has layers reading spikes"
    for path in ("event", "dense"):
        stepped = simulate_stepwise(graph, x[:24], 12, encoding="poisson", seed=2, batch_size=16, path=path)
        assert all(rows[path] > 0 for rows in stepped.paths.values())
        for layer, counts in folded.spike_counts.items():
            np.testing.assert_array_equal(stepped.spike_counts[layer], counts, err_msg=f"{path} {layer}")
        np.testing.assert_array_equal(stepped.readouts, folded.readouts)


def test_readout_after_t_steps_equals_a_t_step_simulation(snn_models):
    graph, x = snn_models["sequential_cnn"]
    long = simulate(graph, x[:40], 16, checkpoints=[1, 5, 8])
    for t in (1, 5, 8):
        short = simulate(graph, x[:40], t)
        np.testing.assert_array_equal(long.readouts[long.checkpoints.index(t)], short.outputs)


def test_max_pool_gate_passes_the_busiest_input():
    # two IF neurons share one pool window; constant currents 0.5 and 0.25 (theta 1)
    nodes = [
        ir.Input("x", (), shape=(1, 2, 1)),
        ir.IF("if", ("x",), v_threshold=np.array(1.0), v_init=np.array(0.5)),
        ir.MaxPool2D("mp", ("if",), pool_size=(1, 2), strides=(1, 2)),
        ir.Flatten("f", ("mp",)),
        ir.Dense("out", ("f",), kernel=np.ones((1, 1)), bias=np.zeros(1)),
    ]
    graph = ir.Graph(nodes, "out")
    x = np.array([[[[0.5], [0.25]]], [[[0.25], [0.5]]]], np.float32)
    result = simulate(graph, x, 16)
    # the busier neuron (rate 1/2) wins every window: readout = its rate 8/16
    np.testing.assert_allclose(result.outputs[:, 0], [0.5, 0.5])


def test_encoders_are_seeded_per_sample_and_unbiased():
    x = np.random.default_rng(6).uniform(-1, 1, (20, 5)).astype(np.float32)
    a = encode(x, 64, "bernoulli", 1.0, seed=3)
    b = np.concatenate([encode(x[:7], 64, "bernoulli", 1.0, seed=3), encode(x[7:], 64, "bernoulli", 1.0, seed=3, first_index=7)], axis=1)
    np.testing.assert_array_equal(a, b)  # a sample's spikes do not depend on its batch
    assert not np.array_equal(a, encode(x, 64, "bernoulli", 1.0, seed=4))
    many = encode(np.full((1, 3), 0.3, np.float32), 20000, "poisson", 1.0)
    assert abs(many.mean() - 0.3) < 0.01
    with pytest.raises(BadInputError, match="encoding must be one of"):
        encode(x, 4, "morse", 1.0)


def test_ann_to_snn_thresholds_are_percentiles_of_positive_activations(keras_models):
    graph = from_keras_model(keras_models["mlp"])
    calib = np.random.default_rng(7).normal(size=(300, 20)).astype(np.float32)
    snn = ann_to_snn(graph, calib, percentile=99.0)
    acts = evaluate(graph, calib, keep="all")
    relus = spiking_relus(graph)
    assert len(relus) == 2  # the ReLU after the last Dense would stay analog; here both feed Dense layers
    for name in relus:
        node = snn[name]
        a = acts[name]
        want = np.percentile(a[a > 0], 99.0)
        if graph[name].max_value is not None:
            want = min(want, graph[name].max_value)
        assert isinstance(node, ir.IF)
        assert float(node.v_threshold) == pytest.approx(want, rel=1e-6)
        assert float(node.v_init) == pytest.approx(want / 2, rel=1e-6)
        assert float(node.amplitude) == pytest.approx(want, rel=1e-6)


def test_relu_after_the_last_weighted_layer_stays_analog():
    rng = np.random.default_rng(8)
    nodes = [
        ir.Input("x", (), shape=(4,)),
        ir.Dense("a", ("x",), kernel=rng.normal(size=(4, 6)), bias=np.zeros(6)),
        ir.ReLU("ra", ("a",)),
        ir.Dense("b", ("ra",), kernel=rng.normal(size=(6, 3)), bias=np.zeros(3)),
        ir.ReLU("rb", ("b",)),
    ]
    graph = ir.Graph(nodes, "rb")
    snn = ann_to_snn(graph, rng.normal(size=(64, 4)))
    assert isinstance(snn["ra"], ir.IF) and isinstance(snn["rb"], ir.ReLU)
    out = simulate(snn, rng.normal(size=(10, 4)).astype(np.float32), 8).outputs
    assert out.min() >= 0


def test_bad_simulation_arguments():
    graph = dense_snn()
    x = np.zeros((3, 12), np.float32)
    with pytest.raises(BadInputError, match="timesteps must be a positive integer"):
        simulate(graph, x, 0)
    with pytest.raises(BadInputError, match="samples have shape"):
        simulate(graph, np.zeros((3, 11), np.float32), 4)
    with pytest.raises(BadInputError, match="NaN"):
        simulate(graph, np.full((3, 12), np.nan, np.float32), 4)


def test_fold_amplitudes_moves_every_scale_to_an_equivalent_place(snn_models):
    """Stand in for spikes with the identity: an IF layer then outputs amplitude * input, a
    linear map; the folded graph (amplitude 1, scaled weights) must compute the same function."""
    from npukit.passes.fold_amplitudes import fold_amplitudes

    def stand_in(graph):
        nodes = []
        for node in graph:
            if isinstance(node, ir.IF):
                channels = graph.shapes[node.name][-1]
                node = ir.BatchNorm(node.name, node.inputs, scale=np.full(channels, float(node.amplitude), np.float32),
                                    shift=np.zeros(channels, np.float32))
            nodes.append(node)
        return ir.Graph(nodes, graph.output)

    for name in ("functional", "digits_cnn", "sequential_cnn"):
        graph, x = snn_models[name]
        folded, scales = fold_amplitudes(graph)
        assert all(float(n.amplitude) == 1.0 for n in folded if isinstance(n, ir.IF))
        want = evaluate(stand_in(graph), x[:20], keep="all")
        got = evaluate(stand_in(folded), x[:20], keep="all")
        def close(a, b):  # float32 weights: 1e-5 of the layer's largest magnitude
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(b).max())))

        close(got[folded.output], want[graph.output])
        for node in graph:  # nodes whose output is scaled down in the folded form
            close(got[node.name] * scales.get(node.name, 1.0), want[node.name])


def test_snn_readout_approaches_the_float_output_as_t_grows(snn_models):
    graph, x = snn_models["functional"]
    from npukit.parity import cosine

    result = simulate(graph, x[:64], 256, checkpoints=[8])
    ann = evaluate(_as_ann(graph), x[:64])
    assert cosine(result.outputs, ann[graph.output]) > 0.99
    assert cosine(result.outputs, ann[graph.output]) > cosine(result.readouts[0], ann[graph.output])


def _as_ann(graph):
    """The ANN an SNN was converted from: each IF back to a ReLU clipped at its threshold."""
    return ir.Graph(
        [ir.ReLU(n.name, n.inputs, max_value=float(n.v_threshold)) if isinstance(n, ir.IF) else n for n in graph],
        graph.output,
    )


@pytest.mark.parametrize("encoding", ["bernoulli", "poisson"])
def test_same_seed_same_spikes_other_seed_other_spikes(snn_models, encoding):
    graph, x = snn_models["digits_cnn"]
    runs = [simulate(graph, x[:24], 16, encoding=encoding, seed=s) for s in (11, 11, 12)]
    for layer, counts in runs[0].spike_counts.items():
        np.testing.assert_array_equal(runs[1].spike_counts[layer], counts, err_msg=layer)
    np.testing.assert_array_equal(runs[1].readouts, runs[0].readouts)
    assert any(not np.array_equal(runs[2].spike_counts[k], c) for k, c in runs[0].spike_counts.items())
