"""numpy implementations of the IR's non-spiking node types, one function per type.

``forward(node, inputs, block)`` evaluates a node on batched arrays (batch axis first). The float
evaluator calls it on (N, ...) arrays; the spiking runtime on (T*N, ...) arrays with
``block = N`` (see ``npukit.kernels``). The IR node docstrings are the specification.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from npukit import ir
from npukit.errors import UnsupportedError
from npukit.kernels.conv import conv2d, depthwise_conv2d, pad2d
from npukit.kernels.gemm import gemm
from npukit.kernels.pool import avg_pool2d, global_avg_pool, max_pool2d, sum_pool2d

Op = Callable[[ir.Node, list[np.ndarray], "int | None"], np.ndarray]
_OPS: dict[type, Op] = {}


def implements(node_type: type) -> Callable[[Op], Op]:
    def decorate(fn: Op) -> Op:
        _OPS[node_type] = fn
        return fn

    return decorate


#: node types that take integer (0/1 spike) arrays as they are; others get float32 copies
_INTEGER_INPUT_OK = (ir.AveragePool2D, ir.SumPool2D, ir.GlobalAveragePool, ir.Flatten, ir.Reshape, ir.Identity, ir.Pad2D)


def forward(node: ir.Node, inputs: list[np.ndarray], block: int | None = None) -> np.ndarray:
    """Evaluate one node on batched inputs (integer inputs are 0/1 spike arrays)."""
    if not isinstance(node, _INTEGER_INPUT_OK):
        inputs = [x.astype(np.float32) if x.dtype.kind in "uib" else x for x in inputs]
    fn = _OPS.get(type(node))
    if fn is None:
        raise UnsupportedError(
            f"{type(node).__name__} {node.name!r} has no float implementation; "
            f"supported: {', '.join(sorted(t.__name__ for t in _OPS))}"
        )
    return fn(node, inputs, block)


@implements(ir.Identity)
def identity(node, inputs, block):
    return inputs[0]


@implements(ir.Dense)
def dense(node, inputs, block):
    (x,) = inputs
    out = gemm(x, node.kernel.astype(x.dtype, copy=False), block)
    out += node.bias.astype(x.dtype, copy=False)
    return out


@implements(ir.Conv2D)
def conv(node, inputs, block):
    return conv2d(inputs[0], node.kernel, node.bias, node.strides, node.padding, node.dilation, block)


@implements(ir.DepthwiseConv2D)
def depthwise(node, inputs, block):
    return depthwise_conv2d(inputs[0], node.kernel, node.bias, node.strides, node.padding, node.dilation, block)


@implements(ir.AveragePool2D)
def average_pool(node, inputs, block):
    return avg_pool2d(inputs[0], node.pool_size, node.strides, node.padding)


@implements(ir.SumPool2D)
def sum_pool(node, inputs, block):
    return sum_pool2d(inputs[0], node.pool_size, node.strides, node.padding)


@implements(ir.Scale)
def scale(node, inputs, block):
    x = inputs[0]
    return x * node.scale.astype(x.dtype, copy=False)


@implements(ir.MaxPool2D)
def max_pool(node, inputs, block):
    return max_pool2d(inputs[0], node.pool_size, node.strides, node.padding)


@implements(ir.GlobalAveragePool)
def global_average_pool(node, inputs, block):
    return global_avg_pool(inputs[0], node.keepdims)


@implements(ir.Pad2D)
def pad(node, inputs, block):
    return pad2d(inputs[0], node.pads)


@implements(ir.Flatten)
def flatten(node, inputs, block):
    x = inputs[0]
    return x.reshape(x.shape[0], -1)


@implements(ir.Reshape)
def reshape(node, inputs, block):
    x = inputs[0]
    return x.reshape((x.shape[0],) + node.shape)


@implements(ir.Add)
def add(node, inputs, block):
    out = inputs[0].copy()
    for x in inputs[1:]:
        out += x
    return out


@implements(ir.Concatenate)
def concatenate(node, inputs, block):
    return np.concatenate(inputs, axis=node.axis + 1)


@implements(ir.BatchNorm)
def batch_norm(node, inputs, block):
    x = inputs[0]
    return x * node.scale.astype(x.dtype, copy=False) + node.shift.astype(x.dtype, copy=False)


@implements(ir.Offset)
def offset(node, inputs, block):
    x = inputs[0]
    return x + node.offset.astype(x.dtype, copy=False)


@implements(ir.Transpose)
def transpose(node, inputs, block):
    x = inputs[0]
    return np.ascontiguousarray(x.transpose(0, *(p + 1 for p in node.perm)))


@implements(ir.LeakyReLU)
def leaky_relu(node, inputs, block):
    x = inputs[0]
    return np.where(x >= 0, x, x * x.dtype.type(node.alpha))


@implements(ir.Sigmoid)
def sigmoid(node, inputs, block):
    x = inputs[0]
    return 1 / (1 + np.exp(-x))


@implements(ir.HardSigmoid)
def hard_sigmoid(node, inputs, block):
    x = inputs[0]
    return np.clip(x * x.dtype.type(node.alpha) + x.dtype.type(node.beta), 0, 1)


@implements(ir.HardSwish)
def hard_swish(node, inputs, block):
    x = inputs[0]
    return x * np.clip(x / 6 + 0.5, 0, 1)


@implements(ir.ReLU)
def relu(node, inputs, block):
    out = np.maximum(inputs[0], 0)
    if node.max_value is not None:
        np.minimum(out, node.max_value, out=out)
    return out


@implements(ir.Softmax)
def softmax(node, inputs, block):
    x = inputs[0]
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
