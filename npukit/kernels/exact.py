"""Exact sums of products for weighted layers whose input is spike-valued.

A spike-valued input holds integers times a power of two ``unit`` (0/1 spikes, spike counts,
sum-pooled spikes, 2x2 average-pooled spikes with unit 1/4). Its products with float32 weights
are exact in float64, and so is every partial sum as long as it stays below 2**53 units of its
lowest bit. ``split_bands`` arranges that:

* inputs are cut into digits (``digits``) of at most ``bound`` units (``bound`` <= 255: the
  largest value the input is expected to hold, e.g. 1 for 0/1 spikes, 4 for their 2x2 sums; a
  larger value is split, so the bound only affects speed), so one product is at most
  bound x unit x |w|;
* the weights are split into **bands** by the position of their lowest set bit: the first band
  takes every weight whose lowest bit is at least a floor chosen so that bound x (the largest sum
  of |w| over one output's inputs, in the band) / 2**floor <= 2**52; the next band does the same
  with the weights left (tiny values beside large ones, e.g. weights a training drove to 1e-31),
  and so on. Most layers have one band.

Within a band, any algorithm that sums the products (a float64 BLAS GEMM with any blocking, FMA
or threading; a sparse product over the active inputs only; any number of rows per call)
returns the same exact value. The bands are laid side by side as extra output columns of one
kernel (a later band only needs the outputs it has weights for), summed by the same product,
then added together in band order (``combine_bands``), the same on every path. The float64
result is rounded to float32 once and the float32 bias added. Each output element is therefore
a function of its own input row only: identical for the event-driven and dense paths, any batch
size, any chunking.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from npukit.errors import UnsupportedError
from npukit.ir.geometry import window_2d

#: the largest input digit (in units): inputs are split into digits of at most this
MAX_BOUND = 255
#: partial sums stay below 2**HEADROOM_BITS units of their lowest bit (float64 holds 2**53 exactly)
HEADROOM_BITS = 52


def lowest_bits(values: np.ndarray) -> np.ndarray:
    """For nonzero finite values: e such that |v| = m * 2**e with m an odd integer."""
    mantissa, exponent = np.frexp(np.abs(np.asarray(values, dtype=np.float64)))
    m = (mantissa * 2.0**53).astype(np.int64)  # exact: a float64 mantissa has 53 bits
    low = m & -m  # the lowest set bit as a power of two
    return exponent.astype(np.int64) - 53 + np.log2(low).astype(np.int64)


@dataclass(frozen=True)
class Bands:
    """A kernel split for exact summation (module docstring).

    kernel: float64, the layer's kernel with its last (output) axis extended: the first band's
        full outputs, then each later band's columns for the outputs in ``columns[b]``.
        Depthwise kernels (``per_channel``) keep all multiplier columns for every band.
    columns: per band after the first, the output indices (last kernel axis) its columns add to.
    floors: per band, the lowest bit exponent it allows.
    """

    kernel: np.ndarray
    outputs: int
    columns: tuple[np.ndarray, ...]
    floors: tuple[int, ...]
    per_channel: bool = False

    @property
    def count(self) -> int:
        return 1 + len(self.columns)


def split_bands(kernel: np.ndarray, fan_in_axes: tuple[int, ...], bound: int = MAX_BOUND,
                per_channel: bool = False) -> Bands:
    """Split ``kernel`` (float32; outputs on the last axis) for exact sums of inputs whose digits
    are at most ``bound`` units; ``fan_in_axes`` are the axes one output sums over.
    ``per_channel`` (depthwise kernels): later bands keep every output column."""
    remaining = np.asarray(kernel, dtype=np.float32).astype(np.float64)
    outputs = remaining.shape[-1]
    bits = np.zeros(remaining.shape, np.int64)
    nonzero = remaining != 0
    bits[nonzero] = lowest_bits(remaining[nonzero])
    blocks, columns, floors = [], [], []
    while True:
        l1 = float(np.abs(remaining).sum(axis=fan_in_axes).max()) if remaining.size else 0.0
        if l1 == 0.0:
            break
        floor = math.ceil(math.log2(bound * l1)) - HEADROOM_BITS
        take = (remaining != 0) & (bits >= floor)
        if not take.any():  # only when one output sums more than 2**19 inputs
            raise UnsupportedError(f"a layer whose outputs sum {l1:g} in |weights| cannot be summed exactly")
        band = np.where(take, remaining, 0.0)
        remaining = np.where(take, 0.0, remaining)
        if blocks and not per_channel:
            used = np.flatnonzero(np.any(band != 0, axis=tuple(range(band.ndim - 1))))
            band = band[..., used]
            columns.append(used)
        elif blocks:
            columns.append(np.arange(outputs))
        blocks.append(band)
        floors.append(floor)
    if not blocks:
        blocks, floors = [remaining], [0]
    kernel = np.ascontiguousarray(np.concatenate(blocks, axis=-1))
    return Bands(kernel, outputs, tuple(columns), tuple(floors), per_channel)


def combine_bands(sums: np.ndarray, bands: Bands) -> np.ndarray:
    """The band columns of ``sums`` (..., kernel columns) added into the first band's outputs, in
    band order: (..., outputs) float64. Depthwise sums are (..., C, bands x M)."""
    if bands.count == 1:
        return sums
    if bands.per_channel:
        split = sums.reshape(sums.shape[:-1] + (bands.count, bands.outputs))
        total = split[..., 0, :].copy()
        for b in range(1, bands.count):
            total += split[..., b, :]
        return total
    total = sums[..., : bands.outputs].copy()
    start = bands.outputs
    for used in bands.columns:
        total[..., used] += sums[..., start : start + len(used)]
        start += len(used)
    return total


def digits(x: np.ndarray, unit: float, bound: int = MAX_BOUND) -> list[tuple[float, np.ndarray]]:
    """[(scale, part)] with x = sum(scale * part) exactly and every |part| <= bound x unit.

    One part, ``x`` itself, when it is small enough (always for uint8 spikes with bound 255);
    else base-(bound + 1) digits of |x| / unit with x's sign. A part that is 0 for a row adds
    exactly 0 to that row, so a row's result does not depend on how many parts the other rows of
    a call needed."""
    if x.dtype == np.uint8 and unit >= 1 and bound >= 255:
        return [(1.0, x)]
    top = float(np.max(x) if x.dtype.kind == "u" else np.max(np.abs(x))) if x.size else 0.0
    if top <= bound * unit:
        return [(1.0, x)]
    base = bound + 1
    magnitude = np.abs(x.astype(np.float64)) / unit  # integers, exactly
    sign = np.sign(x).astype(np.float64) * unit
    parts, scale = [], 1.0
    while np.any(magnitude):
        digit = np.mod(magnitude, base)
        parts.append((scale, digit * sign))
        magnitude = (magnitude - digit) / base
        scale *= base
    return parts


def combine(partials: list[tuple[float, np.ndarray]]) -> np.ndarray:
    """sum(scale * partial) in float64, in list order (exact for the first; the same rounding on
    every path for the rest)."""
    total = partials[0][1] if partials[0][0] == 1.0 else partials[0][1] * partials[0][0]
    for scale, partial in partials[1:]:
        total += partial * scale
    return total


class ConvGeometry:
    """Where each input cell of a (H, W, C) map goes in a 2-D convolution's output."""

    def __init__(self, in_shape, kernel_hw, strides, dilation, padding):
        self.h, self.w, self.c = (int(v) for v in in_shape)
        self.kh, self.kw = (int(v) for v in kernel_hw)
        self.strides, self.dilation, self.padding = tuple(strides), tuple(dilation), padding
        (self.oh, self.ow), ((self.top, _), (self.left, _)) = window_2d(
            (self.h, self.w), (self.kh, self.kw), self.strides, self.dilation, padding
        )
        self.positions = self.oh * self.ow

    def targets(self, i: int, j: int) -> np.ndarray:
        """(H*W,) int64: the output position input cell p reaches through kernel offset (i, j),
        or -1 where it reaches none (off the output, or between strides)."""
        (sh, sw), (dh, dw) = self.strides, self.dilation
        y = np.arange(self.h)[:, None] + self.top - i * dh
        x = np.arange(self.w)[None, :] + self.left - j * dw
        oy, ox = y // sh, x // sw
        ok = (y % sh == 0) & (x % sw == 0) & (oy >= 0) & (oy < self.oh) & (ox >= 0) & (ox < self.ow)
        return np.where(ok, oy * self.ow + ox, -1).reshape(-1)

    def fan_out_positions(self) -> np.ndarray:
        """(H*W,) number of output positions each input cell reaches."""
        return sum((self.targets(i, j) >= 0).astype(np.int64) for i in range(self.kh) for j in range(self.kw))

    def padded(self, x: np.ndarray) -> np.ndarray:
        """x (B, H, W, C) with the convolution's zero padding."""
        (sh, sw), (dh, dw) = self.strides, self.dilation
        bottom = max((self.oh - 1) * sh + (self.kh - 1) * dh + 1 - self.h - self.top, 0)
        right = max((self.ow - 1) * sw + (self.kw - 1) * dw + 1 - self.w - self.left, 0)
        if self.top == bottom == self.left == right == 0:
            return x
        return np.pad(x, ((0, 0), (self.top, bottom), (self.left, right), (0, 0)))

    def window(self, xp: np.ndarray, i: int, j: int) -> np.ndarray:
        """The (B, OH, OW, C) cells of padded input ``xp`` that kernel offset (i, j) reads."""
        (sh, sw), (dh, dw) = self.strides, self.dilation
        r0, c0 = i * dh, j * dw
        return xp[:, r0 : r0 + sh * (self.oh - 1) + 1 : sh, c0 : c0 + sw * (self.ow - 1) + 1 : sw, :]


__all__ = ["Bands", "split_bands", "combine_bands", "digits", "combine", "lowest_bits", "ConvGeometry", "MAX_BOUND"]
