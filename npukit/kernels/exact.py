"""Exact sums of products for weighted layers whose input is spike-valued.

A spike-valued input holds integers times a power of two ``unit`` (0/1 spikes, spike counts,
sum-pooled spikes, 2x2 average-pooled spikes with unit 1/4). Its products with float32 weights
are exact in float64, and so is every partial sum as long as it stays below 2**53 units of its
lowest bit. ``split_bands`` arranges that:

* inputs are cut into base-256 digits (``digits``), so one product is at most 255 x unit x |w|;
* the weights go to a **main** band, every weight whose lowest set bit is at least ``floor``,
  chosen so that 255 x (the largest sum of |w| over one output's inputs) / 2**floor <= 2**52;
  the few weights with lower bits (tiny values next to large ones) go to a **residual** list.

Then any algorithm that sums the main band's products (a float64 BLAS GEMM with any blocking,
FMA or threading; a sparse product over the active inputs only; any number of rows per call)
returns the same exact value. The residual entries are added to it one by one in a fixed order
(``add_residual``), the same for every path; the float64 result is rounded to float32 once and
the float32 bias added. Each output element is therefore a function of its own input row only:
identical for the event-driven and dense paths, any batch size, any chunking.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from npukit.ir.geometry import window_2d

#: inputs are split into base-DIGIT digits, so |digit| <= DIGIT - 1
DIGIT = 256
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
    """A kernel split for exact summation (module docstring)."""

    main: np.ndarray  # float64, the kernel's shape, residual weights set to 0
    residual_index: np.ndarray  # flat indices into the kernel, ascending
    residual_value: np.ndarray  # float64 weights at those indices
    floor: int  # lowest bit exponent the main band allows


def split_bands(kernel: np.ndarray, fan_in_axes: tuple[int, ...]) -> Bands:
    """Split ``kernel`` (float32) for exact sums; ``fan_in_axes`` are the axes one output sums over."""
    k = np.asarray(kernel, dtype=np.float32).astype(np.float64)
    l1 = float(np.abs(k).sum(axis=fan_in_axes).max()) if k.size else 0.0
    if l1 == 0.0:
        return Bands(k, np.zeros(0, np.int64), np.zeros(0), 0)
    floor = math.ceil(math.log2((DIGIT - 1) * l1)) - HEADROOM_BITS
    flat = k.reshape(-1)
    nonzero = np.flatnonzero(flat)
    low = nonzero[lowest_bits(flat[nonzero]) < floor]
    main = flat.copy()
    main[low] = 0.0
    return Bands(main.reshape(k.shape), low, flat[low].copy(), floor)


def digits(x: np.ndarray, unit: float) -> list[tuple[float, np.ndarray]]:
    """[(scale, part)] with x = sum(scale * part) exactly and every |part| <= (DIGIT-1) x unit.

    One part, ``x`` itself, when it is small enough (always for uint8 spikes); else base-256
    digits of |x| / unit with x's sign. A part that is 0 for a row adds exactly 0 to that row, so
    a row's result does not depend on how many parts the other rows of a call needed."""
    if x.dtype == np.uint8 and unit >= 1:
        return [(1.0, x)]
    top = float(np.max(np.abs(x))) if x.size else 0.0
    if top <= (DIGIT - 1) * unit:
        return [(1.0, x)]
    magnitude = np.abs(x.astype(np.float64)) / unit  # integers, exactly
    sign = np.sign(x).astype(np.float64) * unit
    parts, scale = [], 1.0
    while np.any(magnitude):
        digit = np.mod(magnitude, DIGIT)
        parts.append((scale, digit * sign))
        magnitude = (magnitude - digit) / DIGIT
        scale *= DIGIT
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


def add_residual_dense(total: np.ndarray, x: np.ndarray, bands: Bands, n_out: int) -> None:
    """total (B, N) += x (B, K) @ residual weights, entry by entry in ascending index order."""
    for index, value in zip(bands.residual_index, bands.residual_value):
        k, n = divmod(int(index), n_out)
        total[:, n] += x[:, k] * value


def add_residual_conv(total: np.ndarray, x: np.ndarray, bands: Bands, geometry: ConvGeometry, depthwise: bool) -> None:
    """total (B, OH, OW, Cout) += the residual weights' convolution of x (B, H, W, C), entry by
    entry in ascending index order of the (kh, kw, C, Cout or multiplier) kernel."""
    if not len(bands.residual_index):
        return
    xp = geometry.padded(x)
    shape = bands.main.shape
    for index, value in zip(bands.residual_index, bands.residual_value):
        i, j, c, o = np.unravel_index(int(index), shape)
        out = c * shape[3] + o if depthwise else o
        total[..., out] += geometry.window(xp, i, j)[..., c] * value


__all__ = ["Bands", "split_bands", "digits", "combine", "lowest_bits", "ConvGeometry", "DIGIT"]
