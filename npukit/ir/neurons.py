"""Neuron node types of the IR, in discrete time (one step = one simulation timestep).

Potentials and currents share the unit of the layer's input. Array fields are scalars or
arrays broadcastable to the layer shape (NHWC, no batch axis). Frontends that read
continuous-time models (NIR) turn time constants into these per-step coefficients for a given
dt (see ``npukit.converters.nir``); the IR itself has no dt.

Update order within a step, for every spiking type: integrate, compare with the threshold,
emit, reset. ``fire_at_threshold`` selects ``>=`` (rate-converted ANNs) or ``>`` (NIR).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from npukit.errors import BadInputError
from npukit.ir.base import Node, Shape, as_array, check_choice, register

RESETS = ("subtract", "value")


def _spiking_checks(node) -> None:
    check_choice(node, "reset", RESETS)
    if node.reset == "subtract" and np.any(node.v_threshold <= 0):
        raise BadInputError(f"{node.name}: v_threshold must be > 0. Received: min {float(node.v_threshold.min())}")
    if node.reset == "value" and np.any(node.v_threshold <= node.v_reset):
        raise BadInputError(f"{node.name}: v_threshold must be above v_reset")
    node.fire_at_threshold = bool(node.fire_at_threshold)


@dataclasses.dataclass(eq=False)
class _Neuron(Node):
    """Shared validation: array fields (``ARRAYS``: name -> default) finite and broadcastable
    to the layer shape."""

    ARRAYS: ClassVar[dict[str, float]] = {}

    def validate(self) -> None:
        for name, default in self.ARRAYS.items():
            if getattr(self, name) is None:
                setattr(self, name, np.array(default, dtype=np.float32))
            as_array(self, name)
        if hasattr(self, "reset"):
            _spiking_checks(self)

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        (shape,) = in_shapes
        for name in self.ARRAYS:
            try:
                np.broadcast_shapes(getattr(self, name).shape, shape)
            except ValueError:
                raise BadInputError(
                    f"{type(self).__name__} {self.name!r}: {name}.shape={getattr(self, name).shape} does not "
                    f"broadcast to the layer shape {shape}"
                )
        return shape


@register
@dataclasses.dataclass(eq=False)
class IF(_Neuron):
    """Integrate-and-fire. Per step, with input I(t)::

        m = v + gain * I
        s = m >= v_threshold   (m > v_threshold without fire_at_threshold)
        v = m - v_threshold * s          reset "subtract"
        v = v_reset where s, else m      reset "value"
        output = amplitude * s

    A rate-converted ANN uses reset "subtract", ``v_init = v_threshold / 2`` and
    ``amplitude = v_threshold`` (mean output ~ the ReLU it replaced).
    """

    v_threshold: np.ndarray = None
    v_init: np.ndarray = None
    amplitude: np.ndarray = None
    reset: str = "subtract"
    v_reset: np.ndarray = None
    fire_at_threshold: bool = True
    gain: np.ndarray = None

    ARRAYS = {"v_threshold": 1.0, "v_init": 0.0, "amplitude": 1.0, "v_reset": 0.0, "gain": 1.0}


@register
@dataclasses.dataclass(eq=False)
class LIF(_Neuron):
    """Leaky integrate-and-fire. Per step::

        m = decay * v + leak + gain * I
        s = m > v_threshold    (>= with fire_at_threshold)
        v = v_reset where s, else m      (or m - v_threshold * s with reset "subtract")
        output = amplitude * s

    From NIR's ``tau dv/dt = (v_leak - v) + r I`` by forward Euler with step dt:
    decay = 1 - dt/tau, leak = dt/tau * v_leak, gain = dt/tau * r.
    """

    decay: np.ndarray = None
    gain: np.ndarray = None
    leak: np.ndarray = None
    v_threshold: np.ndarray = None
    v_reset: np.ndarray = None
    v_init: np.ndarray = None
    amplitude: np.ndarray = None
    reset: str = "value"
    fire_at_threshold: bool = False

    ARRAYS = {"decay": 1.0, "gain": 1.0, "leak": 0.0, "v_threshold": 1.0, "v_reset": 0.0, "v_init": 0.0, "amplitude": 1.0}


@register
@dataclasses.dataclass(eq=False)
class CubaLIF(_Neuron):
    """Current-based LIF: a synaptic current filters the input, then an LIF membrane. Per step::

        i = syn_decay * i + syn_gain * I          (the synaptic current first)
        m = decay * v + leak + gain * i           (the membrane integrates the new current)
        spike and reset as LIF

    From NIR's ``tau_syn di/dt = -i + w_in S`` and the LIF equation by forward Euler:
    syn_decay = 1 - dt/tau_syn, syn_gain = dt/tau_syn * w_in. The current-first order is
    snnTorch's Synaptic and Norse's LIF cell.
    """

    syn_decay: np.ndarray = None
    syn_gain: np.ndarray = None
    decay: np.ndarray = None
    gain: np.ndarray = None
    leak: np.ndarray = None
    v_threshold: np.ndarray = None
    v_reset: np.ndarray = None
    v_init: np.ndarray = None
    i_init: np.ndarray = None
    amplitude: np.ndarray = None
    reset: str = "value"
    fire_at_threshold: bool = False

    ARRAYS = {
        "syn_decay": 0.0, "syn_gain": 1.0, "decay": 1.0, "gain": 1.0, "leak": 0.0, "v_threshold": 1.0,
        "v_reset": 0.0, "v_init": 0.0, "i_init": 0.0, "amplitude": 1.0,
    }


@register
@dataclasses.dataclass(eq=False)
class LI(_Neuron):
    """Leaky integrator (no spikes): ``v = decay * v + leak + gain * I``; output v."""

    decay: np.ndarray = None
    gain: np.ndarray = None
    leak: np.ndarray = None
    v_init: np.ndarray = None

    ARRAYS = {"decay": 1.0, "gain": 1.0, "leak": 0.0, "v_init": 0.0}


@register
@dataclasses.dataclass(eq=False)
class CubaLI(_Neuron):
    """Current-based leaky integrator (no spikes): the CubaLIF equations without threshold;
    output v."""

    syn_decay: np.ndarray = None
    syn_gain: np.ndarray = None
    decay: np.ndarray = None
    gain: np.ndarray = None
    leak: np.ndarray = None
    v_init: np.ndarray = None
    i_init: np.ndarray = None

    ARRAYS = {"syn_decay": 0.0, "syn_gain": 1.0, "decay": 1.0, "gain": 1.0, "leak": 0.0, "v_init": 0.0, "i_init": 0.0}


@register
@dataclasses.dataclass(eq=False)
class Integrator(_Neuron):
    """Integrator (NIR ``I``): ``v = v + gain * I``; output v. From ``dv/dt = r I``: gain = dt r."""

    gain: np.ndarray = None
    v_init: np.ndarray = None

    ARRAYS = {"gain": 1.0, "v_init": 0.0}


@register
@dataclasses.dataclass(eq=False)
class Threshold(_Neuron):
    """Stateless spike function: output 1 where the input is > v_threshold, else 0."""

    v_threshold: np.ndarray = None

    ARRAYS = {"v_threshold": 0.0}


#: neurons that emit spikes
SPIKING = (IF, LIF, CubaLIF, Threshold)
#: neurons with a membrane (state carried from step to step)
STATEFUL = (IF, LIF, CubaLIF, LI, CubaLI, Integrator)
#: everything the simulators step in time
NEURONS = SPIKING + (LI, CubaLI, Integrator)
