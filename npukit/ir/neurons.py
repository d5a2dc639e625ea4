"""Neuron node types of the IR, in discrete time (one step = one simulation timestep).

Potentials and currents share the unit of the layer's input. Array fields are scalars or
arrays broadcastable to the layer shape (NHWC, no batch axis). Frontends that read
continuous-time models (NIR) turn time constants into these per-step coefficients for a given
dt and framework convention (``npukit.snn.frameworks``); the IR itself has no dt.

Every spiking type (IF, LIF, CubaLIF) carries the semantics that NIR does not, so that npukit
computes what the framework a model came from computes (docs/nir.md):

* ``fire_at_threshold``: fire on ``m >= v_threshold`` (sinabs, rate-converted ANNs) or on
  ``m > v_threshold`` (NIR's equations, snnTorch, Norse);
* ``max_spikes``: 1 (one spike per step at most) or 0 (as many as the membrane holds:
  ``floor(m / v_threshold)`` when the threshold is reached, sinabs' MultiSpike);
* ``reset``: "value" (v = v_reset where a spike was emitted), "subtract" (v = m - v_threshold *
  spikes) or "none";
* ``reset_timing``: "fire" (the reset follows the spike within the step) or "next_step" (the
  reset is applied at the next step, after the integration, from the unreset membrane v:
  snnTorch's ``m = beta v + I - v_threshold H(v - v_threshold)`` for a subtractive reset, and
  its Synaptic neuron's ``m = v_reset`` where ``H(v - v_threshold)`` for a reset to zero);
* ``v_min``: a floor the membrane is clipped to after the reset (sinabs' ``min_v_mem``), or None.

Update order within a step, for every spiking type: integrate, compare with the threshold,
emit, reset, floor. The step itself is ``npukit.snn.neurons.advance``.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from npukit.errors import BadInputError
from npukit.ir.base import Node, Shape, as_array, check_broadcasts, check_choice, register

RESETS = ("subtract", "value", "none")
RESET_TIMINGS = ("fire", "next_step")


@dataclasses.dataclass(eq=False)
class _Neuron(Node):
    """Shared validation: array fields (``ARRAYS``: name -> default) finite and broadcastable
    to the layer shape, and so are those of ``OPTIONAL_ARRAYS`` that are set."""

    ARRAYS: ClassVar[dict[str, float]] = {}
    OPTIONAL_ARRAYS: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs) -> None:
        # a subclass's ARRAYS adds to those of the families it mixes in
        super().__init_subclass__(**kwargs)
        merged: dict[str, float] = {}
        for base in reversed(cls.__mro__[1:]):
            merged.update(base.__dict__.get("ARRAYS", {}))
        cls.ARRAYS = {**merged, **cls.__dict__.get("ARRAYS", {})}

    def validate(self) -> None:
        for name, default in self.ARRAYS.items():
            if getattr(self, name) is None:
                setattr(self, name, np.array(default, dtype=np.float32))
            as_array(self, name)

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        (shape,) = in_shapes
        for name in [*self.ARRAYS, *self.OPTIONAL_ARRAYS]:
            if getattr(self, name) is not None:
                check_broadcasts(self, name, shape)
        return shape


@dataclasses.dataclass(eq=False)
class _Spiking(_Neuron):
    """Threshold, reset and spike semantics shared by IF, LIF and CubaLIF (module docstring)."""

    v_threshold: np.ndarray = None
    v_reset: np.ndarray = None
    v_init: np.ndarray = None
    amplitude: np.ndarray = None
    reset: str = "value"
    fire_at_threshold: bool = False
    max_spikes: int = 1
    reset_timing: str = "fire"
    v_min: np.ndarray | None = None

    ARRAYS = {"v_threshold": 1.0, "v_reset": 0.0, "v_init": 0.0, "amplitude": 1.0}
    OPTIONAL_ARRAYS = ("v_min",)

    def validate(self) -> None:
        super().validate()
        check_choice(self, "reset", RESETS)
        check_choice(self, "reset_timing", RESET_TIMINGS)
        if not isinstance(self.max_spikes, (int, np.integer)) or isinstance(self.max_spikes, bool) or self.max_spikes not in (0, 1):
            raise BadInputError(f"{self.name}: max_spikes must be 1 (one spike per step) or 0 (no limit). Received: {self.max_spikes!r}")
        self.max_spikes = int(self.max_spikes)
        if (self.reset == "subtract" or self.max_spikes != 1) and np.any(self.v_threshold <= 0):
            raise BadInputError(f"{self.name}: v_threshold must be > 0. Received: min {float(self.v_threshold.min())}")
        if self.reset == "value" and np.any(self.v_threshold <= self.v_reset):
            raise BadInputError(f"{self.name}: v_threshold must be above v_reset")
        if self.v_min is not None:
            as_array(self, "v_min")
        self.fire_at_threshold = bool(self.fire_at_threshold)


@dataclasses.dataclass(eq=False)
class _Leaky(_Neuron):
    """A leaky membrane: ``decay * v + leak + gain * input`` (LIF, CubaLIF, LI, CubaLI)."""

    decay: np.ndarray = None
    gain: np.ndarray = None
    leak: np.ndarray = None

    ARRAYS = {"decay": 1.0, "gain": 1.0, "leak": 0.0}


@dataclasses.dataclass(eq=False)
class _Synaptic(_Leaky):
    """A leaky membrane fed by a synaptic current ``i = syn_decay * i + syn_gain * I`` (CubaLIF,
    CubaLI)."""

    syn_decay: np.ndarray = None
    syn_gain: np.ndarray = None
    i_init: np.ndarray = None

    ARRAYS = {"syn_decay": 0.0, "syn_gain": 1.0, "i_init": 0.0}


@register
@dataclasses.dataclass(eq=False)
class IF(_Spiking):
    """Integrate-and-fire. Per step, with input I(t)::

        m = v + gain * I
        s = m >= v_threshold   (m > v_threshold without fire_at_threshold; floor(m / v_threshold)
                                spikes when max_spikes is 0)
        v = m - v_threshold * s          reset "subtract"
        v = v_reset where s, else m      reset "value"
        output = amplitude * s

    A rate-converted ANN uses reset "subtract", ``v_init = v_threshold / 2`` and
    ``amplitude = v_threshold`` (mean output ~ the ReLU it replaced).
    """

    reset: str = "subtract"
    fire_at_threshold: bool = True
    gain: np.ndarray = None

    ARRAYS = {"gain": 1.0}


@register
@dataclasses.dataclass(eq=False)
class LIF(_Leaky, _Spiking):
    """Leaky integrate-and-fire. Per step::

        m = decay * v + leak + gain * I
        spike and reset as IF (defaults: m > v_threshold, v = v_reset)
        output = amplitude * s

    From NIR's ``tau dv/dt = (v_leak - v) + r I`` by forward Euler with step dt:
    decay = 1 - dt/tau, leak = dt/tau * v_leak, gain = dt/tau * r (other discretizations:
    ``npukit.snn.frameworks``).
    """


@register
@dataclasses.dataclass(eq=False)
class CubaLIF(_Synaptic, _Spiking):
    """Current-based LIF: a synaptic current filters the input, then an LIF membrane. Per step::

        i = syn_decay * i + syn_gain * I          (the synaptic current first)
        m = decay * v + leak + gain * i           (the membrane integrates the new current)
        spike and reset as LIF

    From NIR's ``tau_syn di/dt = -i + w_in S`` and the LIF equation by forward Euler: syn_decay
    = 1 - dt/tau_syn, syn_gain = dt/tau_syn * w_in (Norse adds the input unscaled: syn_gain =
    w_in). The current-first order is snnTorch's Synaptic and Norse's LIF cell.
    """


@register
@dataclasses.dataclass(eq=False)
class LI(_Leaky):
    """Leaky integrator (no spikes): ``v = decay * v + leak + gain * I``; output v."""

    v_init: np.ndarray = None

    ARRAYS = {"v_init": 0.0}


@register
@dataclasses.dataclass(eq=False)
class CubaLI(_Synaptic):
    """Current-based leaky integrator (no spikes): the CubaLIF equations without threshold; output v."""

    v_init: np.ndarray = None

    ARRAYS = {"v_init": 0.0}


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
