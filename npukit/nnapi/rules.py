"""What the TFLite NN-API delegate accepts, one row per operator, as data.

Source of every row: ``NNAPIDelegateKernel::Validate`` in google-ai-edge/LiteRT
``tflite/delegates/nnapi/nnapi_delegate.cc`` (snapshot f67457790c9c, file last changed in
aab71d0ad66b); ``lines`` gives the lines of its ``case`` in that file. Summary in
../shared/reference/nnapi.md; where the two differ, the source wins.

Row fields:

* ``max_version``: highest operator version accepted (``ExpectMaxOpVersion`` / ``ExpectOpVersion``
  both test ``version <= N``);
* ``min_level``: lowest NN-API level (27 = Android 8.1 ... 30 = Android 11, 31 = feature level 5,
  1000006-1000008 = feature levels 6-8);
* ``types``: accepted types of input 0, as ``((from_level, {types}), ...)``: the last entry whose
  level is <= the target applies; None = not checked;
* ``checks``: further conditions, named; ``npukit.nnapi.check`` implements each name and
  ``CHECK_TEXT`` says what it tests;
* ``note``: conditions of the source that a static file check cannot decide.

The delegate runs every check of a row (no early exit), so an operator is delegated only when
all pass. Operators without a row fall to the ``default:`` case: not supported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SOURCE = (
    "google-ai-edge/LiteRT tflite/delegates/nnapi/nnapi_delegate.cc (snapshot f67457790c9c), "
    "NNAPIDelegateKernel::Validate"
)

FL5, FL6, FL7, FL8 = 31, 1000006, 1000007, 1000008
#: levels a model is checked at when npukit looks for the lowest one that delegates it whole
LEVELS = (27, 28, 29, 30, FL5, FL6, FL7, FL8)
LEVEL_NAMES = {
    27: "API 27 (Android 8.1, NN-API 1.0)", 28: "API 28 (Android 9, NN-API 1.1)",
    29: "API 29 (Android 10, NN-API 1.2)", 30: "API 30 (Android 11, NN-API 1.3)",
    FL5: "API 31+ (Android 12, feature level 5)", FL6: "feature level 6", FL7: "feature level 7",
    FL8: "feature level 8",
}

F32, F16, U8, I8, I16, I32, I64, BOOL = "FLOAT32", "FLOAT16", "UINT8", "INT8", "INT16", "INT32", "INT64", "BOOL"
FQ8 = frozenset({F32, U8, I8})


def types(*entries) -> tuple[tuple[int, frozenset[str]], ...]:
    """types(set) or types((level, set), (level, set), ...)."""
    if len(entries) == 1 and not isinstance(entries[0], tuple):
        return ((27, frozenset(entries[0])),)
    return tuple((level, frozenset(values)) for level, values in entries)


@dataclass(frozen=True)
class Rule:
    op: str
    max_version: int | None
    min_level: int = 27
    types: tuple[tuple[int, frozenset[str]], ...] | None = None
    checks: tuple[tuple, ...] = ()
    lines: str = ""
    note: str = ""
    extra: dict = field(default_factory=dict)

    def types_at(self, level: int) -> frozenset[str] | None:
        if self.types is None:
            return None
        accepted = None
        for start, values in self.types:
            if level >= start:
                accepted = values
        return accepted or frozenset()


def _rows() -> list[Rule]:
    add_types = types((27, FQ8), (30, FQ8 | {I32}))
    rank4_in01 = ("max_rank", "in", (0, 1), 4)
    rows = [
        Rule("ADD", 2, types=add_types, checks=(("int32_activation_none",), rank4_in01), lines="L2372-2391"),
        Rule("MUL", 2, types=add_types, checks=(("int32_activation_none",), rank4_in01), lines="L2434-2457",
             extra={"max_version_on_accelerator": 3}),
        Rule("SUB", 3, types=None, checks=(("sub_types",), ("int32_activation_none",), rank4_in01), lines="L2857-2881"),
        Rule("DIV", 1, 28, types({F32}), checks=(rank4_in01,), lines="L2883-2896"),
        Rule("AVERAGE_POOL_2D", 2, types=types(FQ8), checks=(("avg_pool_quant_filter",),), lines="L2459-2471"),
        Rule("MAX_POOL_2D", 2, types=types(FQ8), lines="L2473-2475"),
        Rule("L2_POOL_2D", 1, types=types({F32}), checks=(("activation_none_below", 29),), lines="L2477-2488"),
        Rule("CONV_2D", 5, checks=(("conv_pre29",), ("restricted_scales_pre29",), ("bias_present",),
                                   ("dilation_from", 29), ("no_groups_pre29",)), lines="L2490-2532"),
        Rule("DEPTHWISE_CONV_2D", 3, checks=(("depthwise_pre29",),), lines="L2534-2553"),
        Rule("FULLY_CONNECTED", 5, checks=(("output_type_not", I16), ("fc_pre29",), ("restricted_scales_pre29",),
                                           ("keep_num_dims_from", 30)), lines="L2555-2577"),
        Rule("HARD_SWISH", None, types=types(FQ8), lines="L2579-2583"),
        Rule("SOFTMAX", 2, types=types(FQ8), checks=(("output_types", FQ8), ("max_rank", "in", (0,), 4),
                                                      ("softmax_rank_pre29",)), lines="L2585-2605"),
        Rule("RESHAPE", 1, types=types((27, FQ8), (FL6, FQ8 | {I32})),
             checks=(("max_rank", "in", (0,), 4), ("max_rank", "out", (0,), 4), ("constant_input", 1, "new shape"),
                     ("reshape_not_scalar",)), lines="L2607-2641"),
        Rule("RESIZE_BILINEAR", 3, types=types(FQ8), checks=(("rank_eq", "in", 0, 4), ("constant_input", 1, "size"),
                                                              ("resize_rules",)), lines="L2643-2681"),
        Rule("RESIZE_NEAREST_NEIGHBOR", 3, 29, types(FQ8), checks=(("constant_input", 1, "size"), ("resize_rules",)),
             lines="L2683-2706"),
        Rule("SQUEEZE", 1, 28, checks=(("squeeze_dims_at_28",),), lines="L2708-2718"),
        Rule("UNIDIRECTIONAL_SEQUENCE_LSTM", 2, 29, checks=(("not_hybrid",), ("inputs_count", (20, 24))),
             lines="L2720-2731"),
        Rule("L2_NORMALIZATION", 2, checks=(("l2norm_pre29",), ("activation_none",)), lines="L2733-2747"),
        Rule("LOCAL_RESPONSE_NORMALIZATION", 1, lines="L2749-2750"),
        Rule("LSH_PROJECTION", 1, lines="L2752-2767", note="SPARSE projection needs API 29 and no weights input"),
        Rule("CONCATENATION", 2, types=types(FQ8 | {F16}), checks=(("activation_none",), ("max_rank", "in", (0,), 4),
                                                                     ("concat_u8_scales_pre29",)), lines="L2769-2796"),
        Rule("DEQUANTIZE", 2, checks=(("dequantize",),), lines="L2799-2826"),
        Rule("DENSIFY", None, 30, checks=(("constant_input", 0, "input"),), lines="L2828-2835"),
        Rule("FLOOR", 1, lines="L2837-2838"),
        *[Rule(op, 2, types=types(FQ8), lines="L2840-2845") for op in ("RELU", "RELU_N1_TO_1", "RELU6", "LOGISTIC")],
        Rule("TANH", 2, checks=(("tanh_types",),), lines="L2847-2855"),
        *[Rule(op, 2, 28, types(FQ8), checks=(("no_zero_dims", 0), ("pad_rules",)), lines="L2898-2930")
          for op in ("PAD", "PADV2")],
        Rule("UNIDIRECTIONAL_SEQUENCE_RNN", 1, 29, checks=(("not_hybrid",),), lines="L2932-2938"),
        Rule("SPACE_TO_BATCH_ND", 2, 28, lines="L2940-2943"),
        Rule("BATCH_TO_SPACE_ND", 2, 28, checks=(("crops_zero",),), lines="L2945-2954"),
        Rule("STRIDED_SLICE", 2, 28, types(FQ8), lines="L2956-2960"),
        Rule("TRANSPOSE", 2, 28, checks=(("constant_input", 1, "permutation"),), lines="L2962-2973"),
        *[Rule(op, 1, 29, types({F32}), lines="L2975-2982") for op in ("ABS", "EXP", "LOG", "POW")],
        Rule("RSQRT", 2, 29, types((29, {F32}), (FL7, FQ8)), lines="L2984-2992"),
        Rule("SLICE", 2, 29, types(FQ8 | {I32}), checks=(("input_types", 1, frozenset({I32})),
                                                          ("input_types", 2, frozenset({I32}))), lines="L2994-3008"),
        *[Rule(op, 1, 29, types({F32}), lines="L3010-3015") for op in ("COS", "SIN")],
        Rule("TRANSPOSE_CONV", 4, 29, checks=(("constant_input", 0, "output shape"), ("constant_input", 1, "weights")),
             lines="L3017-3027"),
        Rule("SQRT", 1, 29, types({F32}), lines="L3029-3033"),
        Rule("RNN", 1, checks=(("inputs_count", (5,)), ("input_types", 1, frozenset({F32}))), lines="L3035-3046"),
        Rule("SPACE_TO_DEPTH", 2, types=types(FQ8), lines="L3048-3053"),
        Rule("SVDF", 1, 28, checks=(("inputs_count", (5,)), ("input_types", 1, frozenset({F32}))), lines="L3055-3073"),
        Rule("LSTM", 3, 28, lines="L3075-3149",
             note="hybrid LSTM needs API 29; the 5-input basic kernel needs uint8 weights with scale 1/128, zero point "
                  "128 and constant inputs 2-3; 24 inputs need API 29; weight types per level"),
        Rule("MEAN", 2, 28, checks=(("mean_types",), ("output_rank_nonzero",), ("max_rank", "in", (0,), 4)),
             lines="L3151-3171"),
        Rule("EMBEDDING_LOOKUP", 1, checks=(("input_types", 1, frozenset({F32})),), lines="L3173-3177"),
        Rule("HASHTABLE_LOOKUP", 1, checks=(("output_types", frozenset({F32})),), lines="L3179-3183"),
        *[Rule(op, 3, 29, types(FQ8 | {I32}), checks=(("scalar_operands_constant",),), lines="L3185-3205")
          for op in ("MAXIMUM", "MINIMUM")],
        Rule("CAST", 1, 29, checks=(("cast_types",),), lines="L3206-3235"),
        *[Rule(op, 1, 29, types(FQ8), lines="L3237-3244") for op in ("LEAKY_RELU", "PRELU")],
        Rule("TILE", 1, 29, types(FQ8 | {I32}), checks=(("input_types", 1, frozenset({I32})),), lines="L3246-3257"),
        *[Rule(op, 1, 29, types({BOOL}), lines="L3259-3268") for op in ("LOGICAL_OR", "LOGICAL_AND", "LOGICAL_NOT")],
        *[Rule(op, 2, 29, types(FQ8 | {BOOL, I32}), lines="L3270-3281")
          for op in ("LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL", "EQUAL", "NOT_EQUAL")],
        Rule("NEG", 2, 29, types({F32, I32}), lines="L3283-3288"),
        Rule("TOPK_V2", 2, 29, types(FQ8 | {I32}), checks=(("constant_input", 1, "k"), ("input_types", 1, frozenset({I32}))),
             lines="L3290-3301"),
        Rule("SELECT", 2, 29, checks=(("input_types", 1, FQ8 | {I32}), ("select_same_shape",)), lines="L3303-3317"),
        Rule("GATHER", 2, 29, types(FQ8 | {F16, I32}), checks=(("input_types", 1, frozenset({I32})),
                                                              ("input_rank_nonzero", 1)), lines="L3319-3334"),
        Rule("BIDIRECTIONAL_SEQUENCE_LSTM", 1, 29, checks=(("not_hybrid",),), lines="L3336-3342"),
        Rule("EXPAND_DIMS", 1, 29, types(FQ8 | {F16, I32}), checks=(("constant_input", 1, "axis"),
                                                                   ("input_types", 1, frozenset({I32}))), lines="L3344-3354"),
        Rule("SPLIT", 3, 29, checks=(("input_types_by_level", 1, ((29, frozenset({F32, U8, I32})), (30, FQ8 | {I32}))),
                                     ("constant_input", 0, "axis"), ("input_types", 0, frozenset({I32}))),
             lines="L3356-3372"),
        Rule("SPLIT_V", 2, 30, types(FQ8 | {I32}), checks=(("constant_input", 1, "size_splits"),
                                                          ("constant_input", 2, "axis")), lines="L3374-3405",
             note="sizes must be non-zero"),
        Rule("LOG_SOFTMAX", 1, 29, types({F32}), lines="L3407-3414"),
        Rule("QUANTIZE", 2, 29, checks=(("quantize_rules",),), lines="L3416-3445"),
        Rule("REDUCE_ANY", 2, 29, checks=(("output_rank_nonzero",),), lines="L3447-3453"),
        *[Rule(op, 2, 29, types(FQ8), checks=(("input_rank_nonzero", 0),), lines="L3455-3466")
          for op in ("REDUCE_MIN", "REDUCE_MAX")],
        Rule("DEPTH_TO_SPACE", None, types=types(FQ8), lines="L3468-3472"),
        *[Rule(op, 1, 29, types({F32}), checks=(("output_rank_nonzero",),), lines="L3474-3485")
          for op in ("REDUCE_PROD", "SUM")],
        Rule("ELU", 1, 30, types({F32}), lines="L3487-3494"),
        Rule("FILL", 1, 30, checks=(("constant_input", 0, "dims"), ("input_types", 1, frozenset({F32, I32, I64}))),
             lines="L3496-3538"),
        Rule("PACK", 2, 30, types((30, {F32, I8}), (FL6, {I32, F32, I8, U8})), checks=(("pack_axis",),),
             lines="L3540-3557"),
        Rule("UNPACK", 2, 30, types(FQ8), checks=(("unpack_rules",),), lines="L3559-3579"),
        Rule("SQUARED_DIFFERENCE", 2, 28, types((28, {F32}), (29, {F32, U8}), (30, FQ8 | {I32})),
             checks=(rank4_in01,), lines="L3581-3600"),
        Rule("BATCH_MATMUL", 2, FL6, types({F32, I32, I8}), checks=(("batch_matmul_rules",),), lines="L3602-3619"),
        Rule("MIRROR_PAD", 2, FL7, types(FQ8 | {I32}), checks=(("no_zero_dims", 0), ("inputs_count", (2,))),
             lines="L3621-3639"),
        Rule("REVERSE_V2", 3, FL7, types(FQ8 | {I32}), checks=(("inputs_count", (2,)),), lines="L3641-3648"),
        Rule("ARG_MAX", 2, 29, types({F16, F32, I32, U8, I8}), checks=(("input_types", 1, frozenset({I32, I64})),),
             lines="L2393-2432"),
        Rule("ARG_MIN", 2, 29, types({F16, F32, I32, U8, I8}), checks=(("input_types", 1, frozenset({I32, I64})),),
             lines="L2393-2432"),
    ]
    return rows


RULES: dict[str, Rule] = {rule.op: rule for rule in _rows()}

#: what each named check tests (printed by ``npukit check --list-rules``)
CHECK_TEXT = {
    "int32_activation_none": "int32 inputs need fused activation NONE",
    "max_rank": "rank <= 4 of the listed tensors",
    "rank_eq": "input rank must be 4",
    "avg_pool_quant_filter": "quantized: filter width x height <= 256 below API 29 (lifted from 29 when the NN-API CPU device is excluded, the default)",
    "activation_none_below": "fused activation NONE below API 29",
    "conv_pre29": "below API 29: no hybrid (float input, int8 weights), input float32 or uint8, no per-channel weights",
    "restricted_scales_pre29": "below API 29, uint8: input_scale * filter_scale < output_scale",
    "bias_present": "a bias input is present",
    "dilation_from": "dilation > 1 needs API 29",
    "no_groups_pre29": "grouped convolution needs API 29",
    "depthwise_pre29": "below API 29: input float32 or uint8, dilation 1 (and the uint8 scale rule)",
    "output_type_not": "output not int16",
    "fc_pre29": "below API 29: no hybrid, input float32 or uint8",
    "keep_num_dims_from": "keep_num_dims needs API 30",
    "output_types": "output type in the listed set",
    "softmax_rank_pre29": "below API 29: input rank 2 or 4",
    "constant_input": "the listed operand must be a constant tensor",
    "reshape_not_scalar": "reshape target is not a scalar",
    "resize_rules": "below API 29: float32 input, square output; up to API 29: no align_corners / half_pixel_centers",
    "squeeze_dims_at_28": "API 28: squeeze_dims must be given",
    "not_hybrid": "no hybrid (float activations with quantized weights)",
    "inputs_count": "number of inputs in the listed set",
    "l2norm_pre29": "below API 29: float32 input of rank 4",
    "activation_none": "fused activation NONE",
    "concat_u8_scales_pre29": "below API 29, uint8: all inputs share input 0's scale and zero point",
    "dequantize": "input uint8 (int8 from API 29; zero point 0 at API 29); float16 non-constant input from API 30",
    "tanh_types": "float32, or uint8/int8 from API 29",
    "sub_types": "float32 from API 28, uint8/int8 from 29, int32 from 30",
    "no_zero_dims": "no dimension of size 0",
    "pad_rules": "a padding value (PADV2) needs API 29; below 29 the input must be float32",
    "crops_zero": "crops must be constant zeros",
    "input_types": "the listed input's type in the listed set",
    "input_types_by_level": "the listed input's type in the set of the target level",
    "mean_types": "float32; uint8/int8 from API 29",
    "output_rank_nonzero": "output is not a scalar",
    "input_rank_nonzero": "the listed input is not a scalar",
    "scalar_operands_constant": "a scalar operand must be constant",
    "cast_types": "input and output float32, int32, uint8 (int8 from API 30); never bool",
    "select_same_shape": "condition and values have the same shape (no broadcasting)",
    "quantize_rules": "input float32 or quantized with scale > 0; output uint8 below API 30, uint8 or int8 from 30",
    "pack_axis": "below feature level 6: the new axis is not the last",
    "unpack_rules": "input rank 2..4, axis not the last",
    "batch_matmul_rules": "same input types, rank 2..4, no batch broadcasting",
}


def describe(check: tuple) -> str:
    """One condition of a rule in words, with its arguments."""
    name, *args = check
    if name == "max_rank":
        side, indices, limit = args
        return f"rank <= {limit}: {'inputs' if side == 'in' else 'outputs'} {', '.join(map(str, indices))}"
    if name == "constant_input":
        return f"the {args[1]} (input {args[0]}) is a constant tensor"
    if name == "input_types":
        return f"input {args[0]} type in {', '.join(sorted(args[1])).lower()}"
    if name == "output_types":
        return f"output type in {', '.join(sorted(args[0])).lower()}"
    if name == "inputs_count":
        return f"{' or '.join(map(str, args[0]))} inputs"
    if name in ("dilation_from", "keep_num_dims_from", "activation_none_below"):
        return CHECK_TEXT[name].replace("29", str(args[0])).replace("30", str(args[0]))
    if name == "rank_eq":
        return f"input {args[1]} has rank {args[2]}"
    if name in ("no_zero_dims", "input_rank_nonzero"):
        return f"{CHECK_TEXT[name]} (input {args[0]})"
    if name == "output_type_not":
        return f"output not {args[0].lower()}"
    return CHECK_TEXT[name]


def rules_table() -> list[dict]:
    """The rules as plain rows (what ``npukit check --list-rules`` prints), sorted by op."""
    rows = []
    for rule in sorted(RULES.values(), key=lambda r: r.op):
        rows.append(
            {
                "op": rule.op,
                "min_level": rule.min_level,
                "max_version": rule.max_version,
                "types": [[level, sorted(values)] for level, values in rule.types] if rule.types else None,
                "conditions": [describe(check) for check in rule.checks],
                "note": rule.note,
                "lines": rule.lines,
                "source": SOURCE,
            }
        )
    return rows
