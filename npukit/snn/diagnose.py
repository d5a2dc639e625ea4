"""Warnings about a simulation that cannot be what the user meant: a spiking layer that never
fires, or one that fires at every step of every sample. Both usually come from the discretization
or the neuron convention rather than from the network: a NIR IF neuron with r = 1 adds
``dt * r * I`` per step, so at snnTorch's dt = 1e-4 s an event-camera network exported with
dt = 1 by sinabs never reaches its threshold."""

from __future__ import annotations

import numpy as np

from npukit import ir


def _cause(graph: ir.Graph) -> str:
    nir = graph.meta.get("nir")
    if nir is not None:
        convention = graph.meta.get("framework", "nir")
        return (f"the NIR graph was read with dt = {nir.get('dt'):g} s and the {convention!r} neuron convention: "
                f"check the step dt and the framework whose convention applies (the one that exported the graph)")
    if graph.meta.get("snn", {}).get("method") == "ann_to_snn":
        return "the thresholds come from the calibration data: check that the calibration data matches the data simulated"
    return "check the input's scale and the neuron thresholds"


def firing_warnings(graph: ir.Graph, spike_counts: dict[str, np.ndarray], timesteps: int) -> list[str]:
    """One line per spiking layer that never fired, or fired at every step for every neuron and
    sample, naming the layer and the likely cause."""
    silent, saturated = [], []
    for name, counts in spike_counts.items():
        if counts.size == 0:
            continue
        if not np.any(counts):
            silent.append(name)
        elif np.all(counts >= timesteps) and isinstance(graph[name], ir.SPIKING):
            saturated.append(name)
    lines = []
    if silent:
        every = " (no spiking layer fired at all)" if len(silent) == len(spike_counts) else ""
        lines.append(f"spiking layer(s) {', '.join(map(repr, silent))} never fired{every}; {_cause(graph)}")
    if saturated:
        lines.append(f"spiking layer(s) {', '.join(map(repr, saturated))} fire at every step of every sample; {_cause(graph)}")
    return lines
