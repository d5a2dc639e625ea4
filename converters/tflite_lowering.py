"""IR nodes as TensorFlow ops: the lowering both TFLite backends share (rate and temporal mode).

Each rate-coded IR node type has one ``@lower`` function turning it into TF ops that the
TFLiteConverter maps to builtin operators the NN-API delegate takes (docs/nnapi.md), with
rewrites for older API levels where a newer op is missing. Ops are named after the node's
position (``npk_<index>_``) so converted tensors can be traced back to IR nodes.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from npukit import ir
from npukit.errors import UnsupportedError

_LOWER: dict[type, Callable] = {}


def lower(node_type: type) -> Callable[[Callable], Callable]:
    """Register the lowering of an IR node type: fn(tf, node, inputs, name, batch, api_level)."""

    def decorate(fn: Callable) -> Callable:
        _LOWER[node_type] = fn
        return fn

    return decorate


#: rate-coded node types without a lowering, and why (``check_lowerable`` says it)
NOT_LOWERED = {
    "Erf": "TFLite has no ERF builtin; npukit lowers erf only inside a GELU (npukit.passes.fuse_gelu)",
}


def supported_nodes() -> list[str]:
    """IR node types the backends lower (neurons are lowered by the temporal backend itself)."""
    return sorted(t.__name__ for t in _LOWER) + ["Input"]


def lowerable(node: ir.Node) -> bool:
    return type(node) in _LOWER


def check_lowerable(graph: ir.Graph, also: tuple[type, ...] = ()) -> None:
    """Refuse a graph with a node that has no lowering (``also``: types the caller lowers)."""
    for node in graph:
        if not isinstance(node, (ir.Input, *also)) and not lowerable(node):
            kind = type(node).__name__
            why = f" ({NOT_LOWERED[kind]})" if kind in NOT_LOWERED else ""
            raise UnsupportedError(
                f"IR node {node.name!r} of type {kind} has no TFLite lowering{why}; supported: {', '.join(supported_nodes())}"
            )


def op_name(index: int) -> str:
    """The name prefix of the TF ops of the node at ``index`` in the graph's order."""
    return f"npk_{index:04d}_"


def lower_node(tf, node: ir.Node, inputs: list[Any], name: str, batch: int, api_level: int) -> Any:
    return _LOWER[type(node)](tf, node, inputs, name, batch, api_level)


# -- lowerings ---------------------------------------------------------------------------------------


@lower(ir.Dense)
def _dense(tf, node, inputs, name, batch, level):
    (x,) = inputs
    return tf.nn.bias_add(tf.matmul(x, node.kernel, name=name), node.bias, name=name)


@lower(ir.Conv2D)
def _conv(tf, node, inputs, name, batch, level):
    (x,) = inputs
    if node.groups > 1:
        # one grouped CONV_2D is operator version 6, which the NN-API delegate refuses (it takes
        # versions <= 5): SPLIT the channels, one CONV_2D per group, CONCATENATION
        parts = tf.split(x, node.groups, axis=3, name=name)
        cout = node.kernel.shape[3] // node.groups
        outs = [
            tf.nn.bias_add(tf.nn.conv2d(part, node.kernel[..., k * cout : (k + 1) * cout], list(node.strides),
                                        node.padding.upper(), dilations=list(node.dilation), name=name),
                           node.bias[k * cout : (k + 1) * cout], name=name)
            for k, part in enumerate(parts)
        ]
        return tf.concat(outs, axis=3, name=name)
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


@lower(ir.Tanh)
def _tanh(tf, node, inputs, name, batch, level):
    # TANH (NN-API from API 27; int8 from 29 with the output scale 1/128, zero point 0 that
    # TensorFlow's converter gives every int8 TANH)
    (x,) = inputs
    return tf.tanh(x, name=name)


@lower(ir.Embedding)
def _embedding(tf, node, inputs, name, batch, level):
    # GATHER (NN-API from API 29 here; int8 rows from 30) of the int32 ids the graph input holds
    (ids,) = inputs
    if not ids.dtype.is_integer:
        raise UnsupportedError(f"Embedding {node.name!r} must read the graph's int32 token-id input")
    return tf.gather(node.table, ids, axis=0, name=name)


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


@lower(ir.Swish)
def _swish(tf, node, inputs, name, batch, level):
    (x,) = inputs
    return tf.multiply(x, tf.sigmoid(x, name=name), name=name)  # LOGISTIC and MUL, both delegable


@lower(ir.Gelu)
def _gelu(tf, node, inputs, name, batch, level):
    # TFLite's GELU builtin: exact (erf) or tanh form, as the node says. NN-API has no GELU (nor
    # erf); a delegable rewrite (x * sigmoid(1.702 x)) is off by up to 0.02, outside the float
    # tier, so the op stays the builtin and ``npukit check`` names it as the CPU op.
    (x,) = inputs
    return tf.nn.gelu(x, approximate=node.approximate == "tanh", name=name)


@lower(ir.Multiply)
def _multiply(tf, node, inputs, name, batch, level):
    return tf.multiply(inputs[0], inputs[1], name=name)


@lower(ir.Divide)
def _divide(tf, node, inputs, name, batch, level):
    return tf.divide(inputs[0], inputs[1], name=name)


@lower(ir.LayerNorm)
def _layer_norm(tf, node, inputs, name, batch, level):
    # the ops TensorFlow's converter writes for Keras' LayerNormalization: MEAN, SQUARED_DIFFERENCE,
    # RSQRT (int8 in NN-API only from feature level 7), MUL, SUB, ADD
    (x,) = inputs
    mean = tf.reduce_mean(x, axis=-1, keepdims=True, name=name)
    var = tf.reduce_mean(tf.math.squared_difference(x, mean, name=name), axis=-1, keepdims=True, name=name)
    inv = tf.math.rsqrt(tf.add(var, np.float32(node.epsilon), name=name), name=name)
    centred = tf.subtract(x, mean, name=name)
    return tf.add(tf.multiply(tf.multiply(centred, inv, name=name), node.gamma, name=name), node.beta, name=name)


@lower(ir.Reduce)
def _reduce(tf, node, inputs, name, batch, level):
    (x,) = inputs
    axes = [a + 1 for a in node.axes]
    if node.op == "max":
        return tf.reduce_max(x, axis=axes, keepdims=node.keepdims, name=name)
    mean = tf.reduce_mean(x, axis=axes, keepdims=node.keepdims, name=name)
    if node.op == "mean":
        return mean
    # NN-API's SUM takes float32 only: a mean times the cell count is the same sum, and delegable
    count = int(np.prod([x.shape[a] for a in axes]))
    return tf.multiply(mean, np.float32(count), name=name)


@lower(ir.Pad)
def _pad_constant(tf, node, inputs, name, batch, level):
    (x,) = inputs
    return tf.pad(x, [[0, 0], *map(list, node.pads)], constant_values=np.float32(node.value), name=name)


@lower(ir.Slice)
def _slice(tf, node, inputs, name, batch, level):
    (x,) = inputs
    return tf.strided_slice(x, [0, *node.begin], [batch, *node.end], [1, *node.strides], name=name)


@lower(ir.PermuteChannels)
def _permute_channels(tf, node, inputs, name, batch, level):
    (x,) = inputs
    return tf.gather(x, np.asarray(node.order, np.int32), axis=len(x.shape) - 1, name=name)


@lower(ir.Resize)
def _resize(tf, node, inputs, name, batch, level):
    (x,) = inputs
    flags = {"align_corners": node.coordinates == "align_corners", "half_pixel_centers": node.coordinates == "half_pixel"}
    size = np.asarray(node.size, np.int32)
    if node.method == "nearest":
        return tf.raw_ops.ResizeNearestNeighbor(images=x, size=size, name=name, **flags)
    return tf.raw_ops.ResizeBilinear(images=x, size=size, name=name, **flags)


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
