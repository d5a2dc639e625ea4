"""Matrix products issued in fixed row blocks (see the package docstring for why)."""

from __future__ import annotations

import numpy as np


def gemm(a: np.ndarray, b: np.ndarray, block_rows: int | None = None) -> np.ndarray:
    """Return ``a @ b`` for 2-D ``a``, computed in calls of ``block_rows`` rows.

    With ``block_rows`` None (or >= the row count) this is one call. Otherwise each block of
    rows is its own BLAS call, so row i of the result is bit-identical to what a separate
    product of that block alone gives.
    """
    rows = a.shape[0]
    if block_rows is None or block_rows >= rows:
        return a @ b
    out = np.empty((rows, b.shape[1]), dtype=np.result_type(a, b))
    for start in range(0, rows, block_rows):
        np.matmul(a[start : start + block_rows], b, out=out[start : start + block_rows])
    return out
