"""Convolutions and zero padding on NHWC batches."""

from __future__ import annotations

import hashlib

import numpy as np

from npukit.ir.geometry import window_2d
from npukit.kernels.gemm import gemm


def pad2d(x: np.ndarray, pads: tuple[tuple[int, int], tuple[int, int]], value: float = 0.0) -> np.ndarray:
    """Pad height and width of a (B, H, W, C) batch with ``value``."""
    (top, bottom), (left, right) = pads
    if top == bottom == left == right == 0:
        return x
    b, h, w, c = x.shape
    shape = (b, h + top + bottom, w + left + right, c)
    # zeros come from calloc'd pages, so the interior is written once instead of twice
    out = np.zeros(shape, x.dtype) if value == 0 else np.full(shape, value, dtype=x.dtype)
    out[:, top : top + h, left : left + w, :] = x
    return out


def _windows(x, kernel_hw, strides, dilation, padding, pad_value=0.0):
    """Yield ((i, j), view) for each kernel offset: the (B, OH, OW, C) input cells it reads."""
    (oh, ow), pads = window_2d(x.shape[1:3], kernel_hw, strides, dilation, padding)
    xp = pad2d(x, pads, pad_value)
    sh, sw = strides
    dh, dw = dilation
    for i in range(kernel_hw[0]):
        for j in range(kernel_hw[1]):
            r0, c0 = i * dh, j * dw
            yield (i, j), xp[:, r0 : r0 + sh * (oh - 1) + 1 : sh, c0 : c0 + sw * (ow - 1) + 1 : sw, :]


def patches(x, kernel_hw, strides=(1, 1), dilation=(1, 1), padding="valid") -> np.ndarray:
    """im2col: the (B * OH * OW, kh * kw * Cin) rows of input cells each output position reads,
    in the order of a (kh, kw, Cin, Cout) kernel reshaped to (kh * kw * Cin, Cout)."""
    kh, kw = kernel_hw
    b, _, _, cin = x.shape
    oh, ow = output_hw(x, kernel_hw, strides, dilation, padding)
    if (kh, kw) == (1, 1) and tuple(strides) == (1, 1):
        return np.ascontiguousarray(x).reshape(b * oh * ow, cin)
    cols = np.empty((b, oh, ow, kh, kw, cin), dtype=x.dtype)
    for (i, j), view in _windows(x, kernel_hw, strides, dilation, padding):
        cols[:, :, :, i, j, :] = view
    return cols.reshape(b * oh * ow, kh * kw * cin)


def output_hw(x, kernel_hw, strides, dilation, padding) -> tuple[int, int]:
    return window_2d(x.shape[1:3], kernel_hw, strides, dilation, padding)[0]


#: small feature maps use the convolution as one dense matrix when it has at most this many
#: entries and costs at most DENSE_MAX_RATIO times the multiplies of im2col
DENSE_MAX_ENTRIES = 1 << 22
DENSE_MAX_RATIO = 4.0
_dense_cache: dict[tuple, np.ndarray] = {}


def conv2d(x, kernel, bias, strides=(1, 1), padding="valid", dilation=(1, 1), block=None):
    """Cross-correlation of a (B, H, W, Cin) batch with a (kh, kw, Cin, Cout) kernel, plus bias.

    Small feature maps: one GEMM with the convolution's dense (H*W*Cin, OH*OW*Cout) matrix (no
    im2col copy; see ``conv_matrix``). Otherwise im2col into one contiguous (B*OH*OW,
    kh*kw*Cin) buffer and a GEMM. Either way the GEMM runs in blocks of ``block`` samples. The
    choice depends on the per-sample shapes only, never on the batch size.
    """
    kh, kw, cin, cout = kernel.shape
    b, h, w, _ = x.shape
    oh, ow = output_hw(x, (kh, kw), strides, dilation, padding)
    entries = h * w * cin * oh * ow * cout
    if entries <= DENSE_MAX_ENTRIES and h * w <= DENSE_MAX_RATIO * kh * kw and (kh, kw) != (1, 1):
        matrix = conv_matrix(kernel, (h, w), strides, padding, dilation, x.dtype)
        out = gemm(np.ascontiguousarray(x).reshape(b, h * w * cin), matrix, block)
        out = out.reshape(b, oh, ow, cout)
        out += bias.astype(x.dtype, copy=False)
        return out
    w2 = kernel.reshape(kh * kw * cin, cout).astype(x.dtype, copy=False)
    cols = patches(x, (kh, kw), strides, dilation, padding)
    out = gemm(cols, w2, None if block is None else block * oh * ow)
    out += bias.astype(x.dtype, copy=False)
    return out.reshape(b, oh, ow, cout)


def conv_matrix(kernel, hw, strides, padding, dilation, dtype=np.float32) -> np.ndarray:
    """The convolution of an (H, W, Cin) input as a dense (H*W*Cin, OH*OW*Cout) matrix.

    Built by convolving the identity basis, so each entry is a kernel weight or 0 exactly.
    Cached by the kernel's content, geometry and dtype.
    """
    dtype = np.dtype(dtype)
    digest = hashlib.blake2b(np.ascontiguousarray(kernel).tobytes(), digest_size=16).digest()
    key = (digest, kernel.shape, kernel.dtype.str, tuple(hw), tuple(strides), padding, tuple(dilation), dtype.str)
    hit = _dense_cache.get(key)
    if hit is not None:
        return hit
    kh, kw, cin, cout = kernel.shape
    n = hw[0] * hw[1] * cin
    basis = np.eye(n, dtype=dtype).reshape(n, hw[0], hw[1], cin)
    oh, ow = output_hw(basis, (kh, kw), strides, dilation, padding)
    cols = np.empty((n, oh, ow, kh, kw, cin), dtype=dtype)
    for (i, j), view in _windows(basis, (kh, kw), strides, dilation, padding):
        cols[:, :, :, i, j, :] = view
    matrix = cols.reshape(n * oh * ow, kh * kw * cin) @ kernel.reshape(kh * kw * cin, cout).astype(dtype)
    matrix = matrix.reshape(n, oh * ow * cout)
    if len(_dense_cache) > 64:
        _dense_cache.clear()
    _dense_cache[key] = matrix
    return matrix


def depthwise_conv2d(x, kernel, bias, strides=(1, 1), padding="valid", dilation=(1, 1), block=None):
    """Depthwise convolution: kernel (kh, kw, C, M); output channel c*M + m reads channel c."""
    kh, kw, c, m = kernel.shape
    b = x.shape[0]
    oh, ow = output_hw(x, (kh, kw), strides, dilation, padding)
    k = kernel.astype(x.dtype, copy=False)
    out = np.zeros((b, oh, ow, c, m), dtype=x.dtype)
    for (i, j), view in _windows(x, (kh, kw), strides, dilation, padding):
        out += view[..., None] * k[i, j]
    out = out.reshape(b, oh, ow, c * m)
    out += bias.astype(x.dtype, copy=False)
    return out
