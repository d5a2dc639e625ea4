"""Recurrent loops in the time-folded simulator: the nodes on a cycle through a Delay
(``npukit.snn.plan.recurrent_loops``) cannot be computed for all T steps at once, so they are
stepped together, one timestep at a time, while the rest of the graph stays time-folded.

Each node of a loop computes, at each step, exactly what ``npukit.snn.stepwise`` computes (the
same kernels on the same B-row blocks, the neuron step of ``npukit.snn.neurons``), so a graph
with loops still matches the plain step loop spike for spike.
"""

from __future__ import annotations

import numpy as np

from npukit import ir
from npukit.errors import UnsupportedError
from npukit.ops import forward
from npukit.snn.neurons import NeuronLayer, spike_dtype


def run_loop(graph: ir.Graph, loop: tuple[str, ...], outside: dict[str, tuple[np.ndarray, bool]], T: int, batch: int):
    """Step the nodes ``loop`` (in graph order) through T steps.

    ``outside`` maps each node outside the loop that a loop node reads to (its value, temporal):
    a (T*B, ...) array when temporal, else a (B, ...) array constant over time. Returns (values:
    node -> (T*B, ...) array, spikes: spiking node -> (counts (B, ...) int32, peak spikes of one
    neuron in one step))."""
    steps = {name: [] for name in loop}  # per-step values of each loop node
    layers, outputs = {}, {}
    for name in loop:
        node = graph[name]
        if isinstance(node, ir.MaxPool2D):
            raise UnsupportedError(f"{name}: max pooling inside a recurrent loop has no spiking rule; use average pooling")
        if isinstance(node, ir.NEURONS):
            shape = (batch, *graph.shapes[name])
            layers[name] = NeuronLayer(node, shape)
            outputs[name] = np.empty((T, *shape), dtype=spike_dtype(node) if isinstance(node, ir.SPIKING) else np.float32)
    external = {
        name: value.reshape((T, batch, *value.shape[1:])) if temporal else value
        for name, (value, temporal) in outside.items()
    }
    for t in range(T):
        now: dict[str, np.ndarray] = {}

        def read(name: str) -> np.ndarray:
            if name in now:
                return now[name]
            value = external[name]
            temporal = outside[name][1]
            return value[t] if temporal else value

        for name in loop:
            node = graph[name]
            if isinstance(node, ir.Delay):
                past = steps[node.inputs[0]]
                now[name] = past[t - node.steps] if t >= node.steps else np.broadcast_to(
                    node.init.astype(np.float32), (batch, *node.shape))
            elif isinstance(node, ir.NEURONS):
                layers[name].step(read(node.inputs[0]), outputs[name][t])
                value = outputs[name][t]
                amplitude = getattr(node, "amplitude", None)
                if isinstance(node, ir.SPIKING) and amplitude is not None and np.any(amplitude != 1):
                    value = value * amplitude.astype(np.float32)
                now[name] = value
            else:
                now[name] = forward(node, [read(i) for i in node.inputs], block=batch)
            steps[name].append(now[name])
    values, spikes = {}, {}
    for name in loop:
        node = graph[name]
        if name in outputs:
            out = outputs[name]
            if isinstance(node, ir.SPIKING):
                peak = int(out.max()) if out.dtype != np.uint8 else int(out.any())
                spikes[name] = (out.sum(axis=0, dtype=np.int64).astype(np.int32), peak)
                amplitude = getattr(node, "amplitude", None)
                if amplitude is not None and np.any(amplitude != 1):
                    out = out * amplitude.astype(np.float32)
            values[name] = out.reshape((T * batch, *out.shape[2:]))
        else:
            stacked = np.stack([np.broadcast_to(v, (batch, *graph.shapes[name])) for v in steps[name]])
            values[name] = stacked.reshape((T * batch, *stacked.shape[2:]))
    return values, spikes
