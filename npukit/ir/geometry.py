"""Output sizes and padding of sliding windows, with TensorFlow's 'same'/'valid' conventions."""

from __future__ import annotations

import math


def window_1d(size: int, kernel: int, stride: int, dilation: int, padding: str) -> tuple[int, int, int]:
    """Return (output size, pad before, pad after) along one spatial axis.

    'valid': no padding, out = floor((size - k_eff) / stride) + 1 with k_eff = (kernel-1)*dilation+1.
    'same': out = ceil(size / stride); the total padding is split with the extra element after,
    as TensorFlow and Keras do. The result may be <= 0 for a window larger than a 'valid' input;
    callers report that as a shape error.
    """
    k_eff = (kernel - 1) * dilation + 1
    if padding == "valid":
        return (size - k_eff) // stride + 1, 0, 0
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + k_eff - size, 0)
    return out, total // 2, total - total // 2


def window_2d(
    hw: tuple[int, int],
    kernel: tuple[int, int],
    strides: tuple[int, int],
    dilation: tuple[int, int],
    padding: str,
) -> tuple[tuple[int, int], tuple[tuple[int, int], tuple[int, int]]]:
    """Return ((out_h, out_w), ((top, bottom), (left, right))) for a 2-D window."""
    oh, top, bottom = window_1d(hw[0], kernel[0], strides[0], dilation[0], padding)
    ow, left, right = window_1d(hw[1], kernel[1], strides[1], dilation[1], padding)
    return (oh, ow), ((top, bottom), (left, right))
