"""Pooling on NHWC batches, with TF/Keras padding rules."""

from __future__ import annotations

import numpy as np

from npukit.kernels.conv import _windows
from npukit.ir.geometry import window_2d


def _tiled_sum(x, pool_size):
    """Window sums when windows tile the input exactly (stride = pool, no padding)."""
    b, h, w, c = x.shape
    ph, pw = pool_size
    oh, ow = h // ph, w // pw
    rows = x[:, : oh * ph, : ow * pw].reshape(b, oh, ph, ow * pw * c)
    total = rows[:, :, 0] + rows[:, :, 1] if ph > 1 else rows[:, :, 0].copy()
    for i in range(2, ph):
        total += rows[:, :, i]
    cells = total.reshape(b, oh, ow, pw, c)
    out = cells[:, :, :, 0] + cells[:, :, :, 1] if pw > 1 else cells[:, :, :, 0].copy()
    for j in range(2, pw):
        out += cells[:, :, :, j]
    return out


def avg_pool2d(x, pool_size, strides, padding="valid"):
    """Average over each window; with 'same' padding the padded cells are not counted.

    Integer input holds 0/1 spikes: window sums are exact small integers (float32 output).
    """
    h, w = x.shape[1:3]
    window = pool_size[0] * pool_size[1]
    if x.dtype.kind in "ub" and window > 255:
        x = x.astype(np.float32)
    out_type = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
    if tuple(strides) == tuple(pool_size) and (padding == "valid" or (h % pool_size[0] == 0 and w % pool_size[1] == 0)):
        return np.divide(_tiled_sum(x, pool_size), window, dtype=out_type)
    if x.dtype.kind != "f":
        x = x.astype(np.float32)
    total = None
    for _, view in _windows(x, pool_size, strides, (1, 1), padding):
        total = view.copy() if total is None else np.add(total, view, out=total)
    (oh, ow), pads = window_2d(x.shape[1:3], pool_size, strides, (1, 1), padding)
    if padding == "valid" or not any(p for pair in pads for p in pair):
        return total / x.dtype.type(pool_size[0] * pool_size[1])
    ones = np.ones((1,) + x.shape[1:3] + (1,), dtype=x.dtype)
    count = None
    for _, view in _windows(ones, pool_size, strides, (1, 1), padding):
        count = view.copy() if count is None else count + view
    return total / count


def sum_pool2d(x, pool_size, strides, padding="valid"):
    """Sum over each window ('same' padding adds zeros). Integer (spike) input: exact sums."""
    h, w = x.shape[1:3]
    if x.dtype.kind in "ub" and pool_size[0] * pool_size[1] > 255:
        x = x.astype(np.float32)
    if tuple(strides) == tuple(pool_size) and (padding == "valid" or (h % pool_size[0] == 0 and w % pool_size[1] == 0)):
        total = _tiled_sum(x, pool_size)
    else:
        total = None
        for _, view in _windows(x, pool_size, strides, (1, 1), padding):
            total = view.copy() if total is None else np.add(total, view, out=total)
    return total.astype(np.float32) if total.dtype.kind != "f" else total


def max_pool2d(x, pool_size, strides, padding="valid"):
    """Maximum over each window; padded cells never win."""
    out = None
    for _, view in _windows(x, pool_size, strides, (1, 1), padding, pad_value=-np.inf):
        out = view.copy() if out is None else np.maximum(out, view, out=out)
    return out


def argmax_pool_gather(score, values, pool_size, strides, padding="valid"):
    """For each window, the element of ``values`` where ``score`` is largest (first on ties).

    Both arrays are (B, H, W, C). Used by the spiking max-pool rule, where ``score`` is each
    input neuron's running output and ``values`` its current spikes.
    """
    best = out = None
    scores = _windows(score, pool_size, strides, (1, 1), padding, pad_value=-np.inf)
    cells = _windows(values, pool_size, strides, (1, 1), padding)
    for (_, s), (_, v) in zip(scores, cells):
        if best is None:
            best, out = s.copy(), v.copy()
            continue
        wins = s > best
        np.copyto(best, s, where=wins)
        np.copyto(out, v, where=wins)
    return out


def global_avg_pool(x, keepdims=False):
    """Mean over height and width, accumulated cell by cell (a fixed order for every batch size)."""
    b, h, w, c = x.shape
    total = np.zeros((b, c), dtype=x.dtype if x.dtype.kind == "f" else np.float32)
    for i in range(h):
        for j in range(w):
            total += x[:, i, j, :]
    out = total / total.dtype.type(h * w)
    return out.reshape(b, 1, 1, c) if keepdims else out


__all__ = ["avg_pool2d", "sum_pool2d", "max_pool2d", "argmax_pool_gather", "global_avg_pool"]
