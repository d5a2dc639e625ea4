"""Fold inference BatchNorm into the Conv2D / DepthwiseConv2D / Dense that feeds it."""

from __future__ import annotations

import numpy as np

from npukit import ir


def fold_batchnorm(graph: ir.Graph) -> ir.Graph:
    """Return a graph where every foldable BatchNorm is merged into its producer.

    A BatchNorm folds when its input is a weighted node read by nothing else:
    kernel' = kernel * scale (per output channel), bias' = bias * scale + shift. Readers of the
    BatchNorm then read the weighted node. Other BatchNorms stay (a per-channel affine node).
    """
    nodes = dict(graph.nodes)
    renamed: dict[str, str] = {}
    output = graph.output
    folded = dict(graph.meta.get("folded_batchnorm", {}))
    for node in graph:
        if not isinstance(node, ir.BatchNorm):
            continue
        (src,) = node.inputs
        producer = nodes.get(src)
        if not isinstance(producer, ir.WEIGHTED) or len(graph.consumers[src]) != 1:
            continue
        scale, shift = node.scale, node.shift
        if isinstance(producer, ir.DepthwiseConv2D):
            kh, kw, c, m = producer.kernel.shape
            kernel = producer.kernel * scale.reshape(c, m)
        else:
            kernel = producer.kernel * scale  # last axis = output channels
        bias = producer.bias * scale + shift
        nodes[src] = producer.replace(kernel=kernel.astype(np.float32), bias=bias.astype(np.float32))
        del nodes[node.name]
        renamed[node.name] = src
        folded[node.name] = src
        if output == node.name:
            output = src
    if not renamed:
        return graph
    rewired = [
        n.replace(inputs=tuple(renamed.get(i, i) for i in n.inputs)) if set(n.inputs) & renamed.keys() else n
        for n in nodes.values()
    ]
    return ir.Graph(rewired, output, {**graph.meta, "folded_batchnorm": folded})
