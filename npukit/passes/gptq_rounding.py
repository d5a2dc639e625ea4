"""int8 weights rounded to keep what a layer computes on the inputs it really receives (GPTQ).

Rounding each weight to its nearest int8 level (``npukit.passes.round_weights``) makes every
weight's error independent; the layer's error on an input x is the sum of them, and a spiking
network turns it into flipped spikes. GPTQ (Frantar et al., ICLR 2023, after Optimal Brain
Quantization) rounds the input columns of a layer one after the other and moves each rounding
error onto the columns not yet rounded, in proportion to how the inputs co-occur, so that the
layer's output error ``E ||(W - W_q) x||^2`` is smallest over the calibration inputs. Here the
inputs are what the float simulation feeds each Dense and Conv2D layer at every timestep of the
calibration samples (spikes, pooled spikes, event frames; im2col rows for a convolution), and:

* the grid is TFLite's (one scale per output channel, ``max |w| / 127``); the largest weight of
  each channel stays at +-127 (no error is moved onto it), so the converter finds the same scale
  and stores exactly these levels;
* the diagonal of the input covariance is dampened by ``damp`` x its mean (GPTQ's 1%), and inputs
  that never occur keep their nearest levels;
* DepthwiseConv2D and grouped convolutions keep the nearest levels.

Measured on the shipped SNNs (docs/benchmarks.md): top-1 agreement of the float simulation with
GPTQ-rounded weights against the float weights, over 1285 samples (test split and the train
samples not used for calibration): event SNN 97.43% (nearest) -> 97.43-97.82%, recurrent SNN
97.90% -> 98.52-98.60%; variants that did not help there are listed in docs/snn.md.
"""

from __future__ import annotations

import numpy as np

from npukit import ir
from npukit.kernels.conv import patches
from npukit.passes.round_weights import INT8_LEVELS, int8_scales, on_grid, round_weights
from npukit.snn.stepwise import simulate_stepwise

#: GPTQ's dampening of the input covariance, as a fraction of its mean diagonal
DAMP = 0.01
#: calibration samples whose inputs GPTQ collects (all their timesteps)
GPTQ_SAMPLES = 512


def _rows(node: ir.Node, x: np.ndarray) -> np.ndarray:
    """The input vectors of a weighted node for one step: (rows, fan-in) float64."""
    if isinstance(node, ir.Dense):
        return x.reshape(x.shape[0], -1).astype(np.float64)
    return patches(x.astype(np.float64), node.kernel.shape[:2], node.strides, node.dilation, node.padding)


def input_covariances(graph: ir.Graph, x: np.ndarray, timesteps: int | None, encoding: str = "current",
                      batch_size: int = 128) -> dict[str, np.ndarray]:
    """E[v v^T] of the input vectors ``v`` each Dense / Conv2D (one group) node receives, over every
    sample of ``x`` and every step of the float simulation (``npukit.snn.stepwise``)."""
    nodes = [n for n in graph if isinstance(n, (ir.Dense, ir.Conv2D)) and getattr(n, "groups", 1) == 1]
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}

    def collect(first, t, spikes, states, values) -> None:
        for node in nodes:
            value = values.get(node.inputs[0])
            if value is None:
                continue
            rows = _rows(node, np.asarray(value))
            sums[node.name] = rows.T @ rows + sums.get(node.name, 0)
            counts[node.name] = counts.get(node.name, 0) + len(rows)

    simulate_stepwise(graph, x, timesteps, encoding=encoding, batch_size=batch_size, on_step=collect)
    return {name: sums[name] / counts[name] for name in sums}


def gptq_levels(node: ir.Node, covariance: np.ndarray, damp: float = DAMP) -> np.ndarray:
    """The int8 levels of ``node.kernel`` (its shape, int32) chosen by GPTQ for inputs of
    ``covariance`` (module docstring)."""
    kernel = node.kernel.astype(np.float64)
    scales = int8_scales(node).reshape(-1)
    w = kernel.reshape(-1, kernel.shape[-1]).T.copy()  # (outputs, fan-in)
    outputs, fan_in = w.shape
    peak = np.argmax(np.abs(w), axis=1)
    original = w.copy()
    h = covariance.astype(np.float64)
    dead = np.diag(h) <= 0
    h = h + damp * max(float(np.mean(np.diag(h))), 1e-12) * np.eye(fan_in)
    h[dead, dead] = 1.0
    upper = np.linalg.cholesky(np.linalg.inv(h)).T  # GPTQ: the inverse's Cholesky factor
    levels = np.zeros((outputs, fan_in), np.int64)
    rows = np.arange(outputs)
    for j in range(fan_in):
        column = np.where(peak == j, original[:, j], w[:, j])  # a peak stays where it is
        ratio = column / scales
        q = np.clip(np.sign(ratio) * np.floor(np.abs(ratio) + 0.5), -INT8_LEVELS, INT8_LEVELS)
        levels[:, j] = q
        if dead[j]:
            continue
        error = (column - q * scales) / upper[j, j]
        update = np.outer(error, upper[j, j + 1 :])
        later = peak > j
        update[rows[later], peak[later] - j - 1] = 0.0
        w[:, j + 1 :] -= update
    return levels.T.reshape(kernel.shape).astype(np.int32)


def gptq_round(graph: ir.Graph, x: np.ndarray, timesteps: int | None, encoding: str = "current",
               damp: float = DAMP) -> ir.Graph:
    """``graph`` with int8-grid weights: GPTQ levels (module docstring) for the Dense and Conv2D
    nodes, the nearest levels for the others; calibrated on the first ``GPTQ_SAMPLES`` of ``x``."""
    covariances = input_covariances(graph, x[:GPTQ_SAMPLES], timesteps, encoding)
    nodes = []
    for node in round_weights(graph, "int8"):
        if node.name in covariances:
            original = graph[node.name]
            node = node.replace(kernel=on_grid(gptq_levels(original, covariances[node.name], damp), int8_scales(original)))
        nodes.append(node)
    return graph.replace_nodes(nodes)


__all__ = ["gptq_round", "gptq_levels", "input_covariances", "DAMP", "GPTQ_SAMPLES"]
