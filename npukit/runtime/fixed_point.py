"""TFLite's integer arithmetic, vectorized in numpy: how an int8 kernel rescales its int32 sums.

A real factor M (e.g. input scale x weight scale / output scale) is stored as a 31-bit fixed-point
multiplier and a power-of-two shift (``quantize_multiplier``, TFLite's ``QuantizeMultiplier``);
an int32 value x is rescaled by ``multiply_by_quantized_multiplier`` (gemmlowp's rounding doubling
high multiply, then a rounding right shift), as int8 ADD, MUL and activations do. XNNPACK, LiteRT's
default CPU delegate, rescales convolution and fully connected outputs in float32 instead
(``requantize_fp32``).

All functions take int64 arrays (values that fit int32) and return int64 arrays.
"""

from __future__ import annotations

import math

import numpy as np


def quantize_multiplier(real: float) -> tuple[int, int]:
    """(multiplier, shift) with real ~= multiplier * 2**(shift - 31), multiplier in [2**30, 2**31)
    (0, 0 for real 0). TFLite's ``QuantizeMultiplier``."""
    if real == 0:
        return 0, 0
    fraction, shift = math.frexp(real)
    q = int(round(fraction * (1 << 31)))  # std::round: halves away from zero (fraction > 0)
    if q == 1 << 31:
        q //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return q, shift


def _truncating_shift31(x: np.ndarray) -> np.ndarray:
    """x / 2**31 rounded toward zero (C++ integer division)."""
    return np.where(x >= 0, x >> 31, -((-x) >> 31))


def doubling_high_mul(a: np.ndarray, b) -> np.ndarray:
    """gemmlowp's SaturatingRoundingDoublingHighMul: round(a * b / 2**31), halves away from zero."""
    ab = np.asarray(a, np.int64) * np.asarray(b, np.int64)
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    out = _truncating_shift31(ab + nudge)
    return np.where((np.asarray(a) == -(1 << 31)) & (np.asarray(b) == -(1 << 31)), (1 << 31) - 1, out)


def rounding_divide_by_pot(x: np.ndarray, exponent) -> np.ndarray:
    """gemmlowp's RoundingDivideByPOT: x / 2**exponent, halves away from zero."""
    x = np.asarray(x, np.int64)
    exponent = np.asarray(exponent, np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_by_quantized_multiplier(x: np.ndarray, multiplier, shift) -> np.ndarray:
    """x * M for M = multiplier * 2**(shift - 31): TFLite's ``MultiplyByQuantizedMultiplier``."""
    shift = np.asarray(shift, np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    return rounding_divide_by_pot(doubling_high_mul(np.asarray(x, np.int64) << left, multiplier), right)


def requantize(x: np.ndarray, real, zero_point: int, low: int, high: int) -> np.ndarray:
    """int32 sums x -> output integers: x * real (per element, or per channel along the last
    axis when ``real`` is an array), plus the zero point, clamped to [low, high]."""
    reals = np.atleast_1d(np.asarray(real, np.float64))
    pairs = [quantize_multiplier(float(r)) for r in reals]
    multiplier = np.array([p[0] for p in pairs], np.int64)
    shift = np.array([p[1] for p in pairs], np.int64)
    if reals.size == 1:
        multiplier, shift = multiplier[0], shift[0]
    return np.clip(multiply_by_quantized_multiplier(x, multiplier, shift) + zero_point, low, high)


def requantize_fp32(x: np.ndarray, scale, zero_point: int, low: int, high: int) -> np.ndarray:
    """XNNPACK's "fp32" requantization of int32 sums: float32(x) * float32 scale, rounded to the
    nearest integer (ties to even), plus the zero point, clamped."""
    product = np.asarray(x).astype(np.float32) * np.asarray(scale, np.float32)
    np.rint(product, out=product)
    product += np.float32(zero_point)
    np.maximum(product, low, out=product)
    return np.minimum(product, high, out=product).astype(np.int32)


def round_half_away(x: np.ndarray) -> np.ndarray:
    """std::round: to the nearest integer, halves away from zero."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)
