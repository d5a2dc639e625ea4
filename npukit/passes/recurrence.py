"""Recurrent connections in their canonical place: each Delay right after the neuron layer it
delays, so that a recurrent state is a spike (or membrane) tensor that starts at zero.

A frontend puts a Delay on the edge that closes a cycle: in snnTorch's recurrent layers that is
the edge from the recurrent Affine back into the neuron, whose value at t = 0 is the Affine of
zero spikes: its bias. ``settle_delays`` moves each Delay upstream past the stateless layers
that only the recurrence uses (``neuron -> w_rec -> Delay -> sum`` becomes ``neuron -> Delay ->
w_rec -> sum``): the same function (those layers apply to the delayed spikes instead of delaying
their result), with the Delay's initial value 0 (spikes before the first step). Where a Delay
cannot reach a neuron that way, its ``init`` is what its source computes at t = -1 from zero
spikes and a zero input (``value_before_start``).

A rate-coded recurrent graph (an LSTM or GRU from Keras or ONNX) is left as its frontend built
it: each Delay holds a state (h, c) right after the node computing it, starting from the
initial state the source model defines (zero), not from anything computed at t = -1.
"""

from __future__ import annotations

import numpy as np

from npukit import ir
from npukit.ops import forward


def settle_delays(graph: ir.Graph) -> ir.Graph:
    """The Delays of a spiking graph next to the neurons they delay, with their initial values;
    any other graph as it is (module docstring)."""
    if not graph.is_recurrent or not graph.is_spiking:
        return graph
    nodes = dict(graph.nodes)
    consumers = {name: list(c) for name, c in graph.consumers.items()}
    changed = False
    for delay in [n for n in graph if isinstance(n, ir.Delay)]:
        chain, current, after = [], delay.inputs[0], delay.name
        while not isinstance(nodes[current], (ir.Input, ir.Delay, *ir.NEURONS)):
            node = nodes[current]
            if len(node.inputs) != 1 or consumers[current] != [after] or current == graph.output:
                break  # a layer read elsewhere (the output too) keeps its place after the neuron
            chain.append(current)
            after, current = current, node.inputs[0]
        if not chain or not isinstance(nodes[current], ir.NEURONS):
            continue
        # current -> chain[-1] -> ... -> chain[0] -> delay -> readers  becomes
        # current -> delay -> chain[-1] -> ... -> chain[0] -> readers
        neuron = nodes[current]
        name = f"{current}.delayed"  # named after what it now delays
        while name in nodes and name != delay.name:
            name += "_"
        del nodes[delay.name]
        nodes[name] = delay.replace(name=name, inputs=(current,), shape=graph.shapes[current],
                                    init=np.asarray(_start(neuron), np.float32))
        nodes[chain[-1]] = nodes[chain[-1]].replace(inputs=(name,))
        for reader in consumers[delay.name]:
            node = nodes[reader]
            nodes[reader] = node.replace(inputs=tuple(chain[0] if i == delay.name else i for i in node.inputs))
        changed = True
    graph = ir.Graph(list(nodes.values()), graph.output, graph.meta) if changed else graph
    return with_initial_values(graph)


def _start(neuron: ir.Node) -> np.ndarray:
    """A neuron layer's output before the first step: no spikes, or an integrator's v_init."""
    return np.zeros((), np.float32) if isinstance(neuron, ir.SPIKING) else neuron.v_init


def with_initial_values(graph: ir.Graph) -> ir.Graph:
    """Every Delay whose source is not a neuron gets ``init`` = ``value_before_start`` of its source."""
    nodes = []
    for node in graph:
        if isinstance(node, ir.Delay) and not isinstance(graph[node.inputs[0]], (*ir.NEURONS, ir.Delay)):
            value = value_before_start(graph, node.inputs[0])
            node = node.replace(init=value.reshape(graph.shapes[node.inputs[0]]).astype(np.float32))
        elif isinstance(node, ir.Delay) and isinstance(graph[node.inputs[0]], ir.NEURONS) and not node.init.any():
            node = node.replace(init=np.asarray(_start(graph[node.inputs[0]]), np.float32))
        nodes.append(node)
    return ir.Graph(nodes, graph.output, graph.meta)


def value_before_start(graph: ir.Graph, name: str, memo: dict | None = None) -> np.ndarray:
    """What node ``name`` computes at t = -1: the input is 0, spiking layers emit nothing,
    integrators hold v_init, delays their init; other layers compute on those."""
    memo = {} if memo is None else memo
    if name in memo:
        return memo[name]
    node, shape = graph[name], graph.shapes[name]
    if isinstance(node, ir.Input):
        value = np.zeros((1, *shape), np.float64)
    elif isinstance(node, (*ir.NEURONS, ir.Delay)):
        start = node.init if isinstance(node, ir.Delay) else _start(node)
        value = np.broadcast_to(np.asarray(start, np.float64), (1, *shape)).copy()
    else:
        value = forward(node, [value_before_start(graph, i, memo) for i in node.inputs])
    memo[name] = value
    return value
