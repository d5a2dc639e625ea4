"""Every NN-API check refuses a crafted model; the registry and the rule table stay one unit.

The per-check tests are generated from the registry (``npukit.nnapi.registry.CHECKS``): a check
registered without a refusing model in ``nnapi_cases.CASES`` fails here. The models are written
as flatbuffers (tflite_builder), so each holds exactly the tensor or option a condition tests.
"""

from __future__ import annotations

import numpy as np
import pytest

from nnapi_cases import CASES, relu_runs
from npukit.nnapi.check import check_model
from npukit.nnapi.registry import CHECKS, check
from npukit.nnapi.rules import RULES, Rule, _validated
from npukit.tflite_file import read_tflite
from tflite_builder import T, one_op


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_check_refuses_its_crafted_model(name):
    assert name in CASES, f"check {name!r} has no crafted model that it refuses: add one to tests/nnapi_cases.py"
    case = CASES[name]()
    model = read_tflite(case.model)  # a real flatbuffer, read back as any .tflite is
    assert len(model.operators) == 1
    rule = RULES[model.operators[0].op]
    assert name in [check_name for check_name, *_ in rule.checks], f"{name} is not a condition of {rule.op}"
    report = check_model(model, case.level)
    (op,) = report.ops
    assert not op["delegated"] and not report.fully_delegated
    assert set(op["codes"]) == {name, *case.also}, op
    if case.fixed is not None:
        fixed = check_model(case.fixed, case.fixed_level or case.level)
        assert fixed.fully_delegated, fixed.ops


def test_cases_name_registered_checks_only():
    assert set(CASES) <= set(CHECKS), set(CASES) - set(CHECKS)


def test_every_check_is_used_by_a_rule_and_has_its_text():
    used = {name for rule in RULES.values() for name, *_ in rule.checks}
    assert used == set(CHECKS), set(CHECKS) ^ used
    for entry in CHECKS.values():
        assert entry.text.strip() and entry.fn.__module__ == "npukit.nnapi.conditions"


def test_an_unknown_check_name_fails_with_a_clear_error():
    with pytest.raises(ValueError, match=r"NN-API rule ADD: unknown check 'no_such_check' \(registered: .*max_rank"):
        _validated([Rule("ADD", 2, checks=(("no_such_check",),))])
    with pytest.raises(ValueError, match=r"check 'max_rank' does not take the arguments \('in',\)"):
        _validated([Rule("ADD", 2, checks=(("max_rank", "in"),))])
    with pytest.raises(ValueError, match="ADD has two rows"):
        _validated([Rule("ADD", 2), Rule("ADD", 2)])


def test_a_check_name_cannot_be_registered_twice():
    with pytest.raises(ValueError, match="'max_rank' is registered twice"):
        check("max_rank", "again")(lambda o, level: None)


def test_the_builder_writes_models_the_interpreterrelu_runs():
    """The crafted models are real .tflite files: a built ADD + RELU runs on LiteRT."""
    from ai_edge_litert.interpreter import Interpreter

    blob = one_op("ADD", [T((1, 4)), T((1, 4), data=[1, -2, 3, -4])], [T((1, 4))], "AddOptions",
                  fusedActivationFunction=1)
    interpreter = Interpreter(model_content=blob)
    interpreter.allocate_tensors()
    x = np.array([[0.5, 1.0, -5.0, 2.0]], np.float32)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_array_equal(got, np.maximum(x + [1, -2, 3, -4], 0))


# -- the codes that are not registered checks --------------------------------------------------


def _add(dtype="FLOAT32", version=1, level_op="ADD"):
    return one_op(level_op, [T((1, 4), dtype), T((1, 4), dtype)], [T((1, 4), dtype)], version=version)


@pytest.mark.parametrize(
    "code, refused, fixed",
    [
        ("unsupported_op", (one_op("SQUARE", [T((1, 4))], [T((1, 4))]), 30), None),
        ("version", (_add(version=3), 30), (_add(version=2), 30)),
        ("level", (_add(level_op="DIV"), 27), (_add(level_op="DIV"), 28)),
        ("type", (_add("INT16"), 30), (_add("FLOAT32"), 30)),
        ("malformed", (one_op("ADD", [T((1, 4)), T((1, 4))], []), 30), None),
    ],
)
def test_per_operator_codes(code, refused, fixed):
    (op,) = check_model(*refused).ops
    assert op["codes"] == [code] and not op["delegated"]
    if fixed:
        assert check_model(*fixed).fully_delegated


# -- whole-model rules -------------------------------------------------------------------------


def test_only_the_three_largest_partitions_are_delegated_crafted():
    report = check_model(relu_runs([1, 2, 3, 4]), 30)
    assert report.partitions == 3 and report.delegated_ops == 2 + 3 + 4
    cut = [op for op in report.ops if "partition" in op["codes"]]
    assert [op["index"] for op in cut] == [0] and cut[0]["codes"] == ["partition"]
    three = check_model(relu_runs([2, 3, 4]), 30)
    assert three.partitions == 3 and not any("partition" in op["codes"] for op in three.ops)
    assert three.delegated_ops == 9 and [op["op"] for op in three.ops if not op["delegated"]] == ["SQUARE", "SQUARE"]


# -- the other refusals a check can give, each on its own crafted operator ---------------------


def _secondary_cases():
    from nnapi_cases import _conv, _dense, f32, q

    w8 = q("INT8", 3, 1, 1, 2, data=np.ones((3, 1, 1, 2)))
    size = {"4x4": T((2,), "INT32", data=[4, 4]), "4x2": T((2,), "INT32", data=[4, 2])}
    dilated = one_op("DEPTHWISE_CONV_2D", [f32(1, 3, 3, 2), f32(1, 2, 2, 2, data=np.ones((1, 2, 2, 2))),
                                           f32(2, data=np.zeros(2))], [f32(1, 1, 1, 2)], "DepthwiseConv2DOptions",
                     padding=1, dilationWFactor=2, dilationHFactor=2, depthMultiplier=1)
    return {  # name: (check, model, level, part of the reason)
        "SUB of int16": ("sub_types", one_op("SUB", [T((1, 4), "INT16")] * 2, [T((1, 4), "INT16")]), 30,
                         "SUB does not take int16"),
        "CAST to int8 below 30": ("cast_types", one_op("CAST", [f32(1, 4)], [q("INT8", 1, 4)]), 29,
                                  "output int8 is not supported at this level"),
        "QUANTIZE from int16": ("quantize_rules", one_op("QUANTIZE", [q("INT16", 1, 4)], [q("UINT8", 1, 4)]), 30,
                                "input int16"),
        "QUANTIZE with scale 0": ("quantize_rules", one_op("QUANTIZE", [q("INT8", 1, 4, scale=0.0)], [q("UINT8", 1, 4)]),
                                  30, "scale > 0"),
        "DEQUANTIZE int8 zero point 3 at 29": ("dequantize", one_op("DEQUANTIZE", [q("INT8", 1, 4, zero_point=3)],
                                                                    [f32(1, 4)]), 29, "zero point 0"),
        "hybrid CONV_2D at 28": ("conv_pre29", _conv(f32(1, 4, 4, 2), w8, f32(3, data=np.zeros(3)), f32(1, 4, 4, 3)),
                                 28, "hybrid"),
        "dilated DEPTHWISE at 28": ("depthwise_pre29", dilated, 28, "dilation needs API 29"),
        "hybrid FC at 28": ("fc_pre29", _dense(f32(1, 3), q("INT8", 2, 3, data=np.ones((2, 3))), f32(2, data=np.zeros(2)),
                                               f32(1, 2)), 28, "hybrid"),
        "uint8 RESIZE at 28": ("resize_rules", one_op("RESIZE_BILINEAR", [q("UINT8", 1, 2, 2, 1), size["4x4"]],
                                                      [q("UINT8", 1, 4, 4, 1)]), 28, "quantized resize"),
        "non-square RESIZE at 28": ("resize_rules", one_op("RESIZE_BILINEAR", [f32(1, 2, 2, 1), size["4x2"]],
                                                           [f32(1, 4, 2, 1)]), 28, "non-square"),
        "UNPACK of rank 1": ("unpack_rules", one_op("UNPACK", [f32(3)], [f32()] * 3, "UnpackOptions", num=3), 30,
                             "rank 2..4 (got 1)"),
        "BATCH_MATMUL of rank 5": ("batch_matmul_rules", one_op("BATCH_MATMUL", [f32(1, 1, 1, 2, 3), f32(1, 1, 1, 3, 4)],
                                                                [f32(1, 1, 1, 2, 4)]), 1000006, "rank 2..4"),
        "broadcast BATCH_MATMUL": ("batch_matmul_rules", one_op("BATCH_MATMUL", [f32(2, 2, 3), f32(3, 4)],
                                                                [f32(2, 2, 4)]), 1000006, "broadcasting"),
    }


SECONDARY = _secondary_cases()


@pytest.mark.parametrize("name", sorted(SECONDARY))
def test_secondary_refusals(name):
    code, model, level, text = SECONDARY[name]
    (op,) = check_model(model, level).ops
    assert op["codes"] == [code] and text in op["reason"], op


def test_float16_dequantize_is_accepted_from_30_only():
    model = one_op("DEQUANTIZE", [T((1, 4), "FLOAT16")], [T((1, 4))])
    assert check_model(model, 30).fully_delegated
    assert check_model(model, 29).ops[0]["codes"] == ["dequantize"]
