"""The node base class, the registry of node types, and field validation helpers.

A node is a dataclass: ``name``, ``inputs`` (names of the nodes it reads), then its own typed
fields. Array fields are numpy arrays; every other field is a JSON value. Shapes never include
the batch axis and follow NHWC order (``(H, W, C)`` for images, ``(F,)`` for vectors).
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, ClassVar

import numpy as np

from npukit.errors import BadInputError, show

NODE_TYPES: dict[str, type["Node"]] = {}


def register(cls: type["Node"]) -> type["Node"]:
    """Class decorator: make a node type known to (de)serialization by its class name."""
    NODE_TYPES[cls.__name__] = cls
    return cls


Shape = tuple[int, ...]


@dataclasses.dataclass(eq=False)
class Node(abc.ABC):
    """A graph node. Subclasses define ``output_shape`` and, when they compute, ``macs``."""

    name: str
    inputs: tuple[str, ...]

    #: number of inputs the node takes; None means two or more
    arity: ClassVar[int | None] = 1
    #: True for nodes that only move data (no arithmetic): Flatten, Reshape, Identity
    shape_only: ClassVar[bool] = False

    def __post_init__(self) -> None:
        self.inputs = tuple(str(i) for i in self.inputs)
        if not self.name or not isinstance(self.name, str):
            raise BadInputError(f"a node needs a non-empty name. Received: name={self.name!r}")
        expected = self.arity
        n = len(self.inputs)
        if (expected is None and n < 2) or (expected is not None and n != expected):
            want = "at least 2" if expected is None else str(expected)
            raise BadInputError(
                f"{type(self).__name__} {self.name!r} takes {want} input(s). Received: {n}"
            )
        self.validate()

    def validate(self) -> None:
        """Check the node's own fields; raise BadInputError with the received value."""

    @abc.abstractmethod
    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        """The per-sample output shape, given the per-sample input shapes (no batch axis)."""

    def macs(self, in_shapes: list[Shape], out_shape: Shape) -> int:
        """Multiply-accumulates per sample (pooling counts one accumulate per window element)."""
        return 0

    # -- parameters and serialization ----------------------------------------------------------
    def arrays(self) -> dict[str, np.ndarray]:
        """The node's array fields (weights, thresholds...)."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), np.ndarray)
        }

    def param_count(self) -> int:
        """Number of trainable-style parameters (elements of weight and bias arrays)."""
        return int(sum(a.size for k, a in self.arrays().items() if k in ("kernel", "bias")))

    def attributes(self) -> dict[str, Any]:
        """The node's non-array fields as JSON values (tuples become lists)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                continue
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def replace(self, **changes: Any) -> "Node":
        return dataclasses.replace(self, **changes)


# -- validation helpers used by the node types -------------------------------------------------


def as_array(node: Node, field: str, ndim: int | None = None) -> np.ndarray:
    """Coerce ``node.<field>`` to a finite float32 array, checking its rank."""
    value = getattr(node, field)
    try:
        arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise BadInputError(f"{node.name}: {field} must be numeric. Received: {type(value).__name__}")
    if ndim is not None and arr.ndim != ndim:
        raise BadInputError(f"{node.name}: {field} must have rank {ndim}. Received: {field}.shape={arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise BadInputError(f"{node.name}: {field} contains NaN or Inf values")
    setattr(node, field, arr)
    return arr


def check_broadcasts(node: Node, field: str, shape: Shape, what: str = "the layer shape") -> None:
    """Refuse ``node.<field>`` unless it broadcasts to ``shape`` without enlarging it (the node's
    output keeps ``shape``)."""
    arr = getattr(node, field)
    try:
        fits = np.broadcast_shapes(arr.shape, tuple(shape)) == tuple(shape)
    except ValueError:
        fits = False
    if not fits:
        raise BadInputError(
            f"{type(node).__name__} {node.name!r}: {field}.shape={arr.shape} does not broadcast to {what} {tuple(shape)}"
        )


def as_pair(node: Node, field: str, minimum: int = 1) -> tuple[int, int]:
    """Coerce an int or a pair to a tuple of two ints >= minimum."""
    value = getattr(node, field)
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v >= minimum for v in pair):
        raise BadInputError(f"{node.name}: {field} must be two integers >= {minimum}. Received: {show(value)}")
    pair = (int(pair[0]), int(pair[1]))
    setattr(node, field, pair)
    return pair


def check_choice(node: Node, field: str, choices: tuple[str, ...]) -> str:
    value = getattr(node, field)
    if value not in choices:
        raise BadInputError(f"{node.name}: {field} must be one of {', '.join(choices)}. Received: {show(value)}")
    return value


def require_rank(node: Node, shape: Shape, rank: int, what: str = "input") -> None:
    if len(shape) != rank:
        layout = {1: "(features,)", 3: "(height, width, channels)"}.get(rank, f"rank {rank}")
        raise BadInputError(
            f"{type(node).__name__} {node.name!r} needs a {layout} {what} per sample. Received: shape {shape}"
        )
