"""Which operators of a .tflite file the NN-API delegate would run, at a given Android API level.

Reads the flatbuffer only (no interpreter, no device). Per operator it applies the row of
``npukit.nnapi.rules`` for that op (its conditions are the checks registered in
``npukit.nnapi.conditions``); then the whole-model rules of the delegate:

* a model in which the interpreter finds a dynamic-sized tensor while preparing it (a shape
  only known at run time, e.g. a RESHAPE whose new shape is computed by a SHAPE chain; see
  ``npukit.nnapi.dynamic``) is not delegated at all: the interpreter refuses a delegate that
  only takes static shapes. A -1 batch in a shape signature alone does not do that;
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
from npukit.nnapi.dynamic import DynamicTensor, first_dynamic
from npukit.nnapi.levels import F16, I8, LEVEL_NAMES, LEVELS
from npukit.nnapi.registry import CHECKS, OpView
from npukit.nnapi.rules import RULES, SOURCE, Rule
from npukit.tflite_file import TFLiteModel, read_tflite

MAX_PARTITIONS = 3


def check_level(level: int) -> int:
    """Validate an API level; API levels above 31 are checked as feature level 5."""
    if not isinstance(level, int) or level < 27:
        raise BadInputError(f"API level must be an integer >= 27 (NN-API starts with Android 8.1). Received: {level!r}")
    if 31 <= level < 1000:
        return 31
    if level >= 1000 and level not in LEVELS:
        raise BadInputError(f"feature level codes are 1000006, 1000007, 1000008. Received: {level}")
    return level


#: (code, text): the code is a registered check's name or one of ``unsupported_op``, ``malformed``,
#: ``version``, ``level``, ``type`` (per operator), ``partition``, ``dynamic`` (whole model)
Reason = tuple[str, str]


def fp16_weights(model: TFLiteModel, index: int) -> bool:
    """Whether operator ``index`` is a DEQUANTIZE of a constant float16 tensor (float16 weights).
    The delegate never validates such an op: it removes it, converts the float16 constant to a
    float32 constant on the host and hands that to the consumers (``IsDequantizeConstFloat16``,
    ``GetSupportedOpsWithFp16WeightRemapping`` and ``NN_TENSOR_FLAG_HALF_TO_FLOAT_CONVERSION`` in
    nnapi_delegate.cc, at every API level); it is delegated when its consumers are."""
    op = model.operators[index]
    if op.op != "DEQUANTIZE" or not op.inputs or op.inputs[0] < 0:
        return False
    t = model.tensors[op.inputs[0]]
    return t.dtype == F16 and t.constant


def op_reasons(model: TFLiteModel, index: int, level: int) -> list[Reason]:
    """Why the delegate refuses operator ``index`` at ``level`` (empty: it accepts it)."""
    if fp16_weights(model, index):
        consumers = [i for i, op in enumerate(model.operators) if set(op.inputs) & set(model.operators[index].outputs)]
        refused = [i for i in consumers if op_reasons(model, i, level)]
        return [("fp16_weights", f"its consumer op {refused[0]} is not delegated")] if refused else []
    o = OpView(model, index)
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
        text = CHECKS[name].fn(o, level, *args)
        if text:
            reasons.append((name, text))
    return reasons


#: a fix per reason code, most specific first
HINTS = {
    "dynamic": "give the model static shapes: a fixed batch (npukit convert --batch 1; for TensorFlow's converter, a "
               "Keras Input with batch_size=1) so no shape is computed at run time",
    "cast_types": "replace comparison + cast by arithmetic (relu / minimum step functions)",
    "select_same_shape": "give the SELECT operands one shape (no broadcasting)",
    "max_rank": "keep tensors at rank <= 4 (fold an extra axis into the batch)",
    "constant_input": "make shapes and parameters compile-time constants (static shapes)",
    "quantize_rules": "below API 30 keep int8 model I/O (npukit convert --api-level 29 does): the delegate converts it",
    "conv_pre29": "quantized convolutions need API 29; for API 27-28 convert with --quantize none (float32)",
    "depthwise_pre29": "quantized convolutions need API 29; for API 27-28 convert with --quantize none (float32)",
    "fc_pre29": "quantized fully connected layers need API 29; for API 27-28 convert with --quantize none (float32)",
    "partition": "fewer CPU-only operators between delegated ones",
    "fp16_weights": "make the layer reading these float16 weights delegable (the DEQUANTIZE follows it)",
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
    dynamic: dict[str, Any] | None = None  # the first dynamic-sized tensor (npukit.nnapi.dynamic), None: static

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
            "dynamic": self.dynamic,
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


def _evaluate(model: TFLiteModel, level: int, dynamic: DynamicTensor | None):
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
        where = f"op {dynamic.op_index} {dynamic.op}"
        for i, r in enumerate(reasons):
            text = (f"its output is dynamic-sized ({dynamic.reason})" if i == dynamic.op_index
                    else f"the interpreter finds a dynamic-sized tensor at {where}")
            r.insert(0, ("dynamic", text + ", so nothing is delegated"))
    delegated = [not dynamic and i in in_kept and not reasons[i] for i in range(len(reasons))]
    return reasons, delegated, len(kept) if not dynamic else 0


def check_model(model: str | Path | bytes | TFLiteModel, api_level: int = 30, gpu: bool = False) -> CheckReport:
    """Decide, operator by operator, what the NN-API delegate runs at ``api_level``.

    ``gpu``: add TensorFlow's GPU-delegate Analyzer verdict (run in a child process, see
    ``npukit.gpu_check``; a crash there is reported, never raised)."""
    level = check_level(api_level)
    info = model if isinstance(model, TFLiteModel) else read_tflite(model)
    if not info.operators:
        raise BadInputError("the model has no operators")
    dynamic = first_dynamic(info)
    reasons, delegated, partitions = _evaluate(info, level, dynamic)
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
                "codes": [code for code, _ in reasons[i]],
                "hint": None if delegated[i] else _hint(op.op, [code for code, _ in reasons[i]]),
            }
        )
    fully = all(delegated)
    min_level = None
    for lv in LEVELS:
        if lv == level and fully:
            min_level = lv
            break
        _, ok, _ = _evaluate(info, lv, dynamic)
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
    name = str(model) if isinstance(model, (str, Path)) else ""
    report = CheckReport(level, ops, partitions, fully, min_level, warnings, model=name,
                         dynamic=dynamic.to_dict() if dynamic else None)
    if gpu:
        from npukit.gpu_check import gpu_compatibility

        report.gpu = gpu_compatibility(info.raw)
    return report
