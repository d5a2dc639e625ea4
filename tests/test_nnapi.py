"""NN-API checker: one TF-built model per rule, the shipped conversions, convert --api-level."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import npukit
import tflite_models as models
from npukit.cli import app
from npukit.errors import BadInputError
from npukit.nnapi.check import check_model
from npukit.nnapi.registry import CHECKS
from npukit.nnapi.rules import LEVELS, RULES, rules_table

runner = CliRunner()
ALL_LEVELS = LEVELS


def refused(report, op):
    return [o for o in report.ops if o["op"] == op and not o["delegated"]]


def test_dynamic_batch_is_not_delegated_and_hints_a_static_batch():
    blob = models.dynamic_batch()
    report = check_model(blob, 30)
    assert not report.fully_delegated and report.delegated_ops == 0 and report.partitions == 0
    assert {"SHAPE", "STRIDED_SLICE", "PACK"} <= {o["op"] for o in report.ops}
    assert report.dynamic["op"] == "RESHAPE" and "by op" in report.dynamic["reason"]
    fc = next(o for o in report.ops if o["op"] == "FULLY_CONNECTED")
    assert f"dynamic-sized tensor at op {report.dynamic['op_index']} RESHAPE" in fc["reason"] and "--batch 1" in fc["hint"]
    assert report.min_api_level is None


@pytest.mark.parametrize("level", ALL_LEVELS)
def test_bool_cast_is_refused_at_every_level(level):
    report = check_model(models.bool_cast(), level)
    (cast,) = refused(report, "CAST")
    assert "bool" in cast["reason"] and cast["min_api_level"] is None


def test_select_v2_is_refused():
    report = check_model(models.select_v2(), 30)
    (select,) = refused(report, "SELECT_V2")
    assert "not supported at any level" in select["reason"] and "SELECT" in select["hint"]
    assert not report.fully_delegated


def test_greater_equal_lowest_level_is_29():
    blob = models.greater_equal()
    assert not check_model(blob, 28).fully_delegated
    report = check_model(blob, 29)
    assert report.fully_delegated and report.min_api_level == 29
    assert report.ops[0]["min_api_level"] == 29


def test_the_same_int8_model_at_29_and_30():
    blob = models.int8_conv()
    at30, at29, at28 = (check_model(blob, level) for level in (30, 29, 28))
    assert at30.fully_delegated and not at30.warnings
    assert at29.fully_delegated and any("shifts int8 tensors to uint8" in w for w in at29.warnings)
    assert not at28.fully_delegated
    assert at30.min_api_level == at29.min_api_level == 29


def test_per_channel_convolution_at_28_and_29():
    per_channel, per_tensor = models.int8_conv(per_channel=True), models.int8_conv(per_channel=False)
    from npukit.tflite_file import read_tflite

    weights = [t for t in read_tflite(per_channel).tensors if t.constant and t.dtype == "INT8"]
    assert weights and weights[0].per_channel
    (conv,) = refused(check_model(per_channel, 28), "CONV_2D")
    assert "per-channel" in conv["reason"]
    (conv,) = refused(check_model(per_tensor, 28), "CONV_2D")
    assert "per-channel" not in conv["reason"]  # refused at 28 for its int8 input only
    assert check_model(per_channel, 29).fully_delegated and check_model(per_tensor, 29).fully_delegated


def test_rank5_tensor_is_refused():
    report = check_model(models.rank5(), 30)
    assert all("rank 5" in o["reason"] for o in report.ops)
    assert "rank <= 4" in report.ops[0]["hint"]


def test_reshape_with_a_non_constant_shape_is_refused():
    report = check_model(models.reshape_from_input(), 30)
    (reshape,) = refused(report, "RESHAPE")
    assert "new shape (input 1) must be a constant" in reshape["reason"]


def test_only_the_three_largest_partitions_are_delegated():
    from npukit.quiet import import_tensorflow, native_output_captured

    tf = import_tensorflow()

    @tf.function
    def f(x):  # runs of 1, 2, 3, 4 RELUs separated by FLOOR_MOD (not in NN-API)
        for run in (1, 2, 3, 4):
            for _ in range(run):
                x = tf.nn.relu(x) + 0.0 if run else x
            if run < 4:
                x = tf.math.floormod(x, 3.0)
        return x

    converter = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function(tf.TensorSpec([1, 4]))], f)
    with native_output_captured():
        blob = converter.convert()
    report = check_model(blob, 30)
    assert report.partitions == 3
    cut = [o for o in report.ops if "largest" in (o["reason"] or "")]
    assert cut and all(o["op"] != "FLOOR_MOD" for o in cut)


def test_rule_table_is_complete():
    rows = rules_table()
    assert len(rows) == len(RULES) >= 90
    for rule in RULES.values():
        assert rule.lines.startswith("L")
        for name, *_ in rule.checks:
            assert name in CHECKS
    for op in ("SHAPE", "SELECT_V2", "SQUARE", "GELU", "WHERE"):
        assert op not in RULES


def test_api_levels_are_validated():
    with pytest.raises(BadInputError, match="API level must be an integer >= 27"):
        check_model(models.greater_equal(), 26)
    assert check_model(models.greater_equal(), 34).api_level == 31  # checked as feature level 5


@pytest.fixture(scope="module")
def shipped_conversions(tmp_path_factory, shipped_model, keras_models):
    out = tmp_path_factory.mktemp("nnapi")
    made = {}
    for name, kwargs in {
        "int8": {},
        "int8_api29": {"api_level": 29},
        "uint8_io": {"io": "uint8"},
        "float32_api28": {"quantize": "none", "api_level": 28},
    }.items():
        made[name] = npukit.convert(shipped_model, out / f"{name}.tflite", calibration_samples=64, **kwargs)
    return made


def test_every_shipped_conversion_is_fully_delegated_at_api_30(shipped_conversions):
    for name, result in shipped_conversions.items():
        report = check_model(result.path, 30)
        assert report.fully_delegated, (name, report.to_dict())
        assert result.delegation.fully_delegated


def test_rewrites_for_older_levels(tmp_path, keras_models):
    """GlobalAveragePool without MEAN (API 27), a clipped ReLU without MINIMUM (API 28)."""
    from npukit.converters.keras import from_keras_model
    from npukit.reference import evaluate
    from npukit.runtime import run_tflite

    for name, level in (("functional", 27), ("mlp", 28)):
        graph = from_keras_model(keras_models[name])
        x = np.random.default_rng(0).uniform(0, 1, (16, *graph.input_shape)).astype(np.float32)
        result = npukit.convert(graph, tmp_path / f"{name}.tflite", quantize="none", api_level=level)
        assert result.delegation.fully_delegated, result.to_dict()["nnapi"]
        assert "MEAN" not in result.ops and "MINIMUM" not in result.ops
        got, _ = run_tflite(result.path, x)
        np.testing.assert_allclose(got, evaluate(graph, x)[graph.output], atol=1e-5)


def test_convert_refuses_a_model_that_would_fall_back_to_the_cpu(tmp_path, shipped_model):
    target = tmp_path / "u8.tflite"
    with pytest.raises(BadInputError, match="not fully delegable at API 29.*QUANTIZE"):
        npukit.convert(shipped_model, target, io="uint8", api_level=29, calibration_samples=32)
    assert not target.exists()
    result = npukit.convert(shipped_model, target, io="uint8", api_level=29, calibration_samples=32, allow_cpu_fallback=True)
    assert target.exists() and not result.delegation.fully_delegated
    with pytest.raises(BadInputError, match="int8 models need API 29"):
        npukit.convert(shipped_model, tmp_path / "x.tflite", api_level=28)


def test_check_command(shipped_conversions, tmp_path):
    path = shipped_conversions["int8"].path
    result = runner.invoke(app, ["check", str(path), "--json", "--no-gpu"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    for key in ("api_level", "ops", "delegated_ops", "total_ops", "partitions", "fully_delegated", "min_api_level"):
        assert key in report
    assert set(report["ops"][0]) >= {"index", "op", "delegated", "min_api_level", "reason"}
    assert report["fully_delegated"] and report["min_api_level"] == 29
    text = runner.invoke(app, ["check", str(path), "--api-level", "28"]).stdout
    assert "NOT fully delegated" in text and "GPU delegate" in text
    rules = runner.invoke(app, ["check", "--list-rules"]).stdout
    assert "CONV_2D: from API 27" in rules and "per-channel" in rules
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\x00" * 64)
    result = runner.invoke(app, ["check", str(bad)])
    assert result.exit_code == 2 and result.stderr.strip().count("\n") == 0 and "not a TFLite model" in result.stderr


def test_docs_rule_table_is_current():
    from pathlib import Path

    from npukit.reports import render_rules

    docs = Path(__file__).resolve().parent.parent / "docs" / "nnapi.md"
    if not docs.exists():
        pytest.skip("docs/ is not part of this installation")
    assert render_rules(rules_table()) in docs.read_text()


def _indices(text: str) -> list[int]:
    """"0-2, 5" -> [0, 1, 2, 5]."""
    out = []
    for part in text.split(", "):
        first, _, last = part.partition("-")
        out += list(range(int(first), int(last or first) + 1))
    return out


def test_check_strict_is_a_ci_gate_and_fixes_are_collapsed(tmp_path):
    """--strict: exit 3 for a model not fully delegated (report still printed), 0 for one that is."""
    from nnapi_cases import flatten_chain, relu_runs

    dynamic = tmp_path / "dynamic.tflite"
    dynamic.write_bytes(flatten_chain("PACK"))
    whole = tmp_path / "whole.tflite"
    whole.write_bytes(relu_runs([3]))
    for path, code in ((dynamic, 3), (whole, 0)):
        result = runner.invoke(app, ["check", str(path), "--no-gpu", "--strict"])
        assert result.exit_code == code and "ops delegated" in result.stdout, result.stdout
        assert runner.invoke(app, ["check", str(path), "--no-gpu"]).exit_code == 0
    result = runner.invoke(app, ["check", str(dynamic), "--no-gpu", "--strict", "--json"])
    assert result.exit_code == 3 and json.loads(result.stdout)["fully_delegated"] is False
    text = runner.invoke(app, ["check", str(dynamic), "--no-gpu"]).stdout
    report = check_model(dynamic, 30)
    assert f"dynamic-sized tensor at op 3 RESHAPE: {report.dynamic['reason']}" in text
    for hint in {op["hint"] for op in report.ops if op["hint"]}:
        lines = [line for line in text.splitlines() if line.endswith(": " + hint)]
        assert len(lines) == 1, lines  # one line per distinct fix
        expected = [op["index"] for op in report.ops if op["hint"] == hint]
        head = lines[0][: -len(": " + hint)]
        listed = _indices(head.removeprefix("fix for ops ")) if head.startswith("fix for ops ") else \
            [int(head.split()[3])]
        assert listed == expected
    assert "fix for op 0 SHAPE:" in text and "fix for ops 1-4:" in text  # SHAPE's fix is its own
