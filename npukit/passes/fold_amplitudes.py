"""Move spike amplitudes out of IF layers into the weights of the layers that read them.

An IF layer with amplitude ``a`` outputs ``a * s`` (s in {0, 1}). This pass gives it amplitude
1 and carries ``a`` downstream through nodes that commute with a positive scale (pools,
flatten, reshape, padding, identity; Add and Concatenate when all inputs carry the same scale)
until a node can absorb it: a Dense/Conv kernel or a BatchNorm scale is multiplied by ``a``.
Where a scale cannot travel further (mixed scales, the graph output, any other node), an
explicit per-channel scale (a BatchNorm with shift 0) is inserted.

The result computes the same function. The simulators run this form so that spikes travel as
exact 0/1 events (sums of spikes are exact integers), as on neuromorphic hardware, where the
amplitude is part of the synaptic weight.
"""

from __future__ import annotations

import numpy as np

from npukit import ir

_TRANSPARENT = (
    ir.Flatten, ir.Reshape, ir.Identity, ir.Pad2D, ir.AveragePool2D, ir.SumPool2D, ir.GlobalAveragePool, ir.MaxPool2D,
    ir.Transpose,
)


def fold_amplitudes(graph: ir.Graph) -> tuple[ir.Graph, dict[str, float]]:
    """Return (equivalent graph, {node: a}) where node's output in the new graph is 1/a of the
    original's (nodes absent from the dict are unchanged)."""
    pending: dict[str, float] = {}  # node -> scale its output still has to be multiplied by
    nodes: list[ir.Node] = []
    renamed: dict[str, str] = {}  # source node -> inserted scale node readers must use instead

    def materialize(src: str) -> str:
        if src in renamed or src not in pending:
            return renamed.get(src, src)
        channels = graph.shapes[src][-1]
        scale = ir.BatchNorm(
            f"{src}/amplitude", (src,), scale=np.full(channels, pending[src], np.float32),
            shift=np.zeros(channels, np.float32),
        )
        nodes.append(scale)
        renamed[src] = scale.name
        return scale.name

    for node in graph:
        scales = [pending.get(i) for i in node.inputs]
        if isinstance(node, (ir.IF, ir.LIF, ir.CubaLIF)) and node.amplitude.size == 1 and float(node.amplitude) != 1.0:
            nodes.append(node.replace(amplitude=np.ones_like(node.amplitude)))
            pending[node.name] = float(node.amplitude)
            continue
        if scales and scales[0] is not None and all(s == scales[0] for s in scales):
            a = scales[0]
            if isinstance(node, _TRANSPARENT + (ir.Add, ir.Concatenate)) and node.name != graph.output:
                nodes.append(node)
                pending[node.name] = a
                continue
            if isinstance(node, ir.WEIGHTED):
                nodes.append(node.replace(kernel=(node.kernel * np.float32(a)).astype(np.float32)))
                continue
            if isinstance(node, (ir.BatchNorm, ir.Scale)):
                nodes.append(node.replace(scale=(node.scale * np.float32(a)).astype(np.float32)))
                continue
        inputs = tuple(materialize(i) for i in node.inputs)
        nodes.append(node.replace(inputs=inputs) if inputs != node.inputs else node)
    output = materialize(graph.output) if graph.output in pending else graph.output
    return ir.Graph(nodes, output, graph.meta), pending
