"""What flows through an ONNX graph while npukit converts it: tensors with their layout, constants,
and the builder (see converters/onnx.py for the layout rules)."""

from __future__ import annotations

import numpy as np

from npukit import ir
from npukit.converters.frontend import Builder, Value
from npukit.ir.layout import values_to_ir
from npukit.errors import UnsupportedError


#: a value of the ONNX graph (the frontends' shared edge type)
T = Value


class OnnxBuilder(Builder):
    """The frontend builder, with the model's opset and batch size."""

    def __init__(self, source: str, opset: int):
        super().__init__(source)
        self.opset = opset
        self.batch = 1
        #: ONNX tensor name -> the roles of its axes, for the tensors around LSTM / GRU nodes
        #: (``converters/onnx_recurrent.py``); empty in a model without them
        self.roles: dict[str, tuple[str, ...]] = {}
        self.sequence_length: int | None = None  # T where the model declares it

    def fail(self, onnx_node, message: str):
        name = onnx_node.name or next((o for o in onnx_node.output if o), "")  # an LSTM's Y may be omitted
        raise UnsupportedError(f"{self.source}: {onnx_node.op_type} node {name!r} (opset {self.opset}): {message}")


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
    if t.layout != "nchw" and t.flat_from is None:  # a plain tensor is held in ONNX's order
        return value.reshape(()) if value.size == 1 else value
    return values_to_ir(value, t.shape, t.flat_from)


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
