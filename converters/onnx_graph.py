"""What flows through an ONNX graph while npukit converts it: tensors with their layout, constants,
and the builder (see converters/onnx.py for the layout rules)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from npukit import ir
from npukit.converters.frontend import Builder
from npukit.errors import UnsupportedError


@dataclass
class T:
    """A value in the ONNX graph: an IR node (``name``) or a constant (``const``).

    ``shape`` is the per-sample ONNX shape (batch axis dropped); ``layout`` 'nchw' means the IR
    holds a (C, H, W) tensor as (H, W, C); ``flat_from`` is the (C, H, W) a flat vector in IR
    (NHWC) order came from."""

    name: str | None = None
    shape: tuple[int, ...] = ()
    layout: str = "plain"
    flat_from: tuple[int, int, int] | None = None
    const: np.ndarray | None = None


class OnnxBuilder(Builder):
    """The frontend builder, with the model's opset and batch size."""

    def __init__(self, source: str, opset: int):
        super().__init__(source)
        self.opset = opset
        self.batch = 1

    def fail(self, onnx_node, message: str):
        raise UnsupportedError(f"{self.source}: {onnx_node.op_type} node {onnx_node.name or onnx_node.output[0]!r} (opset {self.opset}): {message}")


def ir_constant(b: OnnxBuilder, node, value: np.ndarray, t: T) -> np.ndarray:
    """An ONNX constant that broadcasts against (N, *t.shape), in the IR layout of ``t``."""
    value = np.asarray(value, dtype=np.float32)
    rank = len(t.shape)
    if value.ndim == rank + 1:
        if value.shape[0] != 1:
            b.fail(node, f"a constant of shape {value.shape} varies along the batch axis")
        value = value[0]
    if value.ndim > rank:
        b.fail(node, f"a constant of shape {value.shape} does not broadcast to {t.shape}")
    value = value.reshape((1,) * (rank - value.ndim) + value.shape)
    try:
        np.broadcast_shapes(value.shape, t.shape)
    except ValueError:
        b.fail(node, f"a constant of shape {value.shape} does not broadcast to {t.shape}")
    if value.size == 1:
        return value.reshape(())
    if t.layout == "nchw":
        return np.ascontiguousarray(value.transpose(1, 2, 0))
    if t.flat_from is not None:
        c, h, w = t.flat_from
        full = np.broadcast_to(value, t.shape).reshape(c, h, w)
        return np.ascontiguousarray(full.transpose(1, 2, 0).reshape(-1))
    return value


def onnx_order(b: OnnxBuilder, t: T, base: str) -> T:
    """``t`` held in ONNX's element order (Transposes / Reshapes added as needed)."""
    if t.layout == "nchw":
        return T(b.add(ir.Transpose(b.unique(f"{base}.to_chw"), (t.name,), perm=(2, 0, 1))), t.shape)
    if t.flat_from is not None:
        c, h, w = t.flat_from
        hwc = b.add(ir.Reshape(b.unique(f"{base}.unflatten"), (t.name,), shape=(h, w, c)))
        chw = b.add(ir.Transpose(b.unique(f"{base}.to_chw"), (hwc,), perm=(2, 0, 1)))
        return T(b.add(ir.Reshape(b.unique(f"{base}.flatten_chw"), (chw,), shape=(c * h * w,))), t.shape)
    return t
