"""Input encodings: how a data sample drives the first layer over T timesteps.

* ``current`` (default): the analog sample is the input current at every step (constant), so
  layers fed only by it are computed once.
* ``bernoulli``: at each step an input element emits a spike of size ``input_max`` with
  probability ``|x| / input_max`` (sign kept): the mean over steps is x (clipped to input_max).
* ``poisson``: at each step an element emits k ~ Poisson(|x| / input_max) spikes of size
  ``input_max`` (sign kept): the mean is x, and a step may carry several spikes.

``input_max`` is the largest |x| of the calibration data (``graph.meta["snn"]["input_max"]``).
Random draws come from one generator per sample, seeded with ``(seed, sample index)``: the
spikes of a sample do not depend on the batch it is simulated in.
"""

from __future__ import annotations

import numpy as np

from npukit.errors import BadInputError

ENCODINGS = ("current", "bernoulli", "poisson")


def encode(
    x: np.ndarray, timesteps: int, encoding: str, input_max: float, seed: int = 0, first_index: int = 0
) -> np.ndarray:
    """Return (B, ...) float32 for ``current``, else (T, B, ...) float32 spike values."""
    if encoding not in ENCODINGS:
        raise BadInputError(f"encoding must be one of {', '.join(ENCODINGS)}. Received: {encoding!r}")
    x = np.asarray(x, dtype=np.float32)
    if encoding == "current":
        return x
    amp = np.float32(input_max if input_max > 0 else 1.0)
    rate = np.minimum(np.abs(x) / amp, 1.0) if encoding == "bernoulli" else np.abs(x) / amp
    sign = np.sign(x).astype(np.float32)
    out = np.empty((timesteps,) + x.shape, dtype=np.float32)
    for b in range(x.shape[0]):
        rng = np.random.default_rng([seed, first_index + b])
        if encoding == "bernoulli":
            events = rng.random((timesteps,) + x.shape[1:]) < rate[b]
        else:
            events = rng.poisson(np.broadcast_to(rate[b], (timesteps,) + x.shape[1:]))
        out[:, b] = events * (sign[b] * amp)
    return out
