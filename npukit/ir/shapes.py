"""Nodes that move or merge data without arithmetic on it (and Add, Concatenate): Pad2D,
Flatten, Reshape, Identity, Transpose, Add, Concatenate.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from npukit.errors import BadInputError
from npukit.ir.base import Node, Shape, register, require_rank


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
