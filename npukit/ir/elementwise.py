"""Element-wise nodes of the IR: affine maps with constants (BatchNorm, Scale, Offset) and
activations (ReLU, LeakyReLU, Sigmoid, HardSigmoid, HardSwish, Softmax).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from npukit.errors import BadInputError
from npukit.ir.base import Node, Shape, as_array, register


@register
@dataclasses.dataclass(eq=False)
class BatchNorm(Node):
    """Inference batch normalization on the last axis: y = x * scale + shift.

    scale = gamma / sqrt(moving_variance + epsilon); shift = beta - moving_mean * scale.
    The importer folds it into a preceding Conv2D / DepthwiseConv2D / Dense when it can.
    """

    scale: np.ndarray = None
    shift: np.ndarray = None

    def validate(self) -> None:
        s = as_array(self, "scale", 1)
        b = as_array(self, "shift", 1)
        if s.shape != b.shape:
            raise BadInputError(f"{self.name}: scale.shape={s.shape} and shift.shape={b.shape} differ")

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        (shape,) = in_shapes
        if shape[-1] != self.scale.shape[0]:
            raise BadInputError(f"BatchNorm {self.name!r} has {self.scale.shape[0]} channels. Received: shape {shape}")
        return shape

    def macs(self, in_shapes: list[Shape], out_shape: Shape) -> int:
        return int(math.prod(out_shape))


@register
@dataclasses.dataclass(eq=False)
class Scale(Node):
    """Element-wise product with a constant: y = x * scale (scale broadcasts to the shape)."""

    scale: np.ndarray = None

    def validate(self) -> None:
        as_array(self, "scale")

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        (shape,) = in_shapes
        try:
            np.broadcast_shapes(self.scale.shape, shape)
        except ValueError:
            raise BadInputError(f"Scale {self.name!r}: scale.shape={self.scale.shape} does not broadcast to {shape}")
        return shape

    def macs(self, in_shapes: list[Shape], out_shape: Shape) -> int:
        return int(math.prod(out_shape))


@register
@dataclasses.dataclass(eq=False)
class Offset(Node):
    """Element-wise sum with a constant: y = x + offset (offset broadcasts to the shape)."""

    offset: np.ndarray = None

    def validate(self) -> None:
        as_array(self, "offset")

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        (shape,) = in_shapes
        try:
            if np.broadcast_shapes(self.offset.shape, shape) != tuple(shape):
                raise ValueError
        except ValueError:
            raise BadInputError(f"Offset {self.name!r}: offset.shape={self.offset.shape} does not broadcast to {shape}")
        return shape


@register
@dataclasses.dataclass(eq=False)
class LeakyReLU(Node):
    """y = x for x >= 0, alpha * x otherwise."""

    alpha: float = 0.01

    def validate(self) -> None:
        self.alpha = float(self.alpha)
        if not math.isfinite(self.alpha):
            raise BadInputError(f"{self.name}: alpha must be finite. Received: {self.alpha!r}")

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        return in_shapes[0]


@register
@dataclasses.dataclass(eq=False)
class Sigmoid(Node):
    """y = 1 / (1 + exp(-x))."""

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        return in_shapes[0]


@register
@dataclasses.dataclass(eq=False)
class HardSigmoid(Node):
    """y = clip(alpha * x + beta, 0, 1) (ONNX defaults alpha 0.2, beta 0.5)."""

    alpha: float = 0.2
    beta: float = 0.5

    def validate(self) -> None:
        self.alpha, self.beta = float(self.alpha), float(self.beta)

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        return in_shapes[0]


@register
@dataclasses.dataclass(eq=False)
class HardSwish(Node):
    """y = x * clip(x / 6 + 1/2, 0, 1)."""

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        return in_shapes[0]


@register
@dataclasses.dataclass(eq=False)
class ReLU(Node):
    """y = max(x, 0), or min(max(x, 0), max_value) for a clipped ReLU (ReLU6: max_value=6)."""

    max_value: float | None = None

    def validate(self) -> None:
        if self.max_value is not None:
            if not (isinstance(self.max_value, (int, float)) and math.isfinite(self.max_value) and self.max_value > 0):
                raise BadInputError(f"{self.name}: max_value must be a positive number. Received: {self.max_value!r}")
            self.max_value = float(self.max_value)

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        return in_shapes[0]


@register
@dataclasses.dataclass(eq=False)
class Softmax(Node):
    """Softmax over the last axis."""

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        return in_shapes[0]
