"""Memory guard of the time-folded simulator: an estimate checked before a simulation starts.

The simulator holds each layer's values for all T steps of a batch at once ((T*B, ...) arrays).
Per sample it needs about ``T x 4 bytes x LIVE_COPIES x`` the largest per-step array of the
graph: a layer's output, or the im2col patches of a convolution (H_out * W_out * kh * kw *
C_in values). ``LIVE_COPIES`` counts the arrays alive together at the widest point (the layer's
input, its output, GEMM temporaries, spikes). The batch is lowered until the estimate fits in
half the memory available; when a single sample does not fit, the simulation is refused with
the estimate and what to change.
"""

from __future__ import annotations

import os

import numpy as np

from npukit import ir
from npukit.errors import BadInputError

LIVE_COPIES = 4
BUDGET_FRACTION = 0.5  # of the memory available when the simulation starts


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


def largest_step_values(graph: ir.Graph) -> tuple[str, int]:
    """(node name, values per sample and step) of the widest array the simulator builds."""
    shapes = graph.shapes
    best = ("", 1)
    for node in graph:
        size = int(np.prod(shapes[node.name], dtype=np.int64))
        kernel = getattr(node, "kernel", None)
        if kernel is not None and np.ndim(kernel) == 4 and len(shapes[node.name]) == 3:
            h, w, _ = shapes[node.name]
            size = max(size, int(h) * int(w) * int(np.prod(np.shape(kernel)[:3], dtype=np.int64)))
        if size > best[1]:
            best = (node.name, size)
    return best


def bytes_per_sample(graph: ir.Graph, timesteps: int) -> int:
    """Estimated bytes one sample needs in a simulation of ``timesteps`` steps."""
    return int(timesteps) * largest_step_values(graph)[1] * 4 * LIVE_COPIES


def fit_batch(graph: ir.Graph, timesteps: int, batch_size: int, budget: int | None = None) -> int:
    """The batch size to simulate with: ``batch_size``, lowered to fit ``budget`` bytes
    (default: half the memory available). Raises BadInputError when one sample does not fit."""
    budget = int(BUDGET_FRACTION * available_bytes()) if budget is None else int(budget)
    per_sample = bytes_per_sample(graph, timesteps)
    if per_sample > budget:
        name, values = largest_step_values(graph)
        raise BadInputError(
            f"simulating T={timesteps} steps needs about {per_sample / 2**20:,.0f} MiB per sample "
            f"({values:,} values per step at layer {name!r} x T x 4 bytes x {LIVE_COPIES} live copies), "
            f"more than the {budget / 2**20:,.0f} MiB budget (half the available memory); lower -T"
        )
    return max(1, min(int(batch_size), budget // per_sample))
