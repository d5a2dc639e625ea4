"""Keras layer converters: the registries of the Keras frontend (``LAYERS``: Keras class name ->
converter; ``OPS``: ``keras.ops`` operations on Keras tensors), activations, and the layers of
classic CNNs. Layers of mobile architectures are in ``converters/keras_mobile.py``; the
frontend itself (loading, the graph walk) in ``converters/keras.py``.
"""

from __future__ import annotations

import numpy as np

from npukit import ir
from npukit.converters.frontend import Builder, Registry
from npukit.errors import UnsupportedError
from npukit.converters.keras_file import import_keras

#: Keras class name -> converter(builder, layer, input node names) -> the IR node holding its output
LAYERS = Registry("Keras layer")
layer = LAYERS.register
#: ``keras.ops`` operations on Keras tensors -> converter(builder, op, args: IR node names or constants)
OPS = Registry("Keras operation")
operation = OPS.register
#: layers that do nothing at inference time (StochasticDepth: ConvNeXt's, identity at inference)
_PASSTHROUGH = {
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise", "GaussianDropout",
    "AlphaDropout", "ActivityRegularization", "StochasticDepth",
}




# -- activations -------------------------------------------------------------------------------

#: Keras activation name -> the IR node computing it
_ACTIVATIONS = {
    "relu": lambda name, src: ir.ReLU(name, (src,)),
    "relu6": lambda name, src: ir.ReLU(name, (src,), max_value=6.0),
    "softmax": lambda name, src: ir.Softmax(name, (src,)),
    "sigmoid": lambda name, src: ir.Sigmoid(name, (src,)),
    "silu": lambda name, src: ir.Swish(name, (src,)),  # "swish" serializes as "silu"
    "swish": lambda name, src: ir.Swish(name, (src,)),
    "hard_silu": lambda name, src: ir.HardSwish(name, (src,)),  # "hard_swish" serializes as "hard_silu"
    "hard_swish": lambda name, src: ir.HardSwish(name, (src,)),
    "hard_sigmoid": lambda name, src: ir.HardSigmoid(name, (src,), alpha=1 / 6, beta=0.5),  # relu6(x + 3) / 6
    "gelu": lambda name, src: ir.Gelu(name, (src,), approximate="none"),  # the string's default: exact
}


def _activation(ctx: Builder, lay, src: str, fn, suffix: bool = True) -> str:
    keras = import_keras()
    name = fn if isinstance(fn, str) else getattr(fn, "__name__", None)
    if not isinstance(fn, str) and getattr(keras.activations, str(name), None) is not fn:
        raise UnsupportedError(  # a lambda or a user function: its code is not read
            f"activation {name!r} of layer {lay.name!r} is not a Keras activation; supported: linear, {', '.join(sorted(_ACTIVATIONS))}"
        )
    node_name = f"{lay.name}/{name}" if suffix else lay.name
    if name in ("linear", None):
        return src if suffix else ctx.add(ir.Identity(node_name, (src,)))
    if name not in _ACTIVATIONS:
        raise UnsupportedError(
            f"activation {name!r} of layer {lay.name!r} is not supported; supported: linear, {', '.join(sorted(_ACTIVATIONS))}"
        )
    return ctx.add(_ACTIVATIONS[name](node_name, src))


def _weights(lay) -> tuple[np.ndarray, np.ndarray | None]:
    weights = [np.asarray(w, dtype=np.float32) for w in lay.get_weights()]
    return weights[0], (weights[1] if len(weights) > 1 else None)


def _check_channels_last(lay) -> None:
    if getattr(lay, "data_format", "channels_last") != "channels_last":
        raise UnsupportedError(f"layer {lay.name!r} uses data_format={lay.data_format!r}; only channels_last is supported")


# -- layer converters ----------------------------------------------------------------------------


@layer("Dense")
def _dense(ctx: Builder, lay, inputs: list[str]) -> str:
    kernel, bias = _weights(lay)
    bias = np.zeros(kernel.shape[1], np.float32) if bias is None else bias
    shape = ctx.shapes[inputs[0]]
    if len(shape) == 1:
        out = ctx.add(ir.Dense(lay.name, tuple(inputs), kernel=kernel, bias=bias))
    elif len(shape) == 3:  # Dense on the channel axis of an image = 1x1 convolution
        out = ctx.add(ir.Conv2D(lay.name, tuple(inputs), kernel=kernel[None, None], bias=bias))
    else:
        raise UnsupportedError(f"Dense {lay.name!r} on a rank-{len(shape)} input {shape} is not supported")
    return _activation(ctx, lay, out, lay.activation)


@layer("Conv2D")
def _conv2d(ctx: Builder, lay, inputs: list[str]) -> str:
    _check_channels_last(lay)
    kernel, bias = _weights(lay)
    bias = np.zeros(kernel.shape[3], np.float32) if bias is None else bias
    groups = int(getattr(lay, "groups", 1))
    kh, kw, cin_group, cout = kernel.shape
    if groups > 1 and cin_group == 1:  # one input channel per group: a depthwise convolution (ConvNeXt's)
        channels = groups
        out = ctx.add(
            ir.DepthwiseConv2D(
                lay.name, tuple(inputs), kernel=np.ascontiguousarray(kernel.reshape(kh, kw, channels, cout // channels)),
                bias=bias, strides=tuple(lay.strides), padding=lay.padding, dilation=tuple(lay.dilation_rate),
            )
        )
        return _activation(ctx, lay, out, lay.activation)
    out = ctx.add(
        ir.Conv2D(
            lay.name, tuple(inputs), kernel=kernel, bias=bias, strides=tuple(lay.strides),
            padding=lay.padding, dilation=tuple(lay.dilation_rate), groups=groups,
        )
    )
    return _activation(ctx, lay, out, lay.activation)


@layer("DepthwiseConv2D")
def _depthwise(ctx: Builder, lay, inputs: list[str]) -> str:
    _check_channels_last(lay)
    kernel, bias = _weights(lay)
    bias = np.zeros(kernel.shape[2] * kernel.shape[3], np.float32) if bias is None else bias
    out = ctx.add(
        ir.DepthwiseConv2D(
            lay.name, tuple(inputs), kernel=kernel, bias=bias, strides=tuple(lay.strides),
            padding=lay.padding, dilation=tuple(lay.dilation_rate),
        )
    )
    return _activation(ctx, lay, out, lay.activation)


@layer("SeparableConv2D")
def _separable(ctx: Builder, lay, inputs: list[str]) -> str:
    _check_channels_last(lay)
    weights = [np.asarray(w, dtype=np.float32) for w in lay.get_weights()]
    depthwise, pointwise = weights[0], weights[1]
    bias = weights[2] if len(weights) > 2 else np.zeros(pointwise.shape[3], np.float32)
    zeros = np.zeros(depthwise.shape[2] * depthwise.shape[3], np.float32)
    dw = ctx.add(
        ir.DepthwiseConv2D(
            f"{lay.name}/depthwise", tuple(inputs), kernel=depthwise, bias=zeros, strides=tuple(lay.strides),
            padding=lay.padding, dilation=tuple(lay.dilation_rate),
        )
    )
    out = ctx.add(ir.Conv2D(lay.name, (dw,), kernel=pointwise, bias=bias))
    return _activation(ctx, lay, out, lay.activation)


@layer("AveragePooling2D", "MaxPooling2D")
def _pool(ctx: Builder, lay, inputs: list[str]) -> str:
    _check_channels_last(lay)
    cls = ir.AveragePool2D if type(lay).__name__ == "AveragePooling2D" else ir.MaxPool2D
    strides = lay.strides if lay.strides is not None else lay.pool_size
    return ctx.add(
        cls(lay.name, tuple(inputs), pool_size=tuple(lay.pool_size), strides=tuple(strides), padding=lay.padding)
    )


@layer("GlobalAveragePooling2D")
def _gap(ctx: Builder, lay, inputs: list[str]) -> str:
    _check_channels_last(lay)
    return ctx.add(ir.GlobalAveragePool(lay.name, tuple(inputs), keepdims=bool(lay.keepdims)))


@layer("ZeroPadding2D")
def _zero_pad(ctx: Builder, lay, inputs: list[str]) -> str:
    _check_channels_last(lay)
    return ctx.add(ir.Pad2D(lay.name, tuple(inputs), pads=tuple(tuple(p) for p in lay.padding)))


@layer("Flatten")
def _flatten(ctx: Builder, lay, inputs: list[str]) -> str:
    _check_channels_last(lay)
    return ctx.add(ir.Flatten(lay.name, tuple(inputs)))


@layer("Reshape")
def _reshape(ctx: Builder, lay, inputs: list[str]) -> str:
    target = list(lay.target_shape)
    size = int(np.prod(ctx.shapes[inputs[0]]))
    if target.count(-1) == 1:
        known = int(np.prod([d for d in target if d != -1]))
        target[target.index(-1)] = size // known if known else 0
    return ctx.add(ir.Reshape(lay.name, tuple(inputs), shape=tuple(target)))


@layer("Add")
def _add(ctx: Builder, lay, inputs: list[str]) -> str:
    return ctx.add(ir.Add(lay.name, tuple(inputs)))


@layer("Concatenate")
def _concat(ctx: Builder, lay, inputs: list[str]) -> str:
    axis = lay.axis - 1 if lay.axis > 0 else lay.axis  # Keras counts the batch axis
    return ctx.add(ir.Concatenate(lay.name, tuple(inputs), axis=axis))


@layer("BatchNormalization")
def _batchnorm(ctx: Builder, lay, inputs: list[str]) -> str:
    rank = len(ctx.shapes[inputs[0]])
    axis = lay.axis if isinstance(lay.axis, int) else lay.axis[0]
    if axis not in (-1, rank):
        raise UnsupportedError(f"BatchNormalization {lay.name!r} on axis {lay.axis} is not supported (last axis only)")
    weights = [np.asarray(w, dtype=np.float64) for w in lay.get_weights()]
    gamma = weights.pop(0) if lay.scale else None
    beta = weights.pop(0) if lay.center else None
    mean, var = weights
    gamma = np.ones_like(mean) if gamma is None else gamma
    beta = np.zeros_like(mean) if beta is None else beta
    scale = gamma / np.sqrt(var + lay.epsilon)
    shift = beta - mean * scale
    return ctx.add(ir.BatchNorm(lay.name, tuple(inputs), scale=scale.astype(np.float32), shift=shift.astype(np.float32)))


@layer("Rescaling")
def _rescaling(ctx: Builder, lay, inputs: list[str]) -> str:
    if np.ndim(lay.scale) == 0 and np.ndim(lay.offset) == 0:  # scalars stay scalars: a MUL and an ADD by one value
        scaled = ctx.add(ir.Scale(f"{lay.name}/scale", tuple(inputs), scale=np.asarray(lay.scale, np.float32)))
        return ctx.add(ir.Offset(lay.name, (scaled,), offset=np.asarray(lay.offset, np.float32)))
    channels = ctx.shapes[inputs[0]][-1]
    scale = np.broadcast_to(np.asarray(lay.scale, np.float32), (channels,)).copy()
    shift = np.broadcast_to(np.asarray(lay.offset, np.float32), (channels,)).copy()
    return ctx.add(ir.BatchNorm(lay.name, tuple(inputs), scale=scale, shift=shift))


@layer("ReLU")
def _relu(ctx: Builder, lay, inputs: list[str]) -> str:
    if float(lay.negative_slope) != 0.0 or float(lay.threshold) != 0.0:
        raise UnsupportedError(
            f"ReLU {lay.name!r} with negative_slope={lay.negative_slope} threshold={lay.threshold} is not supported"
        )
    max_value = None if lay.max_value is None else float(lay.max_value)
    return ctx.add(ir.ReLU(lay.name, tuple(inputs), max_value=max_value))


@layer("Activation")
def _activation_layer(ctx: Builder, lay, inputs: list[str]) -> str:
    return _activation(ctx, lay, inputs[0], lay.activation, suffix=False)


@layer("Softmax")
def _softmax(ctx: Builder, lay, inputs: list[str]) -> str:
    axis = lay.axis if isinstance(lay.axis, int) else tuple(lay.axis)
    if axis not in (-1, len(ctx.shapes[inputs[0]])):
        raise UnsupportedError(f"Softmax {lay.name!r} on axis {lay.axis} is not supported (last axis only)")
    return ctx.add(ir.Softmax(lay.name, tuple(inputs)))
