"""Write the shipped digits CNN as ONNX (digits_cnn.onnx) from the trained Keras weights.

Run from anywhere:  python models/export_digits_cnn_onnx.py [--out models/digits_cnn.onnx]

The graph is built node by node with ``onnx.helper`` (opset 17), the way PyTorch would export
the same network: NCHW input (N, 1, 8, 8), Conv (pads 1) -> Relu -> AveragePool 2 -> Conv ->
Relu -> AveragePool 2 -> Flatten -> Gemm (transB) -> Relu -> Gemm -> logits. Keras flattens
(H, W, C) while ONNX flattens (C, H, W), so the first Gemm's weight columns are permuted;
tests check the file against Keras and onnxruntime.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def build(keras_path: Path):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from npukit.quiet import import_tensorflow

    import_tensorflow()
    import keras

    model = keras.saving.load_model(keras_path, compile=False, safe_mode=True)
    w = {layer.name: [np.asarray(v, np.float32) for v in layer.get_weights()] for layer in model.layers}
    c1, b1 = w["conv1"]
    c2, b2 = w["conv2"]
    f1, fb1 = w["fc1"]
    f2, fb2 = w["logits"]
    channels, h, wd = c2.shape[3], 2, 2
    hwc_of_chw = np.arange(h * wd * channels).reshape(h, wd, channels).transpose(2, 0, 1).reshape(-1)
    inits = [
        numpy_helper.from_array(c1.transpose(3, 2, 0, 1).copy(), "conv1.weight"), numpy_helper.from_array(b1, "conv1.bias"),
        numpy_helper.from_array(c2.transpose(3, 2, 0, 1).copy(), "conv2.weight"), numpy_helper.from_array(b2, "conv2.bias"),
        numpy_helper.from_array(f1[hwc_of_chw].T.copy(), "fc1.weight"), numpy_helper.from_array(fb1, "fc1.bias"),
        numpy_helper.from_array(f2.T.copy(), "logits.weight"), numpy_helper.from_array(fb2, "logits.bias"),
    ]
    nodes = [
        helper.make_node("Conv", ["image", "conv1.weight", "conv1.bias"], ["conv1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv1"], ["relu1"], name="relu1"),
        helper.make_node("AveragePool", ["relu1"], ["pool1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["pool1", "conv2.weight", "conv2.bias"], ["conv2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv2"], ["relu2"], name="relu2"),
        helper.make_node("AveragePool", ["relu2"], ["pool2"], name="pool2", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["pool2"], ["flatten"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flatten", "fc1.weight", "fc1.bias"], ["fc1"], name="fc1", transB=1),
        helper.make_node("Relu", ["fc1"], ["relu3"], name="relu3"),
        helper.make_node("Gemm", ["relu3", "logits.weight", "logits.bias"], ["logits"], name="logits", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "digits_cnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        inits,
    )
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="npukit")
    onnx_model.ir_version = 8
    onnx.checker.check_model(onnx_model)
    return onnx_model


def main() -> None:
    import onnx

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(__file__).resolve().parent
    parser.add_argument("--keras", type=Path, default=here / "digits_cnn.keras")
    parser.add_argument("--out", type=Path, default=here / "digits_cnn.onnx")
    args = parser.parse_args()
    onnx.save(build(args.keras), str(args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
