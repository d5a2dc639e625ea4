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
* ``checks``: further conditions, as ``(name, *args)``; the name selects a check registered in
  ``npukit.nnapi.conditions`` (function, text and argument description in one place); a name
  that no check has, or arguments its function does not take, fail at import;
* ``note``: conditions of the source that a static file check cannot decide.

The delegate runs every check of a row (no early exit), so an operator is delegated only when
all pass. Operators without a row fall to the ``default:`` case: not supported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from npukit.nnapi import conditions  # noqa: F401  (registers every check)
from npukit.nnapi.levels import (  # noqa: F401  (re-exported: the rule vocabulary)
    BOOL, F16, F32, FL5, FL6, FL7, FL8, FQ8, I8, I16, I32, I64, LEVEL_NAMES, LEVELS, U8,
)
from npukit.nnapi.registry import CHECKS

SOURCE = (
    "google-ai-edge/LiteRT tflite/delegates/nnapi/nnapi_delegate.cc (snapshot f67457790c9c), "
    "NNAPIDelegateKernel::Validate"
)


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
                                   ("dilation_from", 29), ("no_groups_pre29",), ("no_int16_activations",)), lines="L2490-2532"),
        Rule("DEPTHWISE_CONV_2D", 3, checks=(("depthwise_pre29",), ("no_int16_activations",)), lines="L2534-2553"),
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


def _validated(rows: list[Rule]) -> dict[str, Rule]:
    """The rows by op; a condition naming no registered check, or with arguments its function
    does not take, is a programming error reported at import."""
    by_op: dict[str, Rule] = {}
    for rule in rows:
        if rule.op in by_op:
            raise ValueError(f"NN-API rule table: {rule.op} has two rows")
        for name, *args in rule.checks:
            if name not in CHECKS:
                raise ValueError(
                    f"NN-API rule {rule.op}: unknown check {name!r} (registered: {', '.join(sorted(CHECKS))})"
                )
            if not CHECKS[name].accepts(tuple(args)):
                raise ValueError(f"NN-API rule {rule.op}: check {name!r} does not take the arguments {tuple(args)!r}")
        by_op[rule.op] = rule
    return by_op


RULES: dict[str, Rule] = _validated(_rows())


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
                "conditions": [CHECKS[name].describe(*args) for name, *args in rule.checks],
                "note": rule.note,
                "lines": rule.lines,
                "source": SOURCE,
            }
        )
    return rows
