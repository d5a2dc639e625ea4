"""Parity of spiking networks: the numpy simulation against a rate- or temporal-mode .tflite.

Used by ``npukit.parity.parity`` when the source model spikes (a NIR graph) or the .tflite is a
temporal model. The simulator is the reference; when the source is a rate-coded ANN, its float
output is a third column. Figures (docs/reports.md):

* ``accuracy`` {``reference`` (ANN sources only), ``snn``, ``tflite``} and ``agreement``
  (top-1, fractions);
* ``output``: cosine and max abs error of the TFLite readout against the simulator's readout
  (both the mean over T of the output layer: rates of a spiking output, mean membrane of an
  integrator); for rate models the TFLite output stands for that mean;
* ``spike_agreement`` (temporal models with a spiking output): the fraction of (sample, output
  neuron) pairs whose spike counts over T are equal.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from npukit.ir import SPIKING, Graph
from npukit.parity.metrics import agreement, compare, top1
from npukit.reference import evaluate
from npukit.runtime import interpreter_name, run_temporal, run_tflite
from npukit.parity.sweep import sweep_figures
from npukit.parity.temporal import deployed_parity
from npukit.snn.diagnose import firing_warnings
from npukit.snn.encoders import rates
from npukit.snn.simulate import simulate as simulate_graph


def snn_parity(graph: Graph, snn: Graph, tflite, info, meta: dict, dataset, x: np.ndarray, *, timesteps: int,
               encoding: str, seed: int, batch_size: int, sweep: list[int], divergence_cosine: float,
               progress) -> dict[str, Any]:
    """The figures of a spiking source or a temporal .tflite against the simulation (module docstring)."""
    seconds: dict[str, float] = {}
    reference = None
    if not graph.is_spiking:
        start = time.perf_counter()
        reference = evaluate(graph, rates(x, graph.input_shape))[graph.output]
        seconds["reference"] = time.perf_counter() - start
    start = time.perf_counter()
    sim = simulate_graph(snn, x, timesteps, encoding=encoding, seed=seed, batch_size=batch_size,
                         progress=progress("simulating", len(x)))
    seconds["snn"] = time.perf_counter() - start
    start = time.perf_counter()
    temporal = meta.get("mode") == "temporal"
    spike_agreement = None
    deployed = None
    if temporal and snn.is_spiking and meta.get("readout", "mean") == "mean":  # layer by layer, step by step
        run = deployed_parity(snn, info.raw, meta, x, timesteps, encoding, seed, progress("tflite (temporal)", len(x)))
        deployed, tfl, counts = run["figures"], run["tflite_readouts"], run["tflite_counts"]
        if counts is not None and snn.output in sim.spike_counts:
            spike_agreement = float(np.mean(counts == sim.spike_counts[snn.output]))
    elif temporal:
        input_max = float(meta.get("input_max", snn.meta.get("snn", {}).get("input_max", 1.0)))
        result = run_temporal(tflite, x, timesteps, encoding=encoding, seed=seed, input_max=input_max,
                              progress=progress("tflite (temporal)", len(x)))
        tfl = result.readouts
        if result.output_counts is not None and snn.output in sim.spike_counts:
            spike_agreement = float(np.mean(result.output_counts == sim.spike_counts[snn.output]))
    else:
        # a rate-mode model sees a time series' mean over T (for event frames: the event rate)
        tfl, _ = run_tflite(tflite, rates(x, graph.input_shape), progress=progress("tflite", len(x)))
    seconds["tflite"] = time.perf_counter() - start

    snn_top1, tfl_top1 = sim.predictions(), top1(tfl)
    agreements = {}
    if reference is not None:
        ref_top1 = top1(reference)
        agreements["snn_vs_reference"] = agreement(snn_top1, ref_top1)
        agreements["tflite_vs_reference"] = agreement(tfl_top1, ref_top1)
    agreements["tflite_vs_snn"] = agreement(tfl_top1, snn_top1)
    figures: dict[str, Any] = {
        "mode": "temporal" if temporal else "rate",
        "source": "snn" if graph.is_spiking else "ann",
        "timesteps": int(timesteps),
        "encoding": sim.encoding,
        "seed": seed,
        "accuracy": None,
        "agreement": agreements,
        "output": compare(sim.outputs, tfl),
        "spike_agreement": spike_agreement,
        "spiking_output": isinstance(snn[snn.output], SPIKING),
        "layers": [],
        "snn": {
            "spikes_per_sample": sim.spikes_per_sample(),
            "firing_rate": sim.firing_rates(),
            "warnings": firing_warnings(snn, sim.spike_counts, timesteps),
            "thresholds": snn.meta.get("snn", {}).get("thresholds"),
        },
        "tflite_model": {
            "ops": info.op_names(),
            "mode": meta.get("mode"),
            "quantization": meta.get("quantization"),
            "io_dtype": meta.get("io_dtype"),
            "interpreter": interpreter_name(),
            "rate_fit": (meta.get("rate_fit") or {}).get("layers"),
        },
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "deployed": deployed,
    }
    if dataset.y is not None:
        y = dataset.y
        figures["accuracy"] = {} if reference is None else {"reference": float(np.mean(top1(reference) == y))}
        figures["accuracy"].update(snn=float(np.mean(snn_top1 == y)), tflite=float(np.mean(tfl_top1 == y)))
        if deployed is not None:
            deployed["accuracy"] = {run: float(np.mean(run_top1 == y)) for run, run_top1 in run["top1"].items()}
    if sweep:
        figures["sweep"] = sweep_figures(snn, x, sweep, dataset.y, top1(reference) if reference is not None else snn_top1,
                                         encoding=encoding, seed=seed, batch_size=batch_size, progress=progress)
    return figures
