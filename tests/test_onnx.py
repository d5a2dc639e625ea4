"""ONNX frontend: every supported op and attribute combination against onnxruntime (float,
max abs difference <= 1e-5), three whole models, the shipped CNN as ONNX, bad input."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

import npukit
from npukit.cli import app
from npukit.errors import BadInputError, UnsupportedError
from npukit.reference import evaluate

ort = pytest.importorskip("onnxruntime", reason="ONNX parity tests need onnxruntime (pip install '.[test]')")
TOLERANCE = 1e-5
runner = CliRunner()
RNG = np.random.default_rng(0)


def w(*shape, scale=0.3):
    return (RNG.normal(size=shape) * scale).astype(np.float32)


def model(nodes, input_shape, inits=None, opset=17, input_name="x", output="y"):
    graph = helper.make_graph(
        nodes, "test", [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, list(input_shape))],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()],
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def check(m, x, tmp_path, name="m"):
    path = tmp_path / f"{name}.onnx"
    onnx.save(m, str(path))
    want = ort.InferenceSession(str(path)).run(None, {m.graph.input[0].name: x})[0]
    graph = npukit.load(path)
    got = evaluate(graph, x)[graph.output]
    assert got.shape == want.shape, (got.shape, want.shape)
    assert np.max(np.abs(got - want)) <= TOLERANCE, np.max(np.abs(got - want))
    return graph


N = helper.make_node
IMG = (2, 3, 8, 8)


def conv(out="y", **attrs):
    return N("Conv", ["x", "W", "B"], [out], **attrs)


OP_CASES = {
    "conv_same_pads": ([conv(pads=[1, 1, 1, 1])], IMG, {"W": w(4, 3, 3, 3), "B": w(4)}),
    "conv_asymmetric_pads": ([conv(pads=[1, 0, 0, 2])], IMG, {"W": w(4, 3, 3, 3), "B": w(4)}),
    "conv_stride_2": ([conv(pads=[1, 1, 1, 1], strides=[2, 2])], (2, 3, 9, 9), {"W": w(4, 3, 3, 3), "B": w(4)}),
    "conv_auto_same_upper": ([conv(auto_pad="SAME_UPPER", strides=[2, 2])], IMG, {"W": w(4, 3, 3, 3), "B": w(4)}),
    "conv_auto_same_lower": ([conv(auto_pad="SAME_LOWER", strides=[2, 2])], IMG, {"W": w(4, 3, 3, 3), "B": w(4)}),
    "conv_auto_valid": ([conv(auto_pad="VALID")], IMG, {"W": w(4, 3, 3, 3), "B": w(4)}),
    "conv_dilation": ([conv(dilations=[2, 2], pads=[2, 2, 2, 2])], IMG, {"W": w(4, 3, 3, 3), "B": w(4)}),
    "conv_no_bias": ([N("Conv", ["x", "W"], ["y"], kernel_shape=[1, 1])], IMG, {"W": w(5, 3, 1, 1)}),
    "conv_depthwise": ([conv(group=3, pads=[1, 1, 1, 1])], IMG, {"W": w(3, 1, 3, 3), "B": w(3)}),
    "conv_depthwise_multiplier": ([conv(group=3, pads=[1, 1, 1, 1])], IMG, {"W": w(6, 1, 3, 3), "B": w(6)}),
    "gemm_transb": ([N("Gemm", ["x", "W", "B"], ["y"], transB=1)], (4, 6), {"W": w(5, 6), "B": w(5)}),
    "gemm_alpha_beta": ([N("Gemm", ["x", "W", "B"], ["y"], alpha=0.5, beta=2.0)], (4, 6), {"W": w(6, 5), "B": w(1, 5)}),
    "gemm_scalar_bias": ([N("Gemm", ["x", "W", "B"], ["y"])], (4, 6), {"W": w(6, 5), "B": np.float32(0.3)}),
    "gemm_no_bias": ([N("Gemm", ["x", "W"], ["y"])], (4, 6), {"W": w(6, 5)}),
    "matmul_add": ([N("MatMul", ["x", "W"], ["m"]), N("Add", ["m", "B"], ["y"])], (4, 6), {"W": w(6, 5), "B": w(5)}),
    "relu": ([N("Relu", ["x"], ["y"])], IMG, {}),
    "clip_bounds": ([N("Clip", ["x", "lo", "hi"], ["y"])], IMG, {"lo": np.float32(0), "hi": np.float32(0.5)}),
    "clip_min_only": ([N("Clip", ["x", "lo"], ["y"])], IMG, {"lo": np.float32(0)}),
    "leaky_relu": ([N("LeakyRelu", ["x"], ["y"], alpha=0.2)], IMG, {}),
    "hard_sigmoid": ([N("HardSigmoid", ["x"], ["y"], alpha=0.3, beta=0.4)], IMG, {}),
    "hard_swish": ([N("HardSwish", ["x"], ["y"])], IMG, {}),
    "sigmoid": ([N("Sigmoid", ["x"], ["y"])], IMG, {}),
    "maxpool_valid": ([N("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2])], IMG, {}),
    "maxpool_same_pads": ([N("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 1, 1])], IMG, {}),
    "maxpool_pads_after_relu": (
        [N("Relu", ["x"], ["r"]), N("MaxPool", ["r"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])], IMG, {}),
    "maxpool_ceil": ([N("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)], (2, 3, 8, 8), {}),
    "avgpool_count_pads": (
        [N("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1)], IMG, {}),
    "avgpool_exclude_asymmetric_pads": (
        [N("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 0, 0, 1])], IMG, {}),
    "avgpool_ceil": ([N("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)], (2, 3, 8, 8), {}),
    "global_average_pool": ([N("GlobalAveragePool", ["x"], ["y"])], IMG, {}),
    "batchnorm": ([N("BatchNormalization", ["x", "g", "b", "m", "v"], ["y"], epsilon=1e-3)], IMG,
                  {"g": w(3) + 1, "b": w(3), "m": w(3), "v": np.abs(w(3)) + 0.5}),
    "conv_batchnorm": ([conv("y0", pads=[1, 1, 1, 1]), N("BatchNormalization", ["y0", "g", "b", "m", "v"], ["y"])], IMG,
                       {"W": w(4, 3, 3, 3), "B": w(4), "g": w(4) + 1, "b": w(4), "m": w(4), "v": np.abs(w(4)) + 0.5}),
    "flatten": ([N("Flatten", ["x"], ["y"])], IMG, {}),
    "reshape_flatten": ([N("Reshape", ["x", "s"], ["y"])], IMG, {"s": np.array([-1, 192], np.int64)}),
    "reshape_unflatten_conv": (
        [N("Flatten", ["x"], ["f"]), N("Reshape", ["f", "s"], ["r"]), N("Conv", ["r", "W"], ["y"], kernel_shape=[1, 1])],
        IMG, {"s": np.array([0, 3, 8, 8], np.int64), "W": w(2, 3, 1, 1)}),
    "add_per_channel": ([N("Add", ["x", "c"], ["y"])], IMG, {"c": w(3, 1, 1)}),
    "mul_scalar": ([N("Mul", ["x", "c"], ["y"])], IMG, {"c": np.float32(1.7)}),
    "sub_constant": ([N("Sub", ["x", "c"], ["y"])], IMG, {"c": w(1, 3, 8, 8)}),
    "sub_from_constant": ([N("Sub", ["c", "x"], ["y"])], IMG, {"c": w(3, 1, 1)}),
    "div_constant": ([N("Div", ["x", "c"], ["y"])], IMG, {"c": np.float32(4.0)}),
    "add_residual": ([conv("y0", pads=[1, 1, 1, 1]), N("Add", ["y0", "x"], ["y"])], IMG, {"W": w(3, 3, 3, 3), "B": w(3)}),
    "sub_two_tensors": ([N("Relu", ["x"], ["r"]), N("Sub", ["x", "r"], ["y"])], IMG, {}),
    "concat_channels": ([conv("y0", pads=[1, 1, 1, 1]), N("Concat", ["x", "y0"], ["y"], axis=1)], IMG, {"W": w(2, 3, 3, 3), "B": w(2)}),
    "identity_dropout": ([N("Identity", ["x"], ["i"]), N("Dropout", ["i", "ratio"], ["y"])], IMG, {"ratio": np.float32(0.5)}),
    "softmax": ([N("Gemm", ["x", "W"], ["g"]), N("Softmax", ["g"], ["y"], axis=-1)], (4, 6), {"W": w(6, 5)}),
    "transpose_nhwc_input": ([N("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]), N("Conv", ["t", "W"], ["y"], kernel_shape=[1, 1])],
                             (2, 8, 8, 3), {"W": w(4, 3, 1, 1)}),
}


@pytest.mark.parametrize("case", sorted(OP_CASES))
def test_op_matches_onnxruntime(case, tmp_path):
    nodes, shape, inits = OP_CASES[case]
    x = RNG.uniform(-1, 1, shape).astype(np.float32)
    check(model(nodes, shape, inits), x, tmp_path, case)


def test_sequential_cnn_with_batchnorm_maxpool_flatten_gemm(tmp_path):
    nodes = [
        N("Conv", ["x", "W1", "B1"], ["c1"], pads=[1, 1, 1, 1]),
        N("BatchNormalization", ["c1", "g", "b", "m", "v"], ["bn"]),
        N("Relu", ["bn"], ["r1"]),
        N("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        N("Flatten", ["p1"], ["f"]),
        N("Gemm", ["f", "W2", "B2"], ["y"], transB=1),
    ]
    inits = {"W1": w(8, 3, 3, 3), "B1": w(8), "g": w(8) + 1, "b": w(8), "m": w(8), "v": np.abs(w(8)) + 0.5,
             "W2": w(10, 8 * 4 * 4, scale=0.05), "B2": w(10)}
    graph = check(model(nodes, ("N", 3, 8, 8), inits), RNG.uniform(-1, 1, (8, 3, 8, 8)).astype(np.float32), tmp_path)
    assert "BatchNorm" not in [type(n).__name__ for n in graph]


def test_residual_net_with_depthwise_and_concat(tmp_path):
    nodes = [
        N("Conv", ["x", "W1", "B1"], ["c1"], pads=[1, 1, 1, 1]),
        N("Relu", ["c1"], ["r1"]),
        N("Conv", ["r1", "Wd", "Bd"], ["d"], group=6, pads=[1, 1, 1, 1]),
        N("Relu", ["d"], ["r2"]),
        N("Add", ["r1", "r2"], ["a"]),
        N("Conv", ["a", "Wp"], ["p"], kernel_shape=[1, 1]),
        N("Concat", ["a", "p"], ["cat"], axis=1),
        N("GlobalAveragePool", ["cat"], ["g"]),
        N("Flatten", ["g"], ["f"]),
        N("Gemm", ["f", "W2"], ["y"], transB=1),
    ]
    inits = {"W1": w(6, 3, 3, 3), "B1": w(6), "Wd": w(6, 1, 3, 3), "Bd": w(6), "Wp": w(4, 6, 1, 1), "W2": w(5, 10)}
    graph = check(model(nodes, ("N", 3, 10, 10), inits), RNG.uniform(-1, 1, (4, 3, 10, 10)).astype(np.float32), tmp_path)
    kinds = {type(n).__name__ for n in graph}
    assert {"DepthwiseConv2D", "Concatenate", "Add"} <= kinds


def test_mlp_with_clip(tmp_path):
    nodes = [
        N("Gemm", ["x", "W1", "B1"], ["h"], transB=1),
        N("Clip", ["h", "lo", "hi"], ["c"]),
        N("MatMul", ["c", "W2"], ["m"]),
        N("Add", ["m", "B2"], ["y"]),
    ]
    inits = {"W1": w(16, 12), "B1": w(16), "lo": np.float32(0), "hi": np.float32(0.6), "W2": w(16, 4), "B2": w(4)}
    graph = check(model(nodes, ("N", 12), inits), RNG.uniform(-1, 1, (16, 12)).astype(np.float32), tmp_path)
    assert [type(n).__name__ for n in graph] == ["Input", "Dense", "ReLU", "Dense"]  # MatMul + Add folded


def test_shipped_cnn_as_onnx(tmp_path):
    from npukit.data import digits
    from npukit.models import DIGITS_CNN, DIGITS_ONNX
    from npukit.nnapi.check import check_model
    from npukit.parity import top1

    test = digits("test")
    x_nchw = test.x.transpose(0, 3, 1, 2).copy()
    reference = ort.InferenceSession(str(DIGITS_ONNX)).run(None, {"image": x_nchw})[0]
    keras_like = evaluate(npukit.load(DIGITS_CNN), test.x)["logits"]
    np.testing.assert_allclose(reference, keras_like, atol=1e-4)  # the file holds the trained weights
    ours = evaluate(npukit.load(DIGITS_ONNX), x_nchw)
    np.testing.assert_allclose(list(ours.values())[0], reference, atol=1e-4)
    result = npukit.convert(DIGITS_ONNX, tmp_path / "onnx.tflite", data="digits")
    report = check_model(result.path, 30)
    assert report.fully_delegated
    from npukit.runtime import run_tflite

    out, _ = run_tflite(result.path, test.x)
    ort_accuracy = float(np.mean(top1(reference) == test.y))
    tflite_accuracy = float(np.mean(top1(out) == test.y))
    assert abs(tflite_accuracy - ort_accuracy) <= 0.005


def test_input_shape_fixes_symbolic_dimensions(tmp_path):
    m = model([N("Relu", ["x"], ["y"])], ("N", 3, "H", "W"))
    path = tmp_path / "sym.onnx"
    onnx.save(m, str(path))
    with pytest.raises(BadInputError, match=r"symbolic dimensions.*input_shape=\(1, 3, 224, 224\)"):
        npukit.load(path)
    graph = npukit.load(path, input_shape=(1, 3, 16, 12))
    assert graph.input_shape == (16, 12, 3)


def test_spiking_view_of_an_onnx_model(tmp_path):
    from npukit.models import DIGITS_ONNX

    report = npukit.simulate(DIGITS_ONNX, "digits", timesteps=32)
    assert report.accuracy() >= 0.96
    exported = npukit.convert(DIGITS_ONNX, tmp_path / "cnn.nir", to="nir")  # IF network in NIR
    assert npukit.simulate(exported.path, "digits", timesteps=32).accuracy() >= 0.95
    with pytest.raises(UnsupportedError, match="Sigmoid .* has no spiking equivalent"):
        nodes = [N("Gemm", ["x", "W"], ["h"]), N("Sigmoid", ["h"], ["s"]), N("Gemm", ["s", "W2"], ["y"])]
        path = tmp_path / "sig.onnx"
        onnx.save(model(nodes, (2, 4), {"W": w(4, 4), "W2": w(4, 2)}), str(path))
        npukit.simulate(path, _npz(tmp_path, (8, 4)), timesteps=4)


def _npz(tmp_path, shape):
    path = tmp_path / "d.npz"
    np.savez(path, x=RNG.uniform(0, 1, shape).astype(np.float32))
    return path


def bad_models(tmp_path):
    ok = model([N("Relu", ["x"], ["y"])], (1, 3, 4, 4))
    path = tmp_path / "ok.onnx"
    onnx.save(ok, str(path))
    truncated = tmp_path / "cut.onnx"
    truncated.write_bytes(path.read_bytes()[:20])
    unsupported = tmp_path / "tanh.onnx"
    onnx.save(model([N("Tanh", ["x"], ["y"])], (1, 3, 4, 4)), str(unsupported))
    symbolic = tmp_path / "sym.onnx"
    onnx.save(model([N("Relu", ["x"], ["y"])], ("N", 3, "H", "W")), str(symbolic))
    outside = tmp_path / "sub" / "ext.onnx"
    outside.parent.mkdir()
    (tmp_path / "weights.bin").write_bytes(np.ones(4, np.float32).tobytes())
    m = model([N("Add", ["x", "c"], ["y"])], (1, 4), {"c": np.ones(4, np.float32)})
    tensor = m.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "../weights.bin"), ("offset", "0"), ("length", "16")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    onnx.save(m, str(outside))
    old = tmp_path / "old.onnx"
    onnx.save(model([N("Relu", ["x"], ["y"])], (1, 3, 4, 4), opset=11), str(old))
    return [
        (truncated, "not a readable ONNX model"),
        (unsupported, "ONNX op Tanh is not supported; supported: .*Conv"),
        (symbolic, "symbolic dimensions"),
        (outside, "not a file beside the model"),
        (old, "opset 11 is not supported"),
    ]


def test_bad_onnx_input_gives_one_line_and_no_output(tmp_path):
    for path, message in bad_models(tmp_path):
        out = tmp_path / "out.tflite"
        result = runner.invoke(app, ["convert", str(path), "-o", str(out), "--quantize", "none"])
        assert result.exit_code == 2, (path, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ")
        assert __import__("re").search(message, lines[0]), lines[0]
        assert not out.exists()


def test_external_data_inside_the_folder_loads(tmp_path):
    m = model([N("Add", ["x", "c"], ["y"])], (1, 4), {"c": np.arange(4, dtype=np.float32)})
    path = tmp_path / "ext.onnx"
    onnx.save(m, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location="w.bin", size_threshold=0)
    graph = npukit.load(path)
    x = np.zeros((2, 4), np.float32)
    np.testing.assert_array_equal(evaluate(graph, x)[graph.output], np.tile(np.arange(4, dtype=np.float32), (2, 1)))


def test_cli_input_shape_option(tmp_path):
    m = model([N("Conv", ["x", "W"], ["y"], kernel_shape=[1, 1])], ("N", 3, "H", "W"), {"W": w(2, 3, 1, 1)})
    path = tmp_path / "sym.onnx"
    onnx.save(m, str(path))
    result = runner.invoke(app, ["inspect", str(path), "--input-shape", "1,3,6,5", "--json"])
    assert result.exit_code == 0, result.stderr
    assert '"input_shape": [\n    6,\n    5,\n    3\n  ]' in result.stdout
