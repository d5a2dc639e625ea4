"""One crafted .tflite per registered NN-API check: a model the check refuses, and its fix.

``CASES[name]()`` returns a :class:`Case`: a one-operator model that check ``name`` refuses at
``level`` (and, unless listed in ``also``, nothing else does), and where meaningful a fixed
variant that the delegate accepts whole. ``tests/test_nnapi_checks.py`` runs one test per
registered check, so a check added without a case here fails the suite.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from npukit.nnapi.levels import FL6
from tflite_builder import Op, T, build, one_op


@dataclass
class Case:
    model: bytes
    level: int
    fixed: bytes | None = None  # a variant the delegate takes whole (None: no meaningful fix)
    fixed_level: int | None = None  # level of the fixed variant (default: ``level``)
    also: tuple[str, ...] = ()  # other codes the refused op legitimately carries


CASES: dict[str, Callable[[], Case]] = {}


def case(name: str):
    def register(fn):
        CASES[name] = fn
        return fn

    return register


def f32(*shape, **kw) -> T:
    return T(tuple(shape), "FLOAT32", **kw)


def const(values, dtype="INT32", shape=None) -> T:
    values = np.asarray(values)
    return T(tuple(values.shape if shape is None else shape), dtype, data=values)


def q(dtype: str, *shape, scale=0.1, zero_point=0, **kw) -> T:
    return T(tuple(shape), dtype, scale=[scale], zero_point=[zero_point], **kw)


def _conv(x: T, w: T, b: T | None, y: T, **options) -> bytes:
    opts = {"strideW": 1, "strideH": 1, "padding": 1, **options}  # padding VALID
    return one_op("CONV_2D", [x, w, b] if b is not None else [x, w], [y], "Conv2DOptions", **opts)


def _float_conv(**options) -> bytes:
    return _conv(f32(1, 4, 4, 2), f32(3, 1, 1, 2, data=np.ones((3, 1, 1, 2))), f32(3, data=np.zeros(3)),
                 f32(1, 4, 4, 3), **options)


# -- activations, ranks, operand counts --------------------------------------------------------


@case("int32_activation_none")
def int32_activation_none_case():
    def add(act):
        return one_op("ADD", [T((1, 4), "INT32"), T((1, 4), "INT32")], [T((1, 4), "INT32")], "AddOptions",
                      fusedActivationFunction=act)
    return Case(add(1), 30, add(0))


@case("activation_none")
def activation_none_case():
    def concat(act):
        return one_op("CONCATENATION", [f32(1, 2), f32(1, 3)], [f32(1, 5)], "ConcatenationOptions", axis=1,
                      fusedActivationFunction=act)
    return Case(concat(1), 30, concat(0))


@case("activation_none_below")
def activation_none_below_case():
    model = one_op("L2_POOL_2D", [f32(1, 4, 4, 1)], [f32(1, 2, 2, 1)], "Pool2DOptions", padding=1, strideW=2,
                   strideH=2, filterWidth=2, filterHeight=2, fusedActivationFunction=1)
    return Case(model, 28, model, fixed_level=29)


@case("max_rank")
def max_rank_case():
    def add(*shape):
        return one_op("ADD", [f32(*shape), f32(*shape)], [f32(*shape)], "AddOptions")
    return Case(add(1, 1, 1, 2, 2), 30, add(1, 1, 2, 2))


@case("rank_eq")
def rank_eq_case():
    def resize(x, y):
        return one_op("RESIZE_BILINEAR", [x, const([8, 8])], [y], "ResizeBilinearOptions")
    return Case(resize(f32(1, 4, 4), f32(1, 8, 8)), 30, resize(f32(1, 4, 4, 1), f32(1, 8, 8, 1)))


@case("output_rank_nonzero")
def output_rank_nonzero_case():
    def total(keep):
        return one_op("SUM", [f32(4), const([0])], [f32(1) if keep else f32()], "ReducerOptions", keepDims=keep)
    return Case(total(False), 29, total(True))


@case("input_rank_nonzero")
def input_rank_nonzero_case():
    def gather(indices, out):
        return one_op("GATHER", [f32(4, 2), indices], [out], "GatherOptions", axis=0)
    return Case(gather(const(1, shape=()), f32(2)), 30, gather(const([1]), f32(1, 2)))


@case("no_zero_dims")
def no_zero_dims_case():
    def pad(x, y):
        return one_op("PAD", [x, const([[0, 0], [1, 1], [1, 1], [0, 0]])], [y], "PadOptions")
    return Case(pad(f32(1, 0, 2, 1), f32(1, 2, 4, 1)), 30, pad(f32(1, 2, 2, 1), f32(1, 4, 4, 1)))


def _rnn(n_inputs: int) -> bytes:
    inputs = [f32(1, 3), f32(4, 3, data=np.ones((4, 3))), f32(4, 4, data=np.eye(4)), f32(4, data=np.zeros(4)),
              f32(1, 4)][:n_inputs]
    return one_op("RNN", inputs, [f32(1, 4)], "RNNOptions", fusedActivationFunction=4)  # TANH


@case("inputs_count")
def inputs_count_case():
    return Case(_rnn(4), 30, _rnn(5))


@case("constant_input")
def constant_input_case():
    # TRANSPOSE_CONV's weights from a graph input: refused by NN-API, though the output's shape
    # (input 0) is a constant, so the interpreter sees no dynamic tensor
    def deconv(weights):
        return one_op("TRANSPOSE_CONV", [const([1, 4, 4, 1]), weights, f32(1, 2, 2, 1)], [f32(1, 4, 4, 1)],
                      "TransposeConvOptions", padding=0, strideW=2, strideH=2)
    return Case(deconv(f32(1, 2, 2, 1)), 30, deconv(f32(1, 2, 2, 1, data=np.ones((1, 2, 2, 1)))))


@case("scalar_operands_constant")
def scalar_operands_constant_case():
    def maximum(scalar):
        return one_op("MAXIMUM", [f32(1, 4), scalar], [f32(1, 4)])
    return Case(maximum(f32()), 30, maximum(f32(data=np.float32(0.5))))


# -- tensor types ------------------------------------------------------------------------------


@case("input_types")
def input_types_case():
    def slice_(dtype):
        return one_op("SLICE", [f32(1, 4), const([0, 1], dtype), const([1, 2], dtype)], [f32(1, 2)])
    return Case(slice_("INT64"), 30, slice_("INT32"))


@case("input_types_by_level")
def input_types_by_level_case():
    model = one_op("SPLIT", [const(1, shape=()), q("INT8", 1, 4)], [q("INT8", 1, 2), q("INT8", 1, 2)],
                   "SplitOptions", numSplits=2)
    return Case(model, 29, model, fixed_level=30)


@case("output_types")
def output_types_case():
    def softmax(out):
        return one_op("SOFTMAX", [f32(1, 4)], [out], "SoftmaxOptions", beta=1.0)
    return Case(softmax(q("INT16", 1, 4)), 30, softmax(f32(1, 4)))


@case("output_type_not")
def output_type_not_case():
    def dense(out):
        return one_op("FULLY_CONNECTED", [f32(1, 3), f32(2, 3, data=np.ones((2, 3))), f32(2, data=np.zeros(2))],
                      [out], "FullyConnectedOptions")
    return Case(dense(q("INT16", 1, 2)), 30, dense(f32(1, 2)))


def _usrnn(weights: str) -> bytes:
    w = (q("INT8", 4, 3, data=np.ones((4, 3))), q("INT8", 4, 4, data=np.eye(4))) if weights == "INT8" else \
        (f32(4, 3, data=np.ones((4, 3))), f32(4, 4, data=np.eye(4)))
    return one_op("UNIDIRECTIONAL_SEQUENCE_RNN", [f32(1, 2, 3), *w, f32(4, data=np.zeros(4)), f32(1, 4)],
                  [f32(1, 2, 4)], "SequenceRNNOptions", timeMajor=False, fusedActivationFunction=4)


@case("not_hybrid")
def not_hybrid_case():
    return Case(_usrnn("INT8"), 29, _usrnn("FLOAT32"))


@case("sub_types")
def sub_types_case():
    model = one_op("SUB", [f32(1, 4), f32(1, 4)], [f32(1, 4)], "SubOptions")
    return Case(model, 27, model, fixed_level=28)


@case("tanh_types")
def tanh_types_case():
    return Case(one_op("TANH", [q("UINT8", 1, 4, zero_point=128)], [q("UINT8", 1, 4, scale=1 / 128, zero_point=128)]),
                28, one_op("TANH", [f32(1, 4)], [f32(1, 4)]))


@case("mean_types")
def mean_types_case():
    def mean(x, y):
        return one_op("MEAN", [x, const([1, 2])], [y], "ReducerOptions", keepDims=True)
    return Case(mean(q("INT8", 1, 2, 2, 1), q("INT8", 1, 1, 1, 1)), 28, mean(f32(1, 2, 2, 1), f32(1, 1, 1, 1)))


@case("cast_types")
def cast_types_case():
    def cast(x):
        return one_op("CAST", [x], [f32(1, 4)])
    return Case(cast(T((1, 4), "BOOL")), 30, cast(T((1, 4), "INT32")))


@case("quantize_rules")
def quantize_rules_case():
    model = one_op("QUANTIZE", [f32(1, 4)], [q("INT8", 1, 4)])
    return Case(model, 29, model, fixed_level=30)


@case("dequantize")
def dequantize_case():
    def dequantize(dtype):
        return one_op("DEQUANTIZE", [q(dtype, 1, 4, zero_point=128 if dtype == "UINT8" else 0)], [f32(1, 4)])
    return Case(dequantize("INT8"), 28, dequantize("UINT8"))


# -- convolutions and fully connected layers ---------------------------------------------------


@case("conv_pre29")
def conv_pre29_case():
    int8 = _conv(q("INT8", 1, 4, 4, 2), q("INT8", 3, 1, 1, 2, data=np.ones((3, 1, 1, 2))),
                 q("INT32", 3, scale=0.01, data=np.zeros(3)), q("INT8", 1, 4, 4, 3, scale=0.5))
    return Case(int8, 28, _float_conv())


@case("restricted_scales_pre29")
def restricted_scales_pre29_case():
    def conv(out_scale):
        return _conv(q("UINT8", 1, 4, 4, 2, scale=1.0, zero_point=128),
                     q("UINT8", 3, 1, 1, 2, scale=1.0, zero_point=128, data=np.full((3, 1, 1, 2), 129)),
                     q("INT32", 3, scale=1.0, data=np.zeros(3)), q("UINT8", 1, 4, 4, 3, scale=out_scale, zero_point=128))
    return Case(conv(0.5), 28, conv(2.0))


@case("no_int16_activations")
def no_int16_activations_case():
    """TFLite's 16x8 quantization: int16 activations, int8 weights, an int64 bias."""
    int16 = _conv(q("INT16", 1, 4, 4, 2, scale=0.01), q("INT8", 3, 1, 1, 2, data=np.ones((3, 1, 1, 2))),
                  q("INT64", 3, scale=0.001, data=np.zeros(3, np.int64)), q("INT16", 1, 4, 4, 3, scale=0.02))
    return Case(int16, 30, _float_conv())


@case("bias_present")
def bias_present_case():
    no_bias = _conv(f32(1, 4, 4, 2), f32(3, 1, 1, 2, data=np.ones((3, 1, 1, 2))), None, f32(1, 4, 4, 3))
    return Case(no_bias, 30, _float_conv())


@case("dilation_from")
def dilation_from_case():
    model = _float_conv(dilationWFactor=2, dilationHFactor=2)
    return Case(model, 28, model, fixed_level=29)


@case("no_groups_pre29")
def no_groups_pre29_case():
    grouped = _conv(f32(1, 4, 4, 4), f32(2, 1, 1, 2, data=np.ones((2, 1, 1, 2))), f32(2, data=np.zeros(2)),
                    f32(1, 4, 4, 2))
    return Case(grouped, 28, grouped, fixed_level=29)


@case("depthwise_pre29")
def depthwise_pre29_case():
    def depthwise(x, w, b, y):
        return one_op("DEPTHWISE_CONV_2D", [x, w, b], [y], "DepthwiseConv2DOptions", padding=1, strideW=1,
                      strideH=1, depthMultiplier=1)
    int8 = depthwise(q("INT8", 1, 3, 3, 2), q("INT8", 1, 2, 2, 2, data=np.ones((1, 2, 2, 2))),
                     q("INT32", 2, scale=0.01, data=np.zeros(2)), q("INT8", 1, 2, 2, 2))
    float32 = depthwise(f32(1, 3, 3, 2), f32(1, 2, 2, 2, data=np.ones((1, 2, 2, 2))), f32(2, data=np.zeros(2)),
                        f32(1, 2, 2, 2))
    return Case(int8, 28, float32)


def _dense(x: T, w: T, b: T, y: T, **options) -> bytes:
    return one_op("FULLY_CONNECTED", [x, w, b], [y], "FullyConnectedOptions", **options)


@case("fc_pre29")
def fc_pre29_case():
    int8 = _dense(q("INT8", 1, 3), q("INT8", 2, 3, data=np.ones((2, 3))), q("INT32", 2, scale=0.01, data=np.zeros(2)),
                  q("INT8", 1, 2))
    return Case(int8, 28, _dense(f32(1, 3), f32(2, 3, data=np.ones((2, 3))), f32(2, data=np.zeros(2)), f32(1, 2)))


@case("keep_num_dims_from")
def keep_num_dims_from_case():
    model = _dense(f32(1, 2, 3), f32(2, 3, data=np.ones((2, 3))), f32(2, data=np.zeros(2)), f32(1, 2, 2),
                   keepNumDims=True)
    return Case(model, 29, model, fixed_level=30)


# -- conditions of one operator ----------------------------------------------------------------


@case("avg_pool_quant_filter")
def avg_pool_quant_filter_case():
    def pool(size):
        return one_op("AVERAGE_POOL_2D", [q("UINT8", 1, size, size, 1)], [q("UINT8", 1, 1, 1, 1)], "Pool2DOptions",
                      padding=1, strideW=1, strideH=1, filterWidth=size, filterHeight=size)
    return Case(pool(17), 27, pool(16))  # 17 x 17 = 289 > 256 cells; 16 x 16 = 256


@case("softmax_rank_pre29")
def softmax_rank_pre29_case():
    model = one_op("SOFTMAX", [f32(1, 2, 4)], [f32(1, 2, 4)], "SoftmaxOptions", beta=1.0)
    return Case(model, 28, one_op("SOFTMAX", [f32(2, 4)], [f32(2, 4)], "SoftmaxOptions", beta=1.0))


@case("reshape_not_scalar")
def reshape_not_scalar_case():
    def reshape(out, new_shape):
        return one_op("RESHAPE", [f32(1)], [out], "ReshapeOptions", newShape=new_shape)
    return Case(reshape(f32(), []), 30, reshape(f32(1, 1), [1, 1]))


@case("resize_rules")
def resize_rules_case():
    model = one_op("RESIZE_BILINEAR", [f32(1, 2, 2, 1), const([4, 4])], [f32(1, 4, 4, 1)], "ResizeBilinearOptions",
                   alignCorners=True)
    return Case(model, 29, model, fixed_level=30)


@case("squeeze_dims_at_28")
def squeeze_dims_at_28_case():
    def squeeze(dims):
        return one_op("SQUEEZE", [f32(1, 4)], [f32(4)], "SqueezeOptions", squeezeDims=dims)
    return Case(squeeze([]), 28, squeeze([0]))


@case("l2norm_pre29")
def l2norm_pre29_case():
    def l2(*shape):
        return one_op("L2_NORMALIZATION", [f32(*shape)], [f32(*shape)], "L2NormOptions")
    return Case(l2(1, 4), 28, l2(1, 1, 1, 4))


@case("concat_u8_scales_pre29")
def concat_u8_scales_pre29_case():
    def concat(scale):
        return one_op("CONCATENATION", [q("UINT8", 1, 2), q("UINT8", 1, 2, scale=scale)], [q("UINT8", 1, 4)],
                      "ConcatenationOptions", axis=1)
    return Case(concat(0.2), 28, concat(0.1))


@case("pad_rules")
def pad_rules_case():
    model = one_op("PADV2", [f32(1, 2, 2, 1), const([[0, 0], [1, 1], [1, 1], [0, 0]]), f32(data=np.float32(1))],
                   [f32(1, 4, 4, 1)], "PadV2Options")
    return Case(model, 28, model, fixed_level=29)


@case("crops_zero")
def crops_zero_case():
    def b2s(crops, out):
        return one_op("BATCH_TO_SPACE_ND", [f32(4, 2, 2, 1), const([2, 2]), const(crops)], [out],
                      "BatchToSpaceNDOptions")
    return Case(b2s([[0, 0], [1, 0]], f32(1, 4, 3, 1)), 30, b2s([[0, 0], [0, 0]], f32(1, 4, 4, 1)))


@case("select_same_shape")
def select_same_shape_case():
    # a condition of rank 1 picks whole rows in TFLite's SELECT; NN-API wants one shape
    def select(cond):
        return one_op("SELECT", [cond, f32(4, 2), f32(4, 2)], [f32(4, 2)])
    return Case(select(T((4,), "BOOL")), 30, select(T((4, 2), "BOOL")))


@case("pack_axis")
def pack_axis_case():
    def pack(axis, out):
        return one_op("PACK", [f32(2, 3), f32(2, 3)], [out], "PackOptions", valuesCount=2, axis=axis)
    return Case(pack(2, f32(2, 3, 2)), 30, pack(0, f32(2, 2, 3)))


@case("unpack_rules")
def unpack_rules_case():
    def unpack(axis, outs):
        return one_op("UNPACK", [f32(2, 3)], outs, "UnpackOptions", num=len(outs), axis=axis)
    return Case(unpack(1, [f32(2)] * 3), 30, unpack(0, [f32(3)] * 2))


@case("batch_matmul_rules")
def batch_matmul_rules_case():
    def matmul(b):
        return one_op("BATCH_MATMUL", [f32(2, 3), b], [f32(2, 4)], "BatchMatMulOptions")
    return Case(matmul(q("INT8", 3, 4)), FL6, matmul(f32(3, 4)))


# -- small graphs for the whole-model rules ----------------------------------------------------


def relu_runs(lengths: list[int]) -> bytes:
    """RELU runs of the given lengths separated by SQUARE (which NN-API lacks), in one chain."""
    tensors, ops, last = {"x": T((1, 4))}, [], "x"
    for r, length in enumerate(lengths):
        if r:
            tensors[f"sq{r}"] = T((1, 4))
            ops.append(Op("SQUARE", [last], [f"sq{r}"]))
            last = f"sq{r}"
        for k in range(length):
            name = f"relu{r}_{k}"
            tensors[name] = T((1, 4))
            ops.append(Op("RELU", [last], [name]))
            last = name
    return build(tensors, ops, ["x"], [last])


def flatten_chain(between: str) -> bytes:
    """x -> SHAPE -> STRIDED_SLICE (batch) -> [PACK | CONCATENATION] with 32 -> RESHAPE(x)."""
    tensors = {"x": T((1, 4, 4, 2), signature=(-1, 4, 4, 2)), "shape": T((4,), "INT32"), "begin": const([0]),
               "end": const([1]), "one": const([1]),
               "batch": T((), "INT32") if between == "PACK" else T((1,), "INT32"),
               "rest": const(32, shape=()) if between == "PACK" else const([32]), "new": T((2,), "INT32"),
               "flat": T((1, 32), signature=(-1, 32)), "y": T((1, 32), signature=(-1, 32))}
    slice_options = {"shrinkAxisMask": 1} if between == "PACK" else {}
    join = (Op("PACK", ["batch", "rest"], ["new"], {"valuesCount": 2, "axis": 0}, "PackOptions") if between == "PACK"
            else Op("CONCATENATION", ["batch", "rest"], ["new"], {"axis": 0}, "ConcatenationOptions"))
    ops = [Op("SHAPE", ["x"], ["shape"], {"outType": 2}, "ShapeOptions"),
           Op("STRIDED_SLICE", ["shape", "begin", "end", "one"], ["batch"], slice_options, "StridedSliceOptions"),
           join, Op("RESHAPE", ["x", "new"], ["flat"]), Op("RELU", ["flat"], ["y"])]
    return build(tensors, ops, ["x"], ["y"])
