"""numpy kernels against direct loop formulas (float64: agreement to 1e-12) and, for pooling of\nspike arrays, TensorFlow's own avg_pool2d."""

from __future__ import annotations

import math

import numpy as np
import pytest

from npukit.kernels import conv as conv_module
from npukit.kernels.conv import conv2d, depthwise_conv2d
from npukit.kernels.gemm import gemm
from npukit.kernels.pool import avg_pool2d, global_avg_pool, max_pool2d, sum_pool2d


def pads(n, k, s, d, padding):
    """TensorFlow's padding rule, written out again for the test."""
    k_eff = (k - 1) * d + 1
    if padding == "valid":
        return (n - k_eff) // s + 1, 0
    out = math.ceil(n / s)
    return out, max((out - 1) * s + k_eff - n, 0) // 2


def windows(x, kh, kw, s, d, padding, fill=0.0):
    """Yield (i, j, window (B, kh, kw, C), valid mask (kh, kw)) for each output cell."""
    b, h, w, c = x.shape
    oh, top = pads(h, kh, s[0], d[0], padding)
    ow, left = pads(w, kw, s[1], d[1], padding)
    for i in range(oh):
        for j in range(ow):
            win = np.full((b, kh, kw, c), fill)
            mask = np.zeros((kh, kw), bool)
            for a in range(kh):
                for e in range(kw):
                    r, q = i * s[0] + a * d[0] - top, j * s[1] + e * d[1] - left
                    if 0 <= r < h and 0 <= q < w:
                        win[:, a, e] = x[:, r, q]
                        mask[a, e] = True
            yield i, j, win, mask


def loop_conv(x, k, bias, s, padding, d):
    kh, kw, _, cout = k.shape
    cells = list(windows(x, kh, kw, s, d, padding))
    oh, ow = cells[-1][0] + 1, cells[-1][1] + 1
    out = np.zeros((x.shape[0], oh, ow, cout))
    for i, j, win, _ in cells:
        out[:, i, j] = np.einsum("bhwc,hwco->bo", win, k) + bias
    return out


CONV_CASES = [
    ((2, 7, 7, 3), (3, 3, 3, 4), (1, 1), "same", (1, 1)),
    ((2, 8, 6, 2), (3, 2, 2, 5), (2, 2), "same", (1, 1)),
    ((1, 9, 9, 2), (3, 3, 2, 3), (1, 1), "valid", (2, 2)),
    ((3, 10, 10, 1), (5, 5, 1, 2), (3, 2), "valid", (1, 1)),
    ((2, 4, 4, 16), (3, 3, 16, 8), (1, 1), "same", (1, 1)),  # small map: dense-matrix path
    ((2, 5, 5, 3), (1, 1, 3, 6), (1, 1), "valid", (1, 1)),
]


@pytest.mark.parametrize("xs, ks, s, padding, d", CONV_CASES)
@pytest.mark.parametrize("dense_path", [True, False])
def test_conv2d_matches_loops(xs, ks, s, padding, d, dense_path, monkeypatch):
    rng = np.random.default_rng(0)
    x, k, b = rng.normal(size=xs), rng.normal(size=ks), rng.normal(size=ks[3])
    if not dense_path:
        monkeypatch.setattr(conv_module, "DENSE_MAX_ENTRIES", 0)
    got = conv2d(x, k, b, s, padding, d)
    np.testing.assert_allclose(got, loop_conv(x, k, b, s, padding, d), atol=1e-12)


def test_dense_path_is_taken_for_small_maps():
    conv_module._dense_cache.clear()
    rng = np.random.default_rng(1)
    conv2d(rng.normal(size=(2, 4, 4, 16)), rng.normal(size=(3, 3, 16, 8)).astype(np.float32), np.zeros(8), (1, 1), "same")
    assert len(conv_module._dense_cache) == 1


@pytest.mark.parametrize("s, padding, d, mult", [((1, 1), "same", (1, 1), 1), ((2, 2), "same", (1, 1), 2), ((1, 1), "valid", (2, 2), 3)])
def test_depthwise_matches_loops(s, padding, d, mult):
    rng = np.random.default_rng(2)
    x, k = rng.normal(size=(2, 9, 9, 3)), rng.normal(size=(3, 3, 3, mult))
    b = rng.normal(size=3 * mult)
    cells = list(windows(x, 3, 3, s, d, padding))
    want = np.zeros((2, cells[-1][0] + 1, cells[-1][1] + 1, 3 * mult))
    for i, j, win, _ in cells:
        want[:, i, j] = np.einsum("bhwc,hwcm->bcm", win, k).reshape(2, -1) + b
    np.testing.assert_allclose(depthwise_conv2d(x, k, b, s, padding, d), want, atol=1e-12)


@pytest.mark.parametrize("pool, s, padding", [((2, 2), (2, 2), "valid"), ((3, 3), (2, 2), "same"), ((2, 3), (1, 2), "valid"), ((2, 2), (2, 2), "same")])
def test_pools_match_loops(pool, s, padding):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 7, 8, 3))
    avg = [(i, j, win, mask) for i, j, win, mask in windows(x, *pool, s, (1, 1), padding)]
    oh, ow = avg[-1][0] + 1, avg[-1][1] + 1
    want_avg, want_max = np.zeros((2, oh, ow, 3)), np.zeros((2, oh, ow, 3))
    for i, j, win, mask in avg:
        want_avg[:, i, j] = win[:, mask].sum(axis=1) / mask.sum()  # padded cells not counted
        want_max[:, i, j] = win[:, mask].max(axis=1)
    np.testing.assert_allclose(avg_pool2d(x, pool, s, padding), want_avg, atol=1e-12)
    np.testing.assert_array_equal(max_pool2d(x, pool, s, padding), want_max)


def loop_window_sums(x, pool, s, padding):
    """Per window: (sum of its in-bounds elements, their count), by the loop above (float64)."""
    cells = list(windows(x.astype(np.float64), *pool, s, (1, 1), padding))
    oh, ow = cells[-1][0] + 1, cells[-1][1] + 1
    sums, counts = np.zeros((x.shape[0], oh, ow, x.shape[3])), np.zeros((oh, ow, 1))
    for i, j, win, mask in cells:
        sums[:, i, j] = win[:, mask].sum(axis=1)
        counts[i, j] = mask.sum()
    return sums, counts


@pytest.mark.parametrize("shape, pool, s, padding", [
    ((5, 6, 6, 2), (2, 2), (2, 2), "valid"),  # windows tile the map: the integer fast path
    ((5, 7, 7, 2), (3, 3), (2, 2), "same"),  # padded border windows hold fewer cells
    ((3, 6, 5, 3), (2, 3), (1, 2), "valid"),
])
def test_pooling_spike_arrays_is_exact(shape, pool, s, padding):
    """0/1 spikes (uint8): window sums are small integers, exact; averages are those sums over
    the in-bounds count, as the loop and TensorFlow's own avg_pool2d compute them."""
    spikes = (np.random.default_rng(4).random(shape) < 0.4).astype(np.uint8)
    sums, counts = loop_window_sums(spikes, pool, s, padding)
    got = avg_pool2d(spikes, pool, s, padding)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, (sums / counts).astype(np.float32))
    total = sum_pool2d(spikes, pool, s, padding)
    assert total.dtype == np.float32
    np.testing.assert_array_equal(total, sums)  # 'same' padding adds zeros: the in-bounds sum
    from npukit.quiet import import_tensorflow

    tf = import_tensorflow()
    want = tf.nn.avg_pool2d(spikes.astype(np.float32), pool, s, padding.upper()).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)  # TF may multiply by 1/count
    np.testing.assert_allclose(global_avg_pool(spikes), spikes.mean(axis=(1, 2)), atol=1e-7)


def test_gemm_blocks_give_the_rows_of_separate_products():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(96, 40)).astype(np.float32), rng.normal(size=(40, 7)).astype(np.float32)
    blocked = gemm(a, b, 32)
    for start in range(0, 96, 32):
        np.testing.assert_array_equal(blocked[start : start + 32], a[start : start + 32] @ b)
