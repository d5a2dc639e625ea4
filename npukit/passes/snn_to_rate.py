"""SNN -> rate-coded ANN: each neuron layer becomes the activation that maps its mean input
current to its mean output over T steps, fitted on calibration data (rate mode).

Under rate coding a layer's output over T steps is, to first order, a function of its mean
input. npukit simulates the SNN on the calibration data (``npukit.snn.simulate``, T steps, the
conversion's encoding), records per neuron the time-mean input z (the output of the layer
feeding it) and the time-mean output, and fits per layer:

* spiking layers (IF, LIF, CubaLIF, Threshold): ``rate = clip(a z + c, 0, 1)``, least squares
  on the neurons whose rate lies strictly between 0 and 1 (the unsaturated part of the curve),
  times the spike amplitude. For an IF neuron with reset by subtraction this recovers
  ``z / theta``, the clip-floor bridge without its T-level staircase (docs/snn.md);
* integrating layers (LI, CubaLI, Integrator): ``mean v = a z + c``, least squares on all.

The result is a rate-coded graph of the IR's ANN nodes (the fit as a per-channel affine
``BatchNorm``, a ``ReLU(max_value=1)``, a ``Scale`` for amplitudes) that the TFLite backend
quantizes like any ANN. Each layer's fit (a, c, root-mean-square error, samples) is recorded in
``meta["rate_fit"]``.
"""

from __future__ import annotations

import numpy as np

from npukit import ir
from npukit.errors import BadInputError
from npukit.snn.simulate import simulate

MIN_POINTS = 20


def _least_squares(z: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    z, y = z.astype(np.float64), y.astype(np.float64)
    if z.size < 2 or np.ptp(z) == 0:
        return 0.0, float(y.mean()) if y.size else 0.0
    a, c = np.polyfit(z, y, 1)
    return float(a), float(c)


def fit_spiking(z: np.ndarray, rate: np.ndarray) -> tuple[float, float]:
    """(a, c) of rate ~ clip(a z + c, 0, 1), fitted on the unsaturated points."""
    inside = (rate > 0) & (rate < 1)
    if inside.sum() < MIN_POINTS:  # too few: fit everything, then the clip does the rest
        inside = np.ones_like(rate, dtype=bool)
    a, c = _least_squares(z[inside], rate[inside])
    if a <= 0:  # a rate curve never falls; a flat or inverted fit means no usable signal
        threshold = float(np.percentile(z[rate > 0], 50)) if np.any(rate > 0) else 1.0
        a, c = 1.0 / max(threshold, 1e-6), 0.0
    return a, c


def snn_to_rate(snn: ir.Graph, calibration: np.ndarray, timesteps: int, encoding: str = "current") -> ir.Graph:
    """The rate-coded ANN of ``snn``, fitted on ``calibration`` simulated for ``timesteps``."""
    neurons = [n for n in snn if isinstance(n, ir.NEURONS)]
    if not neurons:
        raise BadInputError("snn_to_rate needs a spiking graph")
    feeds = sorted({n.inputs[0] for n in neurons} | {n.name for n in neurons})
    result = simulate(snn, calibration, timesteps, encoding=encoding, keep=feeds)
    means = result.layer_means
    nodes: list[ir.Node] = []
    fits: dict[str, dict] = {}
    for node in snn:
        if not isinstance(node, ir.NEURONS):
            nodes.append(node)
            continue
        z = means[node.inputs[0]].reshape(-1)
        y = means[node.name].reshape(-1)  # rate x amplitude for spiking layers, mean v otherwise
        channels = snn.shapes[node.name][-1]
        spiking = isinstance(node, ir.SPIKING)
        amplitude = float(np.mean(getattr(node, "amplitude", np.float32(1.0)))) if spiking else 1.0
        if spiking:
            a, c = fit_spiking(z, y / amplitude)
            predicted = np.clip(a * z + c, 0, 1) * amplitude
        else:
            a, c = _least_squares(z, y)
            predicted = a * z + c
        fits[node.name] = {
            "kind": "spiking" if spiking else "integrating",
            "a": a, "c": c, "amplitude": amplitude,
            "rmse": float(np.sqrt(np.mean((predicted - y) ** 2))), "points": int(z.size),
        }
        affine = ir.BatchNorm(
            f"{node.name}/rate_fit" if spiking or amplitude != 1 else node.name, node.inputs,
            scale=np.full(channels, a, np.float32), shift=np.full(channels, c, np.float32),
        )
        nodes.append(affine)
        if spiking:
            clip_name = node.name if amplitude == 1.0 else f"{node.name}/rate"
            nodes.append(ir.ReLU(clip_name, (affine.name,), max_value=1.0))
            if amplitude != 1.0:
                nodes.append(ir.Scale(node.name, (clip_name,), scale=np.array(amplitude, np.float32)))
    meta = {
        **snn.meta,
        "rate_fit": {"timesteps": int(timesteps), "encoding": encoding, "calibration_samples": int(len(calibration)), "layers": fits},
    }
    return ir.Graph(nodes, snn.output, meta)
