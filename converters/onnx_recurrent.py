"""ONNX LSTM and GRU nodes, and the ops that may follow them, as one-step IR graphs.

A model with an LSTM or GRU node reads a sequence; the IR holds one step of it
(``npukit.ir.recurrence``): the graph input is one step's frame (features,), each recurrent node
becomes a cell of ``converters/rnn_cells.py`` whose h (and c) are carried by Delays. The data
are batch-first, (N, T, features), whatever the model's own layout.

ONNX tensors around a recurrent node have a time axis ("T"), a batch axis ("N"), the
direction axis of the node's outputs ("D", of size 1: forward only) and the features ("F",
last). Each such tensor is tracked by the roles of its axes (``OnnxBuilder.roles``, by ONNX
tensor name) while the IR value is one step's features. The graph input is (N, T, F), or
(T, N, F) when it feeds only recurrent nodes of ``layout`` 0 (torch's default export);
``Y`` is (T, D, N, F) or (N, T, D, F) by ``layout``, ``Y_h`` / ``Y_c`` (D, N, F) or (N, D, F)
and hold the last step only (the host keeps the last step's readout).

What may act on those tensors (``step_op``): Squeeze or Reshape dropping the direction axis,
Transpose of the time and batch axes (free: the IR value is unchanged), Gather of the last
step along the time axis, Shape (torch's exports size the zero initial states with it), and
ops that compute each step on its own along the features (MatMul / Gemm with a constant
weight, Add / Sub / Mul / Div, Relu, Sigmoid, Softmax over the features...). Anything else
mixes the timesteps, and is refused naming the node. The graph's output is every step's value (readout
"sequence", returned as (N, T, F)) or the last step's ("last"). Initial states must be zero
(absent, or an all-zero constant such as torch's Expand of a zero).
"""

from __future__ import annotations

import numpy as np

from npukit import ir
from npukit.converters.onnx_graph import OnnxBuilder as Builder
from npukit.converters.onnx_graph import T
from npukit.converters.onnx_ops import _const, _tensor, op
from npukit.converters.rnn_cells import gru_cell, lstm_cell
from npukit.errors import BadInputError, UnsupportedError

RECURRENT = ("LSTM", "GRU")
#: ONNX gate order in W, R and B, named as ``converters/rnn_cells.py`` names them
GATE_ORDER = {"LSTM": ("i", "o", "f", "g"), "GRU": ("z", "r", "n")}
ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"]}
#: ops that compute each step on its own (on the features axis)
PER_STEP = frozenset({"MatMul", "Gemm", "Add", "Sub", "Mul", "Div", "Relu", "LeakyRelu", "Sigmoid", "HardSigmoid",
                      "HardSwish", "Clip", "Softmax", "Identity", "Dropout"})


def is_recurrent(graph) -> bool:
    """Whether an ONNX graph has an LSTM or GRU node."""
    return any(node.op_type in RECURRENT and node.domain in ("", "ai.onnx") for node in graph.node)


def sequence_input(b: Builder, graph, value_info, given: tuple[int, ...] | None) -> tuple[T, tuple[str, ...], list]:
    """The IR input of a recurrent model (one step's features), the roles of the ONNX input's
    axes and its declared shape (module docstring)."""
    dims = value_info.type.tensor_type.shape.dim
    declared = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or "?") for d in dims]
    if given is not None:
        given = [int(v) for v in given]
        if len(given) != len(declared) or any(v <= 0 for v in given):
            raise BadInputError(f"{b.source}: the input shape {tuple(given)} does not fit the input's declared shape {declared}")
        declared = given
    if len(declared) != 3:
        raise UnsupportedError(
            f"{b.source}: a recurrent model's input must be a sequence of feature vectors, rank 3 (N, T, features); "
            f"input {value_info.name!r} has shape {declared}"
        )
    features = declared[2]
    if not isinstance(features, int):
        raise BadInputError(f"{b.source}: input {value_info.name!r} has symbolic features {declared}; give the input shape")
    readers = [n for n in graph.node if value_info.name in n.input]
    time_first = bool(readers) and all(
        n.op_type in RECURRENT and n.input[0] == value_info.name and _layout(n) == 0 for n in readers
    )
    roles = ("T", "N", "F") if time_first else ("N", "T", "F")
    batch = declared[roles.index("N")]
    b.batch = batch if isinstance(batch, int) else 1
    steps = declared[roles.index("T")]
    b.sequence_length = steps if isinstance(steps, int) else None
    name = b.add(ir.Input(b.unique(value_info.name), (), shape=(features,)))
    return T(name, (features,)), roles, declared


def _layout(node) -> int:
    for attr in node.attribute:
        if attr.name == "layout":
            return int(attr.i)
    return 0


def step_op(b: Builder, node, args: list, attrs: dict, handler) -> list:
    """Convert ``node``, which reads a tracked tensor (module docstring); records its outputs' roles."""
    tracked = [b.roles[name] for name in node.input if name in b.roles]
    if any(r != tracked[0] for r in tracked):
        b.fail(node, "combines every step of a sequence with the last step only; npukit converts one step at a time")
    roles = tracked[0]
    kind = node.op_type
    if kind in RECURRENT:
        return handler(b, node, args, attrs)  # the cell records its outputs' roles
    if kind == "Squeeze":
        axes = _const_axes(b, node, args, attrs, len(roles))
        if axes is None or any(roles[a] != "D" for a in axes):
            b.fail(node, f"squeezes axes {axes} of a tensor with axes {_spell(roles)}; only the direction axis may be squeezed")
        return _same_value(b, node, args[0], tuple(r for i, r in enumerate(roles) if i not in axes))
    if kind == "Reshape":
        return _drop_direction(b, node, args, roles)
    if kind == "Transpose":
        perm = [int(p) for p in attrs.get("perm", range(len(roles) - 1, -1, -1))]
        if sorted(perm) != list(range(len(roles))):
            b.fail(node, f"perm {perm} does not permute the axes {_spell(roles)}")
        moved = tuple(roles[p] for p in perm)
        if moved[-1] != "F":
            b.fail(node, f"moves the features of a tensor with axes {_spell(roles)} off the last axis; not supported")
        return _same_value(b, node, args[0], moved)
    if kind == "Gather":
        return _last_step(b, node, args, attrs, roles)
    if kind == "Shape":  # torch's exports size the zero initial states from the input's shape
        return [T(const=_shape(b, node, args[0], roles)[int(attrs.get("start", 0)):attrs.get("end")])]
    if kind not in PER_STEP:
        b.fail(node, f"{kind} on a sequence (axes {_spell(roles)}) mixes its timesteps; npukit converts a recurrent "
                     f"model one step at a time, so after an LSTM or GRU only per-step ops may follow: {', '.join(sorted(PER_STEP))}")
    if "D" in roles:
        b.fail(node, f"reads a recurrent node's output with its direction axis (axes {_spell(roles)}); squeeze it first")
    if kind == "Softmax" and int(attrs.get("axis", -1)) % len(roles) != len(roles) - 1:
        b.fail(node, f"softmax over axis {attrs.get('axis')} of a tensor with axes {_spell(roles)}: only over the features")
    if kind == "Gemm" and roles != ("N", "F"):
        b.fail(node, f"Gemm needs a 2-D input (N, features); this one has axes {_spell(roles)} (use MatMul)")
    for a in args[1:]:
        if a is not None and a.name is None and a.const.ndim > 1 and kind in ("Add", "Sub", "Mul", "Div"):
            if any(d != 1 for d in a.const.shape[:-1]):
                b.fail(node, f"a constant of shape {a.const.shape} varies across steps or samples; only along the features")
    if kind in ("Add", "Sub", "Mul", "Div"):  # constants broadcast along the features only
        args = [a if a is None or a.name is not None else T(const=a.const.reshape(a.const.shape[-1:] or ())) for a in args]
    if kind == "Softmax":
        attrs = {**attrs, "axis": -1}
    results = handler(b, node, args, attrs)
    results = results if isinstance(results, list) else [results]
    for name in node.output[: len(results)]:
        if name:
            b.roles[name] = roles
    return results


def _spell(roles: tuple[str, ...]) -> str:
    return "(" + ", ".join({"T": "time", "N": "batch", "D": "direction", "F": "features"}[r] for r in roles) + ")"


def _const_axes(b: Builder, node, args, attrs, rank: int) -> list[int] | None:
    axes = attrs.get("axes")
    if len(args) > 1 and args[1] is not None:
        axes = _const(b, node, args[1], "axes")
    return None if axes is None else sorted(int(a) % rank for a in np.reshape(axes, -1))


def _shape(b: Builder, node, x: T, roles: tuple[str, ...]) -> np.ndarray:
    sizes = {"N": b.batch, "D": 1, "F": x.shape[-1], "T": b.sequence_length}
    if sizes["T"] is None and "T" in roles:
        b.fail(node, "reads the sequence length, which the model leaves symbolic; give the input shape")
    return np.asarray([sizes[r] for r in roles], np.int64)


def _drop_direction(b: Builder, node, args, roles: tuple[str, ...]) -> list[T]:
    """Reshape that only drops the direction axis (torch's dynamo export merges it with the features)."""
    target = [int(d) for d in np.reshape(_const(b, node, args[1] if len(args) > 1 else None, "shape"), -1)]
    kept = tuple(r for r in roles if r != "D")
    sizes = {"N": b.batch, "F": args[0].shape[-1], "T": b.sequence_length, "D": 1}
    current = [sizes[r] for r in roles]
    target = [current[i] if d == 0 and i < len(current) else d for i, d in enumerate(target)]  # 0 copies (allowzero 0)
    wanted = [sizes[r] for r in kept]
    fits = len(target) == len(wanted) and target.count(-1) <= 1 and all(
        t == -1 or (w is not None and t == w) for t, w in zip(target, wanted))
    if "D" not in roles or not fits:
        b.fail(node, f"reshapes a tensor with axes {_spell(roles)} to {target}; only dropping the direction axis is supported")
    return _same_value(b, node, args[0], kept)


def _same_value(b: Builder, node, x: T, roles: tuple[str, ...]) -> list[T]:
    b.roles[node.output[0]] = roles
    return [x]


def _last_step(b: Builder, node, args, attrs, roles) -> list[T]:
    """Gather of the last step along the time axis (torch's ``y[:, -1]``): the last step's value."""
    axis = int(attrs.get("axis", 0)) % len(roles)
    index = _const(b, node, args[1], "indices") if len(args) > 1 else None
    last = (-1,) if b.sequence_length is None else (-1, b.sequence_length - 1)
    if roles[axis] != "T" or index is None or np.ndim(index) != 0 or int(index) not in last:
        b.fail(node, f"Gather on a tensor with axes {_spell(roles)} is supported only as the last step (index -1 along time)")
    return _same_value(b, node, args[0], roles[:axis] + roles[axis + 1:])


# -- the recurrent nodes -----------------------------------------------------------------------------


def _check_options(b: Builder, node, args, attrs, kind: str) -> None:
    direction = attrs.get("direction", "forward")
    if direction != "forward":
        b.fail(node, f"direction {direction!r} is not supported: npukit runs a recurrent model one step at a time, "
                     f"forward (a reverse pass needs the whole sequence first)")
    activations = attrs.get("activations")
    activations = None if activations is None else [a.decode() if isinstance(a, bytes) else str(a) for a in activations]
    if activations is not None and activations != ACTIVATIONS[kind]:
        b.fail(node, f"activations {activations} are not supported (only the default {ACTIVATIONS[kind]})")
    if attrs.get("clip") is not None:
        b.fail(node, "clip is not supported (the cell's pre-activations are not clipped)")
    if int(attrs.get("input_forget", 0)):
        b.fail(node, "input_forget = 1 is not supported")
    if len(args) > 4 and args[4] is not None:
        b.fail(node, "sequence_lens is not supported: every sample runs every step of the sequence")
    for index, what in ((5, "initial_h"), (6, "initial_c"), (7, "P (peepholes)")):
        if len(args) > index and args[index] is not None:
            value = args[index].const
            if value is None or np.any(value != 0):
                b.fail(node, f"{what} is supported only as an all-zero constant (the state starts at zero)")


def _gates(matrix: np.ndarray, order: tuple[str, ...]) -> dict[str, np.ndarray]:
    """(G*H, K) stacked gates -> gate -> (K, H), the canonical (inputs, units) layout."""
    return {g: np.ascontiguousarray(part.T) for g, part in zip(order, np.split(np.asarray(matrix, np.float32), len(order)))}


def _bias(vector: np.ndarray, order: tuple[str, ...]) -> dict[str, np.ndarray]:
    return dict(zip(order, np.split(np.asarray(vector, np.float32), len(order))))


def _recurrent(kind: str):
    def convert(b: Builder, node, args, attrs):
        _check_options(b, node, args, attrs, kind)
        x = _tensor(b, node, args[0], "X")
        layout = int(attrs.get("layout", 0))
        wanted = ("T", "N", "F") if layout == 0 else ("N", "T", "F")
        roles = b.roles.get(node.input[0])
        if roles != wanted:
            b.fail(node, f"its X must have axes {_spell(wanted)} (layout {layout}); it reads {_spell(roles) if roles else 'a tensor without a time axis'}")
        order = GATE_ORDER[kind]
        w, r = _const(b, node, args[1], "W"), _const(b, node, args[2], "R")
        hidden = int(attrs.get("hidden_size", r.shape[-1]))
        if w.shape != (1, len(order) * hidden, x.shape[0]) or r.shape != (1, len(order) * hidden, hidden):
            b.fail(node, f"W {w.shape} and R {r.shape} do not fit {x.shape[0]} inputs and hidden_size {hidden}")
        bias = np.zeros(2 * len(order) * hidden, np.float32)
        if len(args) > 3 and args[3] is not None:
            bias = _const(b, node, args[3], "B").reshape(-1)
            if bias.shape != (2 * len(order) * hidden,):
                b.fail(node, f"B has {bias.size} values; {2 * len(order) * hidden} expected")
        half = len(order) * hidden
        weights = (_gates(w[0], order), _gates(r[0], order), _bias(bias[:half], order), _bias(bias[half:], order))
        name = b.unique(node.name or next((o for o in node.output if o), kind.lower()))  # Y may be omitted
        if kind == "LSTM":
            h = lstm_cell(b, name, x.name, *weights)
            states = [h, f"{name}/c"]
        else:
            h = gru_cell(b, name, x.name, *weights, reset_after=bool(int(attrs.get("linear_before_reset", 0))))
            states = [h]
        sequence = ("T", "D", "N", "F") if layout == 0 else ("N", "T", "D", "F")
        last = ("D", "N", "F") if layout == 0 else ("N", "D", "F")
        results = [T(h, (hidden,))] + [T(s, (hidden,)) for s in states]
        for out_name, roles_out in zip(node.output, [sequence, last, last]):
            if out_name:
                b.roles[out_name] = roles_out
        return results

    return convert


op("LSTM", 14)(_recurrent("LSTM"))
op("GRU", 14)(_recurrent("GRU"))


@op("Expand", 13)
def expand(b: Builder, node, args, attrs):
    """Expand of constants only: torch's exports build an RNN's zero initial states with it."""
    if len(args) < 2 or args[0] is None or args[1] is None or args[0].name is not None or args[1].name is not None:
        b.fail(node, "Expand is supported on constants only (an RNN's zero initial state)")
    value, target = np.asarray(args[0].const), np.asarray(args[1].const)
    if target.ndim > 1 or target.size > 64 or target.dtype.kind not in "iu":
        b.refuse(node, f"the target shape must be at most 64 integers (received a {target.dtype.name} constant of shape {target.shape})")
    shape = [int(d) for d in target.reshape(-1)]
    if any(d < 0 for d in shape):
        b.refuse(node, f"Expand to shape {shape}: a negative dimension")
    try:  # ONNX broadcasts both ways: the result is larger than the target when the constant is
        result = np.broadcast_shapes(value.shape, tuple(shape))
    except ValueError:
        b.fail(node, f"a constant of shape {value.shape} does not expand to {shape}")
    b.charge(node, result, value.dtype)  # the result's size, before it is allocated
    return T(const=np.broadcast_to(value, result).copy())


def readout_of(roles: tuple[str, ...] | None, source: str) -> str:
    """The graph output's readout: every step ("sequence") or the last ("last")."""
    if roles is None:
        raise UnsupportedError(f"{source}: the graph output does not depend on the recurrent nodes' outputs")
    if "D" in roles:
        raise UnsupportedError(f"{source}: the graph output keeps the direction axis of a recurrent node, {_spell(roles)}; squeeze it")
    return "sequence" if "T" in roles else "last"
