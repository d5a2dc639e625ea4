"""Neuron dynamics as pure step functions: ``step(state, current, params) -> (spikes, state)``.

One call advances one timestep of a whole layer (any array shape). The equations are those of
the IR node docstrings (``npukit.ir.neurons``), which are the specification.
"""

from __future__ import annotations

import numpy as np

from npukit import ir


def if_step(v: np.ndarray, current: np.ndarray, node: ir.IF) -> tuple[np.ndarray, np.ndarray]:
    """Integrate-and-fire, one step: returns (spikes as bool, new membrane potential).

    m = v + I; s = m >= theta (m > theta without fire_at_threshold);
    v' = m - theta * s (reset "subtract") or v' = v_reset where s, else m (reset "value").
    """
    m = v + current
    theta = node.v_threshold
    s = m >= theta if node.fire_at_threshold else m > theta
    if node.reset == "subtract":
        v_new = np.where(s, m - theta, m)
    else:
        v_new = np.where(s, np.asarray(node.v_reset, dtype=m.dtype), m)
    return s, v_new.astype(m.dtype, copy=False)


class IFLayer:
    """In-place IF stepping for the time-folded simulator: the same float operations as
    ``if_step`` (hence the same spikes) without allocating per step."""

    def __init__(self, node: ir.IF, shape: tuple[int, ...], dtype=np.float32):
        self.node = node
        self.theta = node.v_threshold.astype(dtype)
        self.v = np.broadcast_to(node.v_init.astype(dtype), shape).copy()
        self._scratch = np.empty(shape, dtype=dtype)
        self._compare = np.greater_equal if node.fire_at_threshold else np.greater

    def step(self, current: np.ndarray, spikes: np.ndarray) -> None:
        """Advance one step; write the spikes (0 / 1) into ``spikes`` (any numeric dtype)."""
        v = self.v
        np.add(v, current, out=v)
        self._compare(v, self.theta, out=spikes, casting="unsafe")
        if self.node.reset == "subtract":  # v - theta * s: exactly m - theta or m
            np.multiply(spikes, self.theta, out=self._scratch)
            np.subtract(v, self._scratch, out=v)
        else:
            np.copyto(v, v.dtype.type(self.node.v_reset), where=spikes.astype(bool))
