"""Neuron dynamics: pure step functions (the specification) and in-place layers (the fast path).

``step(node, state, current) -> (output, state)`` advances one layer by one timestep; state is a
dict with the membrane ``v`` (and the synaptic current ``i`` of current-based neurons). The
equations are those of the IR node docstrings (``npukit.ir.neurons``). ``NeuronLayer`` performs
the same floating-point operations in the same order without allocating, so both give
identical results; the time-folded simulator uses it, the step loop uses ``step``.

For continuous-time parameters with an explicit step size, see ``npukit.snn.euler``.
"""

from __future__ import annotations

import numpy as np

from npukit import ir

State = dict[str, np.ndarray]
_HAS_DECAY = (ir.LIF, ir.CubaLIF, ir.LI, ir.CubaLI)
_CURRENT_BASED = (ir.CubaLIF, ir.CubaLI)


def init_state(node: ir.Node, shape: tuple[int, ...], dtype=np.float32) -> State:
    """The state of a layer of ``node`` neurons before the first step (batch axis first)."""
    if isinstance(node, ir.Threshold):
        return {}
    state = {"v": np.broadcast_to(node.v_init.astype(dtype), shape).copy()}
    if isinstance(node, _CURRENT_BASED):
        state["i"] = np.broadcast_to(node.i_init.astype(dtype), shape).copy()
    return state


def _membrane(v: np.ndarray, current: np.ndarray, node) -> np.ndarray:
    """m = decay * v + leak + gain * I (IF and Integrator: v + gain * I)."""
    m = v
    if isinstance(node, _HAS_DECAY):
        m = m * node.decay
        m = m + node.leak
    return m + node.gain * current


def _fire(m: np.ndarray, node) -> tuple[np.ndarray, np.ndarray]:
    """Spikes and the membrane after reset."""
    theta = node.v_threshold
    s = m >= theta if node.fire_at_threshold else m > theta
    if node.reset == "subtract":
        return s, np.where(s, m - theta, m).astype(m.dtype, copy=False)
    return s, np.where(s, node.v_reset, m).astype(m.dtype, copy=False)


def if_step(v: np.ndarray, current: np.ndarray, node: ir.IF) -> tuple[np.ndarray, np.ndarray]:
    """Integrate-and-fire, one step: (spikes as bool, new membrane)."""
    return _fire(_membrane(v, current, node), node)


def lif_step(v: np.ndarray, current: np.ndarray, node: ir.LIF) -> tuple[np.ndarray, np.ndarray]:
    """Leaky integrate-and-fire, one step: (spikes as bool, new membrane)."""
    return _fire(_membrane(v, current, node), node)


def synaptic_step(i: np.ndarray, current: np.ndarray, node) -> np.ndarray:
    """The synaptic current of current-based neurons: i = syn_decay * i + syn_gain * I."""
    return i * node.syn_decay + node.syn_gain * current


def step(node: ir.Node, state: State, current: np.ndarray) -> tuple[np.ndarray, State]:
    """One step of any neuron node: (output, new state). Spiking outputs are bool arrays
    (amplitude not applied); integrators output their membrane."""
    if isinstance(node, ir.Threshold):
        return current > node.v_threshold, state
    new = dict(state)
    if isinstance(node, _CURRENT_BASED):
        new["i"] = synaptic_step(state["i"], current, node)
        current = new["i"]
    m = _membrane(state["v"], current, node).astype(state["v"].dtype, copy=False)
    if isinstance(node, ir.SPIKING):
        spikes, new["v"] = _fire(m, node)
        return spikes, new
    new["v"] = m
    return m, new


class NeuronLayer:
    """In-place stepping of one layer for the time-folded simulator (same arithmetic as ``step``)."""

    def __init__(self, node: ir.Node, shape: tuple[int, ...], dtype=np.float32):
        self.node = node
        self.state = init_state(node, shape, dtype)
        self.spiking = isinstance(node, ir.SPIKING)
        self._scratch = np.empty(shape, dtype=dtype)
        self._params = {name: value.astype(dtype) for name, value in node.arrays().items()}
        # identity coefficients are skipped: x * 1 and x + 0 are exact, so results are unchanged
        self._unit_gain = not np.any(self._params["gain"] != 1) if "gain" in self._params else True
        self._unit_decay = not np.any(self._params["decay"] != 1) if "decay" in self._params else True
        self._zero_leak = not np.any(self._params["leak"] != 0) if "leak" in self._params else True
        if self.spiking:
            self._compare = np.greater_equal if getattr(node, "fire_at_threshold", False) else np.greater
            self._reset_value = np.broadcast_to(self._params.get("v_reset", np.float32(0)), shape)

    def step(self, current: np.ndarray, out: np.ndarray) -> None:
        """Advance one step; write the output (0/1 spikes, or the membrane) into ``out``."""
        node, p, tmp = self.node, self._params, self._scratch
        if isinstance(node, ir.Threshold):
            np.greater(current, p["v_threshold"], out=out, casting="unsafe")
            return
        if isinstance(node, _CURRENT_BASED):
            i = self.state["i"]
            np.multiply(i, p["syn_decay"], out=i)
            np.multiply(p["syn_gain"], current, out=tmp)
            np.add(i, tmp, out=i)
            current = i
        v = self.state["v"]
        if not self._unit_decay:
            np.multiply(v, p["decay"], out=v)
        if not self._zero_leak:
            np.add(v, p["leak"], out=v)
        if self._unit_gain:
            np.add(v, current, out=v)
        else:
            np.multiply(p["gain"], current, out=tmp)
            np.add(v, tmp, out=v)
        if not self.spiking:
            np.copyto(out, v)
            return
        self._compare(v, p["v_threshold"], out=out, casting="unsafe")
        if node.reset == "subtract":  # v - theta * s: exactly m - theta or m
            np.multiply(out, p["v_threshold"], out=tmp)
            np.subtract(v, tmp, out=v)
        else:
            np.copyto(v, self._reset_value, where=out.astype(bool))
