"""The plain step-by-step simulator: for t in 1..T, every layer, one step.

It is the executable definition the time-folded simulator (``npukit.snn.simulate``) is tested
against (same spikes, exactly) and the baseline its speed is measured against. It computes every
layer at every step, constant ones included, with the pure step functions of
``npukit.snn.neurons``; a weighted layer reading spikes gets its exact synaptic input from
``npukit.snn.synapses`` one step at a time (the time-folded simulator asks it for all steps at
once, and exactness makes the two agree).
"""

from __future__ import annotations

import numpy as np

from npukit import ir
from npukit.kernels.pool import argmax_pool_gather, max_pool2d
from npukit.ops import forward
from npukit.reference import check_input
from npukit.snn.encoders import TIME_SERIES, encode, event_input, resolve_timesteps
from npukit.snn.neurons import init_state, spike_dtype, step
from npukit.snn.plan import CONSTANT, READOUT, RunningMean, make_plan
from npukit.snn.simulate import SimulationResult
from npukit.snn.synapses import make_synapses


def simulate_stepwise(
    graph: ir.Graph,
    x: np.ndarray,
    timesteps: int,
    encoding: str = "current",
    seed: int = 0,
    batch_size: int = 256,
    checkpoints=None,
    path: str | None = None,
    on_step=None,
    first_index: int = 0,
) -> SimulationResult:
    """Same contract as ``npukit.snn.simulate.simulate`` (without ``keep``), one step at a time.
    ``path`` ("event" or "dense") forces that path on every layer reading spikes (tests); by
    default each call chooses from its input's density. Only temporal layers' SOPs are counted.
    ``on_step(first, t, spikes, states, values)``, when given, sees every step of every batch
    (``first``: the index of the batch's first sample): each spiking layer's spikes of the step
    (amplitude not applied), every neuron layer's state after it, and every stepped node's
    output of the step (dicts by node name). ``first_index``
    is the index of ``x[0]`` in a larger data set (random encodings draw per sample index)."""
    import time

    timesteps, encoding = resolve_timesteps(x, graph.input_shape, timesteps, encoding)
    x = check_input(graph, x, time_axis=encoding == TIME_SERIES)
    input_max = float(graph.meta.get("snn", {}).get("input_max", 1.0))
    plan = make_plan(graph, timesteps, encoding, checkpoints, *event_input(x, encoding, input_max))
    start = time.perf_counter()
    synapses = make_synapses(plan)
    readouts, counts, peaks = [], [], {}
    for first in range(0, x.shape[0], batch_size):
        xb = x[first : first + batch_size]
        encoded = encode(xb, plan.timesteps, encoding, input_max, seed, first_index + first)
        hook = None if on_step is None else (lambda t, *seen, first=first: on_step(first, t, *seen))
        r, c = _run_batch(plan, encoded, xb.shape[0], peaks, synapses, path, hook)
        readouts.append(r)
        counts.append(c)
    return SimulationResult(
        plan.timesteps,
        plan.checkpoints,
        encoding,
        np.concatenate(readouts, axis=1),
        {k: np.concatenate([c[k] for c in counts]) for k in counts[0]},
        {},
        time.perf_counter() - start,
        peaks,
        {name: s.sops / x.shape[0] for name, s in synapses.items()},
        {name: dict(s.rows) for name, s in synapses.items()},
    )


def _run_batch(plan, encoded, batch, peaks: dict[str, int], synapses, path, on_step=None):
    graph, T = plan.graph, plan.timesteps
    stepped = [n for n in graph if plan.region[n.name] != READOUT]
    states: dict[str, dict] = {}
    counts = {n.name: 0 for n in stepped if isinstance(n, ir.SPIKING)}
    scores: dict[str, np.ndarray] = {}  # running input sums of gated max pools
    integrated = set(plan.boundary) | ({graph.output} if plan.region[graph.output] != READOUT else set())
    integrators = {name: RunningMean(plan.checkpoints) for name in sorted(integrated)}
    history: dict[str, list[np.ndarray]] = {n.name: [] for n in stepped if isinstance(n, ir.Delay)}  # sources' past values
    for t in range(T):
        values: dict[str, np.ndarray] = {}
        spiked: dict[str, np.ndarray] = {}
        for node in stepped:
            name = node.name
            if isinstance(node, ir.Delay):  # the source's value `steps` steps ago, init before
                past = history[name]
                values[name] = past[t - node.steps] if t >= node.steps else np.broadcast_to(
                    node.init.astype(np.float32), (batch, *node.shape))
                continue
            inputs = [values[i] for i in node.inputs]
            if isinstance(node, ir.Input):
                values[name] = encoded if plan.region[name] == CONSTANT else encoded[t]
            elif isinstance(node, ir.NEURONS):
                if name not in states:
                    states[name] = init_state(node, inputs[0].shape)
                output, states[name] = step(node, states[name], inputs[0])
                if isinstance(node, ir.SPIKING):
                    spiked[name] = output
                    counts[name] = counts[name] + output.astype(np.int32)
                    peaks[name] = max(peaks.get(name, 0), int(output.max()))
                    output = output.astype(spike_dtype(node))
                    amplitude = getattr(node, "amplitude", None)
                    if amplitude is not None and np.any(amplitude != 1):
                        output = output * amplitude.astype(np.float32)
                values[name] = output
            elif isinstance(node, ir.MaxPool2D) and plan.region[name] != CONSTANT:
                score = scores.get(name)
                scores[name] = inputs[0].astype(np.float32) if score is None else np.add(score, inputs[0], dtype=np.float32)
                values[name] = argmax_pool_gather(scores[name], inputs[0], node.pool_size, node.strides, node.padding)
            elif isinstance(node, ir.MaxPool2D):
                values[name] = max_pool2d(inputs[0], node.pool_size, node.strides, node.padding)
            elif name in synapses:
                values[name] = synapses[name](inputs[0], path)
            else:
                values[name] = forward(node, inputs)
        if on_step is not None:
            on_step(t, spiked, states, values)
        for name, past in history.items():
            past.append(values[graph[name].inputs[0]])
        for name, integrator in integrators.items():
            integrator.add(t, values[name])
    means = {name: integrator.means() for name, integrator in integrators.items()}
    readout_values: dict[str, np.ndarray] = dict(means)
    for node in graph:
        if plan.region[node.name] == READOUT:
            readout_values[node.name] = forward(node, [readout_values[i] for i in node.inputs], block=batch)
    out = readout_values[graph.output]
    return out.reshape((len(plan.checkpoints), batch) + out.shape[1:]), counts
