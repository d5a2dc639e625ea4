"""The IR graph: named nodes in topological order, one input, one output, inferred shapes."""

from __future__ import annotations

from functools import cached_property
from typing import Any, Iterable

from npukit.errors import BadInputError
from npukit.ir.base import Node, Shape
from npukit.ir.linear import Input
from npukit.ir.neurons import NEURONS
from npukit.ir.recurrence import Delay


class Graph:
    """A graph of IR nodes with a single Input node and a single output, acyclic once the edges
    into ``Delay`` nodes (recurrent connections, ``npukit.ir.recurrence``) are set aside.

    ``nodes`` may come in any order; they are kept in a deterministic topological order (the
    given order wherever it is already valid). ``meta`` holds JSON values describing where the
    graph came from (source file, conversion settings, thresholds' calibration).
    Shapes are inferred on construction, so a graph that exists is consistent.
    """

    def __init__(self, nodes: Iterable[Node], output: str, meta: dict[str, Any] | None = None):
        given = list(nodes)
        by_name: dict[str, Node] = {}
        for node in given:
            if node.name in by_name:
                raise BadInputError(f"two nodes are named {node.name!r}")
            by_name[node.name] = node
        for node in given:
            for src in node.inputs:
                if src not in by_name:
                    raise BadInputError(f"node {node.name!r} reads {src!r}, which is not in the graph")
        if output not in by_name:
            raise BadInputError(f"the graph output {output!r} is not a node of the graph")
        inputs = [n.name for n in given if isinstance(n, Input)]
        if len(inputs) != 1:
            raise BadInputError(f"a graph needs exactly one Input node. Received: {len(inputs)} ({inputs})")
        #: Delays on a cycle: their input comes after them (a recurrent edge); other Delays
        #: (a plain delay line) come after their input
        self.recurrent_delays: frozenset[str] = _recurrent_delays(by_name)
        self.nodes: dict[str, Node] = {n.name: n for n in _topological(given, by_name, self.recurrent_delays)}
        self.output = output
        self.input = inputs[0]
        self.meta: dict[str, Any] = dict(meta or {})
        self._prune_check()
        _ = self.shapes  # infer now: a bad graph fails at construction
        for node in self.nodes.values():
            if isinstance(node, Delay) and self.shapes[node.inputs[0]] != node.shape:
                raise BadInputError(
                    f"the recurrent edge {node.inputs[0]!r} -> {node.name!r} carries shape {self.shapes[node.inputs[0]]} "
                    f"but the delay holds {node.shape}"
                )

    def _prune_check(self) -> None:
        """Every node must lie on a path from the input to the output."""
        needed = contributing(self.nodes.values(), self.output)
        dead = [n for n in self.nodes if n not in needed]
        if dead:
            raise BadInputError(f"nodes {dead} do not contribute to the output {self.output!r}")

    # -- structure ------------------------------------------------------------------------------
    def __iter__(self):
        return iter(self.nodes.values())

    def __len__(self) -> int:
        return len(self.nodes)

    def __getitem__(self, name: str) -> Node:
        return self.nodes[name]

    @cached_property
    def consumers(self) -> dict[str, list[str]]:
        """Node name -> names of the nodes that read it, in topological order."""
        out: dict[str, list[str]] = {name: [] for name in self.nodes}
        for node in self.nodes.values():
            for src in node.inputs:
                out[src].append(node.name)
        return out

    @cached_property
    def shapes(self) -> dict[str, Shape]:
        """Node name -> per-sample output shape (no batch axis)."""
        shapes: dict[str, Shape] = {}
        for node in self.nodes.values():
            shapes[node.name] = tuple(node.output_shape([shapes[i] for i in ordering_inputs(node, self.recurrent_delays)]))
        return shapes

    @property
    def input_shape(self) -> Shape:
        return self.shapes[self.input]

    @property
    def output_shape(self) -> Shape:
        return self.shapes[self.output]

    @property
    def is_recurrent(self) -> bool:
        """True when the graph has a recurrent connection (a Delay node)."""
        return any(isinstance(n, Delay) for n in self.nodes.values())

    @property
    def is_spiking(self) -> bool:
        """True for an SNN: the graph has neuron nodes (stepped in time)."""
        return any(isinstance(n, NEURONS) for n in self.nodes.values())

    def macs(self) -> dict[str, int]:
        """Node name -> multiply-accumulates per sample."""
        return {
            n.name: n.macs([self.shapes[i] for i in n.inputs], self.shapes[n.name]) for n in self.nodes.values()
        }

    def replace_nodes(self, nodes: Iterable[Node], meta: dict[str, Any] | None = None) -> "Graph":
        """A new graph with the same output and the given nodes (meta merged over this one's)."""
        return Graph(nodes, self.output, {**self.meta, **(meta or {})})

    def summary(self) -> list[dict[str, Any]]:
        """One row per node: name, type, inputs, output shape, parameter count, MACs."""
        macs = self.macs()
        return [
            {
                "name": n.name,
                "type": type(n).__name__,
                "inputs": list(n.inputs),
                "shape": list(self.shapes[n.name]),
                "params": n.param_count(),
                "macs": macs[n.name],
            }
            for n in self.nodes.values()
        ]

    def __repr__(self) -> str:
        return f"Graph({len(self.nodes)} nodes, input {self.input_shape}, output {self.output_shape})"


def contributing(nodes: Iterable[Node], output: str) -> set[str]:
    """The names of the nodes ``output`` reads, directly or not, itself included. A walk over
    the inputs, not one pass in reverse order: a recurrent Delay comes before the source it
    reads, so a node of a cycle may be needed only through a node listed before it."""
    by_name = {n.name: n for n in nodes}
    needed, todo = {output}, [output]
    while todo:
        node = by_name.get(todo.pop())
        for src in () if node is None else node.inputs:
            if src not in needed:
                needed.add(src)
                todo.append(src)
    return needed


def ordering_inputs(node: Node, recurrent: frozenset[str] | None = None) -> tuple[str, ...]:
    """The inputs a node must come after: none for a Delay on a cycle (``recurrent``: those
    names; None: every Delay), which reads the previous step."""
    if isinstance(node, Delay) and (recurrent is None or node.name in recurrent):
        return ()
    return node.inputs


def _recurrent_delays(by_name: dict[str, Node]) -> frozenset[str]:
    """The Delays whose input depends on them (a cycle through the Delay)."""
    found = set()
    for delay in (n for n in by_name.values() if isinstance(n, Delay)):
        seen, todo = set(), [delay.inputs[0]]
        while todo:
            name = todo.pop()
            if name == delay.name:
                found.add(name)
                break
            if name in seen or name not in by_name:
                continue
            seen.add(name)
            todo.extend(by_name[name].inputs)
    return frozenset(found)


def _topological(given: list[Node], by_name: dict[str, Node], recurrent: frozenset[str]) -> list[Node]:
    """Depth-first topological order that keeps the given order where it is valid; rejects
    cycles that do not pass through a Delay (algebraic loops)."""
    order: list[Node] = []
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done

    for root in given:
        if state.get(root.name) == 2:
            continue
        stack = [(root.name, iter(ordering_inputs(root, recurrent)))]
        state[root.name] = 1
        while stack:
            name, pending = stack[-1]
            advanced = False
            for src in pending:
                seen = state.get(src)
                if seen == 1:
                    raise BadInputError(
                        f"the graph has a cycle through {src!r} and {name!r} with no delay on it (an algebraic loop: "
                        f"a recurrent connection must carry the previous step's value)"
                    )
                if seen is None:
                    state[src] = 1
                    stack.append((src, iter(ordering_inputs(by_name[src], recurrent))))
                    advanced = True
                    break
            if not advanced:
                stack.pop()
                state[name] = 2
                order.append(by_name[name])
    return order


def total_macs(graph: Graph) -> int:
    return int(sum(graph.macs().values()))
