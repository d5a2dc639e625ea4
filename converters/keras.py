"""Keras frontend: ``.keras`` / ``.h5`` models -> npukit IR.

Models are loaded with Keras' ``safe_mode=True``: a Lambda layer (arbitrary Python code) is
refused, never run. Sequential and functional graphs are read layer by layer through a registry
``{Keras class name: converter}`` (``converters/keras_layers.py``, ``converters/keras_mobile.py``);
``supported_layers()`` lists it. Fused activations become
their own IR nodes (``<layer>/relu``); BatchNormalization is folded into the layer before it.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from npukit import ir
from npukit.errors import BadInputError, UnsupportedError
from npukit.converters import keras_mobile  # noqa: F401  (registers the mobile layers)
from npukit.converters import keras_recurrent as steps  # registers LSTM, GRU, Embedding...
from npukit.converters.frontend import Builder
from npukit.converters.keras_file import import_keras
from npukit.converters.keras_layers import _PASSTHROUGH, LAYERS, OPS

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


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
    check_keras_file(path, budget or LoadBudget(str(path)), check_names)
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
    A nested Sequential or functional model (ConvNeXt's stem) is walked in place; operations
    written on Keras tensors (``x + 3.0``, ``a + b``: ``keras.ops`` nodes) go through ``OPS``.
    """
    keras = import_keras()
    model = _functional(keras, model)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UnsupportedError(
            f"models with {len(model.inputs)} inputs and {len(model.outputs)} outputs are not supported (one each)"
        )
    names = _layer_names(keras, model)
    check_names(names)
    ctx = Builder(f"Keras model {model.name!r}")
    shape, dtype = tuple(model.inputs[0].shape[1:]), "float32"
    step = steps.recurrent_input(names, shape)  # a recurrent model: the IR holds one step
    if step is not None:
        shape, dtype = step
    if any(d is None for d in shape):
        raise BadInputError(f"the model input has unknown dimensions {shape}; build it with a fixed input shape")
    history = getattr(model.inputs[0], "_keras_history", None)
    first = ctx.add(ir.Input(history.operation.name if history else "input", (), shape=shape, dtype=dtype))
    if step is not None:
        ctx.sequence.add(first)
    output = _walk(keras, ctx, model, first, set())
    meta = {"keras_model": model.name}
    if step is not None:
        meta["readout"] = steps.readout_of(ctx, output)
    return ctx.finish(output, meta)


def check_names(found: list[tuple[str, str, bool]], source: str = "") -> None:
    """Refuse, in one error, every layer class (or keras.ops operation, the flag) in ``found``
    that this frontend does not convert; ``found`` holds (class name, where, is an operation)."""
    steps.refuse_layers(found, source)  # those with a reason of their own (Bidirectional)
    LAYERS.check_all([(cls, where) for cls, where, op in found if not op], _PASSTHROUGH | {"InputLayer"}, source)
    OPS.check_all([(cls, where) for cls, where, op in found if op], (), source)


def _layer_names(keras, model) -> list[tuple[str, str, bool]]:
    """``check_names``' list for a built model, nested models' layers included."""
    found = []
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for knode in model._nodes_by_depth[depth]:
            lay = knode.operation
            if knode.is_input or type(lay).__name__ == "InputLayer":
                continue
            if isinstance(lay, keras.Model):
                found += _layer_names(keras, _functional(keras, lay))
            else:
                found.append((type(lay).__name__, f"layer {lay.name!r}", type(lay).__module__.startswith("keras.src.ops")))
    return found


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
                steps.operation_on_steps(ctx, lay, args)
                out = OPS[cls](ctx, lay, args)
            elif cls in _PASSTHROUGH:
                out = inputs[0]
            elif cls not in LAYERS:
                raise LAYERS.refusal(cls, f"layer {lay.name!r}", _PASSTHROUGH | {"InputLayer"})
            else:
                steps.check_steps(ctx, lay, cls, inputs)  # a recurrent model: no layer may mix timesteps
                out = LAYERS[cls](ctx, lay, inputs)
                steps.mark_steps(ctx, lay, cls, inputs, out)
            produced[id(knode.outputs[0])] = out
    return produced[id(model.outputs[0])]


def _is_tensor(keras, value) -> bool:
    return isinstance(value, keras.KerasTensor)
