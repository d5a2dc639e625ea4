"""Parity of a rate-coded model: the float model, its spiking simulation and a rate-mode .tflite,
compared on the same samples, output and layer by layer.

Per layer, both the SNN (each node's output averaged over T steps; for IF layers rate x
threshold) and the TFLite model (the intermediate tensor npukit traced to that node, int8
values dequantized) are compared with the float activations of the source model (``cosine``
and ``max_abs_error``: ``npukit.parity.metrics``). The first layer, in topological order, whose
cosine falls below ``divergence_cosine`` is named as where that pipeline diverges. Without a
spiking version (``snn`` None: a layer has no spiking equivalent) every SNN figure is None.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from npukit.ir import Graph
from npukit.parity.metrics import agreement, compare, top1
from npukit.reference import evaluate
from npukit.runtime import interpreter_name, run_tflite
from npukit.parity.sweep import sweep_figures
from npukit.snn.diagnose import firing_warnings
from npukit.snn.encoders import rates
from npukit.snn.simulate import simulate as simulate_graph


def ann_parity(graph: Graph, snn: Graph, tflite, info, meta: dict, dataset, x: np.ndarray, *, timesteps: int,
               encoding: str, seed: int, batch_size: int, sweep: list[int], divergence_cosine: float,
               progress) -> dict[str, Any]:
    """The figures of a rate-coded source against its SNN and a rate-mode .tflite (module docstring)."""
    seconds: dict[str, float] = {}

    start = time.perf_counter()
    layers = [n.name for n in graph if type(n).__name__ != "Input" and not n.shape_only]
    frames = rates(x, graph.input_shape)  # what the float model and a rate-mode .tflite see of a time series
    reference = evaluate(graph, frames, keep=layers, progress=progress("float reference", len(x)))
    seconds["reference"] = time.perf_counter() - start

    start = time.perf_counter()
    result = None
    if snn is not None:  # None: the model has no spiking equivalent (parity() says why)
        result = simulate_graph(
            snn, x, timesteps, encoding=encoding, seed=seed, batch_size=batch_size, keep=layers,
            progress=progress("simulating", len(x)),
        )
    seconds["snn"] = time.perf_counter() - start

    start = time.perf_counter()
    tensor_map = {k: v for k, v in (meta.get("tensor_map") or {}).items() if k in graph.nodes}
    tfl_out, tfl_layers = run_tflite(tflite, frames, tensor_map, progress=progress("tflite", len(x)))
    seconds["tflite"] = time.perf_counter() - start

    ref_top1 = top1(reference[graph.output])
    snn_top1 = result.predictions() if result is not None else None
    tfl_top1 = top1(tfl_out)
    snn_means = dict(result.layer_means) if result is not None else {}
    if result is not None:  # the readout at T is the SNN's view of the output layer
        snn_means[graph.output] = result.outputs
    rows, first = [], {"snn": None, "tflite": None}
    for name in layers:
        row: dict[str, Any] = {"name": name, "type": type(graph[name]).__name__, "shape": list(graph.shapes[name])}
        row["snn"] = compare(reference[name], snn_means[name]) if result is not None else None
        row["tflite"] = compare(reference[name], tfl_layers[name]) if name in tfl_layers else None
        for key in ("snn", "tflite"):
            if row[key] is not None and first[key] is None and row[key]["cosine"] < divergence_cosine:
                first[key] = name
        rows.append(row)

    figures: dict[str, Any] = {
        "mode": "rate",
        "source": "ann",
        "timesteps": int(timesteps),
        "encoding": encoding,
        "seed": seed,
        "accuracy": None,
        "agreement": {
            "snn_vs_reference": agreement(snn_top1, ref_top1) if result is not None else None,
            "tflite_vs_reference": agreement(tfl_top1, ref_top1),
            "tflite_vs_snn": agreement(tfl_top1, snn_top1) if result is not None else None,
        },
        "layers": rows,
        "divergence_cosine": divergence_cosine,
        "first_divergent_layer": first,
        "snn": None if result is None else {
            "thresholds": snn.meta.get("snn", {}).get("thresholds"),
            "percentile": snn.meta.get("snn", {}).get("percentile"),
            "calibration": snn.meta.get("snn", {}).get("calibration_data"),
            "spikes_per_sample": result.spikes_per_sample(),
            "firing_rate": result.firing_rates(),
            "warnings": firing_warnings(snn, result.spike_counts, timesteps),
        },
        "tflite_model": {
            "ops": info.op_names(),
            "quantization": meta.get("quantization"),
            "io_dtype": meta.get("io_dtype"),
            "interpreter": interpreter_name(),
            "layers_traced": len(tfl_layers),
        },
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
    }
    if dataset.y is not None:
        y = dataset.y
        figures["accuracy"] = {
            "reference": float(np.mean(ref_top1 == y)),
            "snn": float(np.mean(snn_top1 == y)) if result is not None else None,
            "tflite": float(np.mean(tfl_top1 == y)),
        }
    if sweep and snn is not None:
        figures["sweep"] = sweep_figures(snn, x, sweep, dataset.y, ref_top1, encoding=encoding, seed=seed,
                                         batch_size=batch_size, progress=progress)
    return figures
