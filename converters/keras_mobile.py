"""Keras layers of mobile architectures (EfficientNet, MobileNetV3, NASNet, ConvNeXt):
Multiply (squeeze-excite), Subtract, Normalization, Cropping2D, LayerNormalization, LayerScale,
UpSampling2D, the 1-D layers, global pooling, and arithmetic written on Keras tensors
(``x + 3.0``, ``a + b``: ``keras.ops`` nodes). Registered in the registries of
``converters/keras_layers.py``.
"""

from __future__ import annotations

import numpy as np

from npukit import ir
from npukit.converters.frontend import Builder
from npukit.converters.keras_file import import_keras
from npukit.converters.keras_layers import _activation, _check_channels_last, _weights, layer, operation
from npukit.errors import UnsupportedError


@layer("Multiply")
def _multiply(ctx: Builder, lay, inputs: list[str]) -> str:
    out = inputs[0]
    for k, other in enumerate(inputs[1:], 1):
        name = lay.name if k == len(inputs) - 1 else f"{lay.name}/{k}"
        out = ctx.add(ir.Multiply(name, (out, other)))
    return out


@layer("Subtract")
def _subtract(ctx: Builder, lay, inputs: list[str]) -> str:
    negated = ctx.add(ir.Scale(f"{lay.name}/negate", (inputs[1],), scale=np.array(-1.0, np.float32)))
    return ctx.add(ir.Add(lay.name, (inputs[0], negated)))


@layer("Normalization")
def _normalization(ctx: Builder, lay, inputs: list[str]) -> str:
    """y = (x - mean) / max(sqrt(variance), epsilon) on the last axis: a per-channel affine map
    (a BatchNorm node; the Conv2D after it keeps its zero padding exact, so it is not folded)."""
    if getattr(lay, "invert", False):
        raise UnsupportedError(f"Normalization {lay.name!r} with invert=True is not supported")
    channels = ctx.shapes[inputs[0]][-1]
    axis = tuple(lay.axis) if isinstance(lay.axis, (list, tuple)) else (lay.axis,)
    rank = len(ctx.shapes[inputs[0]])
    if axis not in ((-1,), (rank,)):
        raise UnsupportedError(f"Normalization {lay.name!r} on axes {lay.axis} is not supported (last axis only)")
    keras = import_keras()
    mean = np.asarray(lay.mean, np.float64).reshape(-1)
    std = np.maximum(np.sqrt(np.asarray(lay.variance, np.float64).reshape(-1)), keras.backend.epsilon())
    scale = np.broadcast_to(1.0 / std, (channels,))
    shift = np.broadcast_to(-mean / std, (channels,))
    return ctx.add(ir.BatchNorm(lay.name, tuple(inputs), scale=scale.astype(np.float32), shift=shift.astype(np.float32)))


@layer("Cropping2D")
def _cropping(ctx: Builder, lay, inputs: list[str]) -> str:
    _check_channels_last(lay)
    (top, bottom), (left, right) = (tuple(p) for p in lay.cropping)
    h, w, c = ctx.shapes[inputs[0]]
    return ctx.add(ir.Slice(lay.name, tuple(inputs), begin=(top, left, 0), end=(h - bottom, w - right, c), strides=(1, 1, 1)))


@layer("LayerNormalization")
def _layer_norm(ctx: Builder, lay, inputs: list[str]) -> str:
    rank = len(ctx.shapes[inputs[0]])
    axes = tuple(lay.axis) if isinstance(lay.axis, (list, tuple)) else (lay.axis,)
    if axes not in ((-1,), (rank,)) or getattr(lay, "rms_scaling", False):
        raise UnsupportedError(f"LayerNormalization {lay.name!r} on axes {lay.axis} is not supported (last axis, no rms_scaling)")
    channels = ctx.shapes[inputs[0]][-1]
    weights = [np.asarray(w, np.float32) for w in lay.get_weights()]
    gamma = weights.pop(0) if lay.scale else np.ones(channels, np.float32)
    beta = weights.pop(0) if lay.center else np.zeros(channels, np.float32)
    return ctx.add(ir.LayerNorm(lay.name, tuple(inputs), gamma=gamma, beta=beta, epsilon=float(lay.epsilon)))


@layer("LayerScale")
def _layer_scale(ctx: Builder, lay, inputs: list[str]) -> str:
    """ConvNeXt's LayerScale (keras.applications.convnext): y = x * gamma on the last axis."""
    (gamma,) = [np.asarray(w, np.float32) for w in lay.get_weights()]
    return ctx.add(ir.Scale(lay.name, tuple(inputs), scale=gamma))


@layer("UpSampling2D")
def _upsampling(ctx: Builder, lay, inputs: list[str]) -> str:
    """Keras repeats rows and columns for 'nearest' and resizes with half-pixel centres for
    'bilinear'."""
    _check_channels_last(lay)
    if lay.interpolation not in ("nearest", "bilinear"):
        raise UnsupportedError(f"UpSampling2D {lay.name!r} with interpolation {lay.interpolation!r} is not supported (nearest, bilinear)")
    h, w, _ = ctx.shapes[inputs[0]]
    fh, fw = lay.size
    coordinates = "asymmetric" if lay.interpolation == "nearest" else "half_pixel"
    return ctx.add(ir.Resize(lay.name, tuple(inputs), size=(h * fh, w * fw), method=lay.interpolation, coordinates=coordinates))


# -- 1-D layers: an (L, C) sequence is a (1, L, C) image for the 2-D nodes ------------------------


def _as_image(ctx: Builder, lay, src: str) -> str:
    length, channels = ctx.shapes[src]
    return ctx.add(ir.Reshape(f"{lay.name}/as_2d", (src,), shape=(1, length, channels)))


def _as_sequence(ctx: Builder, lay, src: str) -> str:
    _, length, channels = ctx.shapes[src]
    return ctx.add(ir.Reshape(lay.name, (src,), shape=(length, channels)))


def _check_1d(ctx: Builder, lay, src: str) -> None:
    _check_channels_last(lay)
    if len(ctx.shapes[src]) != 2:
        raise UnsupportedError(f"{type(lay).__name__} {lay.name!r} needs (steps, channels) input. Received: {ctx.shapes[src]}")
    if lay.padding not in ("same", "valid"):
        raise UnsupportedError(f"{type(lay).__name__} {lay.name!r} with padding {lay.padding!r} is not supported (same, valid)")


@layer("Conv1D")
def _conv1d(ctx: Builder, lay, inputs: list[str]) -> str:
    _check_1d(ctx, lay, inputs[0])
    kernel, bias = _weights(lay)
    bias = np.zeros(kernel.shape[2], np.float32) if bias is None else bias
    conv = ctx.add(
        ir.Conv2D(
            f"{lay.name}/conv", (_as_image(ctx, lay, inputs[0]),), kernel=kernel[None], bias=bias,
            strides=(1, lay.strides[0]), padding=lay.padding, dilation=(1, lay.dilation_rate[0]),
            groups=int(getattr(lay, "groups", 1)),
        )
    )
    return _activation(ctx, lay, _as_sequence(ctx, lay, conv), lay.activation)


@layer("MaxPooling1D", "AveragePooling1D")
def _pool1d(ctx: Builder, lay, inputs: list[str]) -> str:
    _check_1d(ctx, lay, inputs[0])
    cls = ir.MaxPool2D if type(lay).__name__ == "MaxPooling1D" else ir.AveragePool2D
    size = lay.pool_size[0]
    stride = (lay.strides or lay.pool_size)[0]
    pooled = ctx.add(cls(f"{lay.name}/pool", (_as_image(ctx, lay, inputs[0]),), pool_size=(1, size), strides=(1, stride),
                         padding=lay.padding))
    return _as_sequence(ctx, lay, pooled)


@layer("GlobalAveragePooling1D", "GlobalMaxPooling1D", "GlobalMaxPooling2D")
def _global_pool(ctx: Builder, lay, inputs: list[str]) -> str:
    _check_channels_last(lay)
    rank = len(ctx.shapes[inputs[0]])
    op = "max" if "Max" in type(lay).__name__ else "mean"
    return ctx.add(ir.Reduce(lay.name, tuple(inputs), op=op, axes=tuple(range(rank - 1)), keepdims=bool(lay.keepdims)))


# -- operations on Keras tensors (keras.ops nodes of a functional graph) --------------------------


def _binary_op(kind: str):
    def convert(ctx: Builder, op, args: list) -> str:
        if len(args) != 2:
            raise UnsupportedError(f"operation {op.name!r} ({kind}) with {len(args)} operands is not supported")
        a, b = args
        tensors = [isinstance(v, str) for v in (a, b)]
        if all(tensors):
            if kind == "Add":
                return ctx.add(ir.Add(op.name, (a, b)))
            if kind == "Multiply":
                return ctx.add(ir.Multiply(op.name, (a, b)))
            if kind == "Subtract":
                negated = ctx.add(ir.Scale(f"{op.name}/negate", (b,), scale=np.array(-1.0, np.float32)))
                return ctx.add(ir.Add(op.name, (a, negated)))
            return ctx.add(ir.Divide(op.name, (a, b)))
        if not any(tensors):
            raise UnsupportedError(f"operation {op.name!r} ({kind}) has no tensor operand")
        tensor, value = (a, b) if tensors[0] else (b, a)
        value = np.asarray(value, np.float32)
        if kind == "Add":
            return ctx.add(ir.Offset(op.name, (tensor,), offset=value))
        if kind == "Multiply":
            return ctx.add(ir.Scale(op.name, (tensor,), scale=value))
        if kind == "Subtract":
            if tensors[0]:
                return ctx.add(ir.Offset(op.name, (tensor,), offset=-value))
            negated = ctx.add(ir.Scale(f"{op.name}/negate", (tensor,), scale=np.array(-1.0, np.float32)))
            return ctx.add(ir.Offset(op.name, (negated,), offset=value))
        if not tensors[0] or np.any(value == 0):
            raise UnsupportedError(f"operation {op.name!r}: only a tensor divided by a non-zero constant is supported")
        return ctx.add(ir.Scale(op.name, (tensor,), scale=(1.0 / value).astype(np.float32)))

    return convert


for _kind, _names in {"Add": ("Add",), "Subtract": ("Subtract",), "Multiply": ("Multiply",),
                      "Divide": ("Divide", "TrueDivide")}.items():
    operation(*_names)(_binary_op(_kind))
