"""The dynamic-tensor rule against the interpreter itself, on crafted and converted models.

Reference: the TFLite interpreter. ``static_delegate_refused`` applies a delegate that takes
static shapes only (flags 0, as the NN-API delegate is created by default) through the
interpreter's own ``ModifyGraphWithDelegate``: the interpreter prepares the graph and refuses
such a delegate exactly when it meets a dynamic-sized tensor. npukit decides the same from the
file (npukit.nnapi.dynamic); every case below is checked against both.
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from npukit.nnapi.check import check_model
from npukit.nnapi.dynamic import first_dynamic
from nnapi_cases import flatten_chain
from npukit.tflite_file import read_tflite
from tflite_builder import Op, T, build

_PREPARE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)


class _Delegate(ctypes.Structure):
    """TfLiteDelegate (tflite/core/c/common.h): data_, Prepare, three buffer-handle hooks, flags, builder."""

    _fields_ = [("data_", ctypes.c_void_p), ("Prepare", _PREPARE), ("CopyFromBufferHandle", ctypes.c_void_p),
                ("CopyToBufferHandle", ctypes.c_void_p), ("FreeBufferHandle", ctypes.c_void_p),
                ("flags", ctypes.c_int64), ("opaque_delegate_builder", ctypes.c_void_p)]


_take_nothing = _PREPARE(lambda context, delegate: 0)  # kTfLiteOk, no node claimed


def static_delegate_refused(blob: bytes) -> bool:
    """Whether the interpreter refuses a static-shape delegate for this model (dynamic tensors).

    The model must prepare on its own (``allocate_tensors``), so that the refusal can only be
    the dynamic-tensor one; its warning is logged once per process, so later refusals carry an
    empty message."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    def interpreter():
        return Interpreter(model_content=blob,
                           experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)

    interpreter().allocate_tensors()  # a valid model: every kernel prepares
    delegate = _Delegate(None, _take_nothing, None, None, None, 0, None)
    try:
        interpreter()._interpreter.ModifyGraphWithDelegate(ctypes.addressof(delegate))
    except RuntimeError as exc:
        assert not str(exc) or "only supports static-sized tensors" in str(exc), exc
        return True
    return False


def i32(*values, shape=None) -> T:
    values = np.asarray(values, np.int32)
    return T(values.shape if shape is None else shape, "INT32", data=values)


def x4(signature=True) -> T:
    """A [1, 4, 4, 2] input; with a -1 batch in its signature, as a batch-None Keras model has."""
    return T((1, 4, 4, 2), signature=(-1, 4, 4, 2) if signature else None)


def _reshape_by(ops: list[Op], extra: dict[str, T]) -> bytes:
    """x [1,4,4,2] -> (ops computing "new" from SHAPE(x)) -> RESHAPE(x, new) -> RELU."""
    tensors = {"x": x4(), "shape": T((4,), "INT32"), **extra, "flat": T((1, 32)), "y": T((1, 32))}
    ops = [Op("SHAPE", ["x"], ["shape"], {"outType": 2}, "ShapeOptions"), *ops,
           Op("RESHAPE", ["x", "new"], ["flat"]), Op("RELU", ["flat"], ["y"])]
    return build(tensors, ops, ["x"], ["y"])


def _one(op: str, inputs: dict[str, T], out: T, options=None, options_type=None, graph_inputs=None) -> bytes:
    tensors = {**inputs, "out": out, "y": T(out.shape, out.dtype)}
    ops = [Op(op, list(inputs), ["out"], options or {}, options_type), Op("RELU", ["out"], ["y"])]
    return build(tensors, ops, graph_inputs or [n for n, t in inputs.items() if t.data is None], ["y"])


CRAFTED = {
    # the Keras Flatten of a batch-None model: PACK is not computed in Prepare
    "flatten chain with PACK": (flatten_chain("PACK"), "RESHAPE"),
    # CONCATENATION of values known in Prepare is computed in Prepare: the shape is known
    "flatten chain with CONCATENATION": (flatten_chain("CONCATENATION"), None),
    # SHAPE is computed in Prepare: a RESHAPE to the shape of another tensor is static
    "RESHAPE to SHAPE(y)": (build({"x": x4(), "y": T((1, 32)), "s": T((2,), "INT32"), "flat": T((1, 32)), "z": T((1, 32))},
                                  [Op("SHAPE", ["y"], ["s"], {"outType": 2}, "ShapeOptions"),
                                   Op("RESHAPE", ["x", "s"], ["flat"]), Op("ADD", ["flat", "y"], ["z"], {}, "AddOptions")],
                                  ["x", "y"], ["z"]), None),
    "GATHER and MUL of SHAPE": (_reshape_by(
        [Op("GATHER", ["shape", "idx"], ["g"], {"axis": 0}, "GatherOptions"), Op("MUL", ["g", "k"], ["new"], {}, "MulOptions")],
        {"idx": i32(0, 1), "g": T((2,), "INT32"), "k": i32(1, 8), "new": T((2,), "INT32")}), None),
    "ADD of SHAPE": (_reshape_by(
        [Op("GATHER", ["shape", "idx"], ["g"], {"axis": 0}, "GatherOptions"), Op("ADD", ["g", "k"], ["new"], {}, "AddOptions")],
        {"idx": i32(0, 1), "g": T((2,), "INT32"), "k": i32(0, 28), "new": T((2,), "INT32")}), "RESHAPE"),
    "REDUCE_PROD of SHAPE": (_reshape_by(
        [Op("GATHER", ["shape", "idx"], ["g"], {"axis": 0}, "GatherOptions"),
         Op("REDUCE_PROD", ["g", "axis"], ["p"], {"keepDims": True}, "ReducerOptions"),
         Op("CONCATENATION", ["one", "p"], ["new"], {"axis": 0}, "ConcatenationOptions")],
        {"idx": i32(1, 2, 3), "g": T((3,), "INT32"), "axis": i32(0), "p": T((1,), "INT32"), "one": i32(1),
         "new": T((2,), "INT32")}), None),
    # slice.cc sizes the output at run time when its signature has a -1 and the input's does too
    "SLICE of a -1 batch": (_one("SLICE", {"x": T((1, 4), signature=(-1, 4)), "b": i32(0, 1), "s": i32(-1, 2)},
                                 T((1, 2), signature=(-1, 2))), "SLICE"),
    "SLICE of a static batch": (_one("SLICE", {"x": T((1, 4)), "b": i32(0, 1), "s": i32(-1, 2)},
                                     T((1, 2), signature=(-1, 2))), None),
    # ... and takes an output shape without a -1 as it is, even from run-time begin and size
    "SLICE to a static output": (_one("SLICE", {"x": T((1, 4), signature=(-1, 4)), "b": T((2,), "INT32"),
                                                "s": T((2,), "INT32")}, T((1, 2))), None),
    "PAD by a graph input": (_one("PAD", {"x": T((1, 2)), "p": T((2, 2), "INT32")}, T((1, 4)), {}, "PadOptions"), "PAD"),
    "MEAN over a graph input axis": (_one("MEAN", {"x": T((1, 4)), "a": T((1,), "INT32")}, T((1, 1)),
                                          {"keepDims": True}, "ReducerOptions"), "MEAN"),
    # TRANSPOSE_CONV wants its output shape in a model buffer (IsConstantTensor), not computed in Prepare
    "TRANSPOSE_CONV to SHAPE(y)": (build(
        {"x": T((1, 2, 2, 1)), "y": T((1, 4, 4, 1)), "s": T((4,), "INT32"), "w": T((1, 2, 2, 1), data=np.ones((1, 2, 2, 1))),
         "up": T((1, 4, 4, 1)), "z": T((1, 4, 4, 1))},
        [Op("SHAPE", ["y"], ["s"], {"outType": 2}, "ShapeOptions"),
         Op("TRANSPOSE_CONV", ["s", "w", "x"], ["up"], {"padding": 0, "strideW": 2, "strideH": 2}, "TransposeConvOptions"),
         Op("ADD", ["up", "y"], ["z"], {}, "AddOptions")], ["x", "y"], ["z"]), "TRANSPOSE_CONV"),
    # RESIZE_BILINEAR to a size computed in Prepare is static (NN-API still wants a constant size)
    "RESIZE_BILINEAR to a size from SHAPE(y)": (build(
        {"x": T((1, 2, 2, 1)), "y": T((1, 4, 4, 1)), "s": T((4,), "INT32"), "idx": i32(1, 2), "hw": T((2,), "INT32"),
         "up": T((1, 4, 4, 1)), "z": T((1, 4, 4, 1))},
        [Op("SHAPE", ["y"], ["s"], {"outType": 2}, "ShapeOptions"),
         Op("GATHER", ["s", "idx"], ["hw"], {"axis": 0}, "GatherOptions"),
         Op("RESIZE_BILINEAR", ["x", "hw"], ["up"], {}, "ResizeBilinearOptions"),
         Op("ADD", ["up", "y"], ["z"], {}, "AddOptions")], ["x", "y"], ["z"]), None),
    "STRIDED_SLICE from a graph input": (_one("STRIDED_SLICE", {"x": T((1, 4)), "b": T((2,), "INT32"), "e": i32(1, 3),
                                                                 "st": i32(1, 1)}, T((1, 2)), {}, "StridedSliceOptions"),
                                         "STRIDED_SLICE"),
    "CONV_2D with a -1 batch": (_one("CONV_2D", {"x": x4(), "w": T((3, 1, 1, 2), data=np.ones((3, 1, 1, 2))),
                                                  "b": T((3,), data=np.zeros(3))}, T((1, 4, 4, 3), signature=(-1, 4, 4, 3)),
                                      {"padding": 1, "strideW": 1, "strideH": 1}, "Conv2DOptions"), None),
}


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_dynamic_tensors_as_the_interpreter_finds_them(name):
    blob, dynamic_op = CRAFTED[name]
    assert static_delegate_refused(blob) == (dynamic_op is not None)
    found = first_dynamic(read_tflite(blob))
    assert (found.op if found else None) == dynamic_op
    report = check_model(blob, 30)
    if dynamic_op:
        assert report.delegated_ops == 0 and all(op["codes"][0] == "dynamic" for op in report.ops)
        assert report.to_dict()["dynamic"]["op"] == dynamic_op
    else:
        assert report.dynamic is None and not any("dynamic" in op["codes"] for op in report.ops)


def test_the_dynamic_reason_names_the_op_and_its_source():
    report = check_model(CRAFTED["flatten chain with PACK"][0], 30)
    reshape = report.ops[3]
    assert reshape["op"] == "RESHAPE"
    assert "its input 1, which sets the output shape, is computed at run time by op 2 PACK" in reshape["reason"]
    assert "dynamic-sized tensor at op 3 RESHAPE" in report.ops[4]["reason"]
    assert "--batch 1" in report.ops[4]["hint"]


# -- TensorFlow's plain converter on batch-None Keras models -----------------------------------


def _plain_convert(model) -> bytes:
    from npukit.quiet import import_tensorflow, native_output_captured

    tf = import_tensorflow()
    with native_output_captured():
        return tf.lite.TFLiteConverter.from_keras_model(model).convert()


@pytest.fixture(scope="module")
def plain(keras_models):
    """The conftest's batch-None models through tf.lite.TFLiteConverter, as a Keras user converts them."""
    return {name: _plain_convert(keras_models[name]) for name in ("functional", "sequential_cnn")}


def test_a_batch_none_model_with_static_shapes_is_judged_op_by_op(plain):
    """Conv, BatchNorm, depthwise, Add, Concatenate, pooling, GlobalAveragePooling, Dense."""
    blob = plain["functional"]
    info = read_tflite(blob)
    assert info.tensors[info.inputs[0]].shape_signature[0] == -1  # the signature's batch is -1 ...
    assert not static_delegate_refused(blob)  # ... and the interpreter takes a static delegate
    report = check_model(info, 30)
    assert report.dynamic is None and report.fully_delegated and report.partitions == 1
    assert report.delegated_ops == report.to_dict()["total_ops"] == len(info.operators)


def test_the_flatten_of_a_batch_none_model_stays_dynamic(plain):
    blob = plain["sequential_cnn"]
    assert static_delegate_refused(blob)
    report = check_model(blob, 30)
    names = [op["op"] for op in report.ops]
    dyn = report.dynamic
    assert dyn["op"] == "RESHAPE" and names[dyn["op_index"] - 3: dyn["op_index"]] == ["SHAPE", "STRIDED_SLICE", "PACK"]
    assert f"computed at run time by op {dyn['op_index'] - 1} PACK" in dyn["reason"]
    assert report.delegated_ops == 0 and report.partitions == 0 and report.min_api_level is None


@pytest.mark.slow
def test_plain_mobilenet_v2_with_a_batch_none_signature_is_fully_delegated():
    """keras.applications.MobileNetV2 (96x96, alpha 0.35, random weights) from the plain converter."""
    import keras

    keras.utils.set_random_seed(0)
    blob = _plain_convert(keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=10))
    info = read_tflite(blob)
    assert info.tensors[info.inputs[0]].shape_signature == (-1, 96, 96, 3)
    assert not static_delegate_refused(blob)
    report = check_model(info, 30)
    assert report.fully_delegated and report.dynamic is None
    assert report.delegated_ops == len(info.operators) and report.partitions == 1
