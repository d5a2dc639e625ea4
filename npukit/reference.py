"""Float forward pass of an IR graph in numpy: the reference every conversion is measured against."""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

from npukit.errors import BadInputError, UnsupportedError
from npukit.ir import Delay, Graph
from npukit.ir.recurrence import readout
from npukit.ir.layout import data_to_ir
from npukit.ops import forward


def check_input(graph: Graph, x: np.ndarray, time_axis: bool = False) -> np.ndarray:
    """Validate a batch against the graph's input: shape (N, *input_shape), finite numbers.

    With ``time_axis`` the data is (N, T, *input_shape). A graph read from NIR or ONNX (channels-first)
    also takes samples in that (C, H, W) layout; they are transposed to the IR's (H, W, C).
    """
    x = np.asarray(x)
    if x.dtype.kind not in "fiub":
        raise BadInputError(f"data must be numeric. Received: dtype {x.dtype}")
    want = graph.input_shape
    lead = 2 if time_axis else 1
    got = tuple(x.shape[lead:])
    layout = graph.meta.get("input_layout")
    if layout == "CHW" and len(want) == 3 and got == (want[2], want[0], want[1]):
        x = data_to_ir(x, lead)  # (C, H, W) samples -> (H, W, C)
        got = tuple(x.shape[lead:])
    elif layout == "CL" and len(want) == 2 and got == (want[1], want[0]):
        x = data_to_ir(x, lead)  # (C, L) samples -> (L, C)
        got = tuple(x.shape[lead:])
    if x.ndim != len(want) + lead or got != want:
        axes = "the first axis counts samples, the second timesteps" if time_axis else "the first axis counts samples"
        if graph.meta.get("input_layout") == "CHW" and len(want) == 3:
            expected = f"{(want[2], want[0], want[1])} (C, H, W, the model's own layout) or {want} (H, W, C)"
        else:
            expected = f"{want}"
        raise BadInputError(
            f"data samples have shape {got} but the model expects {expected} (data array shape {tuple(x.shape)}; {axes})"
        )
    if x.shape[0] == 0:
        raise BadInputError("the data holds no samples")
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        raise BadInputError("the data contains NaN or Inf values")
    return x


def evaluate(
    graph: Graph,
    x: np.ndarray,
    keep: Iterable[str] | str | None = None,
    dtype=np.float64,
    batch_size: int = 512,
    progress: Callable[[int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Run the float graph on ``x`` (N, *input_shape), or a recurrent graph (an LSTM or GRU
    network, ``npukit.ir.recurrence``) on a time series ``x`` (N, T, *input_shape), step by step.

    Returns a dict: the graph output under its node name, plus every node named in ``keep``
    (``"all"`` keeps every node). Computation is in ``dtype`` (float64 by default, so the
    reference carries no float32 rounding of its own). ``progress`` is called with the number
    of samples done after each batch. For a recurrent graph kept nodes are (N, T, *shape), one
    value per step, and the output is what the source model returns (``readout``): the last
    step's (N, *output_shape) or every step's (N, T, *output_shape).
    """
    if graph.is_spiking:
        raise UnsupportedError("the float evaluator takes rate-coded graphs; simulate spiking graphs with npukit.simulate")
    x = check_input(graph, x, time_axis=graph.is_recurrent)
    wanted = set(graph.nodes) if keep == "all" else set(keep or ())
    unknown = wanted - set(graph.nodes)
    if unknown:
        raise BadInputError(f"unknown node(s) {sorted(unknown)}; nodes: {list(graph.nodes)}")
    wanted.add(graph.output)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in wanted}
    for start in range(0, x.shape[0], batch_size):
        run = _run_steps if graph.is_recurrent else _run
        values = run(graph, x[start : start + batch_size].astype(dtype), wanted)
        for name in wanted:
            parts[name].append(values[name])
        if progress:
            progress(min(batch_size, x.shape[0] - start))
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}


def _run(graph: Graph, x: np.ndarray, wanted: set[str]) -> dict[str, np.ndarray]:
    remaining = {name: len(c) for name, c in graph.consumers.items()}
    values: dict[str, np.ndarray] = {}
    kept: dict[str, np.ndarray] = {}
    for node in graph:
        inputs = [values[i] for i in node.inputs]
        values[node.name] = x if node.name == graph.input else forward(node, inputs)
        if node.name in wanted:
            kept[node.name] = values[node.name]
        for i in node.inputs:  # free what no later node reads
            remaining[i] -= 1
            if remaining[i] == 0:
                del values[i]
    return kept


def _run_steps(graph: Graph, x: np.ndarray, wanted: set[str]) -> dict[str, np.ndarray]:
    """A recurrent graph over x (B, T, ...): each step computes every node once; a Delay of k
    steps outputs its source's value of k steps before (its ``init`` until then)."""
    batch, steps = x.shape[:2]
    delays = [n for n in graph if isinstance(n, Delay)]
    held: dict[str, list[np.ndarray]] = {d.name: [] for d in delays}  # a source's last k values, oldest first
    kept: dict[str, list[np.ndarray]] = {name: [] for name in wanted}
    for t in range(steps):
        values: dict[str, np.ndarray] = {}
        for node in graph:
            if node.name == graph.input:
                values[node.name] = x[:, t]
            elif isinstance(node, Delay):
                past = held[node.name]
                values[node.name] = past[0] if len(past) == node.steps else np.broadcast_to(
                    node.init.astype(x.dtype), (batch, *node.shape))
            else:
                values[node.name] = forward(node, [values[i] for i in node.inputs])
        for delay in delays:
            held[delay.name] = (held[delay.name] + [values[delay.inputs[0]]])[-delay.steps:]
        for name in wanted:
            kept[name].append(values[name])
    out = {name: np.stack(parts, axis=1) for name, parts in kept.items()}
    if readout(graph) == "last":
        out[graph.output] = out[graph.output][:, -1]
    return out
