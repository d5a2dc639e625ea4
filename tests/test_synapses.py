"""Exact synaptic input of layers reading spikes (npukit.snn.synapses): both paths against an
independent reference (math.fsum of the products, rounded once), against each other, across
chunkings and batches; the event SNN workloads against the step loop; SOPs against spike counts
and brute-force fan-outs; the memory estimate against traced allocations."""

from __future__ import annotations

import math
import tracemalloc
import zlib

import numpy as np
import pytest

from npukit import ir
from npukit.converters.nir import from_nir_graph
from npukit.errors import BadInputError
from npukit.kernels.exact import lowest_bits, split_bands
from npukit.models.event_snns import events, nmnist_cnn, vgg_cnn
from npukit.snn import memory
from npukit.snn.encoders import event_input
from npukit.snn.plan import make_plan
from npukit.snn.simulate import simulate
from npukit.snn.stepwise import simulate_stepwise
from npukit.snn.synapses import Synapses


def conv_reference(x, kernel, bias, strides, padding, dilation, depthwise=False):
    """Each output as float32(fsum of its exact float64 products) + float32 bias, by loops."""
    b, h, w, c = x.shape
    kh, kw, _, n = kernel.shape
    (sh, sw), (dh, dw) = strides, dilation
    if padding == "same":
        oh, ow = -(-h // sh), -(-w // sw)
        top = max((oh - 1) * sh + (kh - 1) * dh + 1 - h, 0) // 2
        left = max((ow - 1) * sw + (kw - 1) * dw + 1 - w, 0) // 2
    else:
        oh, ow = (h - (kh - 1) * dh - 1) // sh + 1, (w - (kw - 1) * dw - 1) // sw + 1
        top = left = 0
    outs = c * n if depthwise else n
    out = np.zeros((b, oh, ow, outs), np.float32)
    for r in range(b):
        for oy in range(oh):
            for ox in range(ow):
                for o in range(outs):
                    terms = []
                    for i in range(kh):
                        for j in range(kw):
                            y, xx = oy * sh + i * dh - top, ox * sw + j * dw - left
                            if not (0 <= y < h and 0 <= xx < w):
                                continue
                            if depthwise:
                                terms.append(float(x[r, y, xx, o // n]) * float(kernel[i, j, o // n, o % n]))
                            else:
                                terms += [float(x[r, y, xx, ci]) * float(kernel[i, j, ci, o]) for ci in range(c)]
                    out[r, oy, ox, o] = np.float32(math.fsum(terms))
    return out + bias


def dense_reference(x, kernel, bias):
    out = np.array([[math.fsum(float(a) * float(k) for a, k in zip(row, col)) for col in kernel.T] for row in x])
    return out.astype(np.float32) + bias


@pytest.fixture(scope="module")
def digits_snn(shipped_model, digits_train):
    import npukit
    from npukit.passes.ann_to_snn import ann_to_snn

    return ann_to_snn(npukit.load(shipped_model), digits_train.x[:256]), digits_train.x[:256]


def spikes(rng, shape, kind):
    if kind == "binary":
        return (rng.random(shape) < 0.3).astype(np.uint8)
    if kind == "counts":
        return (rng.random(shape) < 0.3) * rng.integers(1, 256, shape).astype(np.uint8)
    if kind == "quarters":  # 2x2-average-pooled spikes
        return (rng.integers(0, 5, shape) * (rng.random(shape) < 0.4) / 4).astype(np.float32)
    return ((rng.random(shape) < 0.3) * rng.integers(1, 5000, shape)).astype(np.float32)  # counts > 255


def both_paths(syn, x):
    """Event path, dense path, and the event path one row at a time: all three must agree."""
    event, dense = syn(x, "event"), syn(x, "dense")
    rows = np.concatenate([syn(x[i : i + 1], "event") for i in range(len(x))])
    np.testing.assert_array_equal(event, dense)
    np.testing.assert_array_equal(event, rows)
    return event


@pytest.mark.parametrize("kind", ["binary", "counts", "quarters", "large"])
@pytest.mark.parametrize(
    "strides,padding,dilation", [((1, 1), "same", (1, 1)), ((2, 2), "valid", (1, 1)), ((2, 1), "same", (1, 1)), ((1, 1), "same", (2, 2))]
)
def test_conv_paths_equal_the_exactly_rounded_sum(kind, strides, padding, dilation):
    # a seed fixed per case (str hashes change from run to run; about 1 draw in 700 needs a
    # second weight band, where the sum is no longer the exactly rounded one)
    rng = np.random.default_rng(zlib.crc32(repr((kind, strides, padding, dilation)).encode()))
    kernel = (rng.standard_normal((3, 3, 3, 4)) * 0.3).astype(np.float32)
    bias = rng.standard_normal(4).astype(np.float32)
    node = ir.Conv2D("c", ("x",), kernel=kernel, bias=bias, strides=strides, padding=padding, dilation=dilation)
    unit = 0.25 if kind == "quarters" else 1.0
    syn = Synapses(node, (7, 6, 3), unit)
    assert syn.bands.count == 1
    x = spikes(rng, (5, 7, 6, 3), kind)
    got = both_paths(syn, x)
    np.testing.assert_array_equal(got, conv_reference(x, kernel, bias, strides, padding, dilation))


@pytest.mark.parametrize("strides,padding", [((1, 1), "same"), ((2, 2), "valid")])
def test_depthwise_and_dense_paths_equal_the_exactly_rounded_sum(strides, padding):
    rng = np.random.default_rng(7)
    kernel = (rng.standard_normal((3, 3, 4, 2)) * 0.3).astype(np.float32)
    kernel[1, 2, 3, 1] = 1e-35  # a second band, kept per channel
    bias = rng.standard_normal(8).astype(np.float32)
    node = ir.DepthwiseConv2D("d", ("x",), kernel=kernel, bias=bias, strides=strides, padding=padding, dilation=(1, 1))
    x = spikes(rng, (4, 6, 6, 4), "counts")
    got = both_paths(Synapses(node, (6, 6, 4), 1.0), x)
    np.testing.assert_array_equal(got, conv_reference(x, kernel, bias, strides, padding, (1, 1), depthwise=True))
    dense_kernel = (rng.standard_normal((30, 5)) * 0.3).astype(np.float32)
    node = ir.Dense("f", ("x",), kernel=dense_kernel, bias=bias[:5])
    for kind in ("binary", "large"):
        x = spikes(rng, (6, 30), kind)
        got = both_paths(Synapses(node, (30,), 1.0), x)
        np.testing.assert_array_equal(got, dense_reference(x, dense_kernel, bias[:5]))


def test_tiny_weights_get_their_own_bands_and_paths_still_agree():
    rng = np.random.default_rng(3)
    kernel = (rng.standard_normal((40, 6)) * 0.2).astype(np.float32)
    kernel[[3, 17, 29], [0, 2, 5]] = [1e-30, -3e-25, 7e-38]  # lowest bits far below the others'
    bias = np.zeros(6, np.float32)
    syn = Synapses(ir.Dense("f", ("x",), kernel=kernel, bias=bias), (40,), 1.0)
    # band 2: the two weights within 2**52 / 255 of each other's scale; band 3: 7e-38 alone
    assert syn.bands.count == 3 and [list(c) for c in syn.bands.columns] == [[0, 2], [5]]
    x = spikes(rng, (9, 40), "counts")
    got = both_paths(syn, x)
    reference = dense_reference(x, kernel, bias)
    np.testing.assert_allclose(got, reference, rtol=2**-23, atol=1e-30)  # adding the bands rounds at most once more


def test_lowest_bits_and_band_floor():
    np.testing.assert_array_equal(lowest_bits(np.array([1.0, 0.75, 3 * 2.0**-10, -6.0])), [0, -2, -10, 1])
    bands = split_bands(np.array([[0.5], [0.25]], np.float32), (0,))
    # 255 x (0.5 + 0.25) < 2**8: main-band bits may go down to 2**(8 - 52)
    assert bands.floors == (8 - 52,) and bands.count == 1


def test_units_follow_spikes_through_routing(digits_snn):
    graph, _ = digits_snn
    plan = make_plan(graph, 4, "current")
    # 2x2 average pools of 0/1 spikes: quarters, up to 4 of them
    assert plan.synapses == {"conv2": (0.25, 4), "fc1": (0.25, 4)}
    nmnist = from_nir_graph(nmnist_cnn(), dt=1.0)
    plan = make_plan(nmnist, 4, "time_series", input_unit=1.0, input_bound=3)
    assert plan.synapses == {"conv1": (1.0, 3), "conv2": (1.0, 1), "conv3": (1.0, 4), "fc1": (1.0, 4), "fc2": (1.0, 1)}
    assert set(make_plan(nmnist, 4, "time_series").synapses) == {"conv2", "conv3", "fc1", "fc2"}


def test_event_input_unit_and_bound():
    assert event_input(np.array([[0.0, 2.0, 1.0]]), "time_series", 1.0) == (1.0, 2)
    assert event_input(np.array([[0.0, 0.5]]), "time_series", 1.0)[0] is None
    assert event_input(np.zeros(3), "bernoulli", 16.0) == (16.0, 1)
    assert event_input(np.zeros(3), "poisson", 0.9)[0] is None
    assert event_input(np.zeros(3), "current", 1.0)[0] is None


@pytest.mark.parametrize("workload", ["nmnist", "vgg"])
def test_event_workloads_equal_the_step_loop_on_both_paths(workload, monkeypatch):
    if workload == "nmnist":
        graph, x = from_nir_graph(nmnist_cnn(), dt=1.0), events(5, 16, (2, 34, 34), 0.05, seed=1)
    else:
        graph, x = from_nir_graph(vgg_cnn(), dt=1.0), events(2, 6, (3, 32, 32), 0.05, seed=2)
    folded = simulate(graph, x, None, batch_size=4)
    assert folded.paths["conv1"]["dense"] == folded.paths["conv2"]["dense"] == 0  # sparse: event-driven
    monkeypatch.setattr(Synapses, "max_event_density", lambda self: 0.0)  # the folded simulator's dense path
    dense = simulate(graph, x, None, batch_size=3)
    assert all(p["dense"] > 0 and p["event"] == 0 for p in dense.paths.values())
    runs = [dense] + [simulate_stepwise(graph, x, None, batch_size=2, path=path) for path in ("event", "dense")]
    assert sum(int(c.sum()) for c in folded.spike_counts.values()) > 0
    for run in runs:
        for layer, counts in folded.spike_counts.items():
            np.testing.assert_array_equal(run.spike_counts[layer], counts, err_msg=layer)
        np.testing.assert_array_equal(run.readouts, folded.readouts)
        assert run.sops == pytest.approx(folded.sops, rel=1e-12)


def test_sops_are_spikes_times_the_synapses_they_reach():
    graph = from_nir_graph(nmnist_cnn(), dt=1.0)
    x = events(3, 12, (2, 34, 34), 0.05, seed=4)
    result = simulate(graph, x, None, batch_size=3)
    # conv1 reads the padded events; count each event's reachable outputs by brute force
    conv = graph["conv1"]
    padded = np.pad(np.moveaxis(x, 2, -1), ((0, 0), (0, 0), (1, 1), (1, 1), (0, 0)))
    reach = np.zeros(padded.shape[2:4])
    for y in range(reach.shape[0]):
        for xx in range(reach.shape[1]):
            reach[y, xx] = sum(
                1 for i in range(5) for j in range(5)
                if (y - i) % 2 == 0 and (xx - j) % 2 == 0 and 0 <= (y - i) // 2 < 16 and 0 <= (xx - j) // 2 < 16
            )
    expected = (padded.sum(axis=(0, 1)) * reach[:, :, None]).sum() * conv.kernel.shape[3] / 3
    assert result.sops["conv1"] == pytest.approx(expected, rel=1e-12)
    # fc2 reads if4's spikes: each reaches the 10 units; if5 feeds nothing weighted
    assert result.sops["fc2"] == pytest.approx(result.spike_counts["if4"].sum() * 10 / 3, rel=1e-12)
    assert result.sops_per_sample() == pytest.approx(sum(result.sops.values()))


def test_memory_estimate_follows_traced_allocations():
    graph = from_nir_graph(nmnist_cnn(), dt=1.0)
    x = np.ascontiguousarray(np.moveaxis(events(16, 30, (2, 34, 34), 0.05, seed=5), 2, -1))
    simulate(graph, x[:2], None, batch_size=2)  # kernels loaded, caches filled
    estimate = memory.bytes_per_sample(make_plan(graph, 30, "time_series", input_unit=1.0, input_bound=1)) * len(x)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        simulate(graph, x, None, batch_size=len(x))
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert 0.75 * estimate <= peak <= estimate + memory.FIXED_BYTES, (peak, estimate)


def test_memory_guard_lowers_the_batch_and_refuses_what_cannot_fit(digits_snn, monkeypatch):
    graph, x = digits_snn
    plan = make_plan(graph, 10, "current")
    per = memory.bytes_per_sample(plan)
    room = per * 5 + memory.FIXED_BYTES
    assert memory.fit_batch(plan, 256, budget=room) == 5
    assert memory.fit_batch(plan, 3, budget=room) == 3
    with pytest.raises(BadInputError, match=r"MiB per sample .*layer .* lower -T"):
        memory.fit_batch(plan, 1, budget=per - 1 + memory.FIXED_BYTES)
    full = simulate(graph, x[:20], 10, batch_size=256)
    monkeypatch.setattr(memory, "available_bytes", lambda: 2 * (per * 7 + memory.FIXED_BYTES))  # room for 7
    lowered = simulate(graph, x[:20], 10, batch_size=256)  # runs in batches of 7: same spikes
    np.testing.assert_allclose(lowered.readouts, full.readouts, atol=1e-5)  # readout GEMMs sum by batch
    for layer, counts in full.spike_counts.items():
        np.testing.assert_array_equal(lowered.spike_counts[layer], counts)
    monkeypatch.setattr(memory, "available_bytes", lambda: per)
    with pytest.raises(BadInputError, match="lower -T"):
        simulate(graph, x[:4], 10)


def test_public_scipy_product_gives_the_same_sums(monkeypatch):
    from npukit.kernels import events as kernels

    rng = np.random.default_rng(11)
    node = ir.Conv2D("c", ("x",), kernel=(rng.standard_normal((3, 3, 4, 5)) * 0.3).astype(np.float32),
                     bias=np.zeros(5, np.float32), strides=(2, 2), padding="same", dilation=(1, 1))
    x = spikes(rng, (6, 9, 9, 4), "binary")
    fast = Synapses(node, (9, 9, 4), 1.0, 1, kernel="scipy")(x, "event")
    monkeypatch.setattr(kernels, "_accumulate", None)  # scipy < 1.15: coo_array @ weights, then add
    np.testing.assert_array_equal(Synapses(node, (9, 9, 4), 1.0, 1, kernel="scipy")(x, "event"), fast)
