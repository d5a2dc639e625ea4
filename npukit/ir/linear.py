"""Weighted layers of the IR: Input, Dense, Embedding, Conv2D, DepthwiseConv2D (and the window
geometry shared with pooling).

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


INPUT_DTYPES = ("float32", "int32")


@register
@dataclasses.dataclass(eq=False)
class Input(Node):
    """The graph input. ``shape`` is per sample, e.g. ``(8, 8, 1)``. ``dtype`` "int32" marks
    token ids (a recurrent model's per-step input read only by ``Embedding`` nodes): then the
    shape may be ``()``, one id per sample and step. The IR computes in float either way; the
    TFLite graph takes int32 ids (what GATHER indexes with)."""

    shape: tuple[int, ...] = ()
    dtype: str = "float32"
    arity = 0

    def validate(self) -> None:
        check_choice(self, "dtype", INPUT_DTYPES)
        shape = tuple(self.shape)
        if (not shape and self.dtype != "int32") or not all(isinstance(d, (int, np.integer)) and d > 0 for d in shape):
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


@register
@dataclasses.dataclass(eq=False)
class Embedding(Node):
    """y = table[id]: the row of ``table`` (vocabulary, features) picked by a token id (a
    per-sample ``()`` int32 graph input). An id outside 0..vocabulary-1 is bad input."""

    table: np.ndarray = None

    def validate(self) -> None:
        as_array(self, "table", 2)

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        (shape,) = in_shapes
        if shape != ():
            raise BadInputError(f"Embedding {self.name!r} reads one token id per sample and step. Received: shape {shape}")
        return (self.table.shape[1],)

    def param_count(self) -> int:
        return int(self.table.size)


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
    """2-D convolution (cross-correlation, as in TF). kernel: (kh, kw, in / groups, out); bias: (out,).

    With ``groups`` g > 1 (a grouped convolution, as TFLite's CONV_2D and ONNX's Conv with
    group g), input and output channels split into g consecutive blocks; output block k reads
    input block k only.
    """

    kernel: np.ndarray = None
    bias: np.ndarray = None
    groups: int = 1

    def validate(self) -> None:
        k = as_array(self, "kernel", 4)
        b = as_array(self, "bias", 1)
        if b.shape[0] != k.shape[3]:
            raise BadInputError(f"{self.name}: bias.shape={b.shape} does not match kernel.shape={k.shape}")
        if not isinstance(self.groups, (int, np.integer)) or self.groups < 1 or k.shape[3] % self.groups:
            raise BadInputError(
                f"{self.name}: groups must be a positive divisor of the {k.shape[3]} output channels. Received: {self.groups!r}"
            )
        self.groups = int(self.groups)
        self._check_window()

    def window(self) -> tuple[int, int]:
        return self.kernel.shape[0], self.kernel.shape[1]

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        (shape,) = in_shapes
        oh, ow = self._spatial(shape)
        if shape[2] != self.kernel.shape[2] * self.groups:
            raise BadInputError(
                f"Conv2D {self.name!r} expects {self.kernel.shape[2] * self.groups} input channels. Received: shape {shape}"
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
