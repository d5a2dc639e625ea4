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
    """The state a node carries from step to step, in a fixed order: a neuron layer's ``i`` and
    ``v``; a Delay of k steps its source's last k values, ``delay1`` (the last step) to
    ``delay{k}`` (the one it outputs)."""
    if isinstance(node, ir.Delay):
        return tuple(f"delay{j}" for j in range(1, node.steps + 1))
    if not isinstance(node, ir.STATEFUL):
        return ()
    return ("i", "v") if isinstance(node, CURRENT_BASED) else ("v",)


def initial_value(node: ir.Node, kind: str) -> np.ndarray:
    """The initial value of one state kind (``v_init``, ``i_init`` or a Delay's ``init``)."""
    if isinstance(node, ir.Delay):
        return node.init
    return {"v": node.v_init, "i": getattr(node, "i_init", None)}[kind]


def is_one(value) -> bool:
    return not np.any(np.asarray(value) != 1)


def is_zero(value) -> bool:
    return not np.any(np.asarray(value) != 0)


def advance(node: ir.Node, state: State, current, xp) -> Any:
    """One step of a layer of ``node`` neurons: updates ``state`` (a dict, reassigned per kind)
    and returns the output: spikes (0/1, or counts with ``max_spikes`` 0; amplitude not applied)
    of spiking neurons, the membrane of integrators. ``xp`` is the array namespace (module
    docstring). The order of operations is the framework's (``npukit.ir.neurons``)."""
    if isinstance(node, ir.Threshold):
        return xp.fire(current, node.v_threshold, False, 1)
    spiking = isinstance(node, ir.SPIKING)
    delayed = spiking and node.reset_timing == "next_step" and node.reset != "none"
    if delayed:  # snnTorch: the last step's spike, found again from the unreset membrane
        previous = xp.fire(state["v"], node.v_threshold, node.fire_at_threshold, node.max_spikes)
        if node.reset == "subtract":
            pending = xp.scaled(previous, node.v_threshold)
    if isinstance(node, CURRENT_BASED):  # i = syn_decay * i + syn_gain * I, then the membrane integrates it
        state["i"] = xp.add(xp.mul(state["i"], node.syn_decay), xp.scaled(current, node.syn_gain))
        current = state["i"]
    v = state["v"]  # m = decay * v + leak + gain * I
    if isinstance(node, LEAKY):
        if not is_one(node.decay):
            v = xp.mul(v, node.decay)
        if not is_zero(node.leak):
            v = xp.add(v, node.leak)
    v = xp.add(v, current if is_one(node.gain) else xp.scaled(current, node.gain))
    if not spiking:
        state["v"] = v
        return xp.output(v)
    if delayed:  # m - theta * s(t-1), or the reset value where the last step spiked
        v = xp.sub(v, pending) if node.reset == "subtract" else xp.reset_where(v, previous, node.v_reset)
    spikes = xp.fire(v, node.v_threshold, node.fire_at_threshold, node.max_spikes)
    if not delayed and node.reset == "subtract":  # v - theta * s: exactly m - theta * s
        v = xp.sub(v, xp.scaled(spikes, node.v_threshold))
    elif not delayed and node.reset == "value":
        v = xp.reset_where(v, spikes, node.v_reset)
    if node.v_min is not None:  # sinabs' floor, as it computes it: relu(v - v_min) + v_min
        v = xp.floor(v, node.v_min)
    state["v"] = v
    return spikes
def spike_dtype(node: ir.Node) -> np.dtype:
    """How the simulators hold a layer's spikes of one step: 0/1 as uint8, several spikes per step
    (``max_spikes`` 0) as float32 counts."""
    return np.dtype(np.float32 if getattr(node, "max_spikes", 1) != 1 else np.uint8)


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
    def fire(m, theta, at_threshold: bool, max_spikes: int):
        reached = m >= theta if at_threshold else m > theta
        if max_spikes == 1:
            return reached
        return np.where(reached, np.floor(m / theta), 0).astype(m.dtype, copy=False)

    @staticmethod
    def reset_where(v, spikes, value):
        return np.where(spikes, value, v).astype(v.dtype, copy=False)

    @staticmethod
    def floor(v, v_min):
        return (np.maximum(v - v_min, 0) + v_min).astype(v.dtype, copy=False)

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
    operand of ``mul``/``add``/``sub``/``floor`` is a state buffer or scratch and is overwritten;
    each ``scaled`` of a step writes into its own scratch buffer; spikes go straight into the
    caller's output buffer."""

    def __init__(self, shape: tuple[int, ...], dtype, out: np.ndarray | None = None):
        self.shape, self.dtype = shape, dtype
        self.scratch: list[np.ndarray] = []  # one buffer per ``scaled`` call of a step, reused every step
        self.used = 0
        self.out = out  # set by NeuronLayer before each step: where spikes or the membrane go

    def begin(self, out: np.ndarray) -> None:
        """Start a step whose output goes to ``out``."""
        self.out, self.used = out, 0

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
        if self.used == len(self.scratch):
            self.scratch.append(np.empty(self.shape, dtype=self.dtype))
        self.used += 1
        return np.multiply(coefficient, a, out=self.scratch[self.used - 1], casting="unsafe")

    def fire(self, m, theta, at_threshold: bool, max_spikes: int):
        compare = np.greater_equal if at_threshold else np.greater
        if max_spikes == 1:
            return compare(m, theta, out=self.out, casting="unsafe")
        counts = np.floor(m / theta)  # rare path (multi-spike neurons): allocating is fine
        np.multiply(counts, compare(m, theta), out=self.out, casting="unsafe")
        return self.out

    @staticmethod
    def floor(v, v_min):
        np.subtract(v, v_min, out=v)
        np.maximum(v, 0, out=v)
        return np.add(v, v_min, out=v)

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
        self._xp.begin(out)
        advance(self.node, self.state, current, self._xp)
