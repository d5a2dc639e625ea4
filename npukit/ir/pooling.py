"""Pooling nodes of the IR: AveragePool2D, SumPool2D, MaxPool2D, GlobalAveragePool (NHWC), and
Reduce (mean, max, sum over any axes).
"""

from __future__ import annotations

import dataclasses
import math


from npukit.errors import BadInputError
from npukit.ir.base import Node, Shape, as_pair, register, require_rank
from npukit.ir.linear import _Windowed


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


REDUCTIONS = ("mean", "max", "sum")


@register
@dataclasses.dataclass(eq=False)
class Reduce(Node):
    """Mean, max or sum over ``axes`` (per-sample axes, 0-based, no batch); ``keepdims`` keeps
    them with size 1. GlobalAveragePool is the mean over (0, 1) of an (H, W, C) map."""

    op: str = "mean"
    axes: tuple[int, ...] = ()
    keepdims: bool = False

    def validate(self) -> None:
        if self.op not in REDUCTIONS:
            raise BadInputError(f"{self.name}: op must be one of {', '.join(REDUCTIONS)}. Received: {self.op!r}")
        try:
            axes = tuple(sorted({int(a) for a in self.axes}))
        except (TypeError, ValueError):
            raise BadInputError(f"{self.name}: axes must be integers. Received: {self.axes!r}")
        if not axes or axes[0] < 0:
            raise BadInputError(f"{self.name}: axes must be non-negative per-sample axes. Received: {self.axes!r}")
        self.axes = axes
        self.keepdims = bool(self.keepdims)

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        (shape,) = in_shapes
        if self.axes[-1] >= len(shape):
            raise BadInputError(f"Reduce {self.name!r}: axes {self.axes} do not fit shape {shape}")
        if self.keepdims:
            return tuple(1 if i in self.axes else d for i, d in enumerate(shape))
        out = tuple(d for i, d in enumerate(shape) if i not in self.axes)
        if not out:
            raise BadInputError(f"Reduce {self.name!r}: reducing every axis of {shape} leaves no sample axis; keep dims")
        return out

    def macs(self, in_shapes: list[Shape], out_shape: Shape) -> int:
        return int(math.prod(in_shapes[0]))
