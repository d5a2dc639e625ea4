"""The figures both parity paths report (docs/reports.md).

* ``cosine``: cosine similarity of two flattened arrays (1 = same direction; 1.0 when both are
  all zero, 0.0 when only one is);
* ``max_abs_error``: largest absolute difference, in the compared values' own units;
* ``top1``: the predicted class per sample (argmax over the flattened output);
* ``agreement``: the fraction of samples whose top-1 classes are equal.
"""

from __future__ import annotations

import numpy as np


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 and nb == 0:
        return 1.0
    if na == 0 or nb == 0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))


def compare(reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
    """{"cosine", "max_abs_error"} of ``other`` against ``reference``."""
    return {
        "cosine": round(cosine(reference, other), 6),
        "max_abs_error": float(np.max(np.abs(np.asarray(reference, np.float64) - other))),
    }


def top1(outputs: np.ndarray) -> np.ndarray:
    return outputs.reshape(outputs.shape[0], -1).argmax(axis=1)


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of equal entries of two label arrays."""
    return float(np.mean(np.asarray(a) == np.asarray(b)))
