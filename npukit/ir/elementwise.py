"""Element-wise nodes of the IR: affine maps with constants (BatchNorm, Scale, Offset),
activations (ReLU, LeakyReLU, Sigmoid, Tanh, HardSigmoid, HardSwish, Swish, Gelu, Erf, Softmax),
products and quotients of two tensors (Multiply, Divide) and LayerNorm.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from npukit.errors import BadInputError
from npukit.ir.base import Node, Shape, as_array, check_broadcasts, register


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
        check_broadcasts(self, "scale", shape)
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
        check_broadcasts(self, "offset", shape)
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
class Tanh(Node):
    """y = tanh(x) (LSTM and GRU cells)."""

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


@register
@dataclasses.dataclass(eq=False)
class Swish(Node):
    """y = x * sigmoid(x) (SiLU; Keras ``swish`` / ``silu``)."""

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        return in_shapes[0]


GELU_APPROXIMATIONS = ("none", "tanh")


@register
@dataclasses.dataclass(eq=False)
class Gelu(Node):
    """GELU. ``approximate`` "none": y = x / 2 * (1 + erf(x / sqrt(2))); "tanh":
    y = x / 2 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3))) (ONNX Gelu, Keras ``gelu``)."""

    approximate: str = "none"

    def validate(self) -> None:
        if self.approximate not in GELU_APPROXIMATIONS:
            raise BadInputError(
                f"{self.name}: approximate must be one of {', '.join(GELU_APPROXIMATIONS)}. Received: {self.approximate!r}"
            )

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        return in_shapes[0]


@register
@dataclasses.dataclass(eq=False)
class Erf(Node):
    """y = erf(x). TFLite has no builtin for it: it is lowered only as part of a GELU
    (``npukit.passes.fuse_gelu`` finds x / 2 * (1 + erf(x / sqrt(2))) in imported graphs)."""

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        return in_shapes[0]


def _broadcast(node: Node, in_shapes: list[Shape]) -> Shape:
    """The broadcast of the per-sample input shapes (numpy rules)."""
    try:
        out = tuple(np.broadcast_shapes(*in_shapes))
    except ValueError:
        raise BadInputError(f"{type(node).__name__} {node.name!r}: input shapes {in_shapes} do not broadcast")
    return out


@register
@dataclasses.dataclass(eq=False)
class Multiply(Node):
    """Element-wise product of two tensors, broadcasting per sample (squeeze-excite: (H, W, C)
    times (1, 1, C))."""

    arity = 2

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        return _broadcast(self, in_shapes)

    def macs(self, in_shapes: list[Shape], out_shape: Shape) -> int:
        return int(math.prod(out_shape))


@register
@dataclasses.dataclass(eq=False)
class Divide(Node):
    """Element-wise quotient of two tensors, broadcasting per sample: y = a / b."""

    arity = 2

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        return _broadcast(self, in_shapes)

    def macs(self, in_shapes: list[Shape], out_shape: Shape) -> int:
        return int(math.prod(out_shape))


@register
@dataclasses.dataclass(eq=False)
class LayerNorm(Node):
    """Layer normalization over the last axis: y = (x - mean) / sqrt(var + epsilon) * gamma + beta,
    mean and (biased) variance taken over the last axis of each position; gamma, beta: (C,)."""

    gamma: np.ndarray = None
    beta: np.ndarray = None
    epsilon: float = 1e-5

    def validate(self) -> None:
        g = as_array(self, "gamma", 1)
        b = as_array(self, "beta", 1)
        if g.shape != b.shape:
            raise BadInputError(f"{self.name}: gamma.shape={g.shape} and beta.shape={b.shape} differ")
        self.epsilon = float(self.epsilon)
        if not (math.isfinite(self.epsilon) and self.epsilon >= 0):
            raise BadInputError(f"{self.name}: epsilon must be a non-negative number. Received: {self.epsilon!r}")

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        (shape,) = in_shapes
        if shape[-1] != self.gamma.shape[0]:
            raise BadInputError(f"LayerNorm {self.name!r} normalizes {self.gamma.shape[0]} channels. Received: shape {shape}")
        return shape

    def macs(self, in_shapes: list[Shape], out_shape: Shape) -> int:
        return 4 * int(math.prod(out_shape))
