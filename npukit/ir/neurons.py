"""Spiking neuron node types of the IR.

Units: npukit's neurons are discrete-time; potentials and currents share the (arbitrary) unit of
the layer's synaptic input, and one step is one simulation timestep.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from npukit.errors import BadInputError
from npukit.ir.base import Node, Shape, as_array, check_choice, register

RESETS = ("subtract", "value")


@register
@dataclasses.dataclass(eq=False)
class IF(Node):
    """Integrate-and-fire neuron layer, one neuron per element of its input.

    Per step t, with synaptic input I(t) (the output of the node feeding it)::

        m(t) = v(t-1) + I(t)
        s(t) = 1 if m(t) >= v_threshold else 0        (m(t) > v_threshold if not fire_at_threshold)
        v(t) = m(t) - v_threshold * s(t)              reset = "subtract"
        v(t) = v_reset if s(t) else m(t)              reset = "value"
        output(t) = amplitude * s(t)

    v(0) = v_init. ``v_threshold``, ``v_init`` and ``amplitude`` are scalars or arrays that
    broadcast to the layer shape (per channel: shape ``(C,)``). A rate-converted ANN uses
    ``amplitude = v_threshold``, so the mean output over T steps approximates the ReLU it replaced.
    """

    v_threshold: np.ndarray = None
    v_init: np.ndarray = None
    amplitude: np.ndarray = None
    reset: str = "subtract"
    v_reset: float = 0.0
    fire_at_threshold: bool = True

    def validate(self) -> None:
        theta = as_array(self, "v_threshold")
        if self.v_init is None:
            self.v_init = np.zeros_like(theta)
        if self.amplitude is None:
            self.amplitude = np.ones_like(theta)
        as_array(self, "v_init")
        as_array(self, "amplitude")
        if np.any(theta <= 0):
            raise BadInputError(f"{self.name}: v_threshold must be > 0. Received: min {float(theta.min())}")
        check_choice(self, "reset", RESETS)
        if not math.isfinite(float(self.v_reset)):
            raise BadInputError(f"{self.name}: v_reset must be finite. Received: {self.v_reset!r}")
        self.v_reset = float(self.v_reset)
        self.fire_at_threshold = bool(self.fire_at_threshold)

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        (shape,) = in_shapes
        for field in ("v_threshold", "v_init", "amplitude"):
            try:
                np.broadcast_shapes(getattr(self, field).shape, shape)
            except ValueError:
                raise BadInputError(
                    f"IF {self.name!r}: {field}.shape={getattr(self, field).shape} does not broadcast to the layer shape {shape}"
                )
        return shape


#: spiking node types (the simulator steps these in time)
SPIKING = (IF,)
