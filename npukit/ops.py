"""numpy implementations of the IR's non-spiking node types, one function per type.

``forward(node, inputs, block)`` evaluates a node on batched arrays (batch axis first). The float
evaluator calls it on (N, ...) arrays; the spiking runtime on (T*N, ...) arrays with
``block = N`` (see ``npukit.kernels``). The IR node docstrings are the specification.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from npukit import ir
from npukit.errors import BadInputError, UnsupportedError
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
    x = inputs[0]
    if node.groups == 1:
        return conv2d(x, node.kernel, node.bias, node.strides, node.padding, node.dilation, block)
    cin, cout = node.kernel.shape[2], node.kernel.shape[3] // node.groups
    return np.concatenate([  # group k: input channels [k cin, (k+1) cin) -> output block k
        conv2d(x[..., k * cin : (k + 1) * cin], node.kernel[..., k * cout : (k + 1) * cout],
               node.bias[k * cout : (k + 1) * cout], node.strides, node.padding, node.dilation, block)
        for k in range(node.groups)
    ], axis=-1)


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
    out = inputs[0]
    for x in inputs[1:]:
        out = out + x  # broadcasting per sample: the batch axes are equal
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


@implements(ir.Tanh)
def tanh(node, inputs, block):
    return np.tanh(inputs[0])


@implements(ir.Embedding)
def embedding(node, inputs, block):
    ids = inputs[0]
    vocabulary = node.table.shape[0]
    if ids.size and (np.any(ids != np.round(ids)) or ids.min() < 0 or ids.max() >= vocabulary):
        bad = ids[(ids != np.round(ids)) | (ids < 0) | (ids >= vocabulary)].reshape(-1)[0]
        raise BadInputError(
            f"Embedding {node.name!r}: token id {bad:g} is not a whole number in 0..{vocabulary - 1} (its vocabulary)"
        )
    return node.table.astype(ids.dtype, copy=False)[ids.astype(np.int64)]


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


@implements(ir.Swish)
def swish(node, inputs, block):
    x = inputs[0]
    return x / (1 + np.exp(-x))


def _erf(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf  # scipy comes with scikit-learn, a dependency

    return erf(x).astype(x.dtype, copy=False)


@implements(ir.Erf)
def erf(node, inputs, block):
    return _erf(inputs[0])


@implements(ir.Gelu)
def gelu(node, inputs, block):
    x = inputs[0]
    if node.approximate == "tanh":
        return x / 2 * (1 + np.tanh(np.sqrt(2 / np.pi).astype(x.dtype) * (x + x.dtype.type(0.044715) * x**3)))
    return x / 2 * (1 + _erf(x / np.sqrt(x.dtype.type(2))))


@implements(ir.Multiply)
def multiply(node, inputs, block):
    return inputs[0] * inputs[1]


@implements(ir.Divide)
def divide(node, inputs, block):
    return inputs[0] / inputs[1]


@implements(ir.LayerNorm)
def layer_norm(node, inputs, block):
    x = inputs[0]
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    normed = (x - mean) / np.sqrt(var + x.dtype.type(node.epsilon))
    return normed * node.gamma.astype(x.dtype, copy=False) + node.beta.astype(x.dtype, copy=False)


@implements(ir.Reduce)
def reduce(node, inputs, block):
    fn = {"mean": np.mean, "max": np.max, "sum": np.sum}[node.op]
    return fn(inputs[0], axis=tuple(a + 1 for a in node.axes), keepdims=node.keepdims)


@implements(ir.Pad)
def pad_constant(node, inputs, block):
    return np.pad(inputs[0], ((0, 0), *node.pads), constant_values=node.value)


@implements(ir.Slice)
def slice_(node, inputs, block):
    x = inputs[0]
    return x[(slice(None), *(slice(b, e, s) for b, e, s in zip(node.begin, node.end, node.strides)))]


@implements(ir.PermuteChannels)
def permute_channels(node, inputs, block):
    return inputs[0][..., list(node.order)]


def _source_cells(n: int, m: int, coordinates: str) -> np.ndarray:
    """Source coordinate of each of the m output cells along an axis of n input cells."""
    i = np.arange(m, dtype=np.float64)
    if coordinates == "half_pixel":
        return (i + 0.5) * n / m - 0.5
    if coordinates == "align_corners":
        return i * (n - 1) / (m - 1) if m > 1 else np.zeros(m)
    return i * n / m


def _axis_weights(n: int, m: int, method: str, coordinates: str) -> np.ndarray:
    """(m, n) matrix taking an axis of n cells to m cells (nearest: one-hot rows)."""
    src = _source_cells(n, m, coordinates)
    out = np.zeros((m, n))
    rows = np.arange(m)
    if method == "nearest":
        cell = np.floor(src) if coordinates == "asymmetric" else np.floor(src + 0.5)
        out[rows, np.clip(cell, 0, n - 1).astype(int)] = 1.0
        return out
    src = np.clip(src, 0, n - 1)
    low = np.floor(src).astype(int)
    high = np.minimum(low + 1, n - 1)
    frac = src - low
    np.add.at(out, (rows, low), 1 - frac)
    np.add.at(out, (rows, high), frac)
    return out


@implements(ir.Resize)
def resize(node, inputs, block):
    x = inputs[0]
    _, h, w, _ = x.shape
    rows = _axis_weights(h, node.size[0], node.method, node.coordinates).astype(x.dtype)
    cols = _axis_weights(w, node.size[1], node.method, node.coordinates).astype(x.dtype)
    return np.einsum("ih,bhwc,jw->bijc", rows, x, cols, optimize=True)
