"""The conditions of the NN-API delegate's rules, one registered check per condition.

Each function mirrors an ``Expect...`` of ``NNAPIDelegateKernel::Validate`` (see
``npukit.nnapi.rules`` for the source and the lines of each operator's case). It returns None
when the operator passes, else the reason in one short sentence. ``tests/test_nnapi_checks.py``
holds one crafted model per check that the check refuses.
"""

from __future__ import annotations

from npukit.nnapi.levels import BOOL, F16, F32, FL6, I8, I32, Q8, U8
from npukit.nnapi.registry import OpView, check


def _names(types) -> str:
    return ", ".join(sorted(types)).lower()


# -- activations, ranks, operand counts --------------------------------------------------------


@check("int32_activation_none", "int32 inputs need fused activation NONE")
def int32_activation_none(o: OpView, level: int):
    return None if o.dtype(0) != I32 or o.activation_none() else "int32 inputs need fused activation NONE"


@check("activation_none", "fused activation NONE")
def activation_none(o: OpView, level: int):
    return None if o.activation_none() else "a fused activation is not supported"


@check("activation_none_below", "fused activation NONE below API 29", lambda n: f"fused activation NONE below API {n}")
def activation_none_below(o: OpView, level: int, n: int):
    return None if level >= n or o.activation_none() else f"a fused activation needs API {n}"


@check(
    "max_rank", "rank <= 4 of the listed tensors",
    lambda side, indices, limit: f"rank <= {limit}: {'inputs' if side == 'in' else 'outputs'} {', '.join(map(str, indices))}",
)
def max_rank(o: OpView, level: int, side: str, indices, limit: int):
    for k in indices:
        rank = o.rank(k, side)
        if rank is not None and rank > limit:
            return f"{'input' if side == 'in' else 'output'} {k} has rank {rank} (NN-API takes <= {limit})"
    return None


@check("rank_eq", "input rank must be 4", lambda side, k, n: f"input {k} has rank {n}")
def rank_eq(o: OpView, level: int, side: str, k: int, n: int):
    return None if o.rank(k, side) == n else f"input {k} must have rank {n}"


@check("output_rank_nonzero", "output is not a scalar")
def output_rank_nonzero(o: OpView, level: int):
    return None if (o.rank(0, "out") or 0) > 0 else "a scalar output is not supported"


@check("input_rank_nonzero", "the listed input is not a scalar", lambda k: f"the listed input is not a scalar (input {k})")
def input_rank_nonzero(o: OpView, level: int, k: int):
    return None if (o.rank(k) or 0) > 0 else f"a scalar input {k} is not supported"


@check("no_zero_dims", "no dimension of size 0", lambda k: f"no dimension of size 0 (input {k})")
def no_zero_dims(o: OpView, level: int, k: int):
    t = o.tensor(k)
    return None if 0 not in (t.shape if t else ()) else "a dimension of size 0"


@check("inputs_count", "number of inputs in the listed set", lambda counts: f"{' or '.join(map(str, counts))} inputs")
def inputs_count(o: OpView, level: int, counts):
    return None if o.n_inputs in counts else f"{o.n_inputs} inputs (expected {' or '.join(map(str, counts))})"


@check("constant_input", "the listed operand must be a constant tensor",
       lambda k, what: f"the {what} (input {k}) is a constant tensor")
def constant_input(o: OpView, level: int, k: int, what: str):
    # "constant" as the delegate means it: kTfLiteMmapRo, a tensor backed by a model buffer
    t = o.tensor(k)
    if t is None:
        return None
    return None if t.constant else f"the {what} (input {k}) must be a constant tensor"


@check("scalar_operands_constant", "a scalar operand must be constant")
def scalar_operands_constant(o: OpView, level: int):
    for k in (0, 1):
        t = o.tensor(k)
        if t is not None and len(t.shape) == 0 and not t.constant:
            return f"scalar input {k} must be a constant"
    return None


# -- tensor types ------------------------------------------------------------------------------


@check("input_types", "the listed input's type in the listed set", lambda k, allowed: f"input {k} type in {_names(allowed)}")
def input_types(o: OpView, level: int, k: int, allowed):
    return None if o.dtype(k) in (None, *allowed) else f"input {k} of type {o.dtype(k).lower()} is not supported"


@check("input_types_by_level", "the listed input's type in the set of the target level")
def input_types_by_level(o: OpView, level: int, k: int, by_level):
    accepted = next((types for start, types in reversed(by_level) if level >= start), ())
    return None if o.dtype(k) in accepted else f"input {k} of type {o.dtype(k).lower()} is not supported at this level"


@check("output_types", "output type in the listed set", lambda allowed: f"output type in {_names(allowed)}")
def output_types(o: OpView, level: int, allowed):
    return None if o.dtype(0, "out") in allowed else f"{o.dtype(0, 'out').lower()} output is not supported"


@check("output_type_not", "output not int16", lambda t: f"output not {t.lower()}")
def output_type_not(o: OpView, level: int, t: str):
    return None if o.dtype(0, "out") != t else f"{t.lower()} output is not supported"


@check("no_int16_activations", "no int16 activations (TFLite's 16x8 quantization)")
def no_int16_activations(o: OpView, level: int):
    # Validate checks no input type for CONV_2D / DEPTHWISE_CONV_2D from API 29, but AddTensor maps
    # int16 to TENSOR_QUANT16_SYMM, which NN-API's convolutions do not take, and refuses the int64
    # bias of a 16x8 convolution ("type ... is not supported"): the delegate cannot build the model
    bias = o.tensor(2)
    if o.dtype(0) == "INT16" or (bias is not None and bias.dtype == "INT64"):
        return "int16 activations (16x8 quantization) are not supported: NN-API convolutions take no 16-bit input or 64-bit bias"
    return None


@check("not_hybrid", "no hybrid (float activations with quantized weights)")
def not_hybrid(o: OpView, level: int):
    return None if not o.hybrid() else "hybrid (float input, quantized weights) is not supported"


@check("sub_types", "float32 from API 28, uint8/int8 from 29, int32 from 30")
def sub_types(o: OpView, level: int):
    t = o.dtype(0)
    if (t == F32 and level >= 28) or (t in Q8 and level >= 29) or (t == I32 and level >= 30):
        return None
    if t not in (F32, U8, I8, I32):
        return f"SUB does not take {t.lower()}"
    return f"SUB on {t.lower()} needs API {28 if t == F32 else 29 if t in Q8 else 30}"


@check("tanh_types", "float32, or uint8/int8 from API 29")
def tanh_types(o: OpView, level: int):
    t = o.dtype(0)
    return None if t == F32 or (t in Q8 and level >= 29) else f"TANH of {t.lower()} needs API 29"


@check("mean_types", "float32; uint8/int8 from API 29")
def mean_types(o: OpView, level: int):
    t = o.dtype(0)
    if t == F32 or (t in Q8 and level >= 29):
        return None
    return f"MEAN of {t.lower()} needs API 29" if t in Q8 else f"MEAN does not take {t.lower()}"


@check("cast_types", "input and output float32, int32, uint8 (int8 from API 30); never bool")
def cast_types(o: OpView, level: int):
    allowed = {F32, I32, U8} | ({I8} if level >= 30 else set())
    for side in ("in", "out"):
        t = o.dtype(0, side)
        if t not in allowed:
            where = "input" if side == "in" else "output"
            if t == BOOL:
                return f"CAST with a bool {where} is not supported at any level"
            return f"CAST {where} {t.lower()} is not supported at this level"
    return None


@check("quantize_rules", "input float32 or quantized with scale > 0; output uint8 below API 30, uint8 or int8 from 30")
def quantize_rules(o: OpView, level: int):
    src, dst = o.tensor(0), o.tensor(0, "out")
    if src.dtype not in (F32, U8, I8):
        return f"QUANTIZE input {src.dtype.lower()} is not supported"
    if src.dtype in Q8 and not (src.scale and src.scale[0] > 0):
        return "quantized QUANTIZE input needs scale > 0"
    allowed = (U8,) if level < 30 else (U8, I8)
    if dst.dtype not in allowed:
        return f"QUANTIZE to {dst.dtype.lower()} needs API 30 (uint8 output only before)"
    return None


@check("dequantize", "input uint8 (int8 from API 29; zero point 0 at API 29); float16 non-constant input from API 30")
def dequantize(o: OpView, level: int):
    t = o.tensor(0)
    if level >= 30 and t.dtype == F16 and not t.constant:
        return None
    allowed = (U8,) if level < 29 else (U8, I8)
    if t.dtype not in allowed:
        return f"DEQUANTIZE of {t.dtype.lower()} is not supported at this level"
    if level == 29 and t.dtype == I8 and t.zero_point and t.zero_point[0] != 0:
        return "DEQUANTIZE of int8 at API 29 needs zero point 0"
    return None


# -- convolutions and fully connected layers ---------------------------------------------------


@check("conv_pre29", "below API 29: no hybrid (float input, int8 weights), input float32 or uint8, no per-channel weights")
def conv_pre29(o: OpView, level: int):
    if level >= 29:
        return None
    found = []  # the delegate tests all three, so all failures are reported
    if o.hybrid():
        found.append("hybrid (float input, quantized weights) needs API 29")
    if o.dtype(0) not in (F32, U8):
        found.append(f"{o.dtype(0).lower()} input needs API 29 (float32 or uint8 before)")
    weights = o.tensor(1)
    if weights is not None and weights.per_channel:
        found.append("per-channel quantized weights need API 29")
    return "; ".join(found) or None


@check("restricted_scales_pre29", "below API 29, uint8: input_scale * filter_scale < output_scale")
def restricted_scales_pre29(o: OpView, level: int):
    if level >= 29 or o.dtype(0) != U8:
        return None
    x, w, y = o.tensor(0), o.tensor(1), o.tensor(0, "out")
    if x.scale and w.scale and y.scale and not x.scale[0] * w.scale[0] < y.scale[0]:
        return "uint8 before API 29 needs input_scale * filter_scale < output_scale"
    return None


@check("bias_present", "a bias input is present")
def bias_present(o: OpView, level: int):
    return None if o.n_inputs == 3 else "a bias input is required"


def _dilated(o: OpView) -> bool:
    return (o.options.get("dilationWFactor", 1), o.options.get("dilationHFactor", 1)) != (1, 1)


@check("dilation_from", "dilation > 1 needs API 29", lambda n: f"dilation > 1 needs API {n}")
def dilation_from(o: OpView, level: int, n: int):
    return None if level >= n or not _dilated(o) else f"dilation needs API {n}"


@check("no_groups_pre29", "grouped convolution needs API 29")
def no_groups_pre29(o: OpView, level: int):
    # a grouped CONV_2D has fewer filter input channels (last axis of OHWI) than input channels
    if level >= 29 or o.tensor(1) is None or o.tensor(0).shape[-1:] == o.tensor(1).shape[-1:]:
        return None
    return "grouped convolution needs API 29"


@check("depthwise_pre29", "below API 29: input float32 or uint8, dilation 1 (and the uint8 scale rule)")
def depthwise_pre29(o: OpView, level: int):
    if level >= 29:
        return None
    if o.dtype(0) not in (F32, U8):
        return f"{o.dtype(0).lower()} input needs API 29 (float32 or uint8 before)"
    if _dilated(o):
        return "dilation needs API 29"
    return restricted_scales_pre29(o, level)


@check("fc_pre29", "below API 29: no hybrid, input float32 or uint8")
def fc_pre29(o: OpView, level: int):
    if level >= 29:
        return None
    if o.hybrid():
        return "hybrid (float input, quantized weights) needs API 29"
    if o.dtype(0) not in (F32, U8):
        return f"{o.dtype(0).lower()} input needs API 29 (float32 or uint8 before)"
    return None


@check("keep_num_dims_from", "keep_num_dims needs API 30", lambda n: f"keep_num_dims needs API {n}")
def keep_num_dims_from(o: OpView, level: int, n: int):
    return None if level >= n or not o.options.get("keepNumDims") else f"keep_num_dims needs API {n}"


# -- conditions of one operator ----------------------------------------------------------------


@check("avg_pool_quant_filter", "quantized: filter width x height <= 256 below API 29 (lifted from 29 when the NN-API "
                                "CPU device is excluded, the default)")
def avg_pool_quant_filter(o: OpView, level: int):
    if o.dtype(0) in Q8 and level < 29:
        size = o.options.get("filterWidth", 0) * o.options.get("filterHeight", 0)
        if size > 256:
            return f"quantized average pool over {size} > 256 cells needs API 29"
    return None


@check("softmax_rank_pre29", "below API 29: input rank 2 or 4")
def softmax_rank_pre29(o: OpView, level: int):
    return None if level >= 29 or o.rank(0) in (2, 4) else "softmax of rank other than 2 or 4 needs API 29"


@check("reshape_not_scalar", "reshape target is not a scalar")
def reshape_not_scalar(o: OpView, level: int):
    return None if (o.rank(0, "out") or 0) > 0 else "reshape to a scalar is not supported"


@check("resize_rules", "below API 29: float32 input, square output; up to API 29: no align_corners / half_pixel_centers")
def resize_rules(o: OpView, level: int):
    if level <= 29 and (o.options.get("alignCorners") or o.options.get("halfPixelCenters")):
        return "align_corners / half_pixel_centers need API 30"
    if level < 29:
        out = o.tensor(0, "out")
        if o.dtype(0) != F32:
            return "quantized resize needs API 29"
        if len(out.shape) == 4 and out.shape[1] != out.shape[2]:
            return "a non-square resize output needs API 29"
    return None


@check("squeeze_dims_at_28", "API 28: squeeze_dims must be given")
def squeeze_dims_at_28(o: OpView, level: int):
    return None if level != 28 or o.options.get("squeezeDims") else "API 28 needs explicit squeeze_dims"


@check("l2norm_pre29", "below API 29: float32 input of rank 4")
def l2norm_pre29(o: OpView, level: int):
    if level >= 29 or (o.dtype(0) == F32 and o.rank(0) == 4):
        return None
    return "below API 29 L2 normalization needs a float32 rank-4 input"


@check("concat_u8_scales_pre29", "below API 29, uint8: all inputs share input 0's scale and zero point")
def concat_u8_scales_pre29(o: OpView, level: int):
    if level >= 29 or o.dtype(0) != U8:
        return None
    first = o.tensor(0)
    for k in range(1, o.n_inputs):
        t = o.tensor(k)
        if (t.scale, t.zero_point) != (first.scale, first.zero_point):
            return "uint8 concatenation before API 29 needs one scale and zero point for all inputs"
    return None


@check("pad_rules", "a padding value (PADV2) needs API 29; below 29 the input must be float32")
def pad_rules(o: OpView, level: int):
    if level >= 29:
        return None
    if o.n_inputs == 3:
        return "a padding value needs API 29"
    return None if o.dtype(0) == F32 else f"PAD of {o.dtype(0).lower()} needs API 29"


@check("crops_zero", "crops must be constant zeros")
def crops_zero(o: OpView, level: int):
    # the delegate reads the crops' data: 16 bytes (2x2 int32), all zero
    values = o.model.constant_values(o.op.inputs[2]) if len(o.op.inputs) > 2 and o.op.inputs[2] >= 0 else None
    return None if values is not None and values.size == 4 and not values.any() else "crops must be constant 2x2 zeros"


@check("select_same_shape", "condition and values have the same shape (no broadcasting)")
def select_same_shape(o: OpView, level: int):
    a, b = o.tensor(0), o.tensor(1)
    return None if a.shape == b.shape else "SELECT needs the condition and values of one shape (no broadcasting)"


@check("pack_axis", "below feature level 6: the new axis is not the last")
def pack_axis(o: OpView, level: int):
    if level >= FL6:
        return None
    axis, rank = o.options.get("axis", 0), o.rank(0) or 0
    return "packing along a new last axis needs feature level 6" if axis in (-1, rank) else None


@check("unpack_rules", "input rank 2..4, axis not the last")
def unpack_rules(o: OpView, level: int):
    rank = o.rank(0) or 0
    if not 1 < rank <= 4:
        return f"UNPACK needs an input of rank 2..4 (got {rank})"
    if o.options.get("axis", 0) in (-1, rank - 1):
        return "UNPACK along the last axis is not supported"
    return None


@check("batch_matmul_rules", "same input types, rank 2..4, no batch broadcasting")
def batch_matmul_rules(o: OpView, level: int):
    a, b = o.tensor(0), o.tensor(1)
    if a.dtype != b.dtype:
        return "BATCH_MATMUL needs both inputs of one type"
    if not 2 <= len(a.shape) <= 4:
        return "BATCH_MATMUL needs inputs of rank 2..4"
    if len(a.shape) != len(b.shape) or a.shape[:-2] != b.shape[:-2]:
        return "BATCH_MATMUL with batch broadcasting is not supported"
    return None
