"""Which operators of a .tflite file the NN-API delegate would run, at a given Android API level.

Reads the flatbuffer only (no interpreter, no device). Per operator it applies the row of
``npukit.nnapi.rules`` for that op; then the whole-model rules of the delegate:

* a model with dynamic-sized tensors (a -1 in a shape signature) is not delegated at all: the
  interpreter refuses a delegate that only takes static shapes;
* at most 3 partitions (runs of delegated operators) are delegated, the largest ones;
* below API 30, int8 tensors are shifted to uint8 (zero point + 128) and int8 model inputs and
  outputs are converted on the CPU at every invoke (reported as a warning).

What no file check can know: which operations a phone's driver implements (from API 29 the
delegate also asks the driver) and whether an NN-API accelerator exists at all. The report
covers what the delegate itself decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from npukit.errors import BadInputError
from npukit.nnapi.rules import (
    CHECK_TEXT, F16, F32, FL6, I8, I32, LEVEL_NAMES, LEVELS, RULES, SOURCE, U8, Rule,
)
from npukit.tflite_file import TFLiteModel, read_tflite

MAX_PARTITIONS = 3
Q8 = (U8, I8)


def check_level(level: int) -> int:
    """Validate an API level; API levels above 31 are checked as feature level 5."""
    if not isinstance(level, int) or level < 27:
        raise BadInputError(f"API level must be an integer >= 27 (NN-API starts with Android 8.1). Received: {level!r}")
    if 31 <= level < 1000:
        return 31
    if level >= 1000 and level not in LEVELS:
        raise BadInputError(f"feature level codes are 1000006, 1000007, 1000008. Received: {level}")
    return level


class _Op:
    """One operator with easy access to its tensors, for the check functions."""

    def __init__(self, model: TFLiteModel, index: int):
        self.model = model
        self.op = model.operators[index]
        self.options = self.op.options or {}

    def tensor(self, k: int, side: str = "in"):
        ids = self.op.inputs if side == "in" else self.op.outputs
        if k >= len(ids) or ids[k] < 0:
            return None
        return self.model.tensors[ids[k]]

    def dtype(self, k: int, side: str = "in") -> str | None:
        t = self.tensor(k, side)
        return None if t is None else t.dtype

    def rank(self, k: int, side: str = "in") -> int | None:
        t = self.tensor(k, side)
        return None if t is None else len(t.shape)

    @property
    def n_inputs(self) -> int:
        return len([i for i in self.op.inputs if i >= 0])

    def activation_none(self) -> bool:
        return self.options.get("fusedActivationFunction", 0) == 0

    def hybrid(self) -> bool:
        return self.dtype(0) == F32 and any(self.dtype(k) in Q8 for k in range(1, len(self.op.inputs)))


# Each check returns None when it passes, else the reason (one short sentence).


def _conv_pre29(o: _Op, level: int):
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


def _restricted_scales(o: _Op, level: int):
    if level >= 29 or o.dtype(0) != U8:
        return None
    x, w, y = o.tensor(0), o.tensor(1), o.tensor(0, "out")
    if x.scale and w.scale and y.scale and not x.scale[0] * w.scale[0] < y.scale[0]:
        return "uint8 before API 29 needs input_scale * filter_scale < output_scale"
    return None


def _max_rank(o: _Op, level: int, side: str, indices, limit: int):
    for k in indices:
        rank = o.rank(k, side)
        if rank is not None and rank > limit:
            return f"{'input' if side == 'in' else 'output'} {k} has rank {rank} (NN-API takes <= {limit})"
    return None


def _constant_input(o: _Op, level: int, k: int, what: str):
    t = o.tensor(k)
    if t is None:
        return None
    return None if t.constant else f"the {what} (input {k}) must be a constant tensor"


def _sub_types(o: _Op, level: int):
    t = o.dtype(0)
    if (t == F32 and level >= 28) or (t in Q8 and level >= 29) or (t == I32 and level >= 30):
        return None
    return f"SUB on {t.lower()} needs API {28 if t == F32 else 29 if t in Q8 else 30}" if t in (F32, U8, I8, I32) else f"SUB does not take {t.lower()}"


def _cast_types(o: _Op, level: int):
    allowed = {F32, I32, U8} | ({I8} if level >= 30 else set())
    for side in ("in", "out"):
        t = o.dtype(0, side)
        if t not in allowed:
            where = "input" if side == "in" else "output"
            if t == "BOOL":
                return f"CAST with a bool {where} is not supported at any level"
            return f"CAST {where} {t.lower()} is not supported at this level"
    return None


def _quantize(o: _Op, level: int):
    src, dst = o.tensor(0), o.tensor(0, "out")
    if src.dtype not in (F32, U8, I8):
        return f"QUANTIZE input {src.dtype.lower()} is not supported"
    if src.dtype in Q8 and not (src.scale and src.scale[0] > 0):
        return "quantized QUANTIZE input needs scale > 0"
    allowed = (U8,) if level < 30 else (U8, I8)
    if dst.dtype not in allowed:
        return f"QUANTIZE to {dst.dtype.lower()} needs API 30 (uint8 output only before)"
    return None


def _dequantize(o: _Op, level: int):
    t = o.tensor(0)
    if level >= 30 and t.dtype == F16 and not t.constant:
        return None
    allowed = (U8,) if level < 29 else (U8, I8)
    if t.dtype not in allowed:
        return f"DEQUANTIZE of {t.dtype.lower()} is not supported at this level"
    if level == 29 and t.dtype == I8 and t.zero_point and t.zero_point[0] != 0:
        return "DEQUANTIZE of int8 at API 29 needs zero point 0"
    return None


def _select_same_shape(o: _Op, level: int):
    a, b = o.tensor(0), o.tensor(1)
    return None if a.shape == b.shape else "SELECT needs the condition and values of one shape (no broadcasting)"


def _scalar_operands_constant(o: _Op, level: int):
    for k in (0, 1):
        t = o.tensor(k)
        if t is not None and len(t.shape) == 0 and not t.constant:
            return f"scalar input {k} must be a constant"
    return None


def _avg_pool_quant_filter(o: _Op, level: int):
    if o.dtype(0) in Q8 and level < 29:
        size = o.options.get("filterWidth", 0) * o.options.get("filterHeight", 0)
        if size > 256:
            return f"quantized average pool over {size} > 256 cells needs API 29"
    return None


def _pad_rules(o: _Op, level: int):
    if o.n_inputs == 3 and level < 29:
        return "a padding value needs API 29"
    if o.n_inputs != 3 and level < 29 and o.dtype(0) != F32:
        return f"PAD of {o.dtype(0).lower()} needs API 29"
    return None


def _mean_types(o: _Op, level: int):
    t = o.dtype(0)
    if t == F32 or (t in Q8 and level >= 29):
        return None
    return f"MEAN of {t.lower()} needs API 29" if t in Q8 else f"MEAN does not take {t.lower()}"


def _resize_rules(o: _Op, level: int):
    if level <= 29 and (o.options.get("alignCorners") or o.options.get("halfPixelCenters")):
        return "align_corners / half_pixel_centers need API 30"
    if level < 29:
        out = o.tensor(0, "out")
        if o.dtype(0) != F32:
            return "quantized resize needs API 29"
        if len(out.shape) == 4 and out.shape[1] != out.shape[2]:
            return "a non-square resize output needs API 29"
    return None


def _concat_u8_scales(o: _Op, level: int):
    if level >= 29 or o.dtype(0) != U8:
        return None
    first = o.tensor(0)
    for k in range(1, o.n_inputs):
        t = o.tensor(k)
        if (t.scale, t.zero_point) != (first.scale, first.zero_point):
            return "uint8 concatenation before API 29 needs one scale and zero point for all inputs"
    return None


def _depthwise_pre29(o: _Op, level: int):
    if level >= 29:
        return None
    if o.dtype(0) not in (F32, U8):
        return f"{o.dtype(0).lower()} input needs API 29 (float32 or uint8 before)"
    if o.options.get("dilationWFactor", 1) != 1 or o.options.get("dilationHFactor", 1) != 1:
        return "dilation needs API 29"
    return _restricted_scales(o, level)


def _fc_pre29(o: _Op, level: int):
    if level >= 29:
        return None
    if o.hybrid():
        return "hybrid (float input, quantized weights) needs API 29"
    if o.dtype(0) not in (F32, U8):
        return f"{o.dtype(0).lower()} input needs API 29 (float32 or uint8 before)"
    return None


def _pack_axis(o: _Op, level: int):
    if level >= FL6:
        return None
    axis = o.options.get("axis", 0)
    rank = o.rank(0) or 0
    return "packing along a new last axis needs feature level 6" if axis in (-1, rank) else None


def _unpack_rules(o: _Op, level: int):
    rank = o.rank(0) or 0
    if not 1 < rank <= 4:
        return f"UNPACK needs an input of rank 2..4 (got {rank})"
    if o.options.get("axis", 0) in (-1, rank - 1):
        return "UNPACK along the last axis is not supported"
    return None


def _batch_matmul(o: _Op, level: int):
    a, b = o.tensor(0), o.tensor(1)
    if a.dtype != b.dtype:
        return "BATCH_MATMUL needs both inputs of one type"
    if not 2 <= len(a.shape) <= 4:
        return "BATCH_MATMUL needs inputs of rank 2..4"
    if len(a.shape) != len(b.shape) or a.shape[:-2] != b.shape[:-2]:
        return "BATCH_MATMUL with batch broadcasting is not supported"
    return None


def _crops_zero(o: _Op, level: int):
    values = o.model.constant_values(o.op.inputs[2]) if len(o.op.inputs) > 2 else None
    return None if values is not None and not values.any() else "crops must be constant zeros"


CHECKS = {
    "int32_activation_none": lambda o, lv: None if o.dtype(0) != I32 or o.activation_none() else "int32 inputs need fused activation NONE",
    "max_rank": _max_rank,
    "rank_eq": lambda o, lv, side, k, n: None if o.rank(k, side) == n else f"input {k} must have rank {n}",
    "avg_pool_quant_filter": _avg_pool_quant_filter,
    "activation_none_below": lambda o, lv, n: None if lv >= n or o.activation_none() else f"a fused activation needs API {n}",
    "conv_pre29": _conv_pre29,
    "restricted_scales_pre29": _restricted_scales,
    "bias_present": lambda o, lv: None if o.n_inputs == 3 else "a bias input is required",
    "dilation_from": lambda o, lv, n: None if lv >= n or (o.options.get("dilationWFactor", 1), o.options.get("dilationHFactor", 1)) == (1, 1) else f"dilation needs API {n}",
    "no_groups_pre29": lambda o, lv: None if lv >= 29 or o.tensor(1) is None or o.tensor(0).shape[-1:] == o.tensor(1).shape[-1:] else "grouped convolution needs API 29",
    "depthwise_pre29": _depthwise_pre29,
    "output_type_not": lambda o, lv, t: None if o.dtype(0, "out") != t else f"{t.lower()} output is not supported",
    "fc_pre29": _fc_pre29,
    "keep_num_dims_from": lambda o, lv, n: None if lv >= n or not o.options.get("keepNumDims") else f"keep_num_dims needs API {n}",
    "output_types": lambda o, lv, allowed: None if o.dtype(0, "out") in allowed else f"{o.dtype(0, 'out').lower()} output is not supported",
    "softmax_rank_pre29": lambda o, lv: None if lv >= 29 or o.rank(0) in (2, 4) else "softmax of rank other than 2 or 4 needs API 29",
    "constant_input": _constant_input,
    "reshape_not_scalar": lambda o, lv: None if (o.rank(0, "out") or 0) > 0 else "reshape to a scalar is not supported",
    "resize_rules": _resize_rules,
    "squeeze_dims_at_28": lambda o, lv: None if lv != 28 or o.options.get("squeezeDims") else "API 28 needs explicit squeeze_dims",
    "not_hybrid": lambda o, lv: None if not o.hybrid() else "hybrid (float input, quantized weights) is not supported",
    "inputs_count": lambda o, lv, counts: None if o.n_inputs in counts else f"{o.n_inputs} inputs (expected {' or '.join(map(str, counts))})",
    "l2norm_pre29": lambda o, lv: None if lv >= 29 or (o.dtype(0) == F32 and o.rank(0) == 4) else "below API 29 L2 normalization needs a float32 rank-4 input",
    "activation_none": lambda o, lv: None if o.activation_none() else "a fused activation is not supported",
    "concat_u8_scales_pre29": _concat_u8_scales,
    "dequantize": _dequantize,
    "tanh_types": lambda o, lv: None if o.dtype(0) == F32 or (o.dtype(0) in Q8 and lv >= 29) else f"TANH of {o.dtype(0).lower()} needs API 29",
    "sub_types": _sub_types,
    "no_zero_dims": lambda o, lv, k: None if 0 not in (o.tensor(k).shape if o.tensor(k) else ()) else "a dimension of size 0",
    "pad_rules": _pad_rules,
    "crops_zero": _crops_zero,
    "input_types": lambda o, lv, k, allowed: None if o.dtype(k) in (None, *allowed) else f"input {k} of type {o.dtype(k).lower()} is not supported",
    "input_types_by_level": lambda o, lv, k, by_level: None if o.dtype(k) in next((s for start, s in reversed(by_level) if lv >= start), ()) else f"input {k} of type {o.dtype(k).lower()} is not supported at this level",
    "mean_types": _mean_types,
    "output_rank_nonzero": lambda o, lv: None if (o.rank(0, "out") or 0) > 0 else "a scalar output is not supported",
    "input_rank_nonzero": lambda o, lv, k: None if (o.rank(k) or 0) > 0 else f"a scalar input {k} is not supported",
    "scalar_operands_constant": _scalar_operands_constant,
    "cast_types": _cast_types,
    "select_same_shape": _select_same_shape,
    "quantize_rules": _quantize,
    "pack_axis": _pack_axis,
    "unpack_rules": _unpack_rules,
    "batch_matmul_rules": _batch_matmul,
}
assert set(CHECKS) == set(CHECK_TEXT), set(CHECKS) ^ set(CHECK_TEXT)


Reason = tuple[str, str]  # (code: a check name or one of the codes below, text)


def op_reasons(model: TFLiteModel, index: int, level: int) -> list[Reason]:
    """Why the delegate refuses operator ``index`` at ``level`` (empty: it accepts it)."""
    o = _Op(model, index)
    rule: Rule | None = RULES.get(o.op.op)
    if rule is None:
        return [("unsupported_op", f"the NN-API delegate has no {o.op.op} (not supported at any level)")]
    if o.tensor(0) is None or o.tensor(0, "out") is None:
        return [("malformed", f"{o.op.op} has no input or no output tensor (a damaged model)")]
    reasons = []
    max_version = rule.max_version
    if level >= 29 and "max_version_on_accelerator" in rule.extra:
        max_version = rule.extra["max_version_on_accelerator"]
    if max_version is not None and o.op.version > max_version:
        reasons.append(("version", f"operator version {o.op.version} > {max_version}"))
    if level < rule.min_level:
        reasons.append(("level", f"needs {LEVEL_NAMES.get(rule.min_level, rule.min_level)}"))
    accepted = rule.types_at(level)
    if accepted is not None and o.dtype(0) not in accepted:
        reasons.append(("type", f"{(o.dtype(0) or 'no').lower()} input is not supported at this level"))
    for name, *args in rule.checks:
        text = CHECKS[name](o, level, *args)
        if text:
            reasons.append((name, text))
    return reasons


#: a fix per reason code, most specific first
HINTS = {
    "dynamic": "give the model static shapes: convert with a fixed batch (npukit convert --batch 1)",
    "cast_types": "replace comparison + cast by arithmetic (relu / minimum step functions)",
    "select_same_shape": "give the SELECT operands one shape (no broadcasting)",
    "max_rank": "keep tensors at rank <= 4 (fold an extra axis into the batch)",
    "constant_input": "make shapes and parameters compile-time constants (static shapes)",
    "quantize_rules": "below API 30 keep int8 model I/O (npukit convert --api-level 29 does): the delegate converts it",
    "conv_pre29": "quantized convolutions need API 29; for API 27-28 convert with --quantize none (float32)",
    "depthwise_pre29": "quantized convolutions need API 29; for API 27-28 convert with --quantize none (float32)",
    "fc_pre29": "quantized fully connected layers need API 29; for API 27-28 convert with --quantize none (float32)",
    "partition": "fewer CPU-only operators between delegated ones",
    "level": "target a newer Android version, or avoid this operator",
    "type": "a float32 or quantized (uint8/int8) tensor type is needed here at this level",
}
_UNSUPPORTED_HINTS = {
    "SELECT_V2": "use a same-shape SELECT or arithmetic instead of a broadcasting tf.where",
    "SHAPE": "remove run-time shape computations: static shapes (npukit convert --batch 1)",
    "ADD_N": "use a chain of ADDs",
}


def _hint(op: str, codes: list[str]) -> str | None:
    if "unsupported_op" in codes:
        return _UNSUPPORTED_HINTS.get(op, f"rewrite the layer that produced {op} with delegable ops, or accept CPU fallback")
    for code in HINTS:
        if code in codes:
            return HINTS[code]
    return None


@dataclass
class CheckReport:
    """The delegation report of one model at one API level (``to_dict()`` is the JSON)."""

    api_level: int
    ops: list[dict[str, Any]]
    partitions: int
    fully_delegated: bool
    min_api_level: int | None
    warnings: list[str] = field(default_factory=list)
    gpu: dict[str, Any] | None = None
    model: str = ""

    @property
    def delegated_ops(self) -> int:
        return sum(op["delegated"] for op in self.ops)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "api_level": self.api_level,
            "ops": self.ops,
            "delegated_ops": self.delegated_ops,
            "total_ops": len(self.ops),
            "partitions": self.partitions,
            "fully_delegated": self.fully_delegated,
            "min_api_level": self.min_api_level,
            "warnings": self.warnings,
            "gpu": self.gpu,
            "rules_source": SOURCE,
        }


def _partitions(accepted: list[bool]) -> list[list[int]]:
    """Runs of consecutive accepted operators in execution order (TFLite orders ops topologically)."""
    runs, current = [], []
    for index, ok in enumerate(accepted):
        if ok:
            current.append(index)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def _evaluate(model: TFLiteModel, level: int):
    dynamic = [t.name for t in model.tensors if -1 in t.shape_signature]
    reasons = [op_reasons(model, i, level) for i in range(len(model.operators))]
    accepted = [not r for r in reasons]
    runs = _partitions(accepted)
    kept = sorted(runs, key=len, reverse=True)[:MAX_PARTITIONS]
    in_kept = {i for run in kept for i in run}
    for run in runs:
        if run not in kept:
            for i in run:
                reasons[i].append(("partition", f"its partition is not among the {MAX_PARTITIONS} largest the delegate takes"))
    if dynamic:
        for r in reasons:
            r.insert(0, ("dynamic", "the model has dynamic-sized tensors (a -1 in a shape signature), so nothing is delegated"))
    delegated = [not dynamic and i in in_kept and not reasons[i] for i in range(len(reasons))]
    return reasons, delegated, len(kept) if not dynamic else 0, bool(dynamic)


def check_model(model: str | Path | bytes | TFLiteModel, api_level: int = 30, gpu: bool = False) -> CheckReport:
    """Decide, operator by operator, what the NN-API delegate runs at ``api_level``."""
    level = check_level(api_level)
    info = model if isinstance(model, TFLiteModel) else read_tflite(model)
    if not info.operators:
        raise BadInputError("the model has no operators")
    reasons, delegated, partitions, dynamic = _evaluate(info, level)
    op_min_levels = []
    for i in range(len(info.operators)):
        op_min_levels.append(next((lv for lv in LEVELS if not op_reasons(info, i, lv)), None))
    ops = []
    for i, op in enumerate(info.operators):
        ops.append(
            {
                "index": i,
                "op": op.op,
                "version": op.version,
                "delegated": delegated[i],
                "min_api_level": op_min_levels[i],
                "reason": "; ".join(text for _, text in reasons[i]) or None,
                "hint": None if delegated[i] else _hint(op.op, [code for code, _ in reasons[i]]),
            }
        )
    fully = all(delegated)
    min_level = None
    for lv in LEVELS:
        if lv == level and fully:
            min_level = lv
            break
        _, ok, _, _ = _evaluate(info, lv)
        if all(ok):
            min_level = lv
            break
    warnings = []
    if level < 30 and any(info.tensors[i].dtype == I8 for i in info.inputs + info.outputs):
        warnings.append(
            "below API 30 NN-API has no signed int8: the delegate shifts int8 tensors to uint8 (zero point + 128) "
            "and converts the int8 model inputs and outputs on the CPU at every invoke"
        )
    if info.subgraphs > 1:
        warnings.append(f"the model has {info.subgraphs} subgraphs; only the main one is checked")
    report = CheckReport(level, ops, partitions, fully, min_level, warnings, model=str(model) if isinstance(model, (str, Path)) else "")
    if gpu:
        from npukit.gpu_check import gpu_compatibility

        report.gpu = gpu_compatibility(info.raw)
    return report
