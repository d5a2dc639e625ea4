"""Security round 3, NIR items: a Delay's length is charged to the load budget (finding 5: a
103 KB graph with a 10^12-step delay reached 4.9 GB), and recurrent cycles through any number of
nodes load and simulate (finding 9: a0 -> a1 -> a0 through an Affine and a neuron was refused
with "node 'a1' reads 'a0', which is not in the graph").

The cycles are checked against an independent numpy loop of NIR's equations written here: LIF
under Euler at dt = 1e-4 as snnTorch exports it (v = beta v + I, a spike when v > threshold, v
back to 0), Affine y = W x + b, a Delay of k steps x(t - k); every edge that closes a cycle
(seen from the input) carries its source's value of the previous step, which at t = 0 is what
the source computes from zero spikes and a zero input (a recurrent Affine's bias)."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hostile import assert_refused, run_cli

import npukit
from npukit.budget import ENV_VAR
from npukit.converters.nir import from_nir_graph
from npukit.errors import BadInputError
from npukit.snn.simulate import simulate
from npukit.snn.stepwise import simulate_stepwise
from npukit.validation import MAX_TIMESTEPS

nir = pytest.importorskip("nir")
BETA, DT = 0.9, 1e-4


# -- helpers --------------------------------------------------------------------------------------


def lif(n: int, threshold: float = 1.0):
    tau = np.float32(DT) / (np.float32(1) - np.float32(BETA))
    full = lambda v: np.full(n, v, np.float32)  # noqa: E731
    return nir.LIF(tau=full(tau), r=full(tau / np.float32(DT)), v_leak=full(0.0), v_threshold=full(threshold),
                   v_reset=full(0.0))


def affine(rng, n_out: int, n_in: int, scale: float = 0.6, bias: float = 0.0):
    # weights on a 1/16 grid: the sums a layer computes are exact in float32 whatever their order
    weight = np.round(rng.normal(0, scale, (n_out, n_in)) * 16) / 16
    return nir.Affine(weight=weight.astype(np.float32), bias=np.full(n_out, bias, np.float32))


def delay_graph(n: int, seconds: float) -> "nir.NIRGraph":
    return nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": np.array([n])}),
               "d": nir.Delay(delay=np.full(n, seconds, np.float64)),
               "output": nir.Output(output_type={"output": np.array([n])})},
        edges=[("input", "d"), ("d", "output")], type_check=False,
    )


def write(path, graph) -> str:
    nir.write(str(path), graph, compression=None)
    return str(path)


def reference(nodes: dict, edges: list, back: set, x: np.ndarray) -> dict[str, np.ndarray]:
    """Spike counts of every LIF node of a flat NIR graph (Input, Affine, LIF, Delay, Output),
    stepped here in numpy on ``x`` (N, T, n): ``back`` are the edges that close a cycle. Key
    "output": the mean over the steps of what the Output node reads."""
    forward = [e for e in edges if e not in back]
    order, ready, indegree = [], ["input"], {n: sum(1 for _, c in forward if c == n) for n in nodes}
    while ready:
        n = ready.pop(0)
        order.append(n)
        for a, c in forward:
            if a == n:
                indegree[c] -= 1
                if not indegree[c]:
                    ready.append(c)
    assert len(order) == len(nodes), "the reference needs an acyclic graph once the back edges are set aside"
    N, T = x.shape[:2]

    def step(t: int, previous: dict, history: dict, state: dict | None) -> dict:
        now = {}
        for n in order:
            node = nodes[n]
            if n == "input":
                now[n] = x[:, t] if state is not None else np.zeros_like(x[:, 0])
                continue
            if isinstance(node, nir.Delay):
                k = int(round(float(np.max(node.delay)) / DT))
                (src,) = [a for a, c in edges if c == n]
                if state is None:  # before the first step: the delay's initial value
                    now[n] = np.zeros((N, node.delay.size), np.float32)
                else:
                    now[n] = history[src][t - k] if t >= k else before[src]
                continue
            terms = [now[a] for a, c in forward if c == n] + [previous[a] for a, c in sorted(back) if c == n]
            total = terms[0]
            for term in terms[1:]:
                total = total + term
            if isinstance(node, nir.Affine):
                now[n] = (total @ node.weight.T + node.bias).astype(np.float32)
            elif isinstance(node, nir.LIF):
                if state is None:  # before the first step: no spikes
                    now[n] = np.zeros((N, node.tau.size), np.float32)
                    continue
                v = np.float32(BETA) * state[n] + total
                spikes = (v > node.v_threshold).astype(np.float32)
                state[n] = v * (1 - spikes)
                now[n] = spikes
            else:  # Output
                now[n] = total
        return now

    zeros = {n: np.zeros((N, 1), np.float32) for n in nodes}
    before = step(-1, zeros, {}, None)  # t = -1: zero input, no spikes, back edges carry 0
    state = {n: np.zeros((N, node.tau.size), np.float32) for n, node in nodes.items() if isinstance(node, nir.LIF)}
    previous, history = before, {n: [] for n in nodes}
    counts = {n: 0 for n in state}
    for t in range(T):
        previous = step(t, previous, history, state)
        for n, value in previous.items():
            history[n].append(value)
        for n in counts:
            counts[n] = counts[n] + previous[n]
    return {**{n: c.astype(np.int32) for n, c in counts.items()}, "output": np.mean(history["output"], axis=0)}


def check_against_reference(graph_nir, flat_nodes, edges, back, x, tmp_path=None):
    """Both simulators (time-folded and plain step loop) equal ``reference``, spike for spike."""
    graph = from_nir_graph(graph_nir)
    ours = simulate(graph, x, None)
    stepwise = simulate_stepwise(graph, x, None)
    expected = reference(flat_nodes, edges, back, x)
    output = expected.pop("output")
    assert sum(int(c.sum()) for c in expected.values()) > 0, "a test that spikes nowhere checks nothing"
    for name, counts in expected.items():
        np.testing.assert_array_equal(ours.spike_counts[name], counts, err_msg=name)
        np.testing.assert_array_equal(stepwise.spike_counts[name], counts, err_msg=name)
    for result in (ours, stepwise):  # the readout: a rate, or the mean of a layer on the loop
        np.testing.assert_allclose(result.outputs, output, rtol=1e-5, atol=1e-6)
    if tmp_path is not None:  # and through a file
        loaded = simulate(npukit.load(write(tmp_path / "cycle.nir", graph_nir)), x, None)
        for name, counts in expected.items():
            np.testing.assert_array_equal(loaded.spike_counts[name], counts, err_msg=name)
    return ours, expected


def cycle(kinds: str, entry: int, rng, n: int = 4, readout: int | None = None):
    """input -> a{entry}, a0 -> a1 -> ... -> a{L-1} -> a0 (A: Affine, L: LIF, D: Delay of 2
    steps), and output <- a{readout} (default: the last LIF). Returns (nodes, edges, back edge)."""
    nodes = {"input": nir.Input(input_type={"input": np.array([n])})}
    for i, k in enumerate(kinds):
        nodes[f"a{i}"] = {"A": lambda: affine(rng, n, n, bias=0.0), "L": lambda: lif(n, 0.9),
                          "D": lambda: nir.Delay(delay=np.full(n, 2 * DT))}[k]()
    readout = max(i for i, k in enumerate(kinds) if k == "L") if readout is None else readout
    nodes["output"] = nir.Output(output_type={"output": np.array([n])})
    size = len(kinds)
    ring = [(f"a{i}", f"a{(i + 1) % size}") for i in range(size)]
    edges = [("input", f"a{entry}"), *ring, (f"a{readout}", "output")]
    back = {(f"a{(entry - 1) % size}", f"a{entry}")}  # the edge that closes the ring, seen from the input
    return nodes, edges, back


# -- finding 5: a Delay's state is charged to the load budget ------------------------------------


def test_delay_bomb_refused_by_the_cli_in_one_line_and_low_memory(tmp_path):
    """A 10^12-step delay on 1000 neurons: refused at load, one line naming the node, the bytes
    and the budget, exit 2, in seconds and under the 4 GB address-space limit, nothing written."""
    path = write(tmp_path / "bomb.nir", delay_graph(1000, 1e12 * DT))
    work = tmp_path / "work"
    work.mkdir()
    start = time.perf_counter()
    result = run_cli("inspect", path, cwd=work, env={ENV_VAR: str(64 << 20)}, timeout=120)
    line = assert_refused(result, r"'d'.*4,000,000,000,000,000 bytes.*budget of 67,108,864 bytes")
    assert time.perf_counter() - start < 60, line
    assert list(work.iterdir()) == []


def test_delay_bomb_refused_in_process_before_anything_big(tmp_path):
    path = write(tmp_path / "bomb.nir", delay_graph(1000, 1e12 * DT))
    tracemalloc.start()
    try:
        with pytest.raises(BadInputError) as info:
            npukit.load(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert "\n" not in message and "'d'" in message and "4,000,000,000,000,000 bytes" in message, message
    assert "2,147,483,648" in message, message  # the default budget
    assert peak < 64 << 20, peak
    out = tmp_path / "bomb.tflite"
    with pytest.raises(BadInputError, match=r"Delay node 'd'"):
        npukit.convert(path, out, mode="temporal", quantize="none")
    assert not out.exists()


def test_a_delay_is_charged_to_the_budget_that_the_environment_sets(tmp_path, monkeypatch):
    """1000 steps of 3000 float32 values: 12 MB of state; refused under an 8 MB budget, in
    memory and from a file, loaded under the default one."""
    graph_nir = delay_graph(3000, 1000 * DT)
    path = write(tmp_path / "long.nir", graph_nir)
    graph = from_nir_graph(graph_nir)
    assert graph["d"].steps == 1000
    monkeypatch.setenv(ENV_VAR, str(8 << 20))
    for load in (lambda: from_nir_graph(graph_nir), lambda: npukit.load(path)):
        with pytest.raises(BadInputError, match=r"'d'.*12,000,000 bytes.*budget of 8,388,608 bytes"):
            load()


@pytest.mark.parametrize("seconds, message", [
    ((MAX_TIMESTEPS + 1) * DT, r"'d'.*100,001 steps.*at most 100,000 steps"),  # 400 KB of state: the budget allows it
    (1e308, r"'d'.*inf steps"),  # more steps than a float holds
])
def test_a_delay_longer_than_any_run_is_refused(seconds, message):
    with pytest.raises(BadInputError, match=message) as info:
        from_nir_graph(delay_graph(1, seconds))
    assert "\n" not in str(info.value)


def test_a_delay_of_the_longest_run_loads():
    graph = from_nir_graph(delay_graph(1, MAX_TIMESTEPS * DT))
    assert graph["d"].steps == MAX_TIMESTEPS


# -- finding 9: cycles through any number of nodes ------------------------------------------------


@pytest.mark.parametrize("kinds, entry, readout", [
    ("AL", 0, None),   # the a0 (Affine) -> a1 (LIF) -> a0
    ("AL", 1, None),   # entered at the neuron
    ("LA", 0, 0),
    ("LA", 0, 1),      # the output read from the Affine on the loop (its mean over the steps)
    ("AL", 0, 0),
    ("ALA", 0, None),  # a0 -> a1 -> a2 -> a0
    ("ALA", 2, None),
    ("LAL", 1, 2),     # output read from the middle of the ring
    ("LLAL", 2, 3),
    ("LLAL", 1, 2),
    ("LLLA", 1, 2),
    ("LALALA", 3, 2),  # six nodes, three neurons
    ("ALLAAL", 4, 1),
])
def test_a_cycle_of_any_length_simulates_as_the_nir_equations(kinds, entry, readout):
    rng = np.random.default_rng(len(kinds) * 10 + entry)
    nodes, edges, back = cycle(kinds, entry, rng, readout=readout)
    x = np.round(rng.normal(0.5, 0.8, (6, 30, 4)) * 8).astype(np.float32) / 8
    graph_nir = nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)
    graph = from_nir_graph(graph_nir)
    assert graph.is_recurrent
    check_against_reference(graph_nir, nodes, edges, back, x)


def _delay_loop(rng):
    """input -> a0 (Affine) -> a1 (Delay, 2 steps) -> a0, and a0 -> lif -> output."""
    nodes, edges, back = cycle("AD", 0, rng, readout=0)
    nodes["lif"] = lif(4, 0.9)
    edges = [e for e in edges if e[1] != "output"] + [("a0", "lif"), ("lif", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), nodes, edges, back


def test_a_cycle_through_a_delay_node_and_no_neuron_loads_and_simulates():
    """The Delay carries the loop (its back edge adds the previous-step rule's one step: the loop
    closes after 3 steps); a LIF reads it."""
    rng = np.random.default_rng(7)
    graph_nir, nodes, edges, back = _delay_loop(rng)
    x = np.round(rng.normal(0.3, 0.5, (5, 25, 4)) * 8).astype(np.float32) / 8
    check_against_reference(graph_nir, nodes, edges, back, x)


def _snntorch_like(rng, nested: bool):
    """input -> fc1 -> lif1 (an RLeaky: lif1.lif <-> lif1.w_rec) -> fc2 -> lif2 -> fb -> lif1.lif:
    snnTorch's recurrent layer, and a longer cycle back into it through a second layer. ``nested``:
    lif1 as the subgraph snnTorch 1.0 writes; else the flattened names nirtorch writes."""
    inner = {"input": nir.Input(input_type={"input": np.array([5])}), "lif": lif(5, 0.9),
             "w_rec": affine(rng, 5, 5, 0.5, bias=0.125), "output": nir.Output(output_type={"output": np.array([5])})}
    inner_edges = [("lif", "w_rec"), ("input", "lif"), ("w_rec", "lif"), ("lif", "output")]  # snnTorch's order
    outer = {"input": nir.Input(input_type={"input": np.array([6])}), "fc1": affine(rng, 5, 6, 0.8),
             "fc2": affine(rng, 4, 5, 0.9), "lif2": lif(4, 0.8), "fb": affine(rng, 5, 4, 0.7, bias=0.0625),
             "output": nir.Output(output_type={"output": np.array([4])})}
    flat = {**{k: v for k, v in outer.items()}, "lif1.lif": inner["lif"], "lif1.w_rec": inner["w_rec"]}
    flat_edges = [("input", "fc1"), ("fc1", "lif1.lif"), ("lif1.lif", "lif1.w_rec"), ("lif1.w_rec", "lif1.lif"),
                  ("lif1.lif", "fc2"), ("fc2", "lif2"), ("lif2", "fb"), ("fb", "lif1.lif"), ("lif2", "output")]
    back = {("lif1.w_rec", "lif1.lif"), ("fb", "lif1.lif")}
    if not nested:
        return nir.NIRGraph(nodes=flat, edges=flat_edges, type_check=False), flat, flat_edges, back
    nodes = {**outer, "lif1": nir.NIRGraph(nodes=inner, edges=inner_edges, type_check=False)}
    edges = [("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"), ("lif2", "fb"), ("fb", "lif1"),
             ("lif2", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), flat, flat_edges, back


@pytest.mark.parametrize("nested", [True, False])
def test_snntorch_named_cycles_through_a_recurrent_layer(nested, tmp_path):
    rng = np.random.default_rng(3)
    graph_nir, flat, flat_edges, back = _snntorch_like(rng, nested)
    x = np.round(rng.normal(0.4, 0.8, (6, 40, 6)) * 8).astype(np.float32) / 8
    check_against_reference(graph_nir, flat, flat_edges, back, x, tmp_path)


@pytest.mark.parametrize("case", ["snntorch", "LLAL", "delay", "affine_output"])
def test_cycles_convert_to_temporal_tflite_and_run_the_same(case):
    """float32 temporal TFLite: the output layer's spike counts equal the reference's (for an
    Affine on the loop read as the output: its mean over the steps, to float32 rounding)."""
    from npukit.converters.tflite_temporal import TemporalBackend
    from npukit.runtime import run_temporal

    rng = np.random.default_rng(11)
    if case == "snntorch":
        graph_nir, nodes, edges, back = _snntorch_like(rng, True)
    elif case == "delay":
        graph_nir, nodes, edges, back = _delay_loop(rng)
    else:
        nodes, edges, back = cycle("LLAL", 2, rng, readout=2 if case == "affine_output" else None)
        graph_nir = nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)
    n_in = int(np.asarray(nodes["input"].input_type["input"]).reshape(-1)[0])
    x = np.round(rng.normal(0.4, 0.8, (4, 30, n_in)) * 8).astype(np.float32) / 8
    ours, expected = check_against_reference(graph_nir, nodes, edges, back, x)
    (output,) = [a for a, c in edges if c == "output"]
    spiking = output in expected
    blob, _ = TemporalBackend(30, "time_series").convert(from_nir_graph(graph_nir), None, "none",
                                                        metadata={"spiking_output": spiking})
    result = run_temporal(blob, x)
    if spiking:
        np.testing.assert_array_equal(result.output_counts, expected[output])
    else:
        np.testing.assert_allclose(result.readouts, ours.outputs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kinds", ["AA", "AAA", "AAAAA"])
def test_a_cycle_without_a_neuron_or_delay_is_refused_in_one_line(kinds):
    nodes, edges, _ = cycle(kinds, 0, np.random.default_rng(0), readout=0)
    with pytest.raises(BadInputError, match=r"has no neuron on it") as info:
        from_nir_graph(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False))
    assert "\n" not in str(info.value) and all(f"a{i}" in str(info.value) for i in range(len(kinds)))


def test_an_ir_delay_is_at_most_the_longest_run():
    """.npkit files and graphs built in memory carry Delay steps too: the same cap."""
    from npukit import ir
    from npukit.ir.recurrence import MAX_DELAY_STEPS

    assert ir.Delay("d", ("x",), shape=(4,), steps=MAX_DELAY_STEPS).steps == MAX_DELAY_STEPS
    with pytest.raises(BadInputError, match=r"a delay is a whole number of steps in 1..100,000. Received: 100001"):
        ir.Delay("d", ("x",), shape=(4,), steps=MAX_DELAY_STEPS + 1)


def test_names_that_are_not_utf8_are_refused(tmp_path):
    """Found by benchmarks/fuzz_inputs.py (a bit flip in an edge name): UnicodeDecodeError before."""
    import h5py

    from npukit.models import DIGITS_LIF

    path = tmp_path / "flipped.nir"
    path.write_bytes(Path(DIGITS_LIF).read_bytes())
    with h5py.File(path, "r+") as f:
        edges = f["node/edges"][()]
        edges[0, 0] = b"\xefutput"
        del f["node/edges"]
        f["node"].create_dataset("edges", data=edges)
    with pytest.raises(BadInputError, match="not UTF-8 text"):
        npukit.load(path)
