"""Rate-coded (ANN) node types of the IR: weighted layers, pools, shape and merge nodes, activations.

Layout is NHWC; shapes exclude the batch axis. Weights are float32 arrays in TensorFlow's
layout (Dense ``(in, out)``, Conv2D ``(kh, kw, in, out)``, DepthwiseConv2D ``(kh, kw, in, mult)``).
"""

from __future__ import annotations

import abc
import dataclasses
import math

import numpy as np

from npukit.errors import BadInputError
from npukit.ir.base import Node, Shape, as_array, as_pair, check_choice, register, require_rank
from npukit.ir.geometry import window_2d

PADDINGS = ("same", "valid")


@register
@dataclasses.dataclass(eq=False)
class Input(Node):
    """The graph input. ``shape`` is per sample, e.g. ``(8, 8, 1)``."""

    shape: tuple[int, ...] = ()
    arity = 0

    def validate(self) -> None:
        shape = tuple(self.shape)
        if not shape or not all(isinstance(d, (int, np.integer)) and d > 0 for d in shape):
            raise BadInputError(
                f"input {self.name!r} needs a static shape of positive sizes. Received: {self.shape!r}"
            )
        self.shape = tuple(int(d) for d in shape)

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        return self.shape


@register
@dataclasses.dataclass(eq=False)
class Dense(Node):
    """y = x @ kernel + bias on a ``(features,)`` input. kernel: (in, out); bias: (out,)."""

    kernel: np.ndarray = None
    bias: np.ndarray = None

    def validate(self) -> None:
        k = as_array(self, "kernel", 2)
        b = as_array(self, "bias", 1)
        if b.shape[0] != k.shape[1]:
            raise BadInputError(f"{self.name}: bias.shape={b.shape} does not match kernel.shape={k.shape}")

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        (shape,) = in_shapes
        require_rank(self, shape, 1)
        if shape[0] != self.kernel.shape[0]:
            raise BadInputError(
                f"Dense {self.name!r} expects {self.kernel.shape[0]} features. Received: shape {shape}"
            )
        return (self.kernel.shape[1],)

    def macs(self, in_shapes: list[Shape], out_shape: Shape) -> int:
        return int(self.kernel.size)


@dataclasses.dataclass(eq=False)
class _Windowed(Node):
    """Shared fields and geometry of 2-D sliding-window nodes."""

    strides: tuple[int, int] = (1, 1)
    padding: str = "valid"
    dilation: tuple[int, int] = (1, 1)

    def _check_window(self) -> None:
        as_pair(self, "strides")
        as_pair(self, "dilation")
        check_choice(self, "padding", PADDINGS)

    @abc.abstractmethod
    def window(self) -> tuple[int, int]:
        """(height, width) of the window."""

    def _spatial(self, shape: Shape) -> tuple[int, int]:
        require_rank(self, shape, 3)
        (oh, ow), _ = window_2d(shape[:2], self.window(), self.strides, self.dilation, self.padding)
        if oh < 1 or ow < 1:
            raise BadInputError(
                f"{type(self).__name__} {self.name!r}: window {self.window()} does not fit the "
                f"input {shape[:2]} with padding '{self.padding}'"
            )
        return oh, ow


@register
@dataclasses.dataclass(eq=False)
class Conv2D(_Windowed):
    """2-D convolution (cross-correlation, as in TF). kernel: (kh, kw, in, out); bias: (out,)."""

    kernel: np.ndarray = None
    bias: np.ndarray = None

    def validate(self) -> None:
        k = as_array(self, "kernel", 4)
        b = as_array(self, "bias", 1)
        if b.shape[0] != k.shape[3]:
            raise BadInputError(f"{self.name}: bias.shape={b.shape} does not match kernel.shape={k.shape}")
        self._check_window()

    def window(self) -> tuple[int, int]:
        return self.kernel.shape[0], self.kernel.shape[1]

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        (shape,) = in_shapes
        oh, ow = self._spatial(shape)
        if shape[2] != self.kernel.shape[2]:
            raise BadInputError(
                f"Conv2D {self.name!r} expects {self.kernel.shape[2]} input channels. Received: shape {shape}"
            )
        return (oh, ow, self.kernel.shape[3])

    def macs(self, in_shapes: list[Shape], out_shape: Shape) -> int:
        kh, kw, cin, _ = self.kernel.shape
        return int(math.prod(out_shape) * kh * kw * cin)


@register
@dataclasses.dataclass(eq=False)
class DepthwiseConv2D(_Windowed):
    """Depthwise convolution. kernel: (kh, kw, in, multiplier); bias: (in * multiplier,).

    Output channel ``c * multiplier + m`` reads input channel ``c`` only (TF's order).
    """

    kernel: np.ndarray = None
    bias: np.ndarray = None

    def validate(self) -> None:
        k = as_array(self, "kernel", 4)
        b = as_array(self, "bias", 1)
        if b.shape[0] != k.shape[2] * k.shape[3]:
            raise BadInputError(f"{self.name}: bias.shape={b.shape} does not match kernel.shape={k.shape}")
        self._check_window()

    def window(self) -> tuple[int, int]:
        return self.kernel.shape[0], self.kernel.shape[1]

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        (shape,) = in_shapes
        oh, ow = self._spatial(shape)
        if shape[2] != self.kernel.shape[2]:
            raise BadInputError(
                f"DepthwiseConv2D {self.name!r} expects {self.kernel.shape[2]} channels. Received: shape {shape}"
            )
        return (oh, ow, self.kernel.shape[2] * self.kernel.shape[3])

    def macs(self, in_shapes: list[Shape], out_shape: Shape) -> int:
        kh, kw = self.window()
        return int(math.prod(out_shape) * kh * kw)


@dataclasses.dataclass(eq=False)
class _Pool(_Windowed):
    pool_size: tuple[int, int] = (2, 2)

    def validate(self) -> None:
        as_pair(self, "pool_size")
        self._check_window()
        if self.dilation != (1, 1):
            raise BadInputError(f"{self.name}: pooling takes no dilation. Received: {self.dilation}")

    def window(self) -> tuple[int, int]:
        return self.pool_size

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        (shape,) = in_shapes
        oh, ow = self._spatial(shape)
        return (oh, ow, shape[2])

    def macs(self, in_shapes: list[Shape], out_shape: Shape) -> int:
        return int(math.prod(out_shape) * self.pool_size[0] * self.pool_size[1])


@register
@dataclasses.dataclass(eq=False)
class AveragePool2D(_Pool):
    """Average pooling. With 'same' padding the padded cells are not counted (TF/Keras rule)."""


@register
@dataclasses.dataclass(eq=False)
class SumPool2D(_Pool):
    """Sum over each window (NIR SumPool2d); 'same' padding adds zeros."""


@register
@dataclasses.dataclass(eq=False)
class MaxPool2D(_Pool):
    """Max pooling. Its spiking rule is documented in ``npukit.snn.simulate``."""


@register
@dataclasses.dataclass(eq=False)
class GlobalAveragePool(Node):
    """Mean over height and width: (H, W, C) -> (C,), or (1, 1, C) with keepdims."""

    keepdims: bool = False

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        (shape,) = in_shapes
        require_rank(self, shape, 3)
        return (1, 1, shape[2]) if self.keepdims else (shape[2],)

    def macs(self, in_shapes: list[Shape], out_shape: Shape) -> int:
        return int(math.prod(in_shapes[0]))


@register
@dataclasses.dataclass(eq=False)
class Pad2D(Node):
    """Zero padding of height and width: pads = ((top, bottom), (left, right))."""

    pads: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0))

    def validate(self) -> None:
        try:
            pads = tuple((int(a), int(b)) for a, b in self.pads)
        except (TypeError, ValueError):
            raise BadInputError(f"{self.name}: pads must be ((top, bottom), (left, right)). Received: {self.pads!r}")
        if len(pads) != 2 or min(min(p) for p in pads) < 0:
            raise BadInputError(f"{self.name}: pads must be two non-negative pairs. Received: {self.pads!r}")
        self.pads = pads

    def attributes(self) -> dict:
        out = super().attributes()
        out["pads"] = [list(p) for p in self.pads]
        return out

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        (shape,) = in_shapes
        require_rank(self, shape, 3)
        (t, b), (l, r) = self.pads
        return (shape[0] + t + b, shape[1] + l + r, shape[2])


@register
@dataclasses.dataclass(eq=False)
class Flatten(Node):
    """Row-major (NHWC) flattening to ``(features,)``."""

    shape_only = True

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        return (int(math.prod(in_shapes[0])),)


@register
@dataclasses.dataclass(eq=False)
class Reshape(Node):
    """Row-major reshape to a static per-sample ``shape`` (no -1; the frontend resolves it)."""

    shape: tuple[int, ...] = ()
    shape_only = True

    def validate(self) -> None:
        shape = tuple(self.shape)
        if not shape or not all(isinstance(d, (int, np.integer)) and d > 0 for d in shape):
            raise BadInputError(f"{self.name}: reshape target must be positive sizes. Received: {self.shape!r}")
        self.shape = tuple(int(d) for d in shape)

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        if math.prod(in_shapes[0]) != math.prod(self.shape):
            raise BadInputError(
                f"Reshape {self.name!r} cannot turn shape {in_shapes[0]} into {self.shape}"
            )
        return self.shape


@register
@dataclasses.dataclass(eq=False)
class Identity(Node):
    """y = x (a linear activation kept as a node so the layer keeps its name)."""

    shape_only = True

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        return in_shapes[0]


@register
@dataclasses.dataclass(eq=False)
class Add(Node):
    """Element-wise sum of two or more inputs of the same shape."""

    arity = None

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        if len(set(in_shapes)) != 1:
            raise BadInputError(f"Add {self.name!r} needs inputs of one shape. Received: {in_shapes}")
        return in_shapes[0]


@register
@dataclasses.dataclass(eq=False)
class Concatenate(Node):
    """Concatenation along ``axis``, counted per sample without the batch axis (0-based)."""

    axis: int = -1
    arity = None

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        rank = len(in_shapes[0])
        axis = self.axis if self.axis >= 0 else rank + self.axis
        if not 0 <= axis < rank:
            raise BadInputError(f"Concatenate {self.name!r}: axis {self.axis} is out of range for rank {rank}")
        rest = {s[:axis] + s[axis + 1 :] for s in in_shapes}
        if len(rest) != 1 or any(len(s) != rank for s in in_shapes):
            raise BadInputError(f"Concatenate {self.name!r}: shapes {in_shapes} differ off axis {self.axis}")
        self.axis = axis
        return in_shapes[0][:axis] + (sum(s[axis] for s in in_shapes),) + in_shapes[0][axis + 1 :]


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
class Transpose(Node):
    """Per-sample axis permutation: output axis i is input axis ``perm[i]`` (batch untouched)."""

    perm: tuple[int, ...] = ()

    def validate(self) -> None:
        perm = tuple(int(p) for p in self.perm)
        if sorted(perm) != list(range(len(perm))):
            raise BadInputError(f"{self.name}: perm must be a permutation of 0..{len(perm) - 1}. Received: {self.perm!r}")
        self.perm = perm

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        (shape,) = in_shapes
        if len(shape) != len(self.perm):
            raise BadInputError(f"Transpose {self.name!r}: perm {self.perm} does not fit shape {shape}")
        return tuple(shape[p] for p in self.perm)


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


#: nodes whose output is a weighted sum of their input (they have synapses)
WEIGHTED = (Dense, Conv2D, DepthwiseConv2D)
#: nodes that are affine maps of their input(s): they commute with averaging over time
AFFINE = WEIGHTED + (
    AveragePool2D, SumPool2D, GlobalAveragePool, Pad2D, Flatten, Reshape, Identity, Add, Concatenate, BatchNorm, Scale,
    Offset, Transpose,
)
#: activations with no spiking equivalent (they stay analog: only after the last weighted layer)
ANALOG_ONLY = (LeakyReLU, Sigmoid, HardSigmoid, HardSwish, Softmax)
