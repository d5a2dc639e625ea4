"""The ``--sweep`` of both parity paths: SNN accuracy (and top-1 agreement with a reference)
after each of several step counts T, from ONE simulation to the largest (the simulation is causal:
the readout after t steps equals a t-step simulation). A time series runs for its own T; the
swept counts must not exceed it."""

from __future__ import annotations

from typing import Any

import numpy as np

from npukit.errors import BadInputError
from npukit.parity.metrics import agreement
from npukit.snn.encoders import has_time_axis
from npukit.snn.simulate import simulate


def sweep_figures(snn, x: np.ndarray, sweep: list[int], y: np.ndarray | None, agree_with: np.ndarray, *,
                  encoding: str, seed: int, batch_size: int, progress) -> list[dict[str, Any]]:
    """One row per T in ``sweep``: ``snn_accuracy`` (None without labels ``y``) and
    ``snn_agreement`` (top-1 agreement with ``agree_with``)."""
    series = has_time_axis(x, snn.input_shape)
    if series and max(sweep) > x.shape[1]:
        raise BadInputError(f"the sweep asks for T = {max(sweep)} but the data's time series has {x.shape[1]} steps")
    swept = simulate(snn, x, None if series else max(sweep), encoding=encoding, seed=seed, batch_size=batch_size,
                     checkpoints=sweep, progress=progress("simulating the sweep", len(x)))
    return [
        {
            "timesteps": t,
            "snn_accuracy": None if y is None else agreement(swept.predictions(t), y),
            "snn_agreement": agreement(swept.predictions(t), agree_with),
        }
        for t in sweep
    ]
