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
from npukit.errors import BadInputError, UnsupportedError
from npukit.converters.frontend import Builder, Registry
from npukit.converters.keras_file import import_keras

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"

#: Keras class name -> converter(builder, layer, input node names) -> the IR node holding its output
LAYERS = Registry("Keras layer")
layer = LAYERS.register
#: layers that do nothing at inference time
_PASSTHROUGH = {
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise", "GaussianDropout",
    "AlphaDropout", "ActivityRegularization",
}


def supported_layers() -> list[str]:
    """Keras layer class names this frontend converts."""
    return LAYERS.supported(_PASSTHROUGH | {"InputLayer"})


# -- loading -----------------------------------------------------------------------------------


def load_keras(path: str | Path, budget=None) -> ir.Graph:
    """Load a .keras or .h5 Keras model file (safe mode) and convert it to the IR.

    Before Keras sees the file, ``npukit.converters.keras_file`` refuses what npukit would not convert
    and charges what the load would allocate to ``budget`` (``npukit.budget.LoadBudget``);
    Keras then runs with a private temporary folder, removed however the load ends."""
    from npukit.budget import LoadBudget
    from npukit.files import private_tempdir
    from npukit.converters.keras_file import LAMBDA_REFUSAL, check_keras_file

    path = Path(path)
    if path.is_dir():
        if (path / "saved_model.pb").exists():
            raise UnsupportedError(
                f"{path}: a TensorFlow SavedModel holds no Keras layer structure that Keras 3 can read "
                f"(keras.saving.load_model refuses it); save the model as .keras instead"
            )
        raise BadInputError(f"{path} is a folder, not a model file")
    with open(path, "rb") as handle:
        head = handle.read(8)
    suffix = path.suffix.lower()
    if suffix == ".keras" and not zipfile.is_zipfile(path):
        raise BadInputError(f"{path}: not a .keras archive (not a zip file: truncated or corrupt?)")
    if suffix in (".h5", ".hdf5") and head != HDF5_MAGIC:
        raise BadInputError(f"{path}: not an HDF5 file (bad signature: truncated or corrupt?)")
    check_keras_file(path, budget or LoadBudget(str(path)),
                     lambda found, source: LAYERS.check_all(found, _PASSTHROUGH | {"InputLayer"}, source))
    keras = import_keras()
    try:
        with private_tempdir("npukit-keras-"):  # assets Keras extracts, gone on every exit path
            model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types; all mean "this file cannot be read"
        text = " ".join(str(exc).split())
        if "Lambda" in text or "safe_mode" in text:
            raise BadInputError(f"{path}: {LAMBDA_REFUSAL}")
        raise BadInputError(f"{path}: Keras could not read this model ({type(exc).__name__}: {text[:300]})")
    graph = from_keras_model(model)
    graph.meta.update({"source_format": "keras"})
    return graph




# -- model -> graph --------------------------------------------------------------------------


def from_keras_model(model) -> ir.Graph:
    """Convert a built Keras 3 model (Sequential or functional) to the IR.

    Walks the model's own call graph (``_nodes_by_depth``, as Keras' Functional does when it
    runs), keyed by tensor identity, so layers that also appear in other models are read right.
    """
    keras = import_keras()
    if isinstance(model, keras.Sequential):
        functional = getattr(model, "_functional", None)
        if functional is None:
            raise BadInputError("the Sequential model is not built: give it an Input or call build() before saving")
        model = functional
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UnsupportedError(
            f"models with {len(model.inputs)} inputs and {len(model.outputs)} outputs are not supported (one each)"
        )
    layers = [knode.operation for depth in sorted(model._nodes_by_depth, reverse=True) for knode in model._nodes_by_depth[depth]
              if not knode.is_input and not isinstance(knode.operation, keras.Model)]
    LAYERS.check_all([(type(lay).__name__, f"layer {lay.name!r}") for lay in layers], _PASSTHROUGH | {"InputLayer"})
    ctx = Builder(f"Keras model {model.name!r}")
    produced: dict[int, str] = {}  # id(Keras tensor) -> IR node holding its value
    used: set[int] = set()
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for knode in model._nodes_by_depth[depth]:
            lay = knode.operation
            cls = type(lay).__name__
            if knode.is_input or cls == "InputLayer":
                shape = tuple(model.inputs[0].shape[1:])
                if any(d is None for d in shape):
                    raise BadInputError(f"the model input has unknown dimensions {shape}; build it with a fixed input shape")
                produced[id(knode.outputs[0])] = ctx.add(ir.Input(lay.name, (), shape=shape))
                continue
            if id(lay) in used:
                raise UnsupportedError(f"layer {lay.name!r} is called more than once; shared layers are not supported")
            used.add(id(lay))
            if isinstance(lay, keras.Model):
                raise UnsupportedError(f"layer {lay.name!r} is a nested model ({cls}); flatten it into one model")
            if len(knode.outputs) != 1:
                raise UnsupportedError(f"layer {lay.name!r} has {len(knode.outputs)} outputs; one is supported")
            inputs = [produced[id(t)] for t in knode.input_tensors]
            if cls in _PASSTHROUGH:
                produced[id(knode.outputs[0])] = inputs[0]
                continue
            if cls not in LAYERS:
                raise LAYERS.refusal(cls, f"layer {lay.name!r}", _PASSTHROUGH | {"InputLayer"})
            produced[id(knode.outputs[0])] = LAYERS[cls](ctx, lay, inputs)
    output = produced[id(model.outputs[0])]
    return ctx.finish(output, {"keras_model": model.name})


# -- activations -------------------------------------------------------------------------------

_ACTIVATIONS = ("linear", "relu", "relu6", "softmax")


def _activation(ctx: Builder, lay, src: str, fn, suffix: bool = True) -> str:
    keras = import_keras()
    name = fn if isinstance(fn, str) else keras.activations.serialize(fn)
    if isinstance(name, dict):
        name = name.get("config", name.get("class_name"))
    node_name = f"{lay.name}/{name}" if suffix else lay.name
    if name in ("linear", None):
        return src if suffix else ctx.add(ir.Identity(node_name, (src,)))
    if name == "relu":
        return ctx.add(ir.ReLU(node_name, (src,)))
    if name == "relu6":
        return ctx.add(ir.ReLU(node_name, (src,), max_value=6.0))
    if name == "softmax":
        return ctx.add(ir.Softmax(node_name, (src,)))
    raise UnsupportedError(
        f"activation {name!r} of layer {lay.name!r} is not supported; supported: {', '.join(_ACTIVATIONS)}"
    )


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
    if getattr(lay, "groups", 1) != 1:
        raise UnsupportedError(f"Conv2D {lay.name!r} with groups={lay.groups} is not supported")
    kernel, bias = _weights(lay)
    bias = np.zeros(kernel.shape[3], np.float32) if bias is None else bias
    out = ctx.add(
        ir.Conv2D(
            lay.name, tuple(inputs), kernel=kernel, bias=bias, strides=tuple(lay.strides),
            padding=lay.padding, dilation=tuple(lay.dilation_rate),
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
