"""Synaptic sums of spike-valued inputs, exact in float64, by two paths that give the same bits.

* **event-driven**: only the nonzero inputs are visited. Each one adds its weights to the
  outputs it reaches: a sparse (scipy) product of the active inputs with the weight rows, so
  the work is (active inputs) x (fan-out), not (all inputs) x (fan-out).
* **dense**: BLAS float64 GEMMs (im2col, or the convolution's dense matrix for small maps).

Both sum the main band of ``npukit.kernels.exact.split_bands``, where every partial sum is
exact, so their results are identical whatever their order. Callers pass a few rows at a time
(``npukit.snn.synapses`` sizes the chunks to keep these float64 buffers in cache; chunking cannot
change an exact sum either).

``npukit.kernels.events_jit`` runs the event-driven path as one compiled loop (numba) with the
same bits; the scipy product here is its fallback (no numba, or NPUKIT_NO_JIT=1).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

from npukit.kernels.conv import DENSE_MAX_ENTRIES, DENSE_MAX_RATIO, conv_matrix
from npukit.kernels.exact import ConvGeometry

try:  # scipy's kernel behind coo_array @ dense, which adds into a given output (scipy >= 1.15)
    from scipy.sparse._sparsetools import coo_matmat_dense as _accumulate
except ImportError:  # pragma: no cover - older scipy: the public product, then an addition
    _accumulate = None


def _active(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices of the nonzero elements of x (in order) and their values in float64."""
    flat = x.reshape(-1)
    index = np.flatnonzero(flat != 0)
    return index, flat[index].astype(np.float64)


def _add_products(out: np.ndarray, rows: np.ndarray, cols: np.ndarray, values: np.ndarray, weights: np.ndarray) -> None:
    """out[rows[e]] += values[e] * weights[cols[e]] for every entry e (out, weights 2-D float64)."""
    if _accumulate is not None:
        _accumulate(len(values), weights.shape[1], rows, cols, values, weights.reshape(-1), out.reshape(-1))
    else:
        out += scipy.sparse.coo_array((values, (rows, cols)), shape=(out.shape[0], weights.shape[0])) @ weights


def _weighted_count(values: np.ndarray, reach: np.ndarray) -> float:
    """sum(|values| x reach) without BLAS (a threaded dot product costs more than it saves here)."""
    return float(np.einsum("i,i->", np.abs(values), reach))


# -- Dense -------------------------------------------------------------------------------------


def dense_dense(x: np.ndarray, main: np.ndarray) -> np.ndarray:
    """x (B, K) @ main (K, N) in float64 with BLAS."""
    return x.astype(np.float64) @ main


def dense_events(x: np.ndarray, main: np.ndarray, fan_out: np.ndarray) -> tuple[np.ndarray, float]:
    """(x (B, K) @ main (K, N) from the nonzero inputs only, and the synaptic operations:
    sum of |x| x fan_out over the active inputs)."""
    rows, k = x.shape
    index, values = _active(x)
    row, col = np.divmod(index, k)
    out = np.zeros((rows, main.shape[1]), np.float64)
    _add_products(out, row, col, values, main)
    return out, _weighted_count(values, fan_out[col])


# -- Conv2D and DepthwiseConv2D ------------------------------------------------------------------


class ConvEvents:
    """Event-driven sums of one convolution (``depthwise``: kernel (kh, kw, C, M)).

    An active input cell (p, c) with value a adds a * kernel[i, j, c, :] to output position
    targets(i, j)[p] for every kernel offset (i, j). For strides > 1 the input cells fall in
    stride phases, each reaching a fixed subset of the offsets, so events are grouped by phase
    and only the offsets they reach are visited. Contributions that fall off the output go to a
    spare position per frame (index OH*OW), which is dropped.
    """

    def __init__(self, geometry: ConvGeometry, main: np.ndarray, depthwise: bool, fan_out: np.ndarray):
        g = self.geometry = geometry
        kh, kw, c, n = main.shape
        self.depthwise, self.channels, self.columns = depthwise, c, n
        self.fan_out = fan_out
        self.weights = np.ascontiguousarray(main.reshape(kh * kw * c, n))  # row offset * C + c
        self.slots = g.positions + 1  # per frame: the output positions and the spare one
        sh, sw = g.strides
        dh, dw = g.dilation
        cells = np.arange(g.h * g.w)
        phase = ((cells // g.w + g.top) % sh) * sw + (cells % g.w + g.left) % sw
        self.phase = np.repeat(phase, c).astype(np.uint8)  # per input element (cell, channel)
        chan = np.tile(np.arange(c), g.h * g.w)[:, None]
        cell = np.repeat(cells, c)
        # per phase: for every input element, its output row in ``out`` and its kernel row, for
        # each kernel offset of the phase (elements of other phases are never looked up)
        self.groups: list[tuple[np.ndarray, np.ndarray]] = []
        reach = []
        for py in range(sh):
            for px in range(sw):
                offsets = np.array([i * kw + j for i in range(kh) for j in range(kw)
                                    if (i * dh) % sh == py and (j * dw) % sw == px], np.int64)
                targets = np.zeros((g.h * g.w, 0), np.int64)
                if len(offsets):
                    targets = np.stack([g.targets(o // kw, o % kw) for o in offsets], axis=1)
                rows = np.where(targets < 0, g.positions, targets)[cell]
                if depthwise:
                    rows = rows * c + chan
                self.groups.append((rows.astype(np.int32), (offsets[None, :] * c + chan).astype(np.int32)))
                reach.append(len(offsets))
        self.reach = np.array(reach)[phase]  # offsets per cell
        self.frame_rows = self.slots * (c if depthwise else 1)  # rows of ``out`` per frame

    @property
    def out_width(self) -> int:
        return self.columns * (self.channels if self.depthwise else 1)

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        """x (B, H, W, C) -> (float64 (B, OH, OW, columns or C * M), synaptic operations)."""
        g, b = self.geometry, x.shape[0]
        index, values = _active(x)
        frame, element = np.divmod(index, g.h * g.w * self.channels)
        sops = _weighted_count(values, self.fan_out[element])
        if len(self.groups) > 1:  # strided: group events by phase
            phase = self.phase[element]
            order = np.argsort(phase, kind="stable")
            frame, element, values = frame[order], element[order], values[order]
            bounds = np.concatenate([[0], np.cumsum(np.bincount(phase, minlength=len(self.groups)))])
        else:
            bounds = np.array([0, len(values)])
        base = (frame * self.frame_rows).astype(np.int32)
        out = np.zeros((b * self.frame_rows, self.columns), np.float64)
        for k, (rows, cols) in enumerate(self.groups):
            lo, hi = bounds[k], bounds[k + 1]
            if hi == lo or not rows.shape[1]:
                continue
            # event-major entries: an event's offsets reach neighbouring outputs, so consecutive
            # entries update nearby rows of ``out`` (cache-friendly), in one sparse product
            where = element[lo:hi]
            _add_products(out, (rows[where] + base[lo:hi, None]).reshape(-1), cols[where].reshape(-1),
                          np.repeat(values[lo:hi], rows.shape[1]), self.weights)
        out = out.reshape(b, self.slots, -1)[:, : g.positions]
        return out.reshape(b, g.oh, g.ow, self.out_width), sops


def uses_conv_matrix(geometry: ConvGeometry, kernel_shape) -> bool:
    """Whether ``conv_dense`` multiplies by the convolution's dense matrix (small maps, the rule
    of ``npukit.kernels.conv.conv2d``) rather than im2col patches."""
    g = geometry
    kh, kw, c, cout = kernel_shape
    entries = g.h * g.w * c * g.positions * cout
    return entries <= DENSE_MAX_ENTRIES and g.h * g.w <= DENSE_MAX_RATIO * kh * kw and (kh, kw) != (1, 1)


def conv_dense(x: np.ndarray, main: np.ndarray, geometry: ConvGeometry) -> np.ndarray:
    """Float64 convolution x (B, H, W, C) * main (kh, kw, C, Cout) with BLAS: the dense
    convolution matrix for small maps, else im2col patches."""
    g = geometry
    kh, kw, c, cout = main.shape
    b = x.shape[0]
    if uses_conv_matrix(g, main.shape):
        matrix = conv_matrix(main, (g.h, g.w), g.strides, g.padding, g.dilation, np.float64)
        return (x.reshape(b, -1).astype(np.float64) @ matrix).reshape(b, g.oh, g.ow, cout)
    xp = g.padded(x)
    cols = np.empty((b, g.oh, g.ow, kh, kw, c), np.float64)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, :, i, j, :] = g.window(xp, i, j)
    return (cols.reshape(-1, kh * kw * c) @ main.reshape(kh * kw * c, cout)).reshape(b, g.oh, g.ow, cout)


def depthwise_dense(x: np.ndarray, main: np.ndarray, geometry: ConvGeometry) -> np.ndarray:
    """Float64 depthwise convolution, window by window."""
    g = geometry
    kh, kw, c, m = main.shape
    b = x.shape[0]
    xp = g.padded(x)
    acc = np.zeros((b, g.oh, g.ow, c, m), np.float64)
    for i in range(kh):
        for j in range(kw):
            acc += g.window(xp, i, j)[..., None] * main[i, j]
    return acc.reshape(b, g.oh, g.ow, c * m)


__all__ = ["dense_dense", "dense_events", "ConvEvents", "conv_dense", "depthwise_dense", "uses_conv_matrix"]
