"""Resizing of images: Resize (nearest neighbour or bilinear), NHWC.

Coordinates (ONNX's ``coordinate_transformation_mode``, TFLite's two flags): output cell i
along an axis of input size n and output size m reads source coordinate

* ``asymmetric``: i * n / m (TFLite: neither flag);
* ``half_pixel``: (i + 1/2) * n / m - 1/2 (TFLite ``half_pixel_centers``; Keras bilinear);
* ``align_corners``: i * (n - 1) / (m - 1) (TFLite ``align_corners``).

``nearest`` takes the cell floor(coordinate) for ``asymmetric`` (Keras UpSampling2D's repeat,
PyTorch's ``nearest``), and floor(coordinate + 1/2) otherwise (TFLite's rule, i.e. ONNX's
``round_prefer_ceil``); ``bilinear`` interpolates the two neighbours of each axis, clamped to
the edge.
"""

from __future__ import annotations

import dataclasses
import math

from npukit.errors import BadInputError
from npukit.ir.base import Node, Shape, as_pair, check_choice, register, require_rank

RESIZE_METHODS = ("nearest", "bilinear")
COORDINATES = ("asymmetric", "half_pixel", "align_corners")


@register
@dataclasses.dataclass(eq=False)
class Resize(Node):
    """(H, W, C) -> (size[0], size[1], C) by ``method`` with ``coordinates`` (module docstring)."""

    size: tuple[int, int] = (1, 1)
    method: str = "nearest"
    coordinates: str = "asymmetric"

    def validate(self) -> None:
        as_pair(self, "size")
        check_choice(self, "method", RESIZE_METHODS)
        check_choice(self, "coordinates", COORDINATES)

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        (shape,) = in_shapes
        require_rank(self, shape, 3)
        if self.coordinates == "align_corners" and 1 in self.size and shape[:2] != (1, 1):
            raise BadInputError(f"Resize {self.name!r}: align_corners needs output sizes above 1. Received: {self.size}")
        return (*self.size, shape[2])

    def macs(self, in_shapes: list[Shape], out_shape: Shape) -> int:
        return int(math.prod(out_shape)) * (4 if self.method == "bilinear" else 0)
