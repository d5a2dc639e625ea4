"""LSTM, GRU and simple RNN cells as IR nodes, shared by the Keras and ONNX frontends.

A cell is one step of its layer: its states (h, and c for an LSTM) are the outputs of the
nodes computing them, fed back through ``Delay`` nodes (``npukit.ir.recurrence``) that start at
zero, as Keras and ONNX (without initial_h / initial_c) start. Frontends give the weights in a
canonical form, one entry per gate: ``w[g]`` (features, units) multiplies the step's input,
``r[g]`` (units, units) the previous h, ``bx[g]`` and ``bh[g]`` (units,) are the biases added to
those two products. Each gate is its own pair of Dense nodes (x W + bx, h R + bh) and an Add,
so an int8 model gives every gate its own quantization range.

Equations (the frameworks' defaults: sigmoid gates, tanh candidate and output):

* LSTM: i, f, o = sigmoid(x W + bx + h R + bh), g = tanh(x Wg + bxg + h Rg + bhg),
  c' = f * c + i * g, h' = o * tanh(c').
* GRU: z, r = sigmoid(x W + bx + h R + bh); the candidate n = tanh(x Wn + bxn + r * (h Rn + bhn))
  with the reset applied after the recurrent product (Keras reset_after=True, ONNX
  linear_before_reset=1, torch), or n = tanh(x Wn + bxn + bhn + (r * h) Rn) before it;
  h' = z * h + (1 - z) * n.
* simple RNN: h' = tanh(x W + bx + h R + bh).
"""

from __future__ import annotations

import numpy as np

from npukit import ir
from npukit.converters.frontend import Builder

LSTM_GATES = ("i", "f", "g", "o")
GRU_GATES = ("z", "r", "n")


def _affine(b: Builder, name: str, src: str, kernel: np.ndarray, bias: np.ndarray | None) -> str:
    kernel = np.asarray(kernel, np.float32)
    bias = np.zeros(kernel.shape[1], np.float32) if bias is None else np.asarray(bias, np.float32)
    return b.add(ir.Dense(b.unique(name), (src,), kernel=np.ascontiguousarray(kernel), bias=bias))


def _pre_activation(b: Builder, name: str, x: str, h: str, w, r, bx, bh) -> str:
    """x w + bx + h r + bh, the two products in their own Dense nodes."""
    from_x = _affine(b, f"{name}/x", x, w, bx)
    from_h = _affine(b, f"{name}/h", h, r, bh)
    return b.add(ir.Add(b.unique(name), (from_x, from_h)))


def _states(b: Builder, name: str, units: int, kinds: tuple[str, ...]) -> dict[str, str]:
    """A Delay per state, reading the node ``{name}`` (h) or ``{name}/{kind}`` (c), built later."""
    delays = {}
    for kind in kinds:
        source = name if kind == "h" else f"{name}/{kind}"
        delays[kind] = b.add(ir.Delay(b.unique(f"{name}/{kind}_prev"), (source,), shape=(units,)))
    return delays


def lstm_cell(b: Builder, name: str, x: str, w: dict, r: dict, bx: dict, bh: dict) -> str:
    """Add one LSTM step reading the node ``x``; returns its h, the node named ``name``."""
    units = np.shape(r["i"])[0]
    prev = _states(b, name, units, ("h", "c"))
    act = {}
    for gate in LSTM_GATES:
        pre = _pre_activation(b, f"{name}/{gate}", x, prev["h"], w[gate], r[gate], bx.get(gate), bh.get(gate))
        node = ir.Tanh if gate == "g" else ir.Sigmoid
        act[gate] = b.add(node(b.unique(f"{name}/{gate}/act"), (pre,)))
    kept = b.add(ir.Multiply(b.unique(f"{name}/f*c"), (act["f"], prev["c"])))
    added = b.add(ir.Multiply(b.unique(f"{name}/i*g"), (act["i"], act["g"])))
    c = b.add(ir.Add(f"{name}/c", (kept, added)))
    squashed = b.add(ir.Tanh(b.unique(f"{name}/tanh(c)"), (c,)))
    return b.add(ir.Multiply(name, (act["o"], squashed)))


def gru_cell(b: Builder, name: str, x: str, w: dict, r: dict, bx: dict, bh: dict, reset_after: bool) -> str:
    """Add one GRU step reading the node ``x``; returns its h, the node named ``name``."""
    units = np.shape(r["z"])[0]
    h = _states(b, name, units, ("h",))["h"]
    z, rr = (
        b.add(ir.Sigmoid(b.unique(f"{name}/{gate}/act"),
                         (_pre_activation(b, f"{name}/{gate}", x, h, w[gate], r[gate], bx.get(gate), bh.get(gate)),)))
        for gate in ("z", "r")
    )
    if reset_after:  # n = tanh(x Wn + bxn + r * (h Rn + bhn))
        recurrent = _affine(b, f"{name}/n/h", h, r["n"], bh.get("n"))
        gated = b.add(ir.Multiply(b.unique(f"{name}/n/r*h"), (rr, recurrent)))
        from_x = _affine(b, f"{name}/n/x", x, w["n"], bx.get("n"))
    else:  # n = tanh(x Wn + bxn + bhn + (r * h) Rn)
        reset = b.add(ir.Multiply(b.unique(f"{name}/n/r*h"), (rr, h)))
        gated = _affine(b, f"{name}/n/h", reset, r["n"], None)
        biases = [v for v in (bx.get("n"), bh.get("n")) if v is not None]
        from_x = _affine(b, f"{name}/n/x", x, w["n"], np.sum(biases, axis=0) if biases else None)
    n = b.add(ir.Tanh(b.unique(f"{name}/n/act"), (b.add(ir.Add(b.unique(f"{name}/n"), (from_x, gated))),)))
    # h' = z * h + (1 - z) * n; 1 - z as a MUL by -1 and an ADD of 1
    kept = b.add(ir.Multiply(b.unique(f"{name}/z*h"), (z, h)))
    negated = b.add(ir.Scale(b.unique(f"{name}/-z"), (z,), scale=np.array(-1.0, np.float32)))
    complement = b.add(ir.Offset(b.unique(f"{name}/1-z"), (negated,), offset=np.array(1.0, np.float32)))
    fresh = b.add(ir.Multiply(b.unique(f"{name}/(1-z)*n"), (complement, n)))
    return b.add(ir.Add(name, (kept, fresh)))


def simple_rnn_cell(b: Builder, name: str, x: str, w: np.ndarray, r: np.ndarray, bx, bh) -> str:
    """Add one simple-RNN step (tanh) reading the node ``x``; returns its h, the node ``name``."""
    h = _states(b, name, np.shape(r)[0], ("h",))["h"]
    return b.add(ir.Tanh(name, (_pre_activation(b, f"{name}/pre", x, h, w, r, bx, bh),)))
