"""Keras frontend: ``.keras`` / ``.h5`` models -> npukit IR.

Models are loaded with Keras' ``safe_mode=True``: a Lambda layer (arbitrary Python code) is
refused, never run. Sequential and functional graphs are read layer by layer through a registry
``{Keras class name: converter}``; ``supported_layers()`` lists it. Fused activations become
their own IR nodes (``<layer>/relu``); BatchNormalization is folded into the layer before it.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from npukit import ir
from npukit.errors import BadInputError, InternalError, UnsupportedError
from npukit.converters.frontend import Builder, Registry
from npukit.quiet import import_tensorflow

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"

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


def supported_layers() -> list[str]:
    """Keras layer class names this frontend converts."""
    return LAYERS.supported(_PASSTHROUGH | {"InputLayer"})


# -- loading -----------------------------------------------------------------------------------


def load_keras(path: str | Path) -> ir.Graph:
    """Load a .keras or .h5 Keras model file (safe mode) and convert it to the IR."""
    path = Path(path)
    if path.is_dir():
        if (path / "saved_model.pb").exists():
            raise UnsupportedError(
                f"{path}: a TensorFlow SavedModel holds no Keras layer structure that Keras 3 can read "
                f"(keras.saving.load_model refuses it); save the model as .keras instead"
            )
        raise BadInputError(f"{path} is a folder, not a model file")
    head = path.read_bytes()[:8]
    suffix = path.suffix.lower()
    if suffix == ".keras" and not zipfile.is_zipfile(path):
        raise BadInputError(f"{path}: not a .keras archive (not a zip file: truncated or corrupt?)")
    if suffix in (".h5", ".hdf5") and head != HDF5_MAGIC:
        raise BadInputError(f"{path}: not an HDF5 file (bad signature: truncated or corrupt?)")
    if suffix in (".h5", ".hdf5"):
        from npukit.hdf5_probe import probe

        probe(path)  # a damaged HDF5 file can hang or crash the HDF5 library: try it in a child first
    keras = _import_keras()
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types; all mean "this file cannot be read"
        text = " ".join(str(exc).split())
        if "Lambda" in text or "safe_mode" in text:
            raise BadInputError(
                f"{path}: refused: the model contains a Lambda layer (arbitrary Python code); "
                f"npukit loads Keras models with safe_mode on and never runs such code"
            )
        raise BadInputError(f"{path}: Keras could not read this model ({type(exc).__name__}: {text[:300]})")
    graph = from_keras_model(model)
    graph.meta.update({"source_format": "keras"})
    return graph


def _import_keras():
    try:
        import_tensorflow()
        import keras
    except ImportError as exc:  # keras ships with tensorflow, a dependency of npukit
        raise InternalError(f"the Keras frontend needs keras (pip install tensorflow): {exc}")
    return keras


# -- model -> graph --------------------------------------------------------------------------


def from_keras_model(model) -> ir.Graph:
    """Convert a built Keras 3 model (Sequential or functional) to the IR.

    Walks the model's own call graph (``_nodes_by_depth``, as Keras' Functional does when it
    runs), keyed by tensor identity, so layers that also appear in other models are read right.
    A nested Sequential or functional model (ConvNeXt's stem) is walked in place; operations
    written on Keras tensors (``x + 3.0``, ``a + b``: ``keras.ops`` nodes) go through ``OPS``.
    """
    keras = _import_keras()
    model = _functional(keras, model)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UnsupportedError(
            f"models with {len(model.inputs)} inputs and {len(model.outputs)} outputs are not supported (one each)"
        )
    ctx = Builder(f"Keras model {model.name!r}")
    shape = tuple(model.inputs[0].shape[1:])
    if any(d is None for d in shape):
        raise BadInputError(f"the model input has unknown dimensions {shape}; build it with a fixed input shape")
    history = getattr(model.inputs[0], "_keras_history", None)
    first = ctx.add(ir.Input(history.operation.name if history else "input", (), shape=shape))
    output = _walk(keras, ctx, model, first, set())
    return ctx.finish(output, {"keras_model": model.name})


def _functional(keras, model):
    if isinstance(model, keras.Sequential):
        functional = getattr(model, "_functional", None)
        if functional is None:
            raise BadInputError("the Sequential model is not built: give it an Input or call build() before saving")
        return functional
    return model


def _walk(keras, ctx: Builder, model, source: str, used: set[int]) -> str:
    """Convert the layers of ``model`` reading the IR node ``source``; returns its output node."""
    produced: dict[int, str] = {id(model.inputs[0]): source}  # id(Keras tensor) -> IR node holding its value
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for knode in model._nodes_by_depth[depth]:
            lay = knode.operation
            cls = type(lay).__name__
            if knode.is_input or cls == "InputLayer":
                produced[id(knode.outputs[0])] = source
                continue
            if id(lay) in used:
                raise UnsupportedError(f"layer {lay.name!r} is called more than once; shared layers are not supported")
            used.add(id(lay))
            if len(knode.outputs) != 1:
                raise UnsupportedError(f"layer {lay.name!r} has {len(knode.outputs)} outputs; one is supported")
            inputs = [produced[id(t)] for t in knode.input_tensors]
            if isinstance(lay, keras.Model):
                if len(inputs) != 1 or len(lay.inputs) != 1 or len(lay.outputs) != 1:
                    raise UnsupportedError(f"nested model {lay.name!r} needs one input and one output")
                out = _walk(keras, ctx, _functional(keras, lay), inputs[0], used)
            elif type(lay).__module__.startswith("keras.src.ops"):
                if cls not in OPS:
                    raise OPS.refusal(cls, f"operation {lay.name!r}")
                args = [produced.get(id(a), a) if _is_tensor(keras, a) else a for a in knode.arguments.args]
                out = OPS[cls](ctx, lay, args)
            elif cls in _PASSTHROUGH:
                out = inputs[0]
            elif cls not in LAYERS:
                raise LAYERS.refusal(cls, f"layer {lay.name!r}", _PASSTHROUGH | {"InputLayer"})
            else:
                out = LAYERS[cls](ctx, lay, inputs)
            produced[id(knode.outputs[0])] = out
    return produced[id(model.outputs[0])]


def _is_tensor(keras, value) -> bool:
    return isinstance(value, keras.KerasTensor)


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
    keras = _import_keras()
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
    keras = _import_keras()
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
