"""Fold element-wise constants (Scale, Offset) into the Conv2D / DepthwiseConv2D / Dense before them.

Frontends that see ``MatMul`` then ``Add``, or a convolution then ``Mul`` by a constant, produce
a weighted node followed by a Scale or Offset. When the weighted node has no other reader and
the constant varies along the channel axis only (a scalar, or shape (C,) / (1, 1, C)), the pair
becomes one weighted node: kernel' = kernel * s and bias' = bias * s for a Scale, bias' = bias
+ c for an Offset. Readers of the folded node then read the weighted node.
"""

from __future__ import annotations

import numpy as np

from npukit import ir


def _per_channel(value: np.ndarray, channels: int) -> np.ndarray | None:
    """The constant as a (C,) vector when it varies along the last axis only, else None."""
    value = np.asarray(value, dtype=np.float64)
    if value.ndim and any(d != 1 for d in value.shape[:-1]):
        return None
    flat = value.reshape(-1)
    if flat.size == 1:
        return np.full(channels, flat[0])
    return flat if flat.size == channels else None


def fold_constants(graph: ir.Graph) -> ir.Graph:
    nodes = dict(graph.nodes)
    renamed: dict[str, str] = {}
    output = graph.output
    for node in graph:
        if not isinstance(node, (ir.Scale, ir.Offset)) or node.name not in nodes:
            continue
        (src,) = node.inputs
        src = renamed.get(src, src)
        producer = nodes.get(src)
        if not isinstance(producer, ir.WEIGHTED) or len(graph.consumers[producer.name]) != 1:
            continue
        channels = graph.shapes[producer.name][-1]
        if isinstance(node, ir.Scale):
            s = _per_channel(node.scale, channels)
            if s is None:
                continue
            if isinstance(producer, ir.DepthwiseConv2D):
                kh, kw, c, m = producer.kernel.shape
                kernel = producer.kernel * s.reshape(c, m)
            else:
                kernel = producer.kernel * s
            bias = producer.bias * s
        else:
            c = _per_channel(node.offset, channels)
            if c is None:
                continue
            kernel, bias = producer.kernel, producer.bias + c
        nodes[src] = producer.replace(kernel=np.asarray(kernel, np.float32), bias=np.asarray(bias, np.float32))
        del nodes[node.name]
        renamed[node.name] = src
        if output == node.name:
            output = src
    if not renamed:
        return graph

    def resolve(name: str) -> str:
        while name in renamed:
            name = renamed[name]
        return name

    rewired = [n.replace(inputs=tuple(resolve(i) for i in n.inputs)) if set(n.inputs) & renamed.keys() else n
               for n in nodes.values()]
    return ir.Graph(rewired, resolve(output), graph.meta)
