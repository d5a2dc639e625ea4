"""ANN -> SNN: replace ReLUs by integrate-and-fire neurons with data-based thresholds.

Rule (Rueckauer et al. 2017; the QCFS bridge of Bu et al. 2022, see docs/snn.md):

* every ReLU (or clipped ReLU) whose output reaches a weighted layer (Dense/Conv) becomes an IF
  layer with reset by subtraction, ``v(0) = theta / 2`` and spike amplitude ``theta``, so its
  mean output over T steps is ``theta * clip(floor(z T / theta + 1/2), 0, T) / T`` for a constant
  input z: the ReLU clipped at theta and quantized to T + 1 levels;
* ``theta`` is the p-th percentile (default 99.9) of the layer's positive activations on the
  calibration data, as SNN Toolbox computes it (``percentile=100`` is max-norm), and never above
  a clipped ReLU's ``max_value``;
* ReLUs after the last weighted layer stay analog: they act on the readout (see
  ``npukit.snn.simulate``).

Thresholds are used directly instead of rescaling weights (Rueckauer's normalization): with
spike amplitude theta the next layer sees the same scale as in the ANN, so residual Add and
Concatenate need no extra balancing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from npukit import ir
from npukit.data import calibration_set
from npukit.errors import BadInputError, UnsupportedError
from npukit.progress import Reporter, silent
from npukit.reference import evaluate
from npukit.snn.encoders import rate_inputs
from npukit.validation import positive_int


def spiking_relus(graph: ir.Graph) -> list[str]:
    """Names of the ReLU nodes that feed a weighted layer (directly or through other nodes)."""
    feeds_weights: dict[str, bool] = {}
    for name in reversed(graph.nodes):
        feeds_weights[name] = any(
            isinstance(graph[c], ir.WEIGHTED) or feeds_weights[c] for c in graph.consumers[name]
        )
    return [n.name for n in graph if isinstance(n, ir.ReLU) and feeds_weights[n.name]]


def _check_spikable(graph: ir.Graph) -> None:
    """Activations other than ReLU have no spiking form: they may only act on the readout."""
    feeds_weights: dict[str, bool] = {}
    for name in reversed(graph.nodes):
        feeds_weights[name] = any(isinstance(graph[c], ir.WEIGHTED) or feeds_weights[c] for c in graph.consumers[name])
    for node in graph:
        if isinstance(node, ir.ANALOG_ONLY) and feeds_weights[node.name]:
            raise UnsupportedError(
                f"{type(node).__name__} {node.name!r} has no spiking equivalent (IF neurons replace ReLU and clipped ReLU "
                f"only); it may act only after the last weighted layer"
            )


def threshold(activations: np.ndarray, percentile: float, max_value: float | None) -> float:
    """The IF threshold for one layer from its float activations on calibration data."""
    positive = activations[activations > 0]
    if positive.size == 0:  # a dead layer never fires; any positive threshold is exact
        theta = 1.0 if max_value is None else max_value
    else:
        theta = float(np.percentile(positive, percentile))
    if max_value is not None:
        theta = min(theta, max_value)
    return max(theta, np.finfo(np.float32).tiny)


def ann_to_snn(graph: ir.Graph, calibration: np.ndarray, percentile: float = 99.9, progress=None) -> ir.Graph:
    """Return the spiking version of a rate-coded ``graph``, thresholds set on ``calibration``."""
    if graph.is_spiking:
        return graph
    if not 0 < percentile <= 100:
        raise BadInputError(f"percentile must be in (0, 100]. Received: {percentile}")
    if graph.is_recurrent:
        raise UnsupportedError(
            "a recurrent ANN (LSTM, GRU) has no spiking version: its cells multiply gates squashed by sigmoid and tanh; "
            "convert it in temporal mode, one step per invoke, and run it with run_temporal"
        )
    _check_spikable(graph)
    names = set(spiking_relus(graph))
    acts = evaluate(graph, calibration, keep=sorted(names), progress=progress) if names else {}
    thetas: dict[str, float] = {}
    nodes = []
    for node in graph:
        if node.name not in names:
            nodes.append(node)
            continue
        theta = threshold(acts[node.name], percentile, node.max_value)
        thetas[node.name] = theta
        t = np.float32(theta)
        nodes.append(
            ir.IF(node.name, node.inputs, v_threshold=np.array(t), v_init=np.array(t / 2), amplitude=np.array(t))
        )
    x = np.asarray(calibration, dtype=np.float64)
    meta = {
        "snn": {
            "method": "ann_to_snn",
            "percentile": percentile,
            "calibration_samples": int(x.shape[0]),
            "input_max": float(np.abs(x).max()) or 1.0,
            "thresholds": thetas,
        }
    }
    return graph.replace_nodes(nodes, meta)


def spiking_version(
    graph: ir.Graph,
    data: str | Path,
    calibration: str | Path | None = None,
    calibration_samples: int = 512,
    percentile: float = 99.9,
    progress: Reporter = silent,
) -> ir.Graph:
    """The SNN to simulate: ``graph`` itself if it spikes, else ``ann_to_snn`` with thresholds
    from the calibration set (``calibration`` if given, else the train split of digits or the
    first samples of the .npz ``data``: ``npukit.data.calibration_set``)."""
    if graph.is_spiking:
        return graph
    positive_int("calibration samples", calibration_samples)
    calib = calibration_set(data, calibration, calibration_samples)
    x = rate_inputs(graph, calib.x)  # thresholds from the rates a time series carries
    snn = ann_to_snn(graph, x, percentile, progress=progress("calibrating thresholds", len(calib)))
    snn.meta["snn"]["calibration_data"] = calib.name
    return snn
