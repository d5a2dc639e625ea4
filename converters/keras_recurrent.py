"""Keras recurrent layers (LSTM, GRU, SimpleRNN) and Embedding, as one-step IR graphs.

A Keras model with a recurrent layer reads a sequence, (N, T, features) or (N, T) token ids;
the IR holds one step of it (``npukit.ir.recurrence``): the graph input is one step's frame, of
shape (features,), or one token id, shape () with dtype int32, and each recurrent layer is a
cell whose states are carried by Delays (``converters/rnn_cells.py``). T is not part of the
graph (Keras' own T may be None): the data sets it.

Which values are sequences is tracked (``Builder.sequence``): the input, what per-step layers
compute from a sequence (``PER_STEP``: Dense on the last axis, activations, Add...), and the
output of a recurrent layer with ``return_sequences=True``. A recurrent layer without it yields
its last step, a plain value: the IR computes it at every step and the host keeps the last
(``readout`` "last"); layers after it are stateless, so this is exact. A layer that mixes
timesteps (Flatten, pooling or convolution over time, Reshape...) on a sequence, or a value
combining a sequence with a last step, has no one-step form and is refused, naming the layer.
"""

from __future__ import annotations

import numpy as np

from npukit import ir
from npukit.converters.frontend import Builder
from npukit.converters.keras_file import import_keras
from npukit.converters.keras_layers import layer
from npukit.converters.rnn_cells import GRU_GATES, LSTM_GATES, gru_cell, lstm_cell, simple_rnn_cell
from npukit.errors import BadInputError, UnsupportedError

RECURRENT = ("LSTM", "GRU", "SimpleRNN")
#: layers that compute each step of a sequence on its own (Dense acts on the last axis)
PER_STEP = frozenset({
    "Dense", "Activation", "ReLU", "Softmax", "LayerNormalization", "Add", "Subtract", "Multiply", "Embedding",
    *RECURRENT,
})


#: recurrent layers npukit refuses, and why (said by ``check_names`` before anything converts)
REFUSED = {
    "Bidirectional": "its backward layer needs the whole sequence before its first output, and npukit runs a "
                     "recurrent model one step at a time; use a forward layer",
}


def refuse_layers(found: list[tuple[str, str, bool]], source: str = "") -> None:
    """Raise the reason for the first layer of ``found`` (``check_names``' list) in ``REFUSED``."""
    for cls, where, op in found:
        if not op and cls in REFUSED:
            raise UnsupportedError(f"{source + ': ' if source else ''}{where} ({cls}) is not supported: {REFUSED[cls]}")


def recurrent_input(found: list[tuple[str, str, bool]], shape: tuple) -> tuple[tuple[int, ...], str] | None:
    """For a model with a recurrent layer (``found``: ``check_names``' list), the per-step
    shape and dtype of its input of per-sample ``shape`` (T, ...); None for other models."""
    if not any(cls in RECURRENT for cls, _, op in found if not op):
        return None
    if len(shape) < 1:
        raise BadInputError(f"a recurrent model reads sequences (N, T, ...); its input has shape {shape}")
    step = tuple(shape[1:])
    if any(d is None for d in step):
        raise BadInputError(f"the model input has unknown dimensions {shape}; only the time axis may be None")
    return (step, "float32") if step else ((), "int32")  # (N, T): one token id per step


def readout_of(ctx: Builder, output: str) -> str:
    """What the model returns: every step's output, or the last step's."""
    return "sequence" if output in ctx.sequence else "last"


def check_steps(ctx: Builder, lay, cls: str, inputs: list[str]) -> None:
    """Refuse a layer that has no one-step form where it sits (module docstring)."""
    if not ctx.sequence:
        return
    steps = [name in ctx.sequence for name in inputs]
    if cls in RECURRENT and not all(steps):
        raise UnsupportedError(f"{cls} {lay.name!r} reads a single step (a recurrent layer without return_sequences); it needs a sequence")
    if not any(steps):
        return
    if not all(steps):
        raise UnsupportedError(f"layer {lay.name!r} ({cls}) combines a sequence with a single step; npukit converts one step at a time")
    if cls not in PER_STEP:
        raise UnsupportedError(
            f"layer {lay.name!r} ({cls}) mixes the timesteps of a sequence; npukit converts a recurrent model to one "
            f"step at a time, so a sequence may only pass through {', '.join(sorted(PER_STEP))}"
        )


def mark_steps(ctx: Builder, lay, cls: str, inputs: list[str], out: str) -> None:
    """Record whether the layer's output is a sequence."""
    if cls in RECURRENT:
        if lay.return_sequences:
            ctx.sequence.add(out)
    elif inputs and all(name in ctx.sequence for name in inputs):
        ctx.sequence.add(out)


def operation_on_steps(ctx: Builder, op, args) -> None:
    """keras.ops arithmetic on a sequence is refused (its constants may span timesteps)."""
    if any(isinstance(a, str) and a in ctx.sequence for a in args):
        raise UnsupportedError(f"operation {op.name!r} on a sequence is not supported; use layers (Add, Multiply...) there")


# -- layers ----------------------------------------------------------------------------------------


def _activation_name(fn) -> str | None:
    keras = import_keras()
    name = getattr(fn, "__name__", None)
    return name if name and getattr(keras.activations, name, None) is fn else None


def _check_recurrent(lay, cls: str) -> None:
    for attribute, value, why in (
        ("go_backwards", True, "reads the sequence backwards, which a step-by-step graph cannot"),
        ("stateful", True, "keeps its state across batches"),
        ("return_state", True, "returns its states as extra outputs"),
    ):
        if getattr(lay, attribute, False) == value:
            raise UnsupportedError(f"{cls} {lay.name!r} with {attribute}=True is not supported: it {why}")
    wanted = {"activation": "tanh", "recurrent_activation": "sigmoid"}
    for attribute, default in wanted.items():
        if cls == "SimpleRNN" and attribute == "recurrent_activation":
            continue
        name = _activation_name(getattr(lay, attribute))
        if name != default:
            raise UnsupportedError(
                f"{cls} {lay.name!r}: {attribute} {name or getattr(lay, attribute)!r} is not supported "
                f"(activation tanh and recurrent_activation sigmoid only, Keras' defaults)"
            )


def _split(matrix: np.ndarray, gates: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Keras stores gates side by side on the last axis, in ``gates`` order."""
    parts = np.split(np.asarray(matrix, np.float32), len(gates), axis=-1)
    return dict(zip(gates, parts))


@layer("LSTM")
def _lstm(ctx: Builder, lay, inputs: list[str]) -> str:
    _check_recurrent(lay, "LSTM")
    weights = lay.get_weights()  # gates in Keras' order: input, forget, cell candidate, output
    w, r = _split(weights[0], LSTM_GATES), _split(weights[1], LSTM_GATES)
    bx = _split(weights[2], LSTM_GATES) if len(weights) > 2 else {}
    return lstm_cell(ctx, lay.name, inputs[0], w, r, bx, {})


@layer("GRU")
def _gru(ctx: Builder, lay, inputs: list[str]) -> str:
    _check_recurrent(lay, "GRU")
    weights = lay.get_weights()
    w, r = _split(weights[0], GRU_GATES), _split(weights[1], GRU_GATES)  # Keras' order: update, reset, candidate
    bx = bh = {}
    if len(weights) > 2:
        bias = np.asarray(weights[2], np.float32)
        if lay.reset_after:  # (2, 3 units): input bias, recurrent bias
            bx, bh = _split(bias[0], GRU_GATES), _split(bias[1], GRU_GATES)
        else:
            bx = _split(bias, GRU_GATES)
    return gru_cell(ctx, lay.name, inputs[0], w, r, bx, bh, reset_after=bool(lay.reset_after))


@layer("SimpleRNN")
def _simple_rnn(ctx: Builder, lay, inputs: list[str]) -> str:
    _check_recurrent(lay, "SimpleRNN")
    weights = [np.asarray(v, np.float32) for v in lay.get_weights()]
    return simple_rnn_cell(ctx, lay.name, inputs[0], weights[0], weights[1], weights[2] if len(weights) > 2 else None, None)


@layer("Embedding")
def _embedding(ctx: Builder, lay, inputs: list[str]) -> str:
    source = next(n for n in ctx.nodes if n.name == inputs[0])
    if not (isinstance(source, ir.Input) and source.dtype == "int32"):
        raise UnsupportedError(
            f"Embedding {lay.name!r} must read the token ids a recurrent model takes as input (N, T); "
            f"Embedding elsewhere is not supported"
        )
    if getattr(lay, "mask_zero", False):
        raise UnsupportedError(f"Embedding {lay.name!r} with mask_zero=True is not supported: masked steps change the recurrence")
    (table,) = [np.asarray(v, np.float32) for v in lay.get_weights()]
    return ctx.add(ir.Embedding(lay.name, tuple(inputs), table=table))
