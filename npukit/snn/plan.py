"""How each node of a spiking graph is evaluated: the semantics both simulators share.

Every node falls in one of three regions, fixed by the graph and the input encoding:

* ``constant``: no spiking node and no random encoding upstream; the value is the same at every
  step, so it is computed once per sample.
* ``temporal``: the value changes from step to step; neuron layers (spiking or integrating)
  and everything between them. A MaxPool2D here follows the gating rule: at each step it passes the input element with
  the largest running sum of outputs so far (step included; first in the window on ties), an
  online estimate of the max of the rates (Rueckauer et al. 2017).
* ``readout``: no neuron node downstream. The non-spiking output integrator: every edge from
  the temporal region into it carries the membrane of an integrator divided by the elapsed
  steps, i.e. the mean of its input over time (``sum_{s<=t} x(s) / t`` at each checkpoint t).
  Readout nodes then compute on those means; affine layers commute with the mean, so a Dense
  readout equals a Dense integrator, and analog ops after it (softmax, a final ReLU) act on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from npukit import ir
from npukit.errors import BadInputError, UnsupportedError, show
from npukit.passes.fold_amplitudes import fold_amplitudes
from npukit.validation import positive_int

CONSTANT, TEMPORAL, READOUT = "constant", "temporal", "readout"


@dataclass(frozen=True)
class Plan:
    """What both simulators execute: ``graph`` is the source graph after ``fold_amplitudes``
    (spikes as 0/1 events); ``scales[n]`` is the factor node n's output misses in that form."""

    graph: ir.Graph
    scales: dict[str, float]
    region: dict[str, str]
    #: nodes outside the readout region that readout nodes read (each gets an integrator)
    boundary: tuple[str, ...]
    timesteps: int
    checkpoints: tuple[int, ...]
    #: recurrent loops: the nodes on a cycle through a Delay, in graph order; the time-folded
    #: simulator steps each loop in time (``npukit.snn.recurrent``)
    loops: tuple[tuple[str, ...], ...] = ()


def make_plan(graph: ir.Graph, timesteps: int, encoding: str, checkpoints=None) -> Plan:
    """Fold amplitudes, then assign each node its region (see the module docstring)."""
    timesteps = positive_int("timesteps", timesteps)
    points = sorted({int(t) for t in (checkpoints or ())} | {timesteps})
    if points[0] <= 0 or points[-1] > timesteps:
        raise BadInputError(f"checkpoints must lie in 1..{timesteps}. Received: {show(checkpoints)}")
    graph, scales = fold_amplitudes(graph)
    neuron_below: dict[str, bool] = {}
    for name in reversed(graph.nodes):  # a Delay comes before its source: it counts as a neuron below it
        neuron_below[name] = any(isinstance(graph[c], (*ir.NEURONS, ir.Delay)) or neuron_below[c] for c in graph.consumers[name])
    region: dict[str, str] = {}
    for node in graph:
        name = node.name
        if isinstance(node, (*ir.NEURONS, ir.Delay)):
            region[name] = TEMPORAL
        elif not neuron_below[name] and not isinstance(node, ir.Input):
            region[name] = READOUT
        elif isinstance(node, ir.Input):
            region[name] = CONSTANT if encoding == "current" else TEMPORAL
        else:
            region[name] = TEMPORAL if any(region[i] == TEMPORAL for i in node.inputs) else CONSTANT
    boundary = tuple(
        sorted({i for n in graph if region[n.name] == READOUT for i in n.inputs if region[i] != READOUT})
    )
    if region[graph.output] != READOUT and not isinstance(graph[graph.output], ir.NEURONS):
        raise UnsupportedError("the graph output must be a readout layer or a neuron layer")
    return Plan(graph, scales, region, boundary, timesteps, tuple(points), recurrent_loops(graph))


def recurrent_loops(graph: ir.Graph) -> tuple[tuple[str, ...], ...]:
    """The nodes on cycles through Delays (a Delay, what it feeds up to its source, the source),
    overlapping cycles merged, each in graph order."""
    loops: list[set[str]] = []
    for delay in (graph[name] for name in sorted(graph.recurrent_delays)):
        after, todo = {delay.name}, [delay.name]
        while todo:
            for c in graph.consumers[todo.pop()]:
                if c not in after and not isinstance(graph[c], ir.Delay):
                    after.add(c)
                    todo.append(c)
        before, todo = {delay.inputs[0]}, [delay.inputs[0]]
        while todo:
            node = graph[todo.pop()]
            for i in () if isinstance(node, ir.Delay) else node.inputs:
                if i not in before:
                    before.add(i)
                    todo.append(i)
        loop = (after & before) | {delay.name}
        for other in [o for o in loops if o & loop]:
            loops.remove(other)
            loop |= other
        loops.append(loop)
    return tuple(tuple(n for n in graph.nodes if n in loop) for loop in loops)


class RunningMean:
    """Integrator of one boundary signal: sum over steps, snapshots / t at each checkpoint.

    Both simulators feed it one step at a time in the same order, so the readouts they produce
    are bit-identical when their spikes are.
    """

    def __init__(self, checkpoints: tuple[int, ...]):
        self.checkpoints = checkpoints
        self.total = None
        self.snapshots: list[np.ndarray] = []

    def add(self, t: int, value: np.ndarray) -> None:
        """Add the value of step ``t`` (0-based)."""
        if self.total is None:
            self.total = value.astype(np.float64)
        else:
            self.total += value
        if t + 1 in self.checkpoints:
            self.snapshots.append(self.total / (t + 1))

    def means(self) -> np.ndarray:
        """(K * B, ...) float32: the means at each checkpoint, stacked checkpoint-major."""
        return np.concatenate(self.snapshots).astype(np.float32)
