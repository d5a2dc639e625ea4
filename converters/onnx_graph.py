"""What flows through an ONNX graph while npukit converts it: tensors with their layout, constants,
and the builder (see converters/onnx.py for the layout rules)."""

from __future__ import annotations

import math

import numpy as np

from npukit import ir
from npukit.budget import LoadBudget
from npukit.converters.frontend import Builder, Value
from npukit.ir.layout import values_to_ir
from npukit.errors import BadInputError, UnsupportedError, show


#: a value of the ONNX graph (the frontends' shared edge type)
T = Value


class OnnxBuilder(Builder):
    """The frontend builder, with the model's opset and batch size, and the load budget that
    what converting the nodes allocates is charged to (``charge``)."""

    def __init__(self, source: str, opset: int, budget: LoadBudget | None = None):
        super().__init__(source)
        self.opset = opset
        self.budget = budget if budget is not None else LoadBudget(source)
        self.batch = 1
        #: ONNX tensor name -> the roles of its axes, for the tensors around LSTM / GRU nodes
        #: (``converters/onnx_recurrent.py``); empty in a model without them
        self.roles: dict[str, tuple[str, ...]] = {}
        self.sequence_length: int | None = None  # T where the model declares it

    def fail(self, onnx_node, message: str):
        name = onnx_node.name or next((o for o in onnx_node.output if o), "")  # an LSTM's Y may be omitted
        raise UnsupportedError(f"{self.source}: {onnx_node.op_type} node {name!r} (opset {self.opset}): {message}")

    def refuse(self, onnx_node, message: str):
        """A malformed node (a file-controlled value no model can mean): BadInputError."""
        name = onnx_node.name or next((o for o in onnx_node.output if o), "")
        raise BadInputError(f"{self.source}: {onnx_node.op_type} node {name!r} (opset {self.opset}): {message}")

    def charge(self, onnx_node, shape, dtype, what: str = "folds constants into") -> tuple[int, ...]:
        """Charge the load budget with an array of ``shape`` and ``dtype`` that converting
        ``onnx_node`` is about to allocate (a folded constant, an array the model's shapes size),
        computed from the shape alone, before anything is allocated; the first array past the
        budget is refused, naming the node, the bytes and the budget. Returns the shape."""
        dims = tuple(int(d) for d in shape)
        if any(d < 0 for d in dims):
            self.refuse(onnx_node, f"a result of shape {show(dims)} has a negative dimension")
        name = onnx_node.name or next((o for o in onnx_node.output if o), "")
        dtype = np.dtype(dtype)
        self.budget.charge(math.prod(dims) * dtype.itemsize,
                           f"{onnx_node.op_type} node {name!r} {what} an array of shape {show(dims)} ({dtype.name})")
        return dims


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
