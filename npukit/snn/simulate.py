"""Time-folded simulation of a spiking graph over T timesteps, in numpy.

Layers are evaluated one after the other, each for all T steps at once: the synaptic input of
a layer for every step comes from one pass over a (T*B, ...) array (time folded into the batch),
layers whose input does not change in time are computed once, and only the neuron recurrence (and
recurrent loops, ``npukit.snn.recurrent``) is stepped in time. A weighted layer reading spikes
computes its input exactly, event-driven where the spikes are sparse (``npukit.snn.synapses``);
one reading an analog signal runs float32 GEMMs in blocks of one step (``npukit.kernels``).
The regions and the readout are defined in ``npukit.snn.plan``; ``npukit.snn.stepwise`` is the
plain step-by-step loop it must match spike for spike.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from npukit import ir
from npukit.errors import BadInputError
from npukit.kernels.parallel import run_shards
from npukit.kernels.pool import argmax_pool_gather
from npukit.ops import forward
from npukit.reference import check_input
from npukit.snn.encoders import TIME_SERIES, encode, event_input, resolve_timesteps
from npukit.snn.memory import fit_batch
from npukit.snn.neurons import NeuronLayer, spike_dtype
from npukit.snn.recurrent import run_loop
from npukit.snn.plan import CONSTANT, READOUT, TEMPORAL, Plan, RunningMean, make_plan
from npukit.snn.synapses import SopCounters, make_synapses
from npukit.validation import positive_int


@dataclass
class SimulationResult:
    """What a simulation returns. Arrays have one row per sample, in data order.

    readouts: (K, N, *output_shape) float32, the output readout (mean output current or rate)
        after each checkpoint step in ``checkpoints`` (the last one is T).
    spike_counts: spiking layer name -> (N, *layer_shape) int32, spikes over all T steps.
        Integrating neurons (LI, CubaLI, Integrator) have none; their output is the membrane.
    layer_means: node name -> (N, *shape) float32, each kept node's output averaged over T
        (for an IF layer converted from a ReLU: rate x threshold, comparable to the ReLU).
    seconds: wall time of the simulation proper (encoding included, conversion excluded).
    peak_spikes: spiking layer -> the most spikes one neuron emitted in one step (1 unless the
        layer emits several per step, ``max_spikes`` 0).
    sops: weighted layer -> synaptic operations per sample (mean over samples), counted from the
        spikes it received (``npukit.snn.synapses``): layers reading spikes, in the temporal region
        or as readout of spike counts. Layers reading analog values have none.
    paths: weighted layer reading spikes -> {"event": rows, "dense": rows}, the input rows
        (sample x step) each path computed.
    """

    timesteps: int
    checkpoints: tuple[int, ...]
    encoding: str
    readouts: np.ndarray
    spike_counts: dict[str, np.ndarray]
    layer_means: dict[str, np.ndarray] = field(default_factory=dict)
    seconds: float = 0.0
    peak_spikes: dict[str, int] = field(default_factory=dict)
    sops: dict[str, float] = field(default_factory=dict)
    paths: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def outputs(self) -> np.ndarray:
        """(N, *output_shape) readout after all T steps."""
        return self.readouts[-1]

    def predictions(self, checkpoint: int | None = None) -> np.ndarray:
        """Top-1 class per sample at a checkpoint (default T)."""
        k = -1 if checkpoint is None else self.checkpoints.index(checkpoint)
        out = self.readouts[k]
        return out.reshape(out.shape[0], -1).argmax(axis=1)

    def spikes_per_sample(self) -> dict[str, float]:
        """Spiking layer -> mean number of spikes one sample emits over T steps."""
        return {k: float(v.reshape(v.shape[0], -1).sum(axis=1).mean()) for k, v in self.spike_counts.items()}

    def sops_per_sample(self) -> float | None:
        """Synaptic operations one sample caused, all layers together (None: no layer reads spikes)."""
        return float(sum(self.sops.values())) if self.sops else None

    def firing_rates(self) -> dict[str, float]:
        """Spiking layer -> mean spikes per neuron per step (0..1)."""
        return {k: float(v.mean() / self.timesteps) for k, v in self.spike_counts.items()}


def simulate(
    graph: ir.Graph,
    x: np.ndarray,
    timesteps: int | None,
    encoding: str = "current",
    seed: int = 0,
    batch_size: int = 256,
    keep: Iterable[str] = (),
    checkpoints: Iterable[int] | None = None,
    progress: Callable[[int], None] | None = None,
) -> SimulationResult:
    """Simulate a spiking IR graph on ``x`` (N, *input_shape) for ``timesteps`` steps, or on
    a time series ``x`` (N, T, *input_shape) for its T steps (``timesteps`` None or T).

    ``keep`` names nodes whose time-averaged output is returned in ``layer_means``.
    ``checkpoints`` adds readouts after fewer steps (the simulation is causal, so the readout
    at t equals a simulation of t steps). ``progress`` gets the samples done after each batch.
    ``batch_size`` is lowered when its memory estimate exceeds half the available memory
    (``npukit.snn.memory``); a T that does not fit for one sample is refused.
    """
    timesteps, encoding = resolve_timesteps(x, graph.input_shape, timesteps, encoding)
    x = check_input(graph, x, time_axis=encoding == TIME_SERIES)
    positive_int("batch size", batch_size)
    input_max = float(graph.meta.get("snn", {}).get("input_max", 1.0))
    plan = make_plan(graph, timesteps, encoding, checkpoints, *event_input(x, encoding, input_max))
    batch_size = fit_batch(plan, batch_size)  # refuses what cannot fit in memory
    keep = list(keep)
    missing = [k for k in keep if k not in graph.nodes]
    if missing:
        raise BadInputError(f"unknown node(s) {missing}")
    start = time.perf_counter()
    synapses = make_synapses(plan)
    counters = SopCounters(plan)
    parts: list[tuple] = []
    for first in range(0, x.shape[0], batch_size):
        xb = x[first : first + batch_size]
        # the encoded input is passed without a reference kept here: _run_batch frees it early
        encoded = [encode(xb, plan.timesteps, encoding, input_max, seed, first)]
        parts.append(_run_batch(plan, encoded.pop(), xb.shape[0], keep, synapses, counters))
        if progress:
            progress(xb.shape[0])
    readouts = np.concatenate([p[0] for p in parts], axis=1)
    counts = {k: np.concatenate([p[1][k][0] for p in parts]) for k in parts[0][1]}
    peaks = {k: max(p[1][k][1] for p in parts) for k in parts[0][1]}
    means = {k: np.concatenate([p[2][k] for p in parts]) for k in keep}
    sops = {name: s.sops / x.shape[0] for name, s in synapses.items()}
    sops.update({name: total / x.shape[0] for name, total in counters.sops.items()})
    return SimulationResult(
        plan.timesteps, plan.checkpoints, encoding, readouts, counts, means, time.perf_counter() - start, peaks,
        {name: sops[name] for name in plan.graph.nodes if name in sops},
        {name: dict(s.rows) for name, s in synapses.items()},
    )


class _Signal:
    """A node's value: constant (B, ...), temporal (T*B, ...) step-major, or readout (K*B, ...)."""

    __slots__ = ("data", "kind")

    def __init__(self, data: np.ndarray, kind: str):
        self.data, self.kind = data, kind


def _run_batch(plan: Plan, encoded: np.ndarray, batch: int, keep: list[str], synapses: dict, counters):
    graph, T, K = plan.graph, plan.timesteps, len(plan.checkpoints)
    remaining = {name: len(c) for name, c in graph.consumers.items()}
    values: dict[str, _Signal] = {}
    integrators: dict[str, np.ndarray] = {}
    counts: dict[str, np.ndarray] = {}
    means: dict[str, np.ndarray] = {}
    loop_of = {name: loop for loop in plan.loops for name in loop}
    done: set[str] = set()
    for node in graph:
        if node.name in done:
            continue
        region = plan.region[node.name]
        if node.name in loop_of:  # a recurrent loop: all its nodes, stepped together
            produced = _run_loop(graph, loop_of[node.name], values, counts, T, batch)
        elif isinstance(node, ir.Input):
            kind = CONSTANT if region == CONSTANT else TEMPORAL
            produced = {node.name: _Signal(encoded if kind == CONSTANT else encoded.reshape((T * batch,) + encoded.shape[2:]), kind)}
            encoded = None  # the signal holds the only reference now
        elif region == READOUT:
            inputs = [_readout_input(values[i], integrators, i, plan, batch, counters) for i in node.inputs]
            produced = {node.name: _Signal(forward(node, inputs, block=batch), READOUT)}
        elif isinstance(node, ir.NEURONS):
            sig, spikes = _run_neuron(node, values[node.inputs[0]], T, batch)
            if spikes is not None:
                counts[node.name] = spikes
            produced = {node.name: sig}
        elif node.name in synapses:
            produced = {node.name: _Signal(synapses[node.name](values[node.inputs[0]].data), TEMPORAL)}
        else:
            produced = {node.name: _run_temporal(node, [values[i] for i in node.inputs], T, batch)}
        values.update(produced)
        done.update(produced)
        for name, sig in produced.items():
            if name in keep:
                mean = _time_mean(graph[name], sig, counts[name][0] if name in counts else None, T, batch)
                means[name] = mean * np.float32(plan.scales.get(name, 1.0))
        for name in produced:
            for i in graph[name].inputs:
                remaining[i] -= 1
                if remaining[i] == 0 and i != graph.output:  # a loop's output may feed its own delay
                    del values[i]
    out = _readout_input(values[graph.output], integrators, graph.output, plan, batch, counters)
    readouts = out.reshape((K, batch) + out.shape[1:])
    return readouts, counts, means


def _run_loop(graph: ir.Graph, loop: tuple[str, ...], values: dict, counts: dict, T: int, batch: int) -> dict:
    """A recurrent loop's signals (``npukit.snn.recurrent``); its spike counts go to ``counts``."""
    inside = set(loop)
    outside = {i: (values[i].data, values[i].kind == TEMPORAL) for name in loop for i in graph[name].inputs if i not in inside}
    arrays, spikes = run_loop(graph, loop, outside, T, batch)
    counts.update(spikes)
    return {name: _Signal(array, TEMPORAL) for name, array in arrays.items()}


def _run_neuron(node: ir.Node, current: _Signal, T: int, batch: int) -> tuple[_Signal, tuple | None]:
    """Step a neuron layer through T steps; the batch is cut into shards stepped on worker
    threads (numpy releases the GIL in element-wise loops; each neuron's arithmetic is the
    same). Returns its output signal and, for spiking layers, (spike counts, peak spikes of one
    neuron in one step)."""
    shape = (batch,) + current.data.shape[1:]
    spiking = isinstance(node, ir.SPIKING)
    out = np.empty((T,) + shape, dtype=spike_dtype(node) if spiking else np.float32)  # spikes as events
    steps = current.data.reshape((T,) + shape) if current.kind == TEMPORAL else None

    def run(lo: int, hi: int) -> None:
        layer = NeuronLayer(node, (hi - lo,) + shape[1:])
        for t in range(T):
            layer.step((current.data if steps is None else steps[t])[lo:hi], out[t, lo:hi])

    run_shards(run, batch, int(np.prod(shape)))
    counts = None
    if spiking:
        peak = int(out.max()) if out.dtype != np.uint8 else int(out.any())
        counts = out.sum(axis=0, dtype=np.uint16 if T < 65536 and out.dtype == np.uint8 else np.int64).astype(np.int32)
        amplitude = getattr(node, "amplitude", None)
        if amplitude is not None and np.any(amplitude != 1):
            out = out * amplitude.astype(np.float32)
    return _Signal(out.reshape((T * batch,) + shape[1:]), TEMPORAL), None if counts is None else (counts, peak)


def _run_temporal(node: ir.Node, inputs: list[_Signal], T: int, batch: int) -> _Signal:
    if isinstance(node, ir.Delay):  # a delay line outside any loop: the signal shifted in time
        (x,) = inputs
        steps = x.data.reshape((T, batch, *x.data.shape[1:])) if x.kind == TEMPORAL else _repeat(x.data, T).reshape(
            (T, batch, *x.data.shape[1:]))
        out = np.empty((T, batch, *node.shape), dtype=np.float32)
        out[: node.steps] = node.init
        out[node.steps :] = steps[: max(T - node.steps, 0)]
        return _Signal(out.reshape((T * batch, *node.shape)), TEMPORAL)
    if all(s.kind == CONSTANT for s in inputs):
        return _Signal(forward(node, [s.data for s in inputs]), CONSTANT)
    data = [s.data if s.kind == TEMPORAL else _repeat(s.data, T) for s in inputs]
    if isinstance(node, ir.MaxPool2D):
        x = data[0]
        score = np.cumsum(x.reshape((T, batch) + x.shape[1:]), axis=0, dtype=np.float32)
        out = argmax_pool_gather(score.reshape(x.shape), x, node.pool_size, node.strides, node.padding)
        return _Signal(out, TEMPORAL)
    return _Signal(forward(node, data, block=batch), TEMPORAL)


def _repeat(data: np.ndarray, times: int) -> np.ndarray:
    """(B, ...) -> (times*B, ...), step-major."""
    return np.broadcast_to(data, (times,) + data.shape).reshape((times * data.shape[0],) + data.shape[1:])


def _readout_input(sig: _Signal, integrators: dict, name: str, plan: Plan, batch: int, counters=None) -> np.ndarray:
    """A signal as seen by the readout region: (K*B, ...) means at each checkpoint."""
    if sig.kind == READOUT:
        return sig.data
    if sig.kind == CONSTANT:
        return _repeat(sig.data, len(plan.checkpoints))
    if name not in integrators:
        steps = sig.data.reshape((plan.timesteps, batch) + sig.data.shape[1:])
        mean = RunningMean(plan.checkpoints)
        for t in range(plan.timesteps):
            mean.add(t, steps[t])
        integrators[name] = mean.means()
        if counters is not None:
            counters.add_total(name, mean.total)
    return integrators[name]


def _time_mean(node: ir.Node, sig: _Signal, counts, T: int, batch: int) -> np.ndarray:
    if counts is not None:  # spiking layer: rate x amplitude
        amplitude = getattr(node, "amplitude", np.float32(1.0))
        return (counts * np.asarray(amplitude, np.float64) / T).astype(np.float32)
    if sig.kind == CONSTANT:
        return sig.data.astype(np.float32)
    if sig.kind == READOUT:
        return sig.data[-batch:].astype(np.float32)
    return sig.data.reshape((T, batch) + sig.data.shape[1:]).mean(axis=0, dtype=np.float64).astype(np.float32)


__all__ = ["simulate", "SimulationResult"]
