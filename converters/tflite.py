"""TFLite backend: IR graph -> TensorFlow function with static shapes -> TFLiteConverter.

Each IR node lowers to the TF ops listed in its ``@lower`` function; ops are named after the
node's position (``npk_<index>_``) so the converted tensors can be traced back to IR nodes and
read during parity checks (the map is stored in the file's npukit metadata as ``tensor_map``).

Quantization ``int8`` is full-integer: per-channel weights, activations calibrated on a
representative dataset, builtin int8 kernels only, int8 (or uint8 / float32) model I/O.
``none`` writes a float32 model for comparison.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import numpy as np

from npukit import ir
from npukit.errors import BadInputError, InternalError, UnsupportedError
from npukit.quiet import import_tensorflow, native_output_captured
from npukit.tflite_file import read_tflite, with_metadata

QUANTIZE = ("int8", "none")
IO_TYPES = ("int8", "uint8", "float32")
_MARK = re.compile(r"npk_(\d+)_")

_LOWER: dict[type, Callable] = {}


def lower(node_type: type) -> Callable[[Callable], Callable]:
    def decorate(fn: Callable) -> Callable:
        _LOWER[node_type] = fn
        return fn

    return decorate


def supported_nodes() -> list[str]:
    """IR node types this backend lowers."""
    return sorted(t.__name__ for t in _LOWER) + ["Input"]


def _tf():
    return import_tensorflow()


# -- lowering ------------------------------------------------------------------------------------


@lower(ir.Dense)
def _dense(tf, node, inputs, name, batch, level):
    (x,) = inputs
    return tf.nn.bias_add(tf.matmul(x, node.kernel, name=name), node.bias, name=name)


@lower(ir.Conv2D)
def _conv(tf, node, inputs, name, batch, level):
    (x,) = inputs
    y = tf.nn.conv2d(x, node.kernel, list(node.strides), node.padding.upper(), dilations=list(node.dilation), name=name)
    return tf.nn.bias_add(y, node.bias, name=name)


@lower(ir.DepthwiseConv2D)
def _depthwise(tf, node, inputs, name, batch, level):
    (x,) = inputs
    y = tf.nn.depthwise_conv2d(
        x, node.kernel, [1, *node.strides, 1], node.padding.upper(), dilations=list(node.dilation), name=name
    )
    return tf.nn.bias_add(y, node.bias, name=name)


@lower(ir.AveragePool2D)
def _avg_pool(tf, node, inputs, name, batch, level):
    (x,) = inputs
    return tf.nn.avg_pool2d(x, list(node.pool_size), list(node.strides), node.padding.upper(), name=name)


@lower(ir.SumPool2D)
def _sum_pool(tf, node, inputs, name, batch, level):
    (x,) = inputs
    pooled = tf.nn.avg_pool2d(x, list(node.pool_size), list(node.strides), node.padding.upper(), name=name)
    return tf.multiply(pooled, np.float32(node.pool_size[0] * node.pool_size[1]), name=name)


@lower(ir.Scale)
def _scale(tf, node, inputs, name, batch, level):
    (x,) = inputs
    return tf.multiply(x, node.scale, name=name)


@lower(ir.Offset)
def _offset(tf, node, inputs, name, batch, level):
    (x,) = inputs
    return tf.add(x, node.offset, name=name)


@lower(ir.Transpose)
def _transpose(tf, node, inputs, name, batch, level):
    (x,) = inputs
    return tf.transpose(x, [0, *(p + 1 for p in node.perm)], name=name)


@lower(ir.LeakyReLU)
def _leaky(tf, node, inputs, name, batch, level):
    (x,) = inputs
    return tf.nn.leaky_relu(x, alpha=node.alpha, name=name)


@lower(ir.Sigmoid)
def _sigmoid(tf, node, inputs, name, batch, level):
    (x,) = inputs
    return tf.sigmoid(x, name=name)


@lower(ir.HardSigmoid)
def _hard_sigmoid(tf, node, inputs, name, batch, level):
    (x,) = inputs
    y = tf.add(tf.multiply(x, np.float32(node.alpha), name=name), np.float32(node.beta), name=name)
    return tf.clip_by_value(tf.nn.relu(y, name=name), -1.0, 1.0, name=name)


@lower(ir.HardSwish)
def _hard_swish(tf, node, inputs, name, batch, level):
    (x,) = inputs
    return tf.multiply(x, tf.nn.relu6(tf.add(x, np.float32(3.0), name=name), name=name) / 6.0, name=name)


@lower(ir.MaxPool2D)
def _max_pool(tf, node, inputs, name, batch, level):
    (x,) = inputs
    return tf.nn.max_pool2d(x, list(node.pool_size), list(node.strides), node.padding.upper(), name=name)


@lower(ir.GlobalAveragePool)
def _gap(tf, node, inputs, name, batch, level):
    (x,) = inputs
    if level < 28:  # MEAN arrives with API 28: an average pool over the whole map is the same
        h, w = x.shape[1], x.shape[2]
        y = tf.nn.avg_pool2d(x, [h, w], [h, w], "VALID", name=name)
        return y if node.keepdims else tf.reshape(y, [batch, x.shape[3]], name=name)
    return tf.reduce_mean(x, axis=[1, 2], keepdims=node.keepdims, name=name)


@lower(ir.Pad2D)
def _pad(tf, node, inputs, name, batch, level):
    (x,) = inputs
    return tf.pad(x, [[0, 0], list(node.pads[0]), list(node.pads[1]), [0, 0]], name=name)


@lower(ir.Flatten)
def _flatten(tf, node, inputs, name, batch, level):
    (x,) = inputs
    return tf.reshape(x, [batch, int(np.prod(x.shape[1:]))], name=name)


@lower(ir.Reshape)
def _reshape(tf, node, inputs, name, batch, level):
    (x,) = inputs
    return tf.reshape(x, [batch, *node.shape], name=name)


@lower(ir.Identity)
def _identity(tf, node, inputs, name, batch, level):
    return inputs[0]


@lower(ir.Add)
def _add(tf, node, inputs, name, batch, level):
    total = inputs[0]
    for other in inputs[1:]:  # chained ADDs: ADD_N is not an NN-API op
        total = tf.add(total, other, name=name)
    return total


@lower(ir.Concatenate)
def _concat(tf, node, inputs, name, batch, level):
    return tf.concat(inputs, axis=node.axis + 1, name=name)


@lower(ir.BatchNorm)
def _batchnorm(tf, node, inputs, name, batch, level):
    (x,) = inputs
    return tf.add(tf.multiply(x, node.scale, name=name), node.shift, name=name)


@lower(ir.ReLU)
def _relu(tf, node, inputs, name, batch, level):
    (x,) = inputs
    if node.max_value is None:
        return tf.nn.relu(x, name=name)
    if node.max_value == 6.0:
        return tf.nn.relu6(x, name=name)
    if node.max_value == 1.0:  # RELU then RELU_N1_TO_1 (both from API 27)
        return tf.clip_by_value(tf.nn.relu(x, name=name), -1.0, 1.0, name=name)
    m = np.float32(node.max_value)
    if level < 29:  # MINIMUM arrives with API 29: min(relu(x), m) = m/6 * relu6(x * 6/m)
        return tf.multiply(tf.nn.relu6(tf.multiply(x, np.float32(6) / m, name=name), name=name), m / np.float32(6), name=name)
    return tf.minimum(tf.nn.relu(x, name=name), m, name=name)


@lower(ir.Softmax)
def _softmax(tf, node, inputs, name, batch, level):
    (x,) = inputs
    return tf.nn.softmax(x, name=name)


def build_function(graph: ir.Graph, batch: int, api_level: int = 30):
    """A ``tf.function`` computing ``graph`` on a static (batch, *input_shape) float32 input,
    with only ops the NN-API delegate takes at ``api_level`` where a rewrite exists:
    GlobalAveragePool as an AVERAGE_POOL_2D below API 28 (MEAN arrives with 28), a clipped ReLU
    other than ReLU6 as MUL-RELU6-MUL below API 29 (MINIMUM arrives with 29)."""
    tf = _tf()
    if graph.is_spiking:
        raise UnsupportedError(
            "the TFLite backend converts rate-coded graphs; convert the source ANN (its spiking "
            "version is simulated with npukit simulate)"
        )
    for node in graph:
        if not isinstance(node, ir.Input) and type(node) not in _LOWER:
            raise UnsupportedError(
                f"IR node {node.name!r} of type {type(node).__name__} has no TFLite lowering; "
                f"supported: {', '.join(supported_nodes())}"
            )
    order = list(graph)
    index = {n.name: i for i, n in enumerate(order)}

    @tf.function(input_signature=[tf.TensorSpec([batch, *graph.input_shape], tf.float32, name="input")])
    def model(x):
        values: dict[str, Any] = {}
        for node in order:
            if isinstance(node, ir.Input):
                values[node.name] = x
                continue
            inputs = [values[i] for i in node.inputs]
            name = f"npk_{index[node.name]:04d}_"
            values[node.name] = _LOWER[type(node)](tf, node, inputs, name, batch, api_level)
        return tf.identity(values[graph.output], name="output")

    return model, order


def convert_graph(
    graph: ir.Graph,
    calibration: np.ndarray | None,
    quantize: str = "int8",
    io: str = "int8",
    batch: int = 1,
    metadata: dict[str, Any] | None = None,
    api_level: int = 30,
) -> tuple[bytes, dict[str, Any]]:
    """Convert ``graph`` to .tflite bytes; returns (bytes, the metadata written into them).

    ``calibration`` (N, *input_shape) float samples feed the representative dataset (int8).
    ``api_level`` selects op rewrites for older NN-API levels (see ``build_function``).
    """
    if quantize not in QUANTIZE:
        raise BadInputError(f"quantize must be one of {', '.join(QUANTIZE)}. Received: {quantize!r}")
    if io not in IO_TYPES:
        raise BadInputError(f"io must be one of {', '.join(IO_TYPES)}. Received: {io!r}")
    if not isinstance(batch, (int, np.integer)) or not 1 <= batch <= 4096:
        raise BadInputError(f"batch must be an integer in 1..4096. Received: {batch!r}")
    if quantize == "none" and io != "float32":
        io = "float32"
    tf = _tf()
    fn, order = build_function(graph, batch, api_level)
    concrete = fn.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], fn)
    if quantize == "int8":
        if calibration is None or len(calibration) == 0:
            raise BadInputError("int8 quantization needs calibration data")
        samples = np.asarray(calibration, dtype=np.float32)

        def representative():
            for start in range(0, len(samples), batch):
                chunk = samples[start : start + batch]
                if len(chunk) < batch:
                    chunk = np.concatenate([chunk, samples[: batch - len(chunk)]])[:batch]
                    if len(chunk) < batch:
                        chunk = np.resize(chunk, (batch,) + chunk.shape[1:])
                yield [chunk]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = {"int8": tf.int8, "uint8": tf.uint8, "float32": tf.float32}[io]
        converter.inference_output_type = converter.inference_input_type
    try:
        with native_output_captured():
            flat = converter.convert()
    except Exception as exc:
        detail = " ".join(str(exc).split())[:400]
        raise InternalError(f"TFLite conversion failed: {detail}")
    info = read_tflite(flat)
    meta = dict(metadata or {})
    meta.update(_io_metadata(info, graph, quantize, io, batch))
    meta["tensor_map"] = _tensor_map(info, order, graph, batch)
    return with_metadata(flat, meta), meta


def _io_metadata(info, graph: ir.Graph, quantize: str, io: str, batch: int) -> dict[str, Any]:
    def describe(index: int, shape) -> dict[str, Any]:
        t = info.tensors[index]
        return {
            "name": t.name,
            "shape": list(t.shape),
            "dtype": t.dtype.lower(),
            "scale": t.scale[0] if t.scale else None,
            "zero_point": t.zero_point[0] if t.zero_point else None,
        }

    return {
        "quantization": quantize,
        "io_dtype": io,
        "batch": batch,
        "input": describe(info.inputs[0], graph.input_shape),
        "output": describe(info.outputs[0], graph.output_shape),
        "graph_output": graph.output,
    }


def _tensor_map(info, order: list[ir.Node], graph: ir.Graph, batch: int) -> dict[str, int]:
    """IR node name -> index of the TFLite tensor holding that node's output, where one does.

    A fused op's output tensor is named after all the TF ops it absorbed; its value is that of
    the last of them, the one with the highest node index.
    """
    found: dict[str, int] = {}
    for op in info.operators:
        for t in op.outputs:
            tensor = info.tensors[t]
            marks = [int(m) for m in _MARK.findall(tensor.name)]
            if not marks:
                continue
            i = max(marks)
            if i >= len(order):
                continue
            node = order[i]
            if tuple(tensor.shape) == (batch, *graph.shapes[node.name]) and node.name not in found:
                found[node.name] = t
    found[graph.output] = info.outputs[0]
    return found
