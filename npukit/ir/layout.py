"""Channels-first tensors (NIR, ONNX, PyTorch: (C, H, W) per sample) and the IR's channels-last
(H, W, C): every conversion between the two layouts, in one place, for the frontends, NIR export
and the data a user gives.

* An image map moves its channel axis: (C, H, W) <-> (H, W, C).
* A flattened map keeps the IR's order (NHWC flattening, no data movement on the phone), so a
  vector that came from a (C, H, W) map lists its elements in HWC order: IR position j holds
  channels-first position ``hwc_order(chw)[j]``. The weights of a layer reading such a vector,
  and per-element parameters of it, are permuted the same way; export applies the inverse.
* Convolution weights: (C_out, C_in, kH, kW) (OIHW) <-> the IR's (kH, kW, C_in, C_out); a
  depthwise convolution (groups = C_in) has (C_in * M, 1, kH, kW) <-> (kH, kW, C_in, M), output
  channel c * M + m reading input channel c in both.
"""

from __future__ import annotations

import numpy as np

Shape = tuple[int, ...]


def hwc(chw: Shape) -> Shape:
    """(C, H, W) -> (H, W, C); other ranks unchanged."""
    return (chw[1], chw[2], chw[0]) if len(chw) == 3 else tuple(chw)


def chw(hwc_shape: Shape) -> Shape:
    """(H, W, C) -> (C, H, W); other ranks unchanged."""
    return (hwc_shape[2], hwc_shape[0], hwc_shape[1]) if len(hwc_shape) == 3 else tuple(hwc_shape)


def hwc_order(chw_shape: Shape) -> np.ndarray:
    """Position j of the IR's flattening of a (C, H, W) map holds channels-first flat position
    ``order[j]``."""
    c, h, w = chw_shape
    return np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)


def chw_order(hwc_shape: Shape) -> np.ndarray:
    """The inverse of ``hwc_order``: channels-first flat position i holds IR position ``order[i]``."""
    h, w, c = hwc_shape
    return np.arange(h * w * c).reshape(h, w, c).transpose(2, 0, 1).reshape(-1)


def values_to_ir(values: np.ndarray, shape: Shape, flat_from: Shape | None = None) -> np.ndarray:
    """Values that broadcast against a channels-first tensor of ``shape``, in the IR's layout: an
    image map's values move their channel axis last (a (C, 1, 1) array becomes (1, 1, C), still
    broadcasting); a vector flattened from the (C, H, W) map ``flat_from`` is expanded to full
    length and reordered to the IR's flattening; anything else is returned as is. A single value
    becomes a scalar."""
    arr = np.asarray(values)
    if arr.ndim == 0 or arr.size == 1:
        return arr.reshape(())
    np.broadcast_shapes(arr.shape, tuple(shape))  # ValueError when it does not broadcast
    if len(shape) == 3:
        arr = arr.reshape((1,) * (3 - arr.ndim) + arr.shape)
        return np.ascontiguousarray(arr.transpose(1, 2, 0))
    if flat_from is not None:
        return np.ascontiguousarray(np.broadcast_to(arr, shape).reshape(-1)[hwc_order(flat_from)])
    return arr


def values_to_chw(values: np.ndarray, shape: Shape, flat_from: Shape | None = None) -> np.ndarray:
    """The inverse of ``values_to_ir``: ``shape`` is the IR shape, ``flat_from`` the (H, W, C)
    map a flat IR vector was flattened from."""
    arr = np.broadcast_to(np.asarray(values), shape)
    if len(shape) == 3:
        return np.ascontiguousarray(arr.transpose(2, 0, 1))
    if flat_from is not None:
        return np.ascontiguousarray(arr.reshape(-1)[chw_order(flat_from)])
    return np.ascontiguousarray(arr)


def data_to_ir(x: np.ndarray, channel_axis: int) -> np.ndarray:
    """Batched channels-first data (channel axis ``channel_axis``, e.g. 1 for (N, C, H, W), 2 for
    (N, T, C, H, W)) as channels-last."""
    return np.moveaxis(x, channel_axis, -1)


def conv_weight_to_ir(weight: np.ndarray) -> np.ndarray:
    """(C_out, C_in, kH, kW) -> (kH, kW, C_in, C_out)."""
    return np.ascontiguousarray(np.asarray(weight).transpose(2, 3, 1, 0))


def conv_weight_to_oihw(kernel: np.ndarray) -> np.ndarray:
    """(kH, kW, C_in, C_out) -> (C_out, C_in, kH, kW)."""
    return np.ascontiguousarray(np.asarray(kernel).transpose(3, 2, 0, 1))


def depthwise_weight_to_ir(weight: np.ndarray, channels: int) -> np.ndarray:
    """(C * M, 1, kH, kW) of a depthwise convolution over ``channels`` = C -> (kH, kW, C, M)."""
    cout, _, kh, kw = weight.shape
    return np.ascontiguousarray(np.asarray(weight).reshape(channels, cout // channels, kh, kw).transpose(2, 3, 0, 1))


def depthwise_weight_to_oihw(kernel: np.ndarray) -> np.ndarray:
    """(kH, kW, C, M) -> (C * M, 1, kH, kW)."""
    kh, kw, c, m = kernel.shape
    return np.ascontiguousarray(np.asarray(kernel).transpose(2, 3, 0, 1).reshape(c * m, 1, kh, kw))
