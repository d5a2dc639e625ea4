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

Spike-valued signals: a temporal node whose values are always integers times a power of two
(its ``unit``): spiking neurons' outputs (0/1 events, or counts, amplitude folded away), event
input (integer time series, or Bernoulli/Poisson spikes of a power-of-two amplitude), and what
routing nodes make of them (padding, flatten, reshape, sum pooling, gated max pooling, Add and
Concatenate of equal units; average pooling over a power-of-two window, unit / window). A
weighted layer reading one (``Plan.synapses``) computes its input exactly
(``npukit.snn.synapses``), event-driven where the input is sparse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from npukit import ir
from npukit.errors import BadInputError, UnsupportedError, show
from npukit.kernels.exact import MAX_BOUND
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
    #: spike-valued temporal nodes -> their unit (module docstring)
    units: dict[str, float] = field(default_factory=dict)
    #: spike-valued temporal nodes -> the largest value they hold, in units (at most 255)
    bounds: dict[str, int] = field(default_factory=dict)
    #: weighted temporal nodes reading a spike-valued input -> that input's (unit, bound)
    synapses: dict[str, tuple[float, int]] = field(default_factory=dict)


def make_plan(graph: ir.Graph, timesteps: int, encoding: str, checkpoints=None, input_unit: float | None = None,
              input_bound: int = 255) -> Plan:
    """Fold amplitudes, then assign each node its region (see the module docstring).
    ``input_unit``, ``input_bound``: event input's unit and largest value in units
    (``npukit.snn.encoders.event_input``); unit None for analog input."""
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
    loops = recurrent_loops(graph)
    looped = {name for loop in loops for name in loop}
    if region[graph.output] != READOUT and not isinstance(graph[graph.output], ir.NEURONS) and graph.output not in looped:
        raise UnsupportedError("the graph output must be a readout layer, a neuron layer or a layer of a recurrent loop")
    units, bounds = spike_units(graph, region, input_unit, input_bound)
    # a recurrent loop is stepped as a whole in float32 (npukit.snn.recurrent), in both simulators
    synapses = {
        n.name: (units[n.inputs[0]], bounds[n.inputs[0]]) for n in graph
        if isinstance(n, ir.WEIGHTED) and region[n.name] == TEMPORAL and n.inputs[0] in units and n.name not in looped
    }
    return Plan(graph, scales, region, boundary, timesteps, tuple(points), loops, units, bounds, synapses)


def recurrent_loops(graph: ir.Graph) -> tuple[tuple[str, ...], ...]:
    """The nodes on cycles through Delays (a Delay, what it feeds up to its source, the source),
    overlapping cycles merged, each in graph order. A cycle may hold several Delays (a NIR Delay
    node on a recurrent loop, and the loop's own one-step delay): the walks go through them."""
    loops: list[set[str]] = []
    for delay in (graph[name] for name in sorted(graph.recurrent_delays)):
        after, todo = {delay.name}, [delay.name]
        while todo:
            for c in graph.consumers[todo.pop()]:
                if c not in after:
                    after.add(c)
                    todo.append(c)
        before, todo = {delay.inputs[0]}, [delay.inputs[0]]
        while todo:
            for i in graph[todo.pop()].inputs:
                if i not in before:
                    before.add(i)
                    todo.append(i)
        loop = (after & before) | {delay.name}
        for other in [o for o in loops if o & loop]:
            loops.remove(other)
            loop |= other
        loops.append(loop)
    return tuple(tuple(n for n in graph.nodes if n in loop) for loop in loops)




#: nodes whose output holds input values (or zeros, or sums of them) unchanged in unit
_KEEPS_UNIT = (ir.Identity, ir.Flatten, ir.Reshape, ir.Pad2D, ir.SumPool2D, ir.MaxPool2D, ir.Add, ir.Concatenate)


def _power_of_two(value: float) -> bool:
    return value > 0 and math.isfinite(value) and math.frexp(value)[0] == 0.5


def spike_units(graph: ir.Graph, region: dict[str, str], input_unit: float | None,
                input_bound: int = MAX_BOUND) -> tuple[dict[str, float], dict[str, int]]:
    """Temporal nodes whose values are integers times a power of two -> (that unit, the largest
    value in units, capped at MAX_BOUND). Single-spike neurons hold 0 or 1; a bound that turns
    out too small only costs speed (``npukit.kernels.exact.digits`` splits larger values)."""
    units: dict[str, float] = {}
    bounds: dict[str, int] = {}
    for node in graph:
        if region[node.name] != TEMPORAL:
            continue
        unit, bound = None, MAX_BOUND
        inputs = [i for i in node.inputs if i in units]
        if isinstance(node, ir.Input):
            unit, bound = input_unit, input_bound
        elif isinstance(node, ir.SPIKING):
            amplitude = getattr(node, "amplitude", None)
            unit = 1.0 if amplitude is None or not np.any(np.asarray(amplitude) != 1) else None
            bound = MAX_BOUND if getattr(node, "max_spikes", 1) == 0 else 1  # multi-spike: counts per step
        elif isinstance(node, ir.Delay) and len(inputs) == 1 and not np.any(np.asarray(node.init)):
            unit, bound = units[inputs[0]], bounds[inputs[0]]  # the input shifted in time, zeros first
        elif isinstance(node, _KEEPS_UNIT) and len(inputs) == len(node.inputs):
            found = {units[i] for i in inputs}
            unit = found.pop() if len(found) == 1 else None
            bound = max(bounds[i] for i in inputs)
            if isinstance(node, ir.SumPool2D):
                bound *= int(node.pool_size[0]) * int(node.pool_size[1])
            elif isinstance(node, ir.Add):
                bound = sum(bounds[i] for i in inputs)
        elif isinstance(node, ir.AveragePool2D) and node.padding == "valid" and len(inputs) == 1:
            window = int(node.pool_size[0]) * int(node.pool_size[1])
            unit = units[inputs[0]] / window if _power_of_two(float(window)) else None
            bound = bounds[inputs[0]] * window
        if unit is not None and _power_of_two(float(unit)):
            units[node.name], bounds[node.name] = float(unit), int(min(bound, MAX_BOUND))
    return units, bounds


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
