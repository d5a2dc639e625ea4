"""The compiled event kernel (npukit.kernels.events_jit) against the scipy event path, the dense
path and an independent reference (math.fsum of the products, rounded once): bit for bit, on
random layers (strides, padding, dilation, odd shapes, several weight bands, multi-spike inputs
with bound > 1, values above the bound split into digits, row shards on worker threads) and on
the event SNN workloads; the NPUKIT_NO_JIT switch and the fallback without numba."""

from __future__ import annotations

import numpy as np
import pytest

from npukit import ir
from npukit.converters.nir import from_nir_graph
from npukit.kernels import parallel
from npukit.models.event_snns import events, nmnist_cnn, vgg_cnn
from npukit.snn import synapses as synapses_module
from npukit.snn.simulate import simulate
from npukit.snn.stepwise import simulate_stepwise
from npukit.snn.synapses import Synapses, event_kernel
from test_synapses import conv_reference, dense_reference, spikes

pytest.importorskip("numba", reason="numba not installed: the jit kernel falls back to scipy (tested below)")


def all_ways(node, in_shape, unit, bound, x):
    """jit event, scipy event, dense: returns the jit result after checking all are identical,
    and that both kernels counted the same synaptic operations."""
    jit = Synapses(node, in_shape, unit, bound, kernel="jit")
    scipy = Synapses(node, in_shape, unit, bound, kernel="scipy")
    got = jit(x, "event")
    np.testing.assert_array_equal(got, scipy(x, "event"))
    assert jit.sops == scipy.sops  # exact integer-valued sums
    np.testing.assert_array_equal(got, scipy(x, "dense"))
    assert got.dtype == np.float32 and got.shape == (len(x),) + jit.out_shape
    return got, jit


def random_kernel(rng, shape, tiny: int = 0):
    """float32 weights, ``tiny`` of them set far below the rest (each makes a weight band)."""
    kernel = (rng.standard_normal(shape) * 0.3).astype(np.float32)
    flat = kernel.reshape(-1)
    for i, value in enumerate([3e-30, -7e-37, 2e-20][:tiny]):
        flat[(i * 7 + 3) % flat.size] = value
    return kernel


CONV_CASES = [  # in (h, w, c), kernel (kh, kw, cout), strides, padding, dilation
    ((7, 6, 3), (3, 3, 4), (1, 1), "same", (1, 1)),
    ((9, 11, 2), (5, 5, 3), (2, 2), "same", (1, 1)),
    ((9, 11, 2), (5, 3, 5), (2, 3), "valid", (1, 1)),
    ((8, 7, 4), (3, 2, 6), (1, 2), "same", (2, 1)),
    ((5, 5, 1), (1, 1, 7), (1, 1), "valid", (1, 1)),
    ((13, 4, 3), (3, 3, 2), (3, 1), "same", (1, 2)),
]


@pytest.mark.parametrize("case", range(len(CONV_CASES)))
@pytest.mark.parametrize("kind,unit,bound", [("binary", 1.0, 1), ("counts", 1.0, 255), ("counts", 1.0, 4),
                                             ("quarters", 0.25, 4), ("large", 1.0, 255)])
def test_conv_kernels_equal_each_other_and_the_exact_sum(case, kind, unit, bound):
    in_shape, (kh, kw, cout), strides, padding, dilation = CONV_CASES[case]
    rng = np.random.default_rng(case * 100 + len(kind) + bound)
    kernel = random_kernel(rng, (kh, kw, in_shape[2], cout), tiny=case % 3)
    bias = rng.standard_normal(cout).astype(np.float32)
    node = ir.Conv2D("c", ("x",), kernel=kernel, bias=bias, strides=strides, padding=padding, dilation=dilation)
    x = spikes(rng, (4,) + in_shape, kind)
    got, syn = all_ways(node, in_shape, unit, bound, x)
    assert syn.bands.count >= 1 + (case % 3 > 0)
    if syn.bands.count == 1:  # one band: one rounding of the exact sum
        np.testing.assert_array_equal(got, conv_reference(x, kernel, bias, strides, padding, dilation))
    else:  # adding the later bands rounds at most once more
        np.testing.assert_allclose(got, conv_reference(x, kernel, bias, strides, padding, dilation), rtol=2**-22, atol=1e-30)


@pytest.mark.parametrize("strides,padding", [((1, 1), "same"), ((2, 2), "valid"), ((2, 1), "same")])
@pytest.mark.parametrize("kind,bound", [("counts", 255), ("counts", 2), ("binary", 1)])
def test_depthwise_kernels_equal(strides, padding, kind, bound):
    rng = np.random.default_rng(len(kind) * 10 + bound + strides[1])
    kernel = random_kernel(rng, (3, 3, 4, 2), tiny=1)  # a second band, kept per channel
    bias = rng.standard_normal(8).astype(np.float32)
    node = ir.DepthwiseConv2D("d", ("x",), kernel=kernel, bias=bias, strides=strides, padding=padding, dilation=(1, 1))
    x = spikes(rng, (3, 7, 6, 4), kind)
    got, syn = all_ways(node, (7, 6, 4), 1.0, bound, x)
    assert syn.bands.count == 2
    np.testing.assert_allclose(got, conv_reference(x, kernel, bias, strides, padding, (1, 1), depthwise=True),
                               rtol=2**-22, atol=1e-30)


@pytest.mark.parametrize("kind,unit,bound", [("binary", 1.0, 1), ("counts", 1.0, 255), ("quarters", 0.25, 4),
                                             ("large", 1.0, 255), ("counts", 1.0, 3)])
def test_dense_kernels_equal(kind, unit, bound):
    rng = np.random.default_rng(len(kind) + bound)
    kernel = random_kernel(rng, (37, 9), tiny=3)
    bias = rng.standard_normal(9).astype(np.float32)
    x = spikes(rng, (11, 37), kind)
    got, syn = all_ways(ir.Dense("f", ("x",), kernel=kernel, bias=bias), (37,), unit, bound, x)
    assert syn.bands.count >= 3
    np.testing.assert_allclose(got, dense_reference(x, kernel, bias), rtol=2**-22, atol=1e-30)


def test_row_shards_on_threads_and_any_batch_give_the_same_bits(monkeypatch):
    """A call large enough to be split over worker threads equals the scipy path, and each row
    equals the same row computed alone."""
    monkeypatch.setattr(parallel, "workers", lambda: 3)  # shards even on a 1-core machine
    rng = np.random.default_rng(5)
    node = ir.Conv2D("c", ("x",), kernel=random_kernel(rng, (3, 3, 8, 16)), bias=np.zeros(16, np.float32),
                     strides=(1, 1), padding="same", dilation=(1, 1))
    x = (rng.random((130, 16, 16, 8)) < 0.05).astype(np.uint8)
    assert len(parallel.shards(len(x), x.size)) == 3
    got, _ = all_ways(node, (16, 16, 8), 1.0, 1, x)
    jit = Synapses(node, (16, 16, 8), 1.0, 1, kernel="jit")
    np.testing.assert_array_equal(np.concatenate([jit(x[i : i + 1], "event") for i in (0, 64, 129)]), got[[0, 64, 129]])


def test_other_input_dtypes_and_empty_calls():
    rng = np.random.default_rng(9)
    node = ir.Dense("f", ("x",), kernel=random_kernel(rng, (20, 4)), bias=np.ones(4, np.float32))
    x = spikes(rng, (6, 20), "binary")
    reference, _ = all_ways(node, (20,), 1.0, 1, x)
    for other in (x.astype(bool), x.astype(np.int16), x.astype(np.float64)):
        np.testing.assert_array_equal(Synapses(node, (20,), 1.0, 1, kernel="jit")(other, "event"), reference)
    empty = Synapses(node, (20,), 1.0, 1, kernel="jit")(x[:0], "event")
    assert empty.shape == (0, 4)
    silent = Synapses(node, (20,), 1.0, 1, kernel="jit")(np.zeros_like(x), "event")
    np.testing.assert_array_equal(silent, np.ones((6, 4), np.float32))  # bias only


@pytest.mark.parametrize("workload", ["nmnist", "vgg"])
def test_event_workloads_equal_with_and_without_the_jit(workload, monkeypatch):
    if workload == "nmnist":
        graph, x = from_nir_graph(nmnist_cnn(), dt=1.0), events(4, 12, (2, 34, 34), 0.05, seed=3)
    else:
        graph, x = from_nir_graph(vgg_cnn(), dt=1.0), events(2, 5, (3, 32, 32), 0.05, seed=6)
    jit = simulate(graph, x, None, batch_size=4)
    monkeypatch.setenv("NPUKIT_NO_JIT", "1")
    assert event_kernel() == "scipy"
    runs = [simulate(graph, x, None, batch_size=3), simulate_stepwise(graph, x, None, batch_size=2, path="event")]
    assert sum(int(c.sum()) for c in jit.spike_counts.values()) > 0
    assert all(p["event"] > 0 for p in jit.paths.values())
    for run in runs:
        for layer, counts in jit.spike_counts.items():
            np.testing.assert_array_equal(run.spike_counts[layer], counts, err_msg=layer)
        np.testing.assert_array_equal(run.readouts, jit.readouts)
        assert run.sops == pytest.approx(jit.sops, rel=1e-12)


def test_kernel_choice_follows_the_switch_and_falls_back_without_numba(monkeypatch):
    node = ir.Dense("f", ("x",), kernel=np.eye(3, dtype=np.float32), bias=np.zeros(3, np.float32))
    monkeypatch.delenv("NPUKIT_NO_JIT", raising=False)
    assert event_kernel() == "jit" and Synapses(node, (3,), 1.0).kernel == "jit"
    monkeypatch.setenv("NPUKIT_NO_JIT", "1")
    assert Synapses(node, (3,), 1.0).kernel == "scipy"
    monkeypatch.delenv("NPUKIT_NO_JIT")
    monkeypatch.setattr(synapses_module, "_events_jit", lambda: None)  # numba cannot be imported
    syn = Synapses(node, (3,), 1.0)
    assert syn.kernel == "scipy"
    np.testing.assert_array_equal(syn(np.array([[1, 0, 2]], np.uint8), "event"), [[1, 0, 2]])
    with pytest.raises(ImportError, match="numba"):
        Synapses(node, (3,), 1.0, kernel="jit")


def _add_one(a):
    return a + 1


@pytest.mark.parametrize("how", ["disabled", "folder others can write"])
def test_kernels_compile_in_memory_without_a_private_cache(how, monkeypatch, tmp_path):
    from numba.core.caching import NullCache

    from npukit.kernels import jit

    if how == "disabled":
        monkeypatch.setenv(jit.CACHE_ENV, "0")
    else:
        monkeypatch.delenv(jit.CACHE_ENV, raising=False)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
        (tmp_path / "npukit").mkdir(mode=0o777)
        (tmp_path / "npukit").chmod(0o777)
    jit._cache_class.cache_clear()
    try:
        compiled = jit.njit(_add_one)
        assert compiled(2) == 3
        assert isinstance(compiled._cache, NullCache)
    finally:
        jit._cache_class.cache_clear()
