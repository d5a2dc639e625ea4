"""Memory guard of the time-folded simulator: an estimate checked before a simulation starts.

The simulator holds each node's values for all T steps of a batch at once ((T*B, ...) arrays)
and frees them after their last reader. ``bytes_per_sample`` replays that schedule on the plan:
node by node, the bytes alive (values still to be read), plus the node's own output and the
temporary arrays its kernel allocates, per sample; the estimate is the largest such sum. Sizes
per value: 1 byte for spikes (uint8 events, and padding/flattening of them), 4 for float32
currents, pooled spikes and membranes. Temporaries: a float32 im2col buffer for a convolution
reading an analog signal (T x positions x kh x kw x C_in values), the running score of a gated
max pool, one output-sized buffer for pooling, the states of neuron layers. Layers reading spikes
(``npukit.snn.synapses``) work in chunks of bounded size, counted once as ``FIXED_BYTES``.

``benchmarks/bench_simulator.py`` measures the peak resident memory of simulations against this
estimate (docs/benchmarks.md). The batch is lowered until the estimate fits in half the memory
available; when a single sample does not fit, the simulation is refused with the estimate and
what to change.
"""

from __future__ import annotations

import os

import numpy as np

from npukit import ir
from npukit.errors import BadInputError
from npukit.snn.synapses import CHUNK_WORK_BYTES

BUDGET_FRACTION = 0.5  # of the memory available when the simulation starts
#: per simulation, independent of the batch: the chunk buffers of the synaptic kernels
#: (``npukit.snn.synapses.CHUNK_WORK_BYTES``) and BLAS work space
FIXED_BYTES = CHUNK_WORK_BYTES + (2 << 20)

#: nodes whose output keeps its input's element type (uint8 spikes stay uint8)
_SAME_TYPE = (ir.Pad2D, ir.Flatten, ir.Reshape, ir.Identity, ir.MaxPool2D, ir.Concatenate)
#: nodes whose output is a view of their input (no new memory)
_VIEWS = (ir.Flatten, ir.Reshape, ir.Identity)


def available_bytes() -> int:
    """MemAvailable from /proc/meminfo; else physical memory; else 4 GiB."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def _value_size(node: ir.Node, sizes: dict[str, int], plan) -> int:
    """Bytes per value of a node's output in the simulator."""
    if isinstance(node, ir.SPIKING):
        amplitude = getattr(node, "amplitude", None)
        return 1 if amplitude is None or not np.any(np.asarray(amplitude) != 1) else 4
    if isinstance(node, _SAME_TYPE) and node.inputs:
        return max(sizes[i] for i in node.inputs)
    return 4


def _schedule(plan) -> tuple[int, str]:
    """(peak bytes per sample, the node where it occurs) of a simulation of ``plan``."""
    graph, T = plan.graph, plan.timesteps
    shapes = graph.shapes
    steps = {"constant": 1, "temporal": T, "readout": len(plan.checkpoints)}
    remaining = {name: len(c) for name, c in graph.consumers.items()}
    sizes: dict[str, int] = {}
    live: dict[str, int] = {}
    peak, where = 0, ""
    for node in graph:
        name = node.name
        values = int(np.prod(shapes[name], dtype=np.int64))
        sizes[name] = _value_size(node, sizes, plan)
        region = plan.region[name]
        out = 0 if isinstance(node, _VIEWS) else steps[region] * values * sizes[name]
        temp = _temporaries(node, plan, values, steps[region])
        if isinstance(node, ir.NEURONS) and region == "temporal":
            out = T * values * sizes[name]
        total = sum(live.values()) + out + temp
        if total > peak:
            peak, where = total, name
        live[name] = out
        for i in node.inputs:
            remaining[i] -= 1
            if remaining[i] == 0:
                live.pop(i, None)
    return peak, where


def _temporaries(node: ir.Node, plan, values: int, steps: int) -> int:
    """Bytes per sample a node's kernel allocates besides its output."""
    graph = plan.graph
    if isinstance(node, ir.NEURONS):  # states, scratch, the count reduction
        return values * (4 * 3 + 2)
    if isinstance(node, (ir.Conv2D, ir.DepthwiseConv2D)) and node.name not in plan.synapses:
        h, w, _ = graph.shapes[node.name]
        kh, kw, cin = node.kernel.shape[:3]
        return steps * 4 * int(h) * int(w) * kh * kw * cin if isinstance(node, ir.Conv2D) else steps * 4 * values
    if isinstance(node, ir.MaxPool2D) and plan.region[node.name] == "temporal":
        return steps * 4 * int(np.prod(graph.shapes[node.inputs[0]], dtype=np.int64))
    if isinstance(node, (ir.AveragePool2D, ir.SumPool2D)):
        return steps * 4 * values
    return 0


def bytes_per_sample(plan) -> int:
    """Estimated bytes one sample adds to a simulation of ``plan`` (``npukit.snn.plan.Plan``)."""
    return _schedule(plan)[0]


def fit_batch(plan, batch_size: int, budget: int | None = None) -> int:
    """The batch size to simulate ``plan`` with: ``batch_size``, lowered to fit ``budget`` bytes
    (default: half the memory available). Raises BadInputError when one sample does not fit."""
    budget = int(BUDGET_FRACTION * available_bytes()) if budget is None else int(budget)
    per_sample, where = _schedule(plan)
    room = budget - FIXED_BYTES
    if per_sample > room:
        raise BadInputError(
            f"simulating T={plan.timesteps} steps needs about {per_sample / 2**20:,.0f} MiB per sample "
            f"(all steps of the values alive at layer {where!r}), more than the "
            f"{max(room, 0) / 2**20:,.0f} MiB budget (half the available memory); lower -T"
        )
    return max(1, min(int(batch_size), room // per_sample))
