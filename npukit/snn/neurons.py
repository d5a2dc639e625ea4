"""Neuron dynamics, defined once: ``advance`` is the step of every IR neuron type, written against
a small array namespace so that the same sequence of operations runs

* in the plain step loop (``Functional``: numpy, new arrays at each step),
* in the time-folded simulator (``InPlace``: numpy writing into the layer's own buffers), and
* in the temporal-mode TFLite graph (``converters/tflite_temporal.py`` implements the namespace
  with TensorFlow ops the NN-API delegate takes).

The equations are those of the IR node docstrings (``npukit.ir.neurons``). Both numpy namespaces
perform the same floating-point operations in the same order, so the simulators agree bit for
bit. Identity coefficients (a gain or decay of exactly 1, a leak of exactly 0) are skipped: x * 1
and x + 0 are exact, so results do not change.

State: a dict keyed by the kinds of ``state_kinds(node)``: ``"i"`` (synaptic current of
current-based neurons) and ``"v"`` (membrane). For continuous-time parameters with an explicit
step size, see ``npukit.snn.euler``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from npukit import ir

State = dict[str, Any]

#: neurons whose input first charges a synaptic current
CURRENT_BASED = (ir.CubaLIF, ir.CubaLI)
#: neurons whose membrane decays and leaks
LEAKY = (ir.LIF, ir.CubaLIF, ir.LI, ir.CubaLI)


def state_kinds(node: ir.Node) -> tuple[str, ...]:
    """The state a layer of ``node`` neurons carries from step to step, in a fixed order."""
    if not isinstance(node, ir.STATEFUL):
        return ()
    return ("i", "v") if isinstance(node, CURRENT_BASED) else ("v",)


def initial_value(node: ir.Node, kind: str) -> np.ndarray:
    """The initial value of one state kind (``v_init`` or ``i_init``)."""
    return {"v": node.v_init, "i": getattr(node, "i_init", None)}[kind]


def is_one(value) -> bool:
    return not np.any(np.asarray(value) != 1)


def is_zero(value) -> bool:
    return not np.any(np.asarray(value) != 0)


def advance(node: ir.Node, state: State, current, xp) -> Any:
    """One step of a layer of ``node`` neurons: updates ``state`` (a dict, reassigned per kind)
    and returns the output: spikes (0/1, amplitude not applied) of spiking neurons, the membrane
    of integrators. ``xp`` is the array namespace (module docstring)."""
    if isinstance(node, ir.Threshold):
        return xp.fire(current, node.v_threshold, at_threshold=False)
    if isinstance(node, CURRENT_BASED):  # i = syn_decay * i + syn_gain * I
        i = xp.mul(state["i"], node.syn_decay)
        state["i"] = xp.add(i, xp.scaled(current, node.syn_gain))
        current = state["i"]
    v = state["v"]  # m = decay * v + leak + gain * I
    if isinstance(node, LEAKY):
        if not is_one(node.decay):
            v = xp.mul(v, node.decay)
        if not is_zero(node.leak):
            v = xp.add(v, node.leak)
    v = xp.add(v, current if is_one(node.gain) else xp.scaled(current, node.gain))
    if not isinstance(node, ir.SPIKING):
        state["v"] = v
        return xp.output(v)
    spikes = xp.fire(v, node.v_threshold, at_threshold=node.fire_at_threshold)
    if node.reset == "subtract":  # v - theta * s: exactly m - theta, or m
        state["v"] = xp.sub(v, xp.scaled(spikes, node.v_threshold))
    else:
        state["v"] = xp.reset_where(v, spikes, node.v_reset)
    return spikes


def init_state(node: ir.Node, shape: tuple[int, ...], dtype=np.float32) -> State:
    """The state of a layer of ``node`` neurons before the first step (batch axis first)."""
    return {kind: np.broadcast_to(initial_value(node, kind).astype(dtype), shape).copy() for kind in state_kinds(node)}


class Functional:
    """numpy, a new array per operation: the step loop's namespace (the specification)."""

    @staticmethod
    def mul(a, coefficient):
        return a * coefficient

    @staticmethod
    def add(a, b):
        return a + b

    @staticmethod
    def sub(a, b):
        return a - b

    @staticmethod
    def scaled(a, coefficient):
        return coefficient * a

    @staticmethod
    def fire(m, theta, at_threshold: bool):
        return m >= theta if at_threshold else m > theta

    @staticmethod
    def reset_where(v, spikes, value):
        return np.where(spikes, value, v).astype(v.dtype, copy=False)

    @staticmethod
    def output(v):
        return v


def step(node: ir.Node, state: State, current: np.ndarray) -> tuple[np.ndarray, State]:
    """One step of any neuron node: (output, new state). Spiking outputs are bool arrays
    (amplitude not applied); integrators output their membrane. ``state`` is not modified."""
    new = dict(state)
    output = advance(node, new, current, Functional)
    for kind, value in new.items():  # states keep their dtype whatever the current's
        new[kind] = np.asarray(value).astype(state[kind].dtype, copy=False)
    if not isinstance(node, ir.SPIKING):  # an integrator outputs its (cast) membrane
        output = new["v"]
    return output, new


class InPlace:
    """numpy writing into a layer's buffers (the time-folded simulator's namespace): the first
    operand of ``mul``/``add``/``sub`` is a state buffer or scratch and is overwritten; ``scaled``
    writes into scratch; spikes go straight into the caller's output buffer."""

    def __init__(self, shape: tuple[int, ...], dtype, out: np.ndarray | None = None):
        self.scratch = np.empty(shape, dtype=dtype)
        self.out = out  # set by NeuronLayer before each step: where spikes or the membrane go

    @staticmethod
    def mul(a, coefficient):
        return np.multiply(a, coefficient, out=a)

    @staticmethod
    def add(a, b):
        return np.add(a, b, out=a)

    @staticmethod
    def sub(a, b):
        return np.subtract(a, b, out=a)

    def scaled(self, a, coefficient):
        return np.multiply(coefficient, a, out=self.scratch, casting="unsafe")

    def fire(self, m, theta, at_threshold: bool):
        compare = np.greater_equal if at_threshold else np.greater
        return compare(m, theta, out=self.out, casting="unsafe")

    @staticmethod
    def reset_where(v, spikes, value):
        np.copyto(v, np.broadcast_to(value, v.shape), where=spikes.astype(bool))
        return v

    def output(self, v):
        np.copyto(self.out, v)
        return self.out


class NeuronLayer:
    """One layer stepped in place by the time-folded simulator (``advance`` with ``InPlace``)."""

    def __init__(self, node: ir.Node, shape: tuple[int, ...], dtype=np.float32):
        self.node = node.replace(**{name: value.astype(dtype) for name, value in node.arrays().items()})
        self.state = init_state(node, shape, dtype)
        self.spiking = isinstance(node, ir.SPIKING)
        self._xp = InPlace(shape, dtype)

    def step(self, current: np.ndarray, out: np.ndarray) -> None:
        """Advance one step; write the output (0/1 spikes, or the membrane) into ``out``."""
        self._xp.out = out
        advance(self.node, self.state, current, self._xp)
