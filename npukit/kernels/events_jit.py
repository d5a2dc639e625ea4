"""Compiled (numba) event-driven synaptic sums: the index arithmetic, the scatter and the
rounding in one loop, with the same bits as ``npukit.kernels.events``' scipy path.

One call visits the input row by row (a row is one sample at one step). For each nonzero input
element (a "spike" of value a, an integer times the unit) it adds a x weight row into every
output it reaches, in a float64 buffer of that row's outputs over the band-extended kernel
(``npukit.kernels.exact.split_bands``); then it adds the later bands into the first in band
order, rounds each output to float32 once and adds the float32 bias, and clears the buffer for
the next row. Within a band every partial sum is exact (``npukit.kernels.exact``), so visiting
the inputs in this order gives the same sums as scipy's sparse product or a dense GEMM; the band
additions, the rounding and the bias are done in the same order as
``combine_bands`` + ``Synapses``' float32 addition. Results are therefore bit-identical to the
scipy event path and to the dense path (``tests/test_events_jit.py``).

A layer is described by a per-cell table (``EventTable``): an input element (cell p, channel c)
reaches output row ``target[k] * target_mult + c * channel_mult`` of its row's buffer through
kernel row ``offset[k] * channels + c``, for k in ``start[p]:start[p + 1]``. Convolutions list
each cell's (output position, kernel offset) pairs that land on the output (padding, borders,
strides and dilation resolved once, when the table is built); depthwise convolutions keep one
buffer row per (position, channel); a Dense layer is a "convolution" of K cells, one channel,
one output position.

The kernels are compiled on first use per input dtype (uint8, float32, float64) and cached in a
private folder of the user's (``npukit.kernels.jit``: never numba's own cache locations, never a
configuration file from the working folder); they release the GIL, so ``npukit.kernels.parallel`` runs row shards of
one call on worker threads (each row's arithmetic is unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from npukit.kernels.exact import ConvGeometry
from npukit.kernels.jit import njit

#: input dtypes the kernels are compiled for (others are converted to float64: exact, since
#: spike-valued inputs are small integers times a power of two)
DTYPES = (np.dtype(np.uint8), np.dtype(np.float32), np.dtype(np.float64))


@dataclass(frozen=True)
class EventTable:
    """Where each input element's weight rows go (module docstring); all int64."""

    start: np.ndarray  # (cells + 1,)
    target: np.ndarray  # (entries,) output position
    offset: np.ndarray  # (entries,) kernel offset i * kw + j
    channels: int
    target_mult: int  # buffer rows per output position (channels for depthwise, else 1)
    channel_mult: int  # 1 for depthwise (one buffer row per channel), else 0
    rows_per_frame: int  # buffer rows of one input row


def conv_table(geometry: ConvGeometry, depthwise: bool) -> EventTable:
    """The table of a Conv2D / DepthwiseConv2D: per input cell, the (output position, kernel
    offset) pairs that land on the output."""
    g = geometry
    targets = np.stack([g.targets(i, j) for i in range(g.kh) for j in range(g.kw)], axis=1)  # (cells, offsets)
    valid = targets >= 0
    cell, offset = np.nonzero(valid)  # row-major: grouped by cell
    start = np.concatenate([[0], np.cumsum(valid.sum(axis=1))]).astype(np.int64)
    mult = g.c if depthwise else 1
    return EventTable(start, targets[cell, offset].astype(np.int64), offset.astype(np.int64), g.c,
                      mult, 1 if depthwise else 0, g.positions * mult)


def dense_table(inputs: int) -> EventTable:
    """The table of a Dense layer of ``inputs`` inputs: input k adds kernel row k to the one output row."""
    return EventTable(np.arange(inputs + 1, dtype=np.int64), np.zeros(inputs, np.int64),
                      np.arange(inputs, dtype=np.int64), 1, 1, 0, 1)


@njit
def _scatter_row(x, f, start, target, offset, channels, target_mult, channel_mult, weights, fan_out, limit, buf, base):
    """Add row f of x's active inputs into buf[base:base + rows_per_frame] (kernel columns); returns the
    sum of |value| x fan-out over them, or -1 as soon as a value exceeds ``limit``."""
    ncols = weights.shape[1]
    cells = start.shape[0] - 1
    sops = 0.0
    e = 0
    for p in range(cells):
        for c in range(channels):
            v = x[f, e]
            e += 1
            if v == 0:
                continue
            a = np.float64(v)
            m = abs(a)
            if m > limit:
                return -1.0
            sops += m * fan_out[p * channels + c]
            for k in range(start[p], start[p + 1]):
                r = base + target[k] * target_mult + c * channel_mult
                w = offset[k] * channels + c
                for j in range(ncols):  # exact products and sums: any order gives these bits
                    buf[r, j] += a * weights[w, j]
    return sops


@njit
def _finish_rows(buf, extra, bias, out, first):
    """Later bands into the first (in band order), one rounding to float32, plus the float32
    bias: out[first + r] for every row r of buf; buf is cleared. ``extra[j]`` is the output
    column of kernel column outputs + j; bias is (groups, outputs), row r uses bias[r % groups]."""
    outputs = out.shape[1]
    ncols = buf.shape[1]
    groups = bias.shape[0]
    for r in range(buf.shape[0]):
        for j in range(outputs, ncols):
            buf[r, extra[j - outputs]] += buf[r, j]
        g = r % groups
        for o in range(outputs):
            out[first + r, o] = np.float32(buf[r, o]) + bias[g, o]
        for j in range(ncols):
            buf[r, j] = 0.0


@njit
def run_rows(x, lo, hi, start, target, offset, channels, target_mult, channel_mult, rows_per_frame,
             weights, fan_out, extra, bias, out, limit):
    """Rows [lo, hi) of x (rows, elements), each summed and finished while its buffer is in
    cache, into out (rows x rows_per_frame, outputs) float32. Returns the rows' sum of |value| x
    fan-out, or -1 if a value exceeds ``limit`` (the caller then splits the input into digits;
    what was written is overwritten)."""
    buf = np.zeros((rows_per_frame, weights.shape[1]))
    sops = 0.0
    for f in range(lo, hi):
        s = _scatter_row(x, f, start, target, offset, channels, target_mult, channel_mult, weights, fan_out, limit, buf, 0)
        if s < 0:
            return -1.0
        sops += s
        _finish_rows(buf, extra, bias, out, f * rows_per_frame)
    return sops


@njit
def scatter_rows(x, start, target, offset, channels, target_mult, channel_mult, rows_per_frame, weights, fan_out, sums):
    """All rows of x (float64, one digit part) summed into sums (rows x rows_per_frame, kernel
    columns; zeroed), not finished. Returns the sum of |value| x fan-out."""
    sops = 0.0
    for f in range(x.shape[0]):
        sops += _scatter_row(x, f, start, target, offset, channels, target_mult, channel_mult, weights, fan_out,
                             np.inf, sums, f * rows_per_frame)
    return sops


@njit
def finish_rows(sums, extra, bias, out):
    """``_finish_rows`` over all rows of sums (float64, bands side by side) into out."""
    _finish_rows(sums, extra, bias, out, 0)


def as_input(x: np.ndarray) -> np.ndarray:
    """x (rows, ...) as a C-contiguous (rows, elements) array of a compiled dtype."""
    x2 = x.reshape(x.shape[0], int(np.prod(x.shape[1:])))
    if x2.dtype == np.bool_:
        x2 = x2.view(np.uint8)
    elif x2.dtype not in DTYPES:
        x2 = x2.astype(np.float64)
    return np.ascontiguousarray(x2)


__all__ = ["EventTable", "conv_table", "dense_table", "run_rows", "scatter_rows", "finish_rows", "as_input", "DTYPES"]
