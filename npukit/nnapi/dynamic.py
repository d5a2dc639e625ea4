"""Whether the TFLite interpreter finds dynamic-sized tensors in a model, decided from the file.

The NN-API delegate, as created by default (``allow_dynamic_dimensions`` false), takes static
shapes only. Before it partitions anything, ``Subgraph::ModifyGraphWithDelegate``
(google-ai-edge/LiteRT ``tflite/core/subgraph.cc``) prepares the graph op by op
(``PrepareOpsStartingAt``): it stops at the first node whose ``Prepare`` marks an output
``kTfLiteDynamic`` or returns ``kTfLiteOutputShapeNotKnown``, and then refuses the delegate
("Attempting to use a delegate that only supports static-sized tensors with a graph that has
dynamic-sized tensors"), so nothing is delegated.

``Prepare`` runs on the shapes stored in the file: a batch that is -1 in a shape signature is 1
in the shape, so a -1 in a signature makes nothing dynamic by itself. An output becomes dynamic
when its shape depends on values that are not known during ``Prepare``: a RESHAPE whose new shape
is computed at run time (``tflite/kernels/reshape.cc``), a PAD whose paddings are, and so on
(``SHAPE_VALUES``). Known during ``Prepare`` are constants (model buffers, ``kTfLiteMmapRo``)
and the outputs that kernels compute in ``Prepare`` (``kTfLitePersistentRo``): SHAPE and RANK
always, STRIDED_SLICE, GATHER, MUL, RESHAPE, ... when their inputs are known (``FOLDED``). So the
Keras Flatten of a batch-None model, SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE, is dynamic:
PACK is not computed in Prepare, and the RESHAPE's new shape comes from it.

Not modelled: control flow (WHILE, IF, CALL_ONCE) and custom ops, whose outputs depend on other
subgraphs or code; only the main subgraph is read.
"""

from __future__ import annotations

from dataclasses import dataclass

from npukit.tflite_file import TFLiteModel

_REDUCE = ("MEAN", "SUM", "REDUCE_PROD", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_ANY", "REDUCE_ALL")
_UNSORTED = ("UNSORTED_SEGMENT_SUM", "UNSORTED_SEGMENT_PROD", "UNSORTED_SEGMENT_MAX", "UNSORTED_SEGMENT_MIN")

#: op -> inputs whose values size the output: unless all are known in Prepare, the output is
#: dynamic (each kernel's ``Prepare`` in tflite/kernels/<op>.cc)
SHAPE_VALUES: dict[str, tuple[int, ...]] = {
    "RESHAPE": (1,), "ARG_MAX": (1,), "ARG_MIN": (1,), "BATCH_TO_SPACE_ND": (1, 2), "SPACE_TO_BATCH_ND": (1, 2),
    "BROADCAST_TO": (1,), "EXPAND_DIMS": (1,), "FILL": (0,), "MIRROR_PAD": (1,), "ONE_HOT": (1,), "PAD": (1,),
    "PADV2": (1,), "RANGE": (0, 1, 2), **{op: (1,) for op in _REDUCE}, "RESIZE_BILINEAR": (1,),
    "RESIZE_NEAREST_NEIGHBOR": (1,), "SLICE": (1, 2), "SPLIT": (0,), "SPLIT_V": (1, 2), "STRIDED_SLICE": (1, 2, 3),
    "TILE": (1,), "TOPK_V2": (1,), "TRANSPOSE": (1,), "WHERE": (0,), "CONV_3D_TRANSPOSE": (0,), "SCATTER_ND": (2,),
    "SPARSE_TO_DENSE": (1,), "SEGMENT_SUM": (0, 1), **{op: (1, 2) for op in _UNSORTED}, "RFFT2D": (1,),
    "RANDOM_UNIFORM": (0,), "RANDOM_STANDARD_NORMAL": (0,), "MULTINOMIAL": (0, 1),
    "NON_MAX_SUPPRESSION_V4": (2,), "NON_MAX_SUPPRESSION_V5": (2,),
}
#: inputs that must be model buffers (``IsConstantTensor``): a value computed in Prepare is not enough
BUFFER_VALUES: dict[str, tuple[int, ...]] = {"TRANSPOSE_CONV": (0,), "DILATE": (1,)}
#: ops whose output is dynamic when input 0 has a -1 in its shape signature (``HasUnspecifiedDimension``;
#: SLICE only when its own output's signature has a -1 too)
SIGNATURE_SENSITIVE = frozenset({"SLICE", "TOPK_V2"})
#: ops whose output size depends on the data itself
ALWAYS_DYNAMIC = frozenset({"UNIQUE"})
#: op -> inputs that, when all known, make the kernel compute the output in Prepare (None: every input)
FOLDED: dict[str, tuple[int, ...] | None] = {
    "SHAPE": (), "RANK": (), "STRIDED_SLICE": (0, 1, 2), "CONCATENATION": None, "GATHER": (0, 1), "MUL": (0, 1),
    "RANGE": (0, 1, 2), "RESHAPE": (0, 1), "TILE": (0, 1), "BROADCAST_ARGS": (0, 1), **{op: (0, 1) for op in _REDUCE},
}
#: reduce.cc computes a reduction in Prepare only when its output has at most this many elements
MAX_FOLDED_REDUCTION = 8


@dataclass(frozen=True)
class DynamicTensor:
    """The first operator whose output the interpreter cannot size in Prepare."""

    op_index: int
    op: str
    tensor: int  # the output made dynamic
    reason: str

    def to_dict(self) -> dict:
        return {"op_index": self.op_index, "op": self.op, "tensor": self.tensor, "reason": self.reason}


def first_dynamic(model: TFLiteModel) -> DynamicTensor | None:
    """Where preparing the main subgraph, in execution order, first meets a dynamic-sized tensor."""
    known = {t.index for t in model.tensors if t.constant}
    producer: dict[int, int] = {}
    for op in model.operators:
        reason = _dynamic_reason(model, op, known, producer)
        if reason:
            outputs = [t for t in op.outputs if t >= 0]
            return DynamicTensor(op.index, op.op, outputs[0] if outputs else -1, reason)
        if _folded(model, op, known):
            known.update(t for t in op.outputs if t >= 0)
        producer.update((t, op.index) for t in op.outputs if t >= 0)
    return None


def _present(op, k: int) -> bool:
    return k < len(op.inputs) and op.inputs[k] >= 0


def _origin(model: TFLiteModel, tensor: int, producer: dict[int, int]) -> str:
    if tensor in producer:
        source = model.operators[producer[tensor]]
        return f"computed at run time by op {source.index} {source.op}"
    return "a model input" if tensor in model.inputs else "not a constant"


def _dynamic_reason(model: TFLiteModel, op, known: set[int], producer: dict[int, int]) -> str | None:
    name = op.op
    if name in ALWAYS_DYNAMIC:
        return f"{name}'s output size depends on the data"
    if name == "SLICE" and op.outputs and op.outputs[0] >= 0:
        out = model.tensors[op.outputs[0]]
        if out.shape and -1 not in out.shape_signature:
            return None  # slice.cc takes an output shape the file fully specifies, whatever the inputs
    if name in SIGNATURE_SENSITIVE and _present(op, 0) and -1 in model.tensors[op.inputs[0]].shape_signature:
        return f"its input 0 has a -1 in its shape signature, so {name} sizes its output at run time"
    if name in ("PAD", "PADV2") and _present(op, 0) and not model.tensors[op.inputs[0]].shape:
        return "a scalar input is padded at run time"
    needed = SHAPE_VALUES.get(name, ())
    if name == "STRIDED_SLICE" and op.options.get("offset"):
        needed = (3,)  # with offset=true begin and end do not change the output's shape
    for k in needed:
        if _present(op, k) and op.inputs[k] not in known:
            return f"its input {k}, which sets the output shape, is {_origin(model, op.inputs[k], producer)}"
    for k in BUFFER_VALUES.get(name, ()):
        if _present(op, k) and not model.tensors[op.inputs[k]].constant:
            return f"its input {k}, which sets the output shape, is not a constant buffer"
    return None


def _folded(model: TFLiteModel, op, known: set[int]) -> bool:
    if op.op not in FOLDED:
        return False
    needed = FOLDED[op.op]
    indices = range(len(op.inputs)) if needed is None else needed
    if not all(op.inputs[k] in known for k in indices if _present(op, k)):
        return False
    if op.op in _REDUCE:
        out = model.tensors[op.outputs[0]] if op.outputs and op.outputs[0] >= 0 else None
        size = 1
        for d in out.shape if out is not None else (0,):
            size *= d
        return out is not None and size <= MAX_FOLDED_REDUCTION
    return True
