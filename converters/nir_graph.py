"""The structure of a NIR graph as read from a file: nested subgraphs flattened, the node order,
and its recurrent edges.

* Subgraphs (``type: NIRGraph``, as snnTorch 1.0 writes a recurrent layer when nirtorch does
  not flatten it) are flattened into dotted names (``lif1.lif``, ``lif1.w_rec``), the form
  nirtorch's ``extract_nir_graph`` writes; edges to or from the subgraph node (or its
  ``.input`` / ``.output``) are rerouted to the nodes its Input feeds and its Output reads.
* A recurrent edge is an edge that closes a cycle in a depth-first walk from the Input (edges in
  file order): snnTorch and Norse execute it as a one-step delay (the edge carries its source's
  output of the previous step). The remaining edges give the conversion order. A cycle may pass
  through any number of nodes (snnTorch's ``lif -> w_rec -> lif``, or ``a0 -> a1 -> ... -> a0``
  written by hand); it must pass through a neuron or a Delay (a state), else it is an algebraic
  loop and refused. Each recurrent edge adds its one step, so a loop closed through a Delay of
  k steps feeds back after k + 1.
* A node lies on a recurrent loop when a recurrent edge leads back to it through the loop.
"""

from __future__ import annotations

from typing import Any

from npukit.errors import BadInputError, UnsupportedError

#: nesting levels of subgraphs read (snnTorch writes one)
MAX_DEPTH = 8
#: NIR node types with a state (a cycle must pass through one)
NEURON_TYPES = ("IF", "LIF", "LI", "CubaLIF", "CubaLI", "I")


def text(value) -> str:
    """A name or type read from the file as text; bytes that are not UTF-8 are a BadInputError."""
    if not isinstance(value, bytes):
        return str(value)
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise BadInputError(f"the graph holds a name or type that is not UTF-8 text ({value[:40]!r})")


def kind_of(spec) -> str:
    return text(spec.get("type", "?")) if isinstance(spec, dict) else "?"


def edge_list(raw_edges) -> list[tuple[str, str]]:
    import numpy as np

    edges = np.asarray(raw_edges if raw_edges is not None else [], dtype=object)
    if edges.size % 2:
        raise BadInputError(f"the graph's edges are not (source, target) pairs (shape {edges.shape})")
    return [(text(a), text(c)) for a, c in edges.reshape(-1, 2)]


def flatten(specs: dict[str, Any], edges: list[tuple[str, str]], source: str, depth: int = 0):
    """(specs, edges) with every nested NIRGraph node replaced by its nodes under dotted names."""
    if depth > MAX_DEPTH:
        raise BadInputError(f"{source}: subgraphs nested more than {MAX_DEPTH} deep")
    nested = [name for name, spec in specs.items() if kind_of(spec) == "NIRGraph"]
    if not nested:
        return specs, edges
    specs, edges = dict(specs), list(edges)
    for name in nested:
        inner = specs.pop(name)
        if not isinstance(inner.get("nodes"), dict):
            raise BadInputError(f"{source}: subgraph {name!r} has no nodes")
        inner_specs, inner_edges = flatten({str(k): v for k, v in inner["nodes"].items()}, edge_list(inner.get("edges")),
                                           source, depth + 1)
        ins = [k for k, s in inner_specs.items() if kind_of(s) == "Input"]
        outs = [k for k, s in inner_specs.items() if kind_of(s) == "Output"]
        if len(ins) != 1 or len(outs) != 1:
            raise UnsupportedError(f"{source}: subgraph {name!r} has {len(ins)} inputs and {len(outs)} outputs (one each)")
        entry = [f"{name}.{c}" for a, c in inner_edges if a == ins[0]]
        exit_ = [f"{name}.{a}" for a, c in inner_edges if c == outs[0]]
        for k, s in inner_specs.items():
            if k not in (ins[0], outs[0]):
                specs[f"{name}.{k}"] = s
        edges += [(f"{name}.{a}", f"{name}.{c}") for a, c in inner_edges if a != ins[0] and c != outs[0]]
        here = {name, f"{name}.{ins[0]}", f"{name}.{outs[0]}", f"{name}.input", f"{name}.output"}
        rerouted = []
        for a, c in edges:
            sources = exit_ if a in here else [a]
            targets = entry if c in here else [c]
            rerouted += [(s, t) for s in sources for t in targets]
        edges = rerouted
    return specs, edges


def order(specs: dict[str, Any], edges: list[tuple[str, str]], start: str, source: str):
    """(conversion order, recurrent edges, nodes on recurrent loops). Every node must be
    reachable from the Input ``start``."""
    out: dict[str, list[str]] = {n: [] for n in specs}
    for a, c in edges:
        out[a].append(c)
    state: dict[str, int] = {}  # 1: on the walk's stack, 2: done
    recurrent: set[tuple[str, str]] = set()
    stack = [(start, iter(out[start]))]
    state[start] = 1
    while stack:
        node, pending = stack[-1]
        for nxt in pending:
            if state.get(nxt) == 1:
                recurrent.add((node, nxt))
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(out[nxt])))
                break
        else:
            stack.pop()
            state[node] = 2
    unreached = sorted(n for n in specs if n not in state)
    if unreached:
        raise BadInputError(f"{source}: nodes {unreached} are not reachable from the input")
    forward = [(a, c) for a, c in edges if (a, c) not in recurrent]
    indegree = {n: 0 for n in specs}
    for _, c in forward:
        indegree[c] += 1
    ready = [n for n in specs if indegree[n] == 0]
    sequence = []
    while ready:
        n = ready.pop(0)
        sequence.append(n)
        for a, c in forward:
            if a == n:
                indegree[c] -= 1
                if indegree[c] == 0:
                    ready.append(c)
    looped = set()
    for a, c in sorted(recurrent):  # the loop of a recurrent edge a -> c: nodes after c that lead to a
        after = _reach(c, {x: [y for x2, y in forward if x2 == x] for x in specs})
        before = _reach(a, {x: [y for y, x2 in forward if x2 == x] for x in specs})
        loop = (after & before) | {a, c}
        if not any(_holds_state(specs[n]) for n in loop):
            raise BadInputError(
                f"{source}: the cycle through {sorted(loop)} has no neuron on it and no Delay (an algebraic loop: a "
                f"recurrent connection must pass through a neuron or a Delay, whose state carries it to the next step)"
            )
        looped |= loop
    return sequence, sorted(recurrent), looped


def _holds_state(spec) -> bool:
    """A neuron, or a Delay of a positive delay: a node whose output at t depends on earlier steps."""
    kind = kind_of(spec)
    if kind in NEURON_TYPES:
        return True
    if kind != "Delay":
        return False
    import numpy as np

    try:
        delay = np.asarray(spec.get("delay", 0), dtype=np.float64)
    except (TypeError, ValueError):
        return False  # the Delay's own converter says what is wrong with it
    return bool(delay.size) and bool(np.all(np.isfinite(delay))) and bool(np.max(delay) > 0)


def _reach(start: str, step: dict[str, list[str]]) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in step[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen
