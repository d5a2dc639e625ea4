"""Checks of option values shared by the API functions: one wording for every refusal.

Each returns the value in its canonical type or raises ``BadInputError`` naming the option as the
API calls it (``timesteps``, ``batch size``...), never a CLI flag.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from npukit.errors import BadInputError, show

#: the largest T any command simulates or loops over
MAX_TIMESTEPS = 100_000


def positive_int(name: str, value, maximum: int | None = None) -> int:
    """An integer in 1..maximum (bools are refused: True is not a count)."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0 or (maximum and value > maximum):
        bound = f" and at most {maximum:,}" if maximum else ""
        raise BadInputError(f"{name} must be a positive integer{bound}. Received: {_show(value)}")
    return int(value)


def int_in_range(name: str, value, low: int, high: int) -> int:
    """An integer in low..high."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not low <= value <= high:
        raise BadInputError(f"{name} must be an integer in {low}..{high:,}. Received: {_show(value)}")
    return int(value)


def seed(value) -> int:
    """A random seed: an integer in 0..2^63-1 (numpy's generators refuse negative ones)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < 1 << 63:
        raise BadInputError(f"seed must be an integer in 0..2^63-1. Received: {_show(value)}")
    return int(value)


def number_in_range(name: str, value, low: float, high: float, low_open: bool = False) -> float:
    """A finite number in [low, high] ((low, high] with ``low_open``)."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and value <= high
    if not ok:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise BadInputError(f"{name} must be a number in {interval}. Received: {_show(value)}")
    return float(value)


def one_of(name: str, value, choices: Iterable[str]) -> str:
    """One of a fixed set of names."""
    choices = tuple(choices)
    if value not in choices:
        raise BadInputError(f"{name} must be one of {', '.join(choices)}. Received: {_show(value)}")
    return value


_show = show  # a value as a user wrote it: 8, not np.int32(8)
