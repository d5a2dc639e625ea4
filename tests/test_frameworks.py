"""npukit computes what the framework that exported a NIR graph computes (``--framework``).

Each test builds a network in the framework itself (snnTorch, sinabs, Norse), exports it with
the framework's own NIR exporter, runs the framework's network on random input, and simulates
the exported graph with npukit under that framework's convention: the spike counts of every
(sample, neuron) pair of every spiking layer must be equal on >= 99% of pairs (they are equal on
all of them as these tests are written). The same graph read with NIR's own equations disagrees,
so the tests can tell the conventions apart.

torch, snnTorch, sinabs and Norse are test dependencies installed by .ci/run (torch 2.13 CPU);
without them the tests are skipped with the reason printed.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from npukit.converters.nir import from_nir_graph
from npukit.snn.simulate import simulate

torch = pytest.importorskip("torch", reason="framework cross-checks need torch (pip install torch==2.13.0)")

MIN_EQUAL = 0.99  # fraction of (sample, neuron) pairs with equal spike counts
N = 32


def equal(ours: np.ndarray, theirs) -> float:
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    assert ours.shape == theirs.shape
    return float(np.mean(ours == theirs))


def spiking_layers(graph) -> list[str]:
    return [n.name for n in graph if type(n).__name__ in ("IF", "LIF", "CubaLIF")]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(0)
        yield


# -- snnTorch ---------------------------------------------------------------------------------------


def _snntorch_net(neuron: str, reset: str, features=12, hidden=20, out=5):
    snn = pytest.importorskip("snntorch", reason="needs snntorch")

    def layer(n, last=False):
        # per-neuron parameters: snnTorch's exporter with nir >= 1.0.6 needs their shape to be the layer's
        kw = dict(beta=torch.rand(n) * 0.15 + 0.8, threshold=torch.rand(n) * 0.5 + 0.75, init_hidden=True,
                  reset_mechanism=reset, output=last)
        if neuron == "synaptic":
            return snn.Synaptic(alpha=torch.rand(n) * 0.3 + 0.5, **kw)
        return snn.Leaky(**kw)

    return torch.nn.Sequential(torch.nn.Linear(features, hidden), layer(hidden), torch.nn.Linear(hidden, out), layer(out, True))


@pytest.mark.parametrize("neuron, reset", [("leaky", "subtract"), ("leaky", "zero"), ("synaptic", "subtract"),
                                           ("synaptic", "zero")])
def test_snntorch(neuron, reset):
    from snntorch import utils
    from snntorch.export_nir import export_to_nir

    net = _snntorch_net(neuron, reset)
    graph_nir = export_to_nir(net, torch.zeros(12))  # sample data without a batch axis (nir's type check)
    x = np.random.default_rng(1).normal(0.3, 0.6, (N, 200, 12)).astype(np.float32)
    utils.reset(net)
    counts = [torch.zeros(N, 20), torch.zeros(N, 5)]
    with torch.no_grad():
        for t in range(x.shape[1]):
            s1 = net[1](net[0](torch.from_numpy(x[:, t])))
            s2 = net[3](net[2](s1))[0]
            counts[0] += s1
            counts[1] += s2
    ours = simulate(from_nir_graph(graph_nir, framework="snntorch", reset=reset), x, None)
    for name, theirs in zip(spiking_layers(from_nir_graph(graph_nir)), counts):
        assert theirs.sum() > 0
        assert equal(ours.spike_counts[name], theirs) >= MIN_EQUAL, name
    if reset == "subtract":  # NIR's reset to a value is another network
        plain = simulate(from_nir_graph(graph_nir, framework="nir"), x, None)
        assert equal(plain.spike_counts["3"], counts[1]) < 0.9


# -- sinabs -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("neuron", ["iaf", "lif"])
def test_sinabs_event_cnn(neuron):
    sinabs = pytest.importorskip("sinabs", reason="needs sinabs")
    sl = pytest.importorskip("sinabs.layers")
    steps = 60

    def layer(shape):
        # sinabs.from_nir's reading of NIR: IAF with min_v_mem = -threshold, LIF without input normalization
        if neuron == "iaf":
            return sl.IAFSqueeze(batch_size=N, spike_threshold=torch.tensor(1.0), min_v_mem=-1.0)
        return sl.LIFSqueeze(tau_mem=torch.full(shape, 8.0), batch_size=N, spike_threshold=torch.full(shape, 1.0),
                             norm_input=False)

    net = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding=1), layer((4, 16, 16)), sl.SumPool2d(2),
        torch.nn.Conv2d(4, 8, 3, padding=1), layer((8, 8, 8)), sl.SumPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(8 * 4 * 4, 10), layer((10,)),
    )
    with torch.no_grad():
        for module in net:
            if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
                module.weight.mul_(3.0)
    graph_nir = sinabs.to_nir(net, torch.zeros(N * steps, 2, 16, 16))
    events = (np.random.default_rng(2).random((N, steps, 2, 16, 16)) < 0.1).astype(np.float32)
    spikes = {}
    for k in (1, 4, 8):
        net[k].register_forward_hook(lambda module, args, out, k=k: spikes.__setitem__(k, out))
    for module in net:
        if hasattr(module, "reset_states"):
            module.reset_states()
    with torch.no_grad():
        net(torch.from_numpy(events.reshape(N * steps, 2, 16, 16)))  # time folded into the batch
    graph = from_nir_graph(graph_nir, framework="sinabs")
    ours = simulate(graph, events, None)  # (N, T, C, H, W): channels-first time series
    for name, k in zip(spiking_layers(graph), (1, 4, 8)):
        theirs = spikes[k].reshape(N, steps, *spikes[k].shape[1:]).sum(1)
        if theirs.ndim == 4:
            theirs = theirs.permute(0, 2, 3, 1)  # NCHW -> the IR's NHWC
        assert theirs.sum() > 0 and theirs.max() > 1 or neuron == "lif"  # several spikes per step happen
        assert equal(ours.spike_counts[name], theirs) >= MIN_EQUAL, name
    plain = simulate(from_nir_graph(graph_nir, framework="nir", dt=1.0), events, None)
    out = spiking_layers(graph)[-1]
    assert equal(plain.spike_counts[out], spikes[8].reshape(N, steps, 10).sum(1)) < 0.9


# -- Norse ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["lif", "iaf", "lif_box"])
def test_norse(cell):
    norse = pytest.importorskip("norse.torch", reason="needs norse")
    from norse.torch.utils.export_nir import to_nir

    def make(n):
        if cell == "lif":
            return norse.LIFCell(norse.LIFParameters(tau_mem_inv=torch.full((n,), 100.0), tau_syn_inv=torch.full((n,), 200.0),
                                                     v_th=torch.full((n,), 0.3), v_leak=torch.zeros(n), v_reset=torch.zeros(n)))
        if cell == "iaf":
            return norse.IAFCell(norse.IAFParameters(v_th=torch.full((n,), 1.0), v_reset=torch.zeros(n)))
        return norse.LIFBoxCell(norse.LIFBoxParameters(tau_mem_inv=torch.full((n,), 100.0), v_th=torch.full((n,), 0.1),
                                                       v_leak=torch.zeros(n), v_reset=torch.zeros(n)))

    model = norse.SequentialState(torch.nn.Linear(12, 20), make(20), torch.nn.Linear(20, 5), make(5))
    graph_nir = to_nir(model, torch.zeros(12))
    x = np.random.default_rng(3).normal(0.3, 0.6, (N, 200, 12)).astype(np.float32) * (1.0 if cell == "iaf" else 3.0)
    state = [None, None]
    counts = [torch.zeros(N, 20), torch.zeros(N, 5)]
    with torch.no_grad():
        for t in range(x.shape[1]):
            z1, state[0] = model[1](model[0](torch.from_numpy(x[:, t])), state[0])
            z2, state[1] = model[3](model[2](z1), state[1])
            counts[0] += z1
            counts[1] += z2
    graph = from_nir_graph(graph_nir, framework="norse")
    ours = simulate(graph, x, None)
    for name, theirs in zip(spiking_layers(graph), counts):
        assert theirs.sum() > 0
        assert equal(ours.spike_counts[name], theirs) >= MIN_EQUAL, name


# -- the same conventions in a temporal-mode TFLite graph ----------------------------------------------


def _temporal_counts(graph, x: np.ndarray) -> np.ndarray:
    """Output spike counts of the float32 temporal-mode .tflite of ``graph`` on a time series."""
    from npukit.converters.tflite_temporal import TemporalBackend
    from npukit.runtime import run_temporal

    blob, _ = TemporalBackend(x.shape[1]).convert(graph, None, "none", metadata={"spiking_output": True})
    return run_temporal(blob, x).output_counts


@pytest.mark.parametrize("framework", ["sinabs", "snntorch"])
def test_temporal_float32_computes_the_framework_convention(framework):
    """Multi-spike counts (FLOOR of DIV), the membrane floor, and resets at the next step, as TF
    ops: the float32 one-step graph reproduces the simulator's output spike counts exactly."""
    import nir

    rng = np.random.default_rng(4)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([6])}),
        "fc1": nir.Affine(weight=rng.normal(0, 1.0, (16, 6)).astype(np.float32), bias=np.zeros(16, np.float32)),
        "n1": nir.IF(r=np.ones(16, np.float32), v_threshold=np.full(16, 0.7, np.float32)) if framework == "sinabs" else
        nir.CubaLIF(tau_syn=np.full(16, 2e-4, np.float32), tau_mem=np.full(16, 1e-3, np.float32), r=np.full(16, 10.0, np.float32),
                    v_leak=np.zeros(16, np.float32), v_threshold=np.full(16, 0.7, np.float32), w_in=np.full(16, 2.0, np.float32)),
        "fc2": nir.Affine(weight=rng.normal(0, 0.6, (4, 16)).astype(np.float32), bias=np.zeros(4, np.float32)),
        "n2": nir.IF(r=np.ones(4, np.float32), v_threshold=np.ones(4, np.float32)) if framework == "sinabs" else
        nir.LIF(tau=np.full(4, 1e-3, np.float32), r=np.full(4, 10.0, np.float32), v_leak=np.zeros(4, np.float32),
                v_threshold=np.ones(4, np.float32)),
        "output": nir.Output(output_type={"output": np.array([4])}),
    }
    names = list(nodes)
    graph_nir = nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])), type_check=False)
    x = rng.normal(0.4, 1.0, (8, 40, 6)).astype(np.float32)
    for reset in (None, "zero") if framework == "snntorch" else (None,):
        graph = from_nir_graph(graph_nir, framework=framework, reset=reset)
        sim = simulate(graph, x, None)
        assert sim.spike_counts["n2"].sum() > 0
        if framework == "sinabs":
            assert sim.peak_spikes["n1"] > 1  # several spikes in one step happen
        np.testing.assert_array_equal(_temporal_counts(graph, x), sim.spike_counts["n2"])
