"""ONNX constant folding inside the load budget (the red-team issue: "ONNX constant folding
outside the budget"; "an ONNX Split that divides by zero").

The ONNX frontend computes shape arithmetic on constants with numpy (Expand, Concat, Gather,
Cast, Add / Sub / Mul / Div of constants, a Constant node's tensor) and builds a few arrays
whose size the model's shapes decide (AveragePool's count of real cells, BatchNormalization's
and LayerNormalization's per-channel values). Each of them charges the size of its *result*,
computed from shapes before anything is allocated, to the load budget
(``npukit.budget.LoadBudget``): a small file that asks for more is refused with a
``BadInputError`` naming the node, the bytes asked for and the budget, and nothing big has been
allocated (checked with tracemalloc, which sees numpy's allocations). File-controlled integers
that numpy or Python arithmetic would trip on (a Split into 0 parts, a step of 0, an index out
of range, a stride of 0, an infinite Resize scale...) are refused as BadInputError too, never a
ZeroDivisionError / ValueError / IndexError / MemoryError traceback.

Most cases run in-process under NPUKIT_MAX_LOAD_BYTES = 16 MiB; the one-line, exit-2 contract of
the CLI is checked on the largest bombs in a child process under an address-space limit
(tests/hostile.py), where the unfixed code ended in "out of memory", exit 1.
"""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import numpy as np
import onnx
import pytest
from hostile import assert_refused, run_cli
from onnx import TensorProto, helper, numpy_helper

import npukit
import npukit.converters.onnx  # noqa: F401  (imported before tracemalloc measures a load)
from npukit.errors import BadInputError, UnsupportedError

BUDGET = 16 << 20
BUDGET_TEXT = r"past its budget of 16,777,216 bytes"
#: what a refused load may have allocated (numpy and Python objects, as tracemalloc sees them);
#: every bomb below asks for at least 4 times this
PEAK_BYTES = 12 << 20


def const(name: str, value) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value), name)


def save(tmp_path: Path, name: str, nodes, inits=(), shape=(1, 4), opset: int = 18) -> Path:
    graph = helper.make_graph(list(nodes), "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], list(inits))
    path = tmp_path / f"{name}.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), str(path))
    return path


def uses(folded: str):
    """The node that reads the folded constant ``folded`` (x + folded -> y)."""
    return [helper.make_node("Add", ["x", folded], ["y"], name="use")]


# -- folding past the budget: refused from the result's size, before allocating it ---------------

BOMBS = {
    # Expand broadcasts both ways: the target shape (1, 4096) is small, the result (4096, 4096)
    "expand_both_ways": (
        lambda: ([helper.make_node("Expand", ["c", "s"], ["e"], name="e"), *uses("e")],
                 [const("c", np.zeros((4096, 1), np.float32)), const("s", np.array([1, 4096], np.int64))]),
        r"Expand node 'e'.*\(4096, 4096\).*67,108,864 bytes"),
    # a 1 MiB constant concatenated with itself 128 times
    "concat_of_one_constant": (
        lambda: ([helper.make_node("Concat", ["c"] * 128, ["e"], name="e", axis=0), *uses("e")],
                 [const("c", np.zeros((512, 512), np.float32))]),
        r"Concat node 'e'.*\(65536, 512\).*134,217,728 bytes"),
    # 16384 indices (128 KiB) gather 16 KiB rows
    "gather_of_constants": (
        lambda: ([helper.make_node("Gather", ["c", "i"], ["e"], name="e", axis=0), *uses("e")],
                 [const("c", np.zeros((2, 4096), np.float32)), const("i", np.zeros(16384, np.int64))]),
        r"Gather node 'e'.*\(16384, 4096\).*268,435,456 bytes"),
    # Mul of a column and a row of constants broadcasts to a square
    "broadcast_of_constants": (
        lambda: ([helper.make_node("Mul", ["c", "d"], ["e"], name="e"), *uses("e")],
                 [const("c", np.zeros((4096, 1), np.float32)), const("d", np.zeros((1, 4096), np.float32))]),
        r"Mul node 'e'.*\(4096, 4096\).*67,108,864 bytes"),
    # uint8 to float64: 8 times the bytes
    "cast_widens": (
        lambda: ([helper.make_node("Cast", ["c"], ["e"], name="e", to=TensorProto.DOUBLE), *uses("e")],
                 [const("c", np.zeros((2048, 1024), np.uint8))]),
        r"Cast node 'e'.*\(2048, 1024\).*16,777,216 bytes"),
    # a Constant node whose tensor declares 2^27 floats and holds none
    "constant_declares_more_than_it_holds": (
        lambda: ([helper.make_node("Constant", [], ["e"], name="e",
                                   value=TensorProto(name="v", data_type=TensorProto.FLOAT, dims=[1 << 27])), *uses("e")],
                 []),
        r"536,870,912 bytes"),
    # 2^20 floats in an attribute (4 MiB in the file) become 2^20 Python floats
    "constant_value_floats": (
        lambda: ([helper.make_node("Constant", [], ["e"], name="e", value_floats=np.zeros(1 << 20).tolist()), *uses("e")],
                 []),
        r"attribute 'value_floats'.*1,048,576 values"),
}


@pytest.mark.parametrize("case", sorted(BOMBS))
def test_folding_is_charged_to_the_load_budget(tmp_path, monkeypatch, case):
    make, pattern = BOMBS[case]
    path = save(tmp_path, case, *make())
    monkeypatch.setenv("NPUKIT_MAX_LOAD_BYTES", str(BUDGET))
    tracemalloc.start()
    try:
        with pytest.raises(BadInputError, match=pattern + ".*" + BUDGET_TEXT) as caught:
            npukit.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "\n" not in str(caught.value)
    assert peak < PEAK_BYTES, f"{case}: {peak:,} bytes allocated before the refusal"


SHAPE_DRIVEN = {
    # count_include_pad 0 with pads that are not 'same': the count of real cells per window is an
    # array of the padded map's size (4096 x 4096 declared by the input, nothing in the file)
    "average_pool_counts": (
        lambda: [helper.make_node("AveragePool", ["x"], ["y"], name="p", kernel_shape=[3, 3], pads=[0, 0, 1, 1])],
        (), (1, 1, 4096, 4096), r"AveragePool node 'p'.*bytes"),
    "batch_norm_channels": (
        lambda: [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], name="bn")],
        [const(k, np.ones(1, np.float32)) for k in "sbmv"], (1, 1 << 24, 1, 1), r"BatchNormalization node 'bn'.*bytes"),
    "layer_norm_channels": (
        lambda: [helper.make_node("LayerNormalization", ["x", "s"], ["y"], name="ln")],
        [const("s", np.ones(1, np.float32))], (1, 1 << 24), r"LayerNormalization node 'ln'.*bytes"),
}


@pytest.mark.parametrize("case", sorted(SHAPE_DRIVEN))
def test_arrays_sized_by_declared_shapes_are_charged(tmp_path, monkeypatch, case):
    make, inits, shape, pattern = SHAPE_DRIVEN[case]
    path = save(tmp_path, case, make(), inits, shape)
    monkeypatch.setenv("NPUKIT_MAX_LOAD_BYTES", str(BUDGET))
    tracemalloc.start()
    try:
        with pytest.raises(BadInputError, match=pattern + ".*" + BUDGET_TEXT):
            npukit.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < PEAK_BYTES, f"{case}: {peak:,} bytes allocated before the refusal"


def test_small_folds_still_work(tmp_path):
    """What exporters write (an Expand of a scalar, Concat / Gather / Cast of shape values, a
    Constant) folds as before."""
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "one"], ["width"], axis=0),
        helper.make_node("Cast", ["width"], ["width64"], to=TensorProto.INT64),
        helper.make_node("Concat", ["batch", "width64"], ["target"], axis=0),
        helper.make_node("Expand", ["half", "target"], ["halves"]),
        helper.make_node("Constant", [], ["two"], value_floats=[2.0]),
        helper.make_node("Mul", ["halves", "two"], ["ones"]),
        helper.make_node("Add", ["x", "ones"], ["y"]),
    ]
    inits = [const("one", np.array([1], np.int64)), const("batch", np.array([1], np.int64)),
             const("half", np.array(0.5, np.float32))]
    graph = npukit.load(save(tmp_path, "small", nodes, inits))
    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    from npukit.reference import evaluate

    np.testing.assert_allclose(evaluate(graph, x)[graph.output], x + 1.0)


# -- file-controlled integers: one-line refusals, not tracebacks ------------------------------------

MALFORMED = {
    "split_into_zero_parts": (
        [helper.make_node("Split", ["x"], ["y"], name="s", axis=1, num_outputs=0)], [], (1, 4), r"Split node 's'.*num_outputs 0"),
    "split_zero_sized_part": (
        [helper.make_node("Split", ["x", "sizes"], ["y", "z"], name="s", axis=1)], [const("sizes", np.array([4, 0], np.int64))],
        (1, 4), r"Split node 's'.*split sizes \[4, 0\]"),
    "concat_without_axis": (
        [helper.make_node("Concat", ["c", "c"], ["e"], name="e"), *uses("e")], [const("c", np.zeros(2, np.float32))],
        (1, 4), r"Concat node 'e'.*axis"),
    "gather_index_out_of_range": (
        [helper.make_node("Gather", ["c", "i"], ["e"], name="e", axis=0), *uses("e")],
        [const("c", np.zeros((2, 4), np.float32)), const("i", np.array([7], np.int64))], (1, 4), r"Gather node 'e'.*out of range"),
    "gather_float_indices": (
        [helper.make_node("Gather", ["c", "i"], ["e"], name="e", axis=0), *uses("e")],
        [const("c", np.zeros((2, 4), np.float32)), const("i", np.array([0.5], np.float32))], (1, 4), r"Gather node 'e'.*integer"),
    "gather_axis_out_of_range": (
        [helper.make_node("Gather", ["c", "i"], ["e"], name="e", axis=5), *uses("e")],
        [const("c", np.zeros((2, 4), np.float32)), const("i", np.array([0], np.int64))], (1, 4), r"Gather node 'e'.*axis 5"),
    "cast_to_unknown_type": (
        [helper.make_node("Cast", ["c"], ["e"], name="e", to=999), *uses("e")], [const("c", np.zeros(4, np.uint8))],
        (1, 4), r"Cast node 'e'.*999"),
    "slice_step_zero": (
        [helper.make_node("Slice", ["c", "b", "f", "a", "st"], ["e"], name="e"), *uses("e")],
        [const("c", np.zeros(4, np.float32)), const("b", [0]), const("f", [4]), const("a", [0]), const("st", [0])],
        (1, 4), r"Slice node 'e'.*step"),
    "slice_axis_out_of_range": (
        [helper.make_node("Slice", ["c", "b", "f", "a"], ["e"], name="e"), *uses("e")],
        [const("c", np.zeros(4, np.float32)), const("b", [0]), const("f", [4]), const("a", [5])], (1, 4), r"Slice node 'e'.*axis"),
    "squeeze_axis_not_one": (
        [helper.make_node("Squeeze", ["c", "a"], ["e"], name="e"), *uses("e")],
        [const("c", np.zeros(4, np.float32)), const("a", [0])], (1, 4), r"Squeeze node 'e'"),
    "unsqueeze_past_numpy_rank": (
        [helper.make_node("Unsqueeze", ["c", "a"], ["e"], name="e"), *uses("e")],
        [const("c", np.zeros(4, np.float32)), const("a", list(range(100)))], (1, 4), r"Unsqueeze node 'e'"),
    "transpose_bad_perm": (
        [helper.make_node("Transpose", ["c"], ["e"], name="e", perm=[3]), *uses("e")], [const("c", np.zeros(4, np.float32))],
        (1, 4), r"Transpose node 'e'.*perm"),
    "constants_that_do_not_broadcast": (
        [helper.make_node("Add", ["c", "d"], ["e"], name="e"), *uses("e")],
        [const("c", np.zeros(3, np.float32)), const("d", np.zeros(5, np.float32))], (1, 4), r"Add node 'e'.*broadcast"),
    "integer_division_by_zero": (
        [helper.make_node("Div", ["c", "d"], ["e"], name="e"), *uses("e")],
        [const("c", np.ones(4, np.int64)), const("d", np.zeros(4, np.int64))], (1, 4), r"Div node 'e'.*division by zero"),
    "expand_that_does_not_broadcast": (
        [helper.make_node("Expand", ["c", "s"], ["e"], name="e"), *uses("e")],
        [const("c", np.zeros(3, np.float32)), const("s", np.array([1, 4], np.int64))], (1, 4), r"Expand node 'e'.*expand"),
    "expand_negative_dimension": (
        [helper.make_node("Expand", ["c", "s"], ["e"], name="e"), *uses("e")],
        [const("c", np.zeros(1, np.float32)), const("s", np.array([-1, 4], np.int64))], (1, 4), r"Expand node 'e'"),
    "pool_stride_zero": (
        [helper.make_node("MaxPool", ["x"], ["y"], name="p", kernel_shape=[2, 2], strides=[0, 0], auto_pad="SAME_UPPER")],
        [], (1, 1, 4, 4), r"MaxPool node 'p'.*strides"),
    "conv_dilation_zero": (
        [helper.make_node("Conv", ["x", "w"], ["y"], name="c", dilations=[0, 0], pads=[1, 1, 1, 1])],
        [const("w", np.zeros((1, 1, 3, 3), np.float32))], (1, 1, 4, 4), r"Conv node 'c'.*dilations"),
    "pool_kernel_zero": (
        [helper.make_node("MaxPool", ["x"], ["y"], name="p", kernel_shape=[0, 0])], [], (1, 1, 4, 4), r"MaxPool node 'p'.*kernel"),
    "resize_infinite_scale": (
        [helper.make_node("Resize", ["x", "", "sc"], ["y"], name="r", mode="nearest")],
        [const("sc", np.array([1, 1, np.inf, 2], np.float32))], (1, 1, 4, 4), r"Resize node 'r'.*scales"),
    "resize_zero_size": (
        [helper.make_node("Resize", ["x", "", "", "sz"], ["y"], name="r", mode="nearest",
                          coordinate_transformation_mode="asymmetric", nearest_mode="floor")],
        [const("sz", np.array([1, 1, 0, 8], np.int64))], (1, 1, 4, 4), r"Resize node 'r'.*sizes"),
    # what no converter checks explicitly still ends as a refusal naming the node
    "gemm_weight_of_rank_one": (
        [helper.make_node("Gemm", ["x", "w"], ["y"], name="g")], [const("w", np.zeros(4, np.float32))],
        (1, 4), r"Gemm node 'g'.*malformed \(IndexError"),
    "attribute_not_utf8": (
        [helper.make_node("Resize", ["x", "", "", "sz"], ["y"], name="r", mode=b"\xff\xfe")],
        [const("sz", np.array([1, 1, 8, 8], np.int64))], (1, 1, 4, 4), r"Resize node 'r'.*malformed \(UnicodeDecodeError"),
    "clip_bound_not_a_scalar": (
        [helper.make_node("Clip", ["x", "lo"], ["y"], name="c")], [const("lo", np.zeros(3, np.float32))],
        (1, 4), r"Clip node 'c'"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_arithmetic_is_a_one_line_refusal(tmp_path, case):
    nodes, inits, shape, pattern = MALFORMED[case]
    with pytest.raises(BadInputError, match=pattern) as caught:
        npukit.load(save(tmp_path, case, nodes, inits, shape))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("op_type, inputs, inits, pattern", [
    ("Tile", ["c", "r"], [const("c", np.zeros(4, np.float32)), const("r", np.array([1 << 40], np.int64))], "Tile is not supported"),
    ("ConstantOfShape", ["s"], [const("s", np.array([1 << 20, 1 << 20], np.int64))], "ConstantOfShape is not supported"),
    ("Range", ["a", "b", "d"], [const("a", np.float32(0)), const("b", np.float32(1e12)), const("d", np.float32(1))],
     "Range is not supported"),
    ("Pad", ["c", "p"], [const("c", np.zeros((1, 4), np.float32)), const("p", np.array([0, 0, 0, 1 << 40], np.int64))],
     "Pad node 'e'.*a constant input where a tensor is expected"),
])
def test_generators_that_do_not_fold_are_refused_before_numpy_sees_them(tmp_path, op_type, inputs, inits, pattern):
    """Tile, ConstantOfShape and Range are not converted (the op check refuses them, naming
    them, before any node is converted), and Pad takes tensors only (a padded tensor's shape is
    a number in the IR, not an array), so their sizes never reach numpy."""
    nodes = [helper.make_node(op_type, inputs, ["e"], name="e"), *uses("e")]
    with pytest.raises(UnsupportedError, match=pattern):
        npukit.load(save(tmp_path, op_type, nodes, inits))


# -- the CLI: one `error:` line, exit 2, quickly, under an address-space limit ---------------------

CLI_BOMBS = {
    # (4096, 1) expanded to (4096, 1, 4096): the target has 2^24 elements, the result 2^36 (256 GiB);
    # the unfixed code ended in "out of memory", exit 1
    "expand": (
        lambda: ([helper.make_node("Expand", ["c", "s"], ["e"], name="e"), *uses("e")],
                 [const("c", np.zeros((4096, 1), np.float32)), const("s", np.array([4096, 1, 4096], np.int64))], (1, 4)),
        r"Expand node 'e'.*\(4096, 4096, 4096\).*274,877,906,944 bytes.*" + BUDGET_TEXT),
    # a Split into 2^40 parts: the unfixed code listed the part sizes until memory ran out
    "split": (
        lambda: ([helper.make_node("Split", ["x"], ["y"], name="s", axis=1, num_outputs=1 << 40)], [], (1, 4)),
        r"Split node 's'.*num_outputs 1099511627776"),
    # the count of real cells per window of a 40000 x 40000 map (6 GB per array)
    "average_pool": (
        lambda: ([helper.make_node("AveragePool", ["x"], ["y"], name="p", kernel_shape=[3, 3], pads=[0, 0, 1, 1])],
                 [], (1, 1, 40000, 40000)),
        r"AveragePool node 'p'.*bytes.*" + BUDGET_TEXT),
}


@pytest.mark.parametrize("case", sorted(CLI_BOMBS))
def test_cli_refuses_folding_bombs_in_one_line(tmp_path, case):
    make, pattern = CLI_BOMBS[case]
    nodes, inits, shape = make()
    path = save(tmp_path, case, nodes, inits, shape)
    assert path.stat().st_size < 64 << 10
    start = time.monotonic()
    result = run_cli("inspect", path, env={"NPUKIT_MAX_LOAD_BYTES": str(BUDGET)}, limit=3 << 30, timeout=120)
    assert_refused(result, pattern)
    assert time.monotonic() - start < 60
