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
@pytest.mark.parametrize("framework", ["sinabs", "sinabs-from-nir"])
def test_sinabs_event_cnn(neuron, framework):
    """``sinabs``: the layers' defaults (no membrane floor; LIF scales its input by 1 - alpha);
    ``sinabs-from-nir``: the layers sinabs.from_nir builds (IAF floored at -threshold, LIF inputs unscaled)."""
    sinabs = pytest.importorskip("sinabs", reason="needs sinabs")
    sl = pytest.importorskip("sinabs.layers")
    steps = 60
    from_nir = framework == "sinabs-from-nir"

    def layer(shape):
        if neuron == "iaf":
            return sl.IAFSqueeze(batch_size=N, spike_threshold=torch.tensor(1.0), **({"min_v_mem": -1.0} if from_nir else {}))
        # per-neuron tau and threshold: sinabs' exporter needs them shaped like the layer (nir's type check)
        return sl.LIFSqueeze(tau_mem=torch.full(shape, 8.0), batch_size=N, spike_threshold=torch.full(shape, 1.0),
                             **({"norm_input": False} if from_nir else {}))

    net = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding=1), layer((4, 16, 16)), sl.SumPool2d(2),
        torch.nn.Conv2d(4, 8, 3, padding=1), layer((8, 8, 8)), sl.SumPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(8 * 4 * 4, 10), layer((10,)),
    )
    with torch.no_grad():
        for module in net:
            if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
                module.weight.mul_(3.0 if neuron == "iaf" or from_nir else 12.0)
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
    graph = from_nir_graph(graph_nir, framework=framework)
    ours = simulate(graph, events, None)  # (N, T, C, H, W): channels-first time series
    for name, k in zip(spiking_layers(graph), (1, 4, 8)):
        theirs = spikes[k].reshape(N, steps, *spikes[k].shape[1:]).sum(1)
        if theirs.ndim == 4:
            theirs = theirs.permute(0, 2, 3, 1)  # NCHW -> the IR's NHWC
        assert theirs.sum() > 0 and theirs.max() > 1 or neuron == "lif"  # several spikes per step happen
        assert equal(ours.spike_counts[name], theirs) >= MIN_EQUAL, name
    plain = simulate(from_nir_graph(graph_nir, framework="nir", dt=1.0), events, None)
    first = spiking_layers(graph)[0]  # NIR's own reading (one spike, reset to 0, Euler) is another network
    assert equal(plain.spike_counts[first], ours.spike_counts[first]) < MIN_EQUAL


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


# -- SpikingJelly and Rockpool: their published update equations, written here --------------------------
# Both export NIR (SpikingJelly 2.0 activation_based/nir_exchange/to_nir.py, Rockpool 3.1
# nn/modules/torch/nir.py); the graphs below are written the way those exporters write them, and a
# numpy loop transcribes each framework's step (sources cited per line). When the framework itself
# is installed, test_*_itself below checks the same against it.

FEATURES, HIDDEN, OUT, STEPS = 12, 20, 5, 200


def _dense_nir(neuron, rng):
    """input -> Affine -> neuron(HIDDEN) -> Affine -> neuron(OUT) -> output; returns (graph, weights)."""
    import nir

    w1 = rng.normal(0, 0.8, (HIDDEN, FEATURES)).astype(np.float32)
    w2 = rng.normal(0, 0.8, (OUT, HIDDEN)).astype(np.float32)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([FEATURES])}),
        "fc1": nir.Affine(weight=w1, bias=np.zeros(HIDDEN, np.float32)), "n1": neuron(HIDDEN),
        "fc2": nir.Affine(weight=w2, bias=np.zeros(OUT, np.float32)), "n2": neuron(OUT),
        "output": nir.Output(output_type={"output": np.array([OUT])}),
    }
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])), type_check=False), (w1, w2)


def _reference(weights, x, step, init):
    """Spike counts of both layers of the dense network under ``step(layer, state, current) -> spikes``."""
    n = x.shape[0]
    states = [init(n, HIDDEN), init(n, OUT)]
    counts = [np.zeros((n, HIDDEN)), np.zeros((n, OUT))]
    for t in range(x.shape[1]):
        h = x[:, t]
        for k, w in enumerate(weights):
            h = step(k, states[k], (h @ w.T).astype(np.float32))
            counts[k] += h
    return counts


@pytest.mark.parametrize("node", ["if", "lif_decay_input", "lif"])
def test_spikingjelly_equations(node):
    import nir

    dt, tau, v_th, v_reset = 1e-4, 3.0, 0.75, -0.25
    rng = np.random.default_rng(5)

    def neuron(n):  # to_nir.py:186-207 (IFNode, LIFNode with decay_input True / False)
        if node == "if":
            return nir.IF(r=np.full(n, 1 / dt, np.float32), v_threshold=np.full(n, v_th, np.float32),
                          v_reset=np.full(n, v_reset, np.float32))
        r = 1.0 if node == "lif_decay_input" else tau
        return nir.LIF(tau=np.full(n, tau * dt, np.float32), r=np.full(n, r, np.float32), v_leak=np.full(n, v_reset, np.float32),
                       v_threshold=np.full(n, v_th, np.float32), v_reset=np.full(n, v_reset, np.float32))

    graph_nir, weights = _dense_nir(neuron, rng)
    x = rng.normal(0.2, 0.6, (N, STEPS, FEATURES)).astype(np.float32)

    def step(k, state, current):  # _ops/if_/cpu.py:22-24, _ops/lif/cpu.py:25-31, neuron/base_node.py:407-414
        v = state["v"]
        if node == "if":
            h = v + current
        elif node == "lif_decay_input":
            h = v + (current - (v - v_reset)) / np.float32(tau)
        else:
            h = v - (v - v_reset) / np.float32(tau) + current
        s = (h >= v_th).astype(np.float32)  # surrogate.py:59 heaviside(x) = x >= 0
        state["v"] = (s * v_reset + (1 - s) * h).astype(np.float32)
        return s

    theirs = _reference(weights, x, step, lambda n, m: {"v": np.full((n, m), v_reset, np.float32)})  # v(0) = v_reset
    ours = simulate(from_nir_graph(graph_nir, framework="spikingjelly"), x, None)
    for name, counts in zip(("n1", "n2"), theirs):
        assert counts.sum() > 0
        assert equal(ours.spike_counts[name], counts) >= MIN_EQUAL, name
    plain = simulate(from_nir_graph(graph_nir, framework="nir"), x, None)
    assert equal(plain.spike_counts["n1"], theirs[0]) < MIN_EQUAL


@pytest.mark.parametrize("node", ["cuba_lif", "lif"])
def test_rockpool_equations(node):
    import nir

    dt, tau_mem, tau_syn, v_th = 1e-3, 0.02, 0.01, 1.0
    rng = np.random.default_rng(6)

    def neuron(n):  # nn/modules/torch/nir.py:252-296 (LIFTorch -> CubaLIF, LIFNeuronTorch -> LIF)
        r = np.full(n, tau_mem * np.exp(-dt / tau_mem) / dt, np.float32)
        if node == "cuba_lif":
            return nir.CubaLIF(tau_syn=np.full(n, tau_syn, np.float32), tau_mem=np.full(n, tau_mem, np.float32), r=r,
                               v_leak=np.zeros(n, np.float32), v_threshold=np.full(n, v_th, np.float32))
        return nir.LIF(tau=np.full(n, tau_mem, np.float32), r=r, v_leak=np.zeros(n, np.float32),
                       v_threshold=np.full(n, v_th, np.float32))

    graph_nir, weights = _dense_nir(neuron, rng)
    x = rng.normal(0.1, 0.4, (N, STEPS, FEATURES)).astype(np.float32)
    alpha = np.float32(np.exp(np.float64(np.float32(-dt) / np.float32(tau_mem))))  # tau_to_decay, lif_torch.py:128
    beta = np.float32(np.exp(np.float64(np.float32(-dt) / np.float32(tau_syn))))

    def step(k, state, current):  # lif_torch.py:686-712, lif_neuron_torch.py:256-272
        if node == "cuba_lif":
            state["i"] = state["i"] + current
            state["v"] = state["v"] * alpha
            state["i"] = state["i"] * beta
            state["v"] = state["v"] + state["i"]
        else:
            state["v"] = state["v"] * alpha + current
        v = state["v"]
        spikes = ((v >= v_th) * np.floor(v / np.float32(v_th))).astype(np.float32)  # StepPWL, 2^16 cap unreached
        state["v"] = (v - spikes * np.float32(v_th)).astype(np.float32)
        return spikes

    zero = lambda n, m: {"v": np.zeros((n, m), np.float32), "i": np.zeros((n, m), np.float32)}  # noqa: E731
    theirs = _reference(weights, x, step, zero)
    ours = simulate(from_nir_graph(graph_nir, framework="rockpool"), x, None)
    for name, counts in zip(("n1", "n2"), theirs):
        assert counts.sum() > 0 and counts.max() > 0
        assert equal(ours.spike_counts[name], counts) >= MIN_EQUAL, name
    plain = simulate(from_nir_graph(graph_nir, framework="nir", dt=dt), x, None)
    assert equal(plain.spike_counts["n1"], theirs[0]) < MIN_EQUAL


def test_spikingjelly_itself():
    """SpikingJelly's own network against npukit (installed in the research environment; CI checks
    the equations above)."""
    pytest.importorskip("spikingjelly", reason="SpikingJelly is not installed (its update equations are tested above)")
    from spikingjelly.activation_based import functional, layer, neuron
    from spikingjelly.activation_based.nir_exchange.to_nir import export_to_nir

    rng = np.random.default_rng(7)
    for cell in (lambda: neuron.IFNode(v_reset=-0.25, v_threshold=0.75), lambda: neuron.LIFNode(tau=3.7, v_reset=0.125),
                 lambda: neuron.LIFNode(tau=2.0, decay_input=False)):
        net = torch.nn.Sequential(layer.Linear(FEATURES, HIDDEN), cell(), layer.Linear(HIDDEN, OUT), cell())
        with torch.no_grad():
            for k in (0, 2):
                net[k].weight.mul_(4.0)
        functional.set_step_mode(net, "m")
        x = rng.normal(0.3, 1.0, (N, STEPS, FEATURES)).astype(np.float32)
        graph_nir = export_to_nir(net, torch.from_numpy(x[:, :2]).transpose(0, 1).contiguous())
        functional.reset_net(net)
        counts = {}
        for k in (1, 3):
            net[k].register_forward_hook(lambda m, i, out, k=k: counts.__setitem__(k, out.sum(0)))
        with torch.no_grad():
            net(torch.from_numpy(x).transpose(0, 1).contiguous())
        graph = from_nir_graph(graph_nir, framework="spikingjelly")
        ours = simulate(graph, x, None)
        for name, k in zip(spiking_layers(graph), (1, 3)):
            assert counts[k].sum() > 0
            assert equal(ours.spike_counts[name], counts[k]) >= MIN_EQUAL, name


def test_rockpool_itself():
    """Rockpool's own network against npukit (installed in the research environment; CI checks
    the equations above)."""
    pytest.importorskip("rockpool", reason="Rockpool is not installed (its update equations are tested above)")
    import nir
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import LIFNeuronTorch, LIFTorch, LinearTorch
    from rockpool.nn.modules.torch.nir import to_nir

    rng = np.random.default_rng(8)
    for cell in (lambda n: LIFTorch(n, tau_mem=0.02, tau_syn=0.01), lambda n: LIFNeuronTorch(n, tau_mem=0.02)):
        net = Sequential(LinearTorch((FEATURES, HIDDEN)), cell(HIDDEN), LinearTorch((HIDDEN, OUT)), cell(OUT))
        graph_nir = to_nir(net, torch.zeros(1, FEATURES))
        graph_nir.nodes["input"] = nir.Input(np.array([FEATURES]))  # its exporter writes the batch axis into the I/O types
        graph_nir.nodes["output"] = nir.Output(np.array([OUT]))
        x = (rng.random((N, STEPS, FEATURES)) < 0.3).astype(np.float32)
        net.reset_state()
        _, _, record = net(torch.from_numpy(x), record=True)
        theirs = [v.detach().sum(1).numpy() for k, v in record.items() if k.endswith("_output") and "LIF" in k]
        graph = from_nir_graph(graph_nir, framework="rockpool")
        ours = simulate(graph, x, None)
        for name, counts in zip(spiking_layers(graph), theirs):
            assert counts.sum() > 0
            assert equal(ours.spike_counts[name], counts) >= MIN_EQUAL, name


# -- snnTorch's recurrent layers ---------------------------------------------------------------------


@pytest.mark.parametrize("layer", ["rleaky", "rsynaptic"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("bias", [True, False])
def test_snntorch_recurrent(layer, reset, bias, capsys):
    """RLeaky / RSynaptic exported by snnTorch (a recurrent Affine closing a cycle onto the neuron,
    dotted node names): npukit reproduces the hidden and output spike counts over 200 steps, in
    the simulator and in a float32 temporal-mode .tflite that NN-API runs whole; int8 printed."""
    snn = pytest.importorskip("snntorch", reason="needs snntorch")
    from snntorch import utils
    from snntorch.export_nir import export_to_nir

    from npukit.converters.tflite_temporal import TemporalBackend
    from npukit.nnapi.check import check_model
    from npukit.runtime import run_temporal
    from npukit.snn.stepwise import simulate_stepwise
    from npukit.tflite_file import read_tflite

    if layer == "rleaky":
        recurrent = snn.RLeaky(beta=0.9, linear_features=HIDDEN, init_hidden=True, reset_mechanism=reset)
    else:
        recurrent = snn.RSynaptic(alpha=0.7, beta=0.9, linear_features=HIDDEN, init_hidden=True, reset_mechanism=reset)
    if not bias:
        with torch.no_grad():
            recurrent.recurrent.bias.zero_()
    out = snn.Leaky(beta=torch.full((OUT,), 0.85), threshold=torch.ones(OUT), init_hidden=True, output=True, reset_mechanism=reset)
    net = torch.nn.Sequential(torch.nn.Linear(FEATURES, HIDDEN), recurrent, torch.nn.Linear(HIDDEN, OUT), out)
    graph_nir = export_to_nir(net, torch.zeros(FEATURES))
    x = np.random.default_rng(9).normal(0.3, 0.8, (N, STEPS, FEATURES)).astype(np.float32)
    utils.reset(net)
    counts = [torch.zeros(N, HIDDEN), torch.zeros(N, OUT)]
    with torch.no_grad():
        for t in range(STEPS):
            s1 = net[1](net[0](torch.from_numpy(x[:, t])))
            counts[0] += s1
            counts[1] += net[3](net[2](s1))[0]
    graph = from_nir_graph(graph_nir, framework="snntorch", reset=reset)
    assert graph.is_recurrent
    ours = simulate(graph, x, None)
    stepwise = simulate_stepwise(graph, x, None)
    names = spiking_layers(graph)
    for name, theirs in zip(names, counts):
        assert theirs.sum() > 0
        assert equal(ours.spike_counts[name], theirs) >= MIN_EQUAL, name
        np.testing.assert_array_equal(ours.spike_counts[name], stepwise.spike_counts[name])  # loops stepped exactly
    blob, meta = TemporalBackend(STEPS, "time_series").convert(graph, None, "none", metadata={"spiking_output": True})
    assert any(s["kind"] == "delay1" for s in meta["state_order"])  # the recurrent spikes: a state the host carries
    assert check_model(read_tflite(blob), 30).fully_delegated
    np.testing.assert_array_equal(run_temporal(blob, x).output_counts, ours.spike_counts[names[-1]])
    if layer == "rleaky" and reset == "subtract" and bias:
        blob8, _ = TemporalBackend(STEPS, "time_series").convert(graph, x[:8], "int8", metadata={"spiking_output": True})
        agreement = float(np.mean(run_temporal(blob8, x).predictions() == ours.predictions()))
        with capsys.disabled():
            print(f"\nsnnTorch RLeaky, temporal int8: top-1 agreement with the simulation {agreement:.2%}")
