"""Nodes that move or merge data without arithmetic on it (and Add, Concatenate): Pad2D, Pad,
Flatten, Reshape, Identity, Transpose, Slice, PermuteChannels, Add, Concatenate.
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
    """Element-wise sum of two or more inputs, broadcasting per sample (numpy rules)."""

    arity = None

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        try:
            return tuple(np.broadcast_shapes(*in_shapes))
        except ValueError:
            raise BadInputError(f"Add {self.name!r} needs inputs that broadcast to one shape. Received: {in_shapes}")


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
class Pad(Node):
    """Constant padding of any per-sample axes: ``pads[i] = (before, after)`` for axis i, filled
    with ``value`` (Pad2D is the zero padding of height and width)."""

    pads: tuple[tuple[int, int], ...] = ()
    value: float = 0.0

    def validate(self) -> None:
        try:
            pads = tuple((int(a), int(b)) for a, b in self.pads)
        except (TypeError, ValueError):
            raise BadInputError(f"{self.name}: pads must be (before, after) pairs, one per axis. Received: {self.pads!r}")
        if not pads or min(min(p) for p in pads) < 0:
            raise BadInputError(f"{self.name}: pads must be non-negative pairs. Received: {self.pads!r}")
        self.pads = pads
        self.value = float(self.value)
        if not math.isfinite(self.value):
            raise BadInputError(f"{self.name}: value must be finite. Received: {self.value!r}")

    def attributes(self) -> dict:
        out = super().attributes()
        out["pads"] = [list(p) for p in self.pads]
        return out

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        (shape,) = in_shapes
        if len(shape) != len(self.pads):
            raise BadInputError(f"Pad {self.name!r}: {len(self.pads)} pad pairs for shape {shape}")
        return tuple(d + a + b for d, (a, b) in zip(shape, self.pads))


@register
@dataclasses.dataclass(eq=False)
class Slice(Node):
    """Per-sample strided slice: axis i keeps ``begin[i], begin[i] + strides[i], ...`` below
    ``end[i]`` (non-negative, resolved by the frontend; strides >= 1). Cropping and Split."""

    begin: tuple[int, ...] = ()
    end: tuple[int, ...] = ()
    strides: tuple[int, ...] = ()

    def validate(self) -> None:
        try:
            begin, end = tuple(int(v) for v in self.begin), tuple(int(v) for v in self.end)
            strides = tuple(int(v) for v in (self.strides or (1,) * len(begin)))
        except (TypeError, ValueError):
            raise BadInputError(f"{self.name}: begin, end and strides must be integers")
        if not (len(begin) == len(end) == len(strides)) or not begin:
            raise BadInputError(f"{self.name}: begin, end and strides need one entry per axis. Received: {begin}, {end}, {strides}")
        if min(begin) < 0 or any(e <= b for b, e in zip(begin, end)) or min(strides) < 1:
            raise BadInputError(f"{self.name}: need 0 <= begin < end and strides >= 1. Received: {begin}, {end}, {strides}")
        self.begin, self.end, self.strides = begin, end, strides

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        (shape,) = in_shapes
        if len(shape) != len(self.begin) or any(e > d for e, d in zip(self.end, shape)):
            raise BadInputError(f"Slice {self.name!r}: [{self.begin}, {self.end}) does not fit shape {shape}")
        return tuple(-(-(e - b) // s) for b, e, s in zip(self.begin, self.end, self.strides))


@register
@dataclasses.dataclass(eq=False)
class PermuteChannels(Node):
    """Reorders the last axis: output channel i is input channel ``order[i]`` (a channel
    shuffle: the Reshape-Transpose-Reshape of ShuffleNet, found by ``npukit.passes.fold_shuffles``)."""

    order: tuple[int, ...] = ()
    shape_only = True

    def validate(self) -> None:
        order = tuple(int(v) for v in self.order)
        if sorted(order) != list(range(len(order))) or not order:
            raise BadInputError(f"{self.name}: order must be a permutation of 0..C-1. Received: {self.order!r}")
        self.order = order

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        (shape,) = in_shapes
        if shape[-1] != len(self.order):
            raise BadInputError(f"PermuteChannels {self.name!r} reorders {len(self.order)} channels. Received: shape {shape}")
        return shape
