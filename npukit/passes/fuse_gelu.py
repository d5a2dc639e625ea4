"""Find GELU written out with erf, y = x * (1 + erf(x / sqrt(2))) / 2 (how exporters below ONNX
opset 20 write it), and replace it by one Gelu node: TFLite has a GELU builtin but no ERF.

Matched in any order of the products: Scale(x, 1/sqrt(2)) -> Erf -> Offset(+1) -> Multiply with x
-> Scale(1/2), or Multiply with Scale(x, 1/2). Intermediate nodes must have no other reader.
"""

from __future__ import annotations

import math

import numpy as np

from npukit import ir


def _is(node: ir.Node, kind: type, field: str, value: float) -> bool:
    if not isinstance(node, kind):
        return False
    arr = np.asarray(getattr(node, field))
    return arr.size == 1 and math.isclose(float(arr.reshape(-1)[0]), value, rel_tol=1e-4)


def _only_reader(graph: ir.Graph, name: str) -> ir.Node | None:
    readers = graph.consumers[name]
    return graph[readers[0]] if len(readers) == 1 else None


def fuse_gelu(graph: ir.Graph) -> ir.Graph:
    """Return ``graph`` with every erf-form GELU as a Gelu node (module docstring)."""
    replace: dict[str, ir.Node] = {}
    drop: set[str] = set()
    for erf in graph:
        if not isinstance(erf, ir.Erf):
            continue
        scaled = graph[erf.inputs[0]]
        if not _is(scaled, ir.Scale, "scale", 1 / math.sqrt(2)) or len(graph.consumers[scaled.name]) != 1:
            continue
        x = scaled.inputs[0]
        plus_one = _only_reader(graph, erf.name)
        if plus_one is None or not _is(plus_one, ir.Offset, "offset", 1.0):
            continue
        product = _only_reader(graph, plus_one.name)
        if not isinstance(product, ir.Multiply):
            continue
        other = graph[next(i for i in product.inputs if i != plus_one.name)] if plus_one.name in product.inputs else None
        if other is None:
            continue
        chain = [scaled.name, erf.name, plus_one.name]
        if other.name == x:
            final = _only_reader(graph, product.name)
            if final is None or not _is(final, ir.Scale, "scale", 0.5):
                continue
            chain.append(product.name)
        elif _is(other, ir.Scale, "scale", 0.5) and other.inputs[0] == x and len(graph.consumers[other.name]) == 1:
            final = product
            chain.append(other.name)
        else:
            continue
        replace[final.name] = ir.Gelu(final.name, (x,), approximate="none")
        drop.update(chain)
    if not replace:
        return graph
    nodes = [replace.get(n.name, n) for n in graph if n.name not in drop]
    return graph.replace_nodes(nodes)
