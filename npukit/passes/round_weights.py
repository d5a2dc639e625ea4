"""Weights rounded to the precision a converted graph stores them in, as an IR graph.

``round_weights(graph, "int8")`` puts every Dense, Conv2D and DepthwiseConv2D kernel on the int8
grid TFLite uses: symmetric, one scale per output channel, ``scale = max |w| / 127`` over the
channel, ``w = round(w / scale) * scale`` (halves away from zero, as TensorFlow's quantizer
rounds). Biases stay float (TFLite stores them as int32 at the input scale x weight scale, far
finer). ``"fp16"`` rounds kernels to float16. A graph converted from the rounded graph stores
exactly these weights, so simulating it in float gives the **weight floor**: what the network
computes with the weights the phone holds and everything else exact (``npukit parity`` prints it
beside the converted graph's agreement).

The output channel is the kernel's last axis (Dense (in, out), Conv2D (kh, kw, in, out)); for a
DepthwiseConv2D (kh, kw, in, multiplier) it is the pair of the last two, as TFLite lays them out.
"""

from __future__ import annotations

import numpy as np

from npukit import ir
from npukit.errors import BadInputError

PRECISIONS = ("int8", "fp16")
INT8_LEVELS = 127


def channel_axes(node: ir.Node) -> tuple[int, ...]:
    """The axes of ``node.kernel`` that one output channel's scale is taken over."""
    if isinstance(node, ir.DepthwiseConv2D):
        return (0, 1)
    return tuple(range(node.kernel.ndim - 1))


def int8_scales(node: ir.Node) -> np.ndarray:
    """Per output channel scales of ``node.kernel``, shaped to broadcast against it (1 where a
    channel is all zeros)."""
    peak = np.max(np.abs(node.kernel.astype(np.float64)), axis=channel_axes(node), keepdims=True)
    return np.where(peak > 0, peak / INT8_LEVELS, 1.0)


def int8_levels(node: ir.Node, scales: np.ndarray | None = None) -> np.ndarray:
    """The kernel's nearest int8 levels (int32 array in -127..127) at ``scales`` (default
    ``int8_scales``): round half away from zero, as TFLite's quantizer."""
    scales = int8_scales(node) if scales is None else scales
    ratio = node.kernel.astype(np.float64) / scales
    return np.clip(np.sign(ratio) * np.floor(np.abs(ratio) + 0.5), -INT8_LEVELS, INT8_LEVELS).astype(np.int32)


def on_grid(levels: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """float32 kernel values of int8 ``levels`` at ``scales``."""
    return (levels.astype(np.float64) * scales).astype(np.float32)


def round_weights(graph: ir.Graph, precision: str = "int8") -> ir.Graph:
    """``graph`` with every weighted node's kernel rounded to ``precision`` (module docstring)."""
    if precision not in PRECISIONS:
        raise BadInputError(f"precision must be one of {', '.join(PRECISIONS)}. Received: {precision!r}")
    nodes = []
    for node in graph:
        if isinstance(node, ir.WEIGHTED):
            if precision == "fp16":
                kernel = node.kernel.astype(np.float16).astype(np.float32)
            else:
                kernel = on_grid(int8_levels(node), int8_scales(node))
            node = node.replace(kernel=kernel)
        nodes.append(node)
    return ir.Graph(nodes, graph.output, dict(graph.meta))
