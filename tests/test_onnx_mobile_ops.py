"""The ONNX ops of mobile architectures (issue 15), each against onnxruntime: grouped
convolution, squeeze-excite (two-tensor Mul with broadcasting), SiLU, HardSwish, Reduce* with
axes as inputs (opset 18), Pad, Slice / Split, Squeeze / Unsqueeze, Resize, the channel
shuffle, LayerNormalization, Gelu (opset 20) and GELU written with Erf (opset 17). Float IR
within 1e-5 of onnxruntime; the int8 .tflite within the int8 tier of the float IR (cosine >= 0.99
on the output), delegated to NN-API at API 30 where NN-API has the ops (ConvNeXt's GELU and
int8 RSQRT are named as the CPU ops)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import npukit
from npukit.converters.onnx import load_onnx
from npukit.errors import UnsupportedError
from npukit.nnapi.check import check_model
from npukit.parity.metrics import cosine
from npukit.reference import evaluate
from npukit.runtime import run_tflite

ort = pytest.importorskip("onnxruntime", reason="ONNX parity tests need onnxruntime (pip install '.[test]')")
FLOAT_TOLERANCE = 1e-5
INT8_COSINE = 0.99
RNG = np.random.default_rng(0)


def w(*shape, scale=0.3):
    return (RNG.normal(size=shape) * scale).astype(np.float32)


def const(name, value):
    return numpy_helper.from_array(np.asarray(value), name)


def model(nodes, input_shape, inits, opset):
    graph = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(input_shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 9
    return m


def float_check(m, x, tmp_path, name):
    """The IR against onnxruntime (one sample at a time: batch 1 models); returns (path, graph)."""
    path = tmp_path / f"{name}.onnx"
    onnx.save(m, str(path))
    graph = load_onnx(path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = np.concatenate([session.run(None, {"x": x[i : i + 1]})[0] for i in range(len(x))])
    got = evaluate(graph, x)[graph.output]
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=FLOAT_TOLERANCE * max(1.0, float(np.abs(expected).max())))
    return path, graph, expected


def se_block(c=8, opset=18):
    """Conv (grouped) -> SiLU -> squeeze-excite (ReduceMean with axes input, HardSigmoid, Mul) -> HardSwish."""
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], group=4, pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["c1"], ["s1"]),
        helper.make_node("Mul", ["c1", "s1"], ["silu"]),
        helper.make_node("ReduceMean", ["silu", "axes"], ["pool"], keepdims=1),
        helper.make_node("Conv", ["pool", "w2", "b2"], ["fc"]),
        helper.make_node("HardSigmoid", ["fc"], ["gate"], alpha=1 / 6),
        helper.make_node("Mul", ["silu", "gate"], ["se"]),
        helper.make_node("HardSwish", ["se"], ["y"]),
    ]
    inits = [const("w1", w(c, c // 4, 3, 3)), const("b1", w(c)), const("axes", np.array([2, 3], np.int64)),
             const("w2", w(c, c, 1, 1)), const("b2", w(c))]
    return model(nodes, [1, c, 10, 10], inits, opset)


def shuffle_block(c=8, groups=2):
    """ShuffleNet's unit: Split in two, a conv on one half, Concat, channel shuffle (5-D Reshape,
    Transpose, Reshape)."""
    half = c // 2
    nodes = [
        helper.make_node("Split", ["x", "sizes"], ["a", "b"], axis=1),
        helper.make_node("Conv", ["b", "wb", "bb"], ["cb"], pads=[0, 0, 0, 0]),
        helper.make_node("Relu", ["cb"], ["rb"]),
        helper.make_node("Concat", ["a", "rb"], ["cat"], axis=1),
        helper.make_node("Reshape", ["cat", "s5"], ["r5"]),
        helper.make_node("Transpose", ["r5"], ["t5"], perm=[0, 2, 1, 3, 4]),
        helper.make_node("Reshape", ["t5", "s4"], ["y"]),
    ]
    inits = [const("sizes", np.array([half, half], np.int64)), const("wb", w(half, half, 1, 1)), const("bb", w(half)),
             const("s5", np.array([1, groups, c // groups, 6, 6], np.int64)), const("s4", np.array([1, c, 6, 6], np.int64))]
    return model(nodes, [1, c, 6, 6], inits, 18)


def convnext_block(c=8, gelu="op"):
    """ConvNeXt's block: depthwise conv, transpose to NHWC, LayerNormalization, MatMul 4x, GELU
    (the opset-20 op, or written with Erf as older exporters do), MatMul, layer scale, back to
    NCHW, residual Add."""
    nodes = [
        helper.make_node("Conv", ["x", "wd", "bd"], ["dw"], group=c, pads=[3, 3, 3, 3]),
        helper.make_node("Transpose", ["dw"], ["nhwc"], perm=[0, 2, 3, 1]),
        helper.make_node("LayerNormalization", ["nhwc", "g", "b"], ["ln"], axis=-1, epsilon=1e-6),
        helper.make_node("MatMul", ["ln", "w1"], ["m1"]),
        helper.make_node("Add", ["m1", "b1"], ["h"]),
    ]
    if gelu == "op":
        nodes.append(helper.make_node("Gelu", ["h"], ["act"]))
        opset = 20
    else:
        nodes += [
            helper.make_node("Div", ["h", "sqrt2"], ["hd"]),
            helper.make_node("Erf", ["hd"], ["e"]),
            helper.make_node("Add", ["e", "one"], ["e1"]),
            helper.make_node("Mul", ["h", "e1"], ["he"]),
            helper.make_node("Mul", ["he", "half"], ["act"]),
        ]
        opset = 17
    nodes += [
        helper.make_node("MatMul", ["act", "w2"], ["m2"]),
        helper.make_node("Mul", ["m2", "scale"], ["ls"]),
        helper.make_node("Transpose", ["ls"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Add", ["x", "nchw"], ["y"]),
    ]
    inits = [const("wd", w(c, 1, 7, 7)), const("bd", w(c)), const("g", 1 + w(c)), const("b", w(c)),
             const("w1", w(c, 4 * c)), const("b1", w(4 * c)), const("w2", w(4 * c, c)), const("scale", w(c)),
             const("sqrt2", np.float32(np.sqrt(2))), const("one", np.float32(1)), const("half", np.float32(0.5))]
    return model(nodes, [1, c, 9, 9], inits, opset)


def shapes_block(c=4):
    """Pad (constant, value 0.5), Slice with steps, ReduceMax / ReduceSum over channels, Unsqueeze
    / Squeeze, Resize (nearest asymmetric, bilinear half-pixel)."""
    nodes = [
        helper.make_node("Pad", ["x", "pads", "value"], ["p"], mode="constant"),
        helper.make_node("Slice", ["p", "starts", "ends", "axes", "steps"], ["s"]),
        helper.make_node("Resize", ["s", "", "", "size1"], ["r1"], mode="nearest", coordinate_transformation_mode="asymmetric",
                         nearest_mode="floor"),
        helper.make_node("Resize", ["r1", "", "", "size2"], ["r2"], mode="linear", coordinate_transformation_mode="half_pixel"),
        helper.make_node("ReduceMax", ["r2", "ax1"], ["mx"], keepdims=1),
        helper.make_node("ReduceSum", ["r2", "ax1"], ["sm"], keepdims=0),
        helper.make_node("Unsqueeze", ["sm", "ax1"], ["us"]),
        helper.make_node("Add", ["mx", "us"], ["a"]),
        helper.make_node("Squeeze", ["a", "ax1"], ["y"]),
    ]
    inits = [const("pads", np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64)), const("value", np.float32(0.5)),
             const("starts", np.array([0, 1], np.int64)), const("ends", np.array([c, 11], np.int64)),
             const("axes", np.array([1, 3], np.int64)), const("steps", np.array([1, 2], np.int64)),
             const("size1", np.array([1, c, 22, 10], np.int64)), const("size2", np.array([1, c, 15, 13], np.int64)),
             const("ax1", np.array([1], np.int64))]
    return model(nodes, [1, c, 8, 8], inits, 18)


CASES = {
    "se_block": (se_block, (8, 10, 10)),
    "shuffle_block": (shuffle_block, (8, 6, 6)),
    "convnext_block": (convnext_block, (8, 9, 9)),
    "convnext_block_erf": (lambda: convnext_block(gelu="erf"), (8, 9, 9)),
    "shapes_block": (shapes_block, (4, 8, 8)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_block_matches_onnxruntime(name, tmp_path):
    build, shape = CASES[name]
    float_check(build(), RNG.normal(size=(4, *shape)).astype(np.float32), tmp_path, name)


def test_channel_shuffle_becomes_one_channel_permutation(tmp_path):
    _, graph, _ = float_check(shuffle_block(), RNG.normal(size=(2, 8, 6, 6)).astype(np.float32), tmp_path, "shuffle")
    kinds = [type(n).__name__ for n in graph]
    # the only Transpose left hands the output back in ONNX's (C, H, W) order
    assert kinds.count("PermuteChannels") == 1 and "Reshape" not in kinds
    assert [n.name for n in graph if type(n).__name__ == "Transpose"] == [graph.output]


def test_gelu_written_with_erf_is_fused(tmp_path):
    _, graph, _ = float_check(convnext_block(gelu="erf"), RNG.normal(size=(2, 8, 9, 9)).astype(np.float32), tmp_path, "erf")
    kinds = [type(n).__name__ for n in graph]
    assert "Gelu" in kinds and "Erf" not in kinds


@pytest.mark.slow
@pytest.mark.parametrize("name,delegated", [("se_block", True), ("shuffle_block", True), ("convnext_block", False),
                                            ("shapes_block", True)])
def test_int8_tflite_within_the_int8_tier(name, delegated, tmp_path):
    build, shape = CASES[name]
    x = RNG.normal(size=(64, *shape)).astype(np.float32)
    path, graph, expected = float_check(build(), x[:8], tmp_path, name)
    np.savez(tmp_path / "calib.npz", x=x)  # NCHW: the model's own layout
    result = npukit.convert(path, tmp_path / f"{name}.tflite", data=tmp_path / "calib.npz", calibration_samples=64,
                            allow_cpu_fallback=True)
    out, _ = run_tflite(result.path, np.moveaxis(x[:8], 1, -1))
    assert cosine(out.reshape(8, -1), expected.reshape(8, -1)) >= INT8_COSINE
    report = check_model(result.path, api_level=30)
    assert report.fully_delegated == delegated
    if not delegated:  # ConvNeXt: GELU has no NN-API op, int8 RSQRT arrives with feature level 7
        assert {op["op"] for op in report.ops if not op["delegated"]} == {"GELU", "RSQRT"}


def test_grouped_convolution_of_any_group_count(tmp_path):
    for groups in (2, 3, 6):
        c = 12
        m = model([helper.make_node("Conv", ["x", "w", "b"], ["y"], group=groups, strides=[2, 2])], [1, c, 9, 9],
                  [const("w", w(18, c // groups, 3, 3)), const("b", w(18))], 18)
        _, graph, _ = float_check(m, RNG.normal(size=(2, c, 9, 9)).astype(np.float32), tmp_path, f"g{groups}")
        assert [n.groups for n in graph if type(n).__name__ == "Conv2D"] == [groups]


def test_unsupported_variants_are_refused_with_the_reason(tmp_path):
    m = model([helper.make_node("Resize", ["x", "", "", "s"], ["y"], mode="cubic")], [1, 2, 4, 4],
              [const("s", np.array([1, 2, 8, 8], np.int64))], 18)
    path = tmp_path / "cubic.onnx"
    onnx.save(m, str(path))
    with pytest.raises(UnsupportedError, match="mode 'cubic'"):
        load_onnx(path)
    m = model([helper.make_node("ReduceMean", ["x"], ["y"], keepdims=1)], [1, 2, 4, 4], [], 18)
    onnx.save(m, str(path))
    with pytest.raises(UnsupportedError, match="batch included"):
        load_onnx(path)


def test_as_strided_view_of_a_flattened_batch(tmp_path):
    """torch's as_strided as the dynamo exporter writes it (ConvNeXt's pooling): Reshape(x, [-1])
    of the batch of one, then a Gather of constant indices shaped (1, C, 1, 1)."""
    c = 6
    indices = np.arange(c, dtype=np.int64)[::-1].reshape(1, c, 1, 1)  # a reordering view
    nodes = [
        helper.make_node("GlobalAveragePool", ["x"], ["g"]),
        helper.make_node("Reshape", ["g", "minus1"], ["flat"]),
        helper.make_node("Gather", ["flat", "idx"], ["view"], axis=0),
        helper.make_node("Flatten", ["view"], ["f"]),
        helper.make_node("Gemm", ["f", "w"], ["y"]),
    ]
    inits = [const("minus1", np.array([-1], np.int64)), const("idx", indices), const("w", w(c, 3))]
    float_check(model(nodes, [1, c, 5, 5], inits, 20), RNG.normal(size=(3, c, 5, 5)).astype(np.float32), tmp_path, "strided")
