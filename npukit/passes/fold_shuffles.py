"""Replace a chain of Reshape / Transpose nodes that only reorders the channels of an (H, W, C)
map by one PermuteChannels node (ShuffleNet's channel shuffle: reshape to (g, C/g, H, W),
swap the two group axes, reshape back; in the IR, with the ONNX frontend's layout transposes
around it). The chain's 5-D intermediate tensors have no NN-API form; a channel gather has.

A chain whose net effect is the identity is removed. The effect is found by running the chain
on the element indices of the map, so any spelling of the same permutation is recognised.
"""

from __future__ import annotations

import numpy as np

from npukit import ir
from npukit.ops import forward

_MOVES = (ir.Reshape, ir.Transpose)


def _channel_order(graph: ir.Graph, start: str, chain: list[str]) -> tuple[int, ...] | None:
    """The channel order the chain applies to the (H, W, C) map ``start``, or None when it moves
    elements across positions."""
    shape = graph.shapes[start]
    index = np.arange(int(np.prod(shape)), dtype=np.int64).reshape((1, *shape))
    for name in chain:
        index = forward(graph[name], [index])
    index = index.reshape(shape)
    h, w, c = shape
    order = index[0, 0] % c
    expected = (np.arange(h * w)[:, None] * c + order[None, :]).reshape(h, w, c)
    return tuple(int(v) for v in order) if np.array_equal(index, expected) else None


def fold_shuffles(graph: ir.Graph) -> ir.Graph:
    """Return ``graph`` with channel-reordering Reshape / Transpose chains as PermuteChannels."""
    replace: dict[str, ir.Node] = {}
    drop: set[str] = set()
    renamed: dict[str, str] = {}
    for node in graph:
        if not isinstance(node, _MOVES) or node.name in drop:
            continue
        start = node.inputs[0]
        if len(graph.shapes[start]) != 3 or isinstance(graph[start], _MOVES) and len(graph.consumers[start]) == 1:
            continue  # not the head of a chain
        chain, current, found = [node.name], node, None
        while True:
            if graph.shapes[current.name] == graph.shapes[start] and len(chain) > 1:
                order = _channel_order(graph, start, chain)
                if order is not None:
                    found = (list(chain), order)
            readers = graph.consumers[current.name]
            if len(readers) != 1 or not isinstance(graph[readers[0]], _MOVES) or current.name == graph.output:
                break
            current = graph[readers[0]]
            chain.append(current.name)
        if found is None:
            continue
        names, order = found
        last = names[-1]
        drop.update(names[:-1])
        if order == tuple(range(len(order))):
            drop.add(last)
            renamed[last] = start
        else:
            replace[last] = ir.PermuteChannels(last, (start,), order=order)
    if not replace and not renamed:
        return graph
    output = renamed.get(graph.output, graph.output)
    nodes = []
    for n in graph:
        if n.name in drop:
            continue
        n = replace.get(n.name, n)
        if set(n.inputs) & renamed.keys():
            n = n.replace(inputs=tuple(renamed.get(i, i) for i in n.inputs))
        nodes.append(n)
    return ir.Graph(nodes, output, graph.meta)
