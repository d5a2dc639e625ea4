"""Three-way parity: the float model, its spiking simulation and the converted .tflite, compared
on the same samples, output and layer by layer.

Per layer, both the SNN (each node's output averaged over T steps; for IF layers rate x
threshold) and the TFLite model (the intermediate tensor npukit traced to that node, int8
values dequantized) are compared with the float activations of the source model:

* ``cosine``: cosine similarity of the flattened activations over all samples (1 = same
  direction; 1.0 when both are all zero);
* ``max_abs_error``: largest absolute difference, in the layer's own units.

The first layer, in topological order, whose cosine falls below ``divergence_cosine`` (default
0.99) is named as where that pipeline diverges.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from npukit.data import load_data
from npukit.errors import BadInputError
from npukit.files import atomic_write
from npukit.ir import Graph
from npukit.loading import load, source_of
from npukit.progress import Reporter, silent
from npukit.reference import check_input, evaluate
from npukit.runtime import interpreter_name, run_tflite
from npukit.snn.simulate import simulate as simulate_graph
from npukit.tflite_file import metadata_timesteps, read_tflite

DEFAULT_SWEEP = (1, 2, 4, 8, 16, 32, 64)


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
    return {
        "cosine": round(cosine(reference, other), 6),
        "max_abs_error": float(np.max(np.abs(np.asarray(reference, np.float64) - other))),
    }


def top1(outputs: np.ndarray) -> np.ndarray:
    return outputs.reshape(outputs.shape[0], -1).argmax(axis=1)


@dataclass
class ParityReport:
    """The figures of one parity run; ``to_dict()`` is the ``--json`` output (docs/reports.md)."""

    figures: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self.figures

    def __getitem__(self, key: str) -> Any:
        return self.figures[key]


def parity(
    model: str | Path | Graph,
    tflite: str | Path,
    data: str | Path = "digits",
    *,
    timesteps: int | None = None,
    encoding: str = "current",
    seed: int = 0,
    percentile: float = 99.9,
    calibration: str | Path | None = None,
    calibration_samples: int = 512,
    samples: int | None = None,
    batch_size: int = 256,
    sweep: Iterable[int] | None = None,
    divergence_cosine: float = 0.99,
    dt: float | None = None,
    input_shape: tuple[int, ...] | None = None,
    progress: Reporter = silent,
) -> ParityReport:
    """Compare ``model``, its spiking version at ``timesteps`` and the ``tflite`` file.

    For a rate-coded source model and a rate-mode .tflite: the float model, the SNN and the
    TFLite graph, output and layer by layer (module docstring). For a spiking source model (NIR)
    or a temporal-mode .tflite: ``npukit.snn_parity``. ``timesteps`` defaults to the T recorded
    in the .tflite (else 32). ``sweep`` lists further T values whose SNN accuracy (or top-1
    agreement with the float model when the data has no labels) is reported under ``sweep``.
    ``dt`` (seconds, NIR only) and ``input_shape`` (ONNX only: batch-first, replaces symbolic
    dimensions) go to :func:`npukit.loading.load`.
    """
    from npukit.api import _check_positive, _check_seed, spiking_version

    if not 0 < divergence_cosine <= 1:
        raise BadInputError(f"divergence cosine must be in (0, 1]. Received: {divergence_cosine}")
    sweep = sorted({_check_positive("sweep timesteps", int(t), 100_000) for t in (sweep or ())})
    _check_seed(seed)
    graph = load(model, dt, input_shape)
    info = read_tflite(tflite)
    meta = info.npukit_metadata() or {}
    timesteps = _check_positive("timesteps", timesteps if timesteps is not None else metadata_timesteps(meta), 100_000)
    dataset = load_data(data, "test").head(samples)
    x = check_input(graph, dataset.x)
    header = {
        "model": str(model) if not isinstance(model, Graph) else "(in memory)",
        "tflite": str(tflite),
        "data": dataset.name,
        "samples": len(dataset),
    }
    if graph.is_spiking or meta.get("mode") == "temporal":
        from npukit.snn_parity import snn_parity

        snn = spiking_version(graph, data, calibration, calibration_samples, percentile, progress)
        figures = snn_parity(
            graph, snn, tflite, info, meta, dataset, x, timesteps=timesteps, encoding=encoding, seed=seed,
            batch_size=batch_size, sweep=sweep, progress=progress,
        )
        figures["tflite_model"]["source_matches"] = meta.get("source", {}).get("sha256") == source_of(graph)["sha256"] if meta else None
        return ParityReport({**header, **figures})
    seconds: dict[str, float] = {}

    start = time.perf_counter()
    layers = [n.name for n in graph if type(n).__name__ != "Input" and not n.shape_only]
    reference = evaluate(graph, x, keep=layers, progress=progress("float reference", len(x)))
    seconds["reference"] = time.perf_counter() - start

    start = time.perf_counter()
    snn = spiking_version(graph, data, calibration, calibration_samples, percentile, progress)
    result = simulate_graph(
        snn, x, timesteps, encoding=encoding, seed=seed, batch_size=batch_size, keep=layers,
        progress=progress("simulating", len(x)),
    )
    swept = None
    if sweep:  # one more run to the largest T: the readout after t steps is a t-step simulation
        swept = simulate_graph(
            snn, x, max(sweep), encoding=encoding, seed=seed, batch_size=batch_size, checkpoints=sweep,
            progress=progress("simulating the sweep", len(x)),
        )
    seconds["snn"] = time.perf_counter() - start

    start = time.perf_counter()
    tensor_map = {k: v for k, v in (meta.get("tensor_map") or {}).items() if k in graph.nodes}
    tfl_out, tfl_layers = run_tflite(tflite, x, tensor_map, progress=progress("tflite", len(x)))
    seconds["tflite"] = time.perf_counter() - start

    ref_top1 = top1(reference[graph.output])
    snn_top1 = result.predictions()
    tfl_top1 = top1(tfl_out)
    snn_means = dict(result.layer_means)
    # the readout at T is the SNN's view of the output layer
    snn_means[graph.output] = result.outputs
    rows, first = [], {"snn": None, "tflite": None}
    for name in layers:
        row: dict[str, Any] = {"name": name, "type": type(graph[name]).__name__, "shape": list(graph.shapes[name])}
        row["snn"] = compare(reference[name], snn_means[name])
        row["tflite"] = compare(reference[name], tfl_layers[name]) if name in tfl_layers else None
        for key in ("snn", "tflite"):
            if row[key] is not None and first[key] is None and row[key]["cosine"] < divergence_cosine:
                first[key] = name
        rows.append(row)

    figures: dict[str, Any] = {
        **header,
        "mode": "rate",
        "source": "ann",
        "timesteps": int(timesteps),
        "encoding": encoding,
        "seed": seed,
        "accuracy": None,
        "agreement": {
            "snn_vs_reference": float(np.mean(snn_top1 == ref_top1)),
            "tflite_vs_reference": float(np.mean(tfl_top1 == ref_top1)),
            "tflite_vs_snn": float(np.mean(tfl_top1 == snn_top1)),
        },
        "layers": rows,
        "divergence_cosine": divergence_cosine,
        "first_divergent_layer": first,
        "snn": {
            "thresholds": snn.meta.get("snn", {}).get("thresholds"),
            "percentile": percentile,
            "calibration": snn.meta.get("snn", {}).get("calibration_data"),
            "spikes_per_sample": result.spikes_per_sample(),
            "firing_rate": result.firing_rates(),
        },
        "tflite_model": {
            "ops": info.op_names(),
            "quantization": meta.get("quantization"),
            "io_dtype": meta.get("io_dtype"),
            "interpreter": interpreter_name(),
            "source_matches": meta.get("source", {}).get("sha256") == source_of(graph)["sha256"] if meta else None,
            "layers_traced": len(tfl_layers),
        },
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
    }
    if dataset.y is not None:
        y = dataset.y
        figures["accuracy"] = {
            "reference": float(np.mean(ref_top1 == y)),
            "snn": float(np.mean(snn_top1 == y)),
            "tflite": float(np.mean(tfl_top1 == y)),
        }
    if sweep:
        figures["sweep"] = [
            {
                "timesteps": t,
                "snn_accuracy": None if dataset.y is None else float(np.mean(swept.predictions(t) == dataset.y)),
                "snn_agreement": float(np.mean(swept.predictions(t) == ref_top1)),
            }
            for t in sweep
        ]
    return ParityReport(figures)


def plot_sweep(report: ParityReport, path: str | Path, force: bool = False) -> Path:
    """Write a PNG of SNN accuracy (or agreement) against T, with the float and TFLite levels."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig_data = report.to_dict()
    if "sweep" not in fig_data:
        raise BadInputError("the report has no sweep; run parity with --sweep")
    use_accuracy = fig_data["accuracy"] is not None
    key = "snn_accuracy" if use_accuracy else "snn_agreement"
    ts = [row["timesteps"] for row in fig_data["sweep"]]
    values = [100 * row[key] for row in fig_data["sweep"]]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(ts, values, "o-", label="SNN (IF, rate coded)")
    if use_accuracy:
        ax.axhline(100 * fig_data["accuracy"]["reference"], color="k", ls="--", label="float model")
        ax.axhline(100 * fig_data["accuracy"]["tflite"], color="tab:orange", ls=":", label="int8 TFLite")
    else:
        ax.axhline(100 * fig_data["agreement"]["tflite_vs_reference"], color="tab:orange", ls=":", label="int8 TFLite")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ts, [str(t) for t in ts])
    ax.set_xlabel("timesteps T")
    ax.set_ylabel("top-1 accuracy (%)" if use_accuracy else "top-1 agreement with float (%)")
    ax.set_title(f"{fig_data['data']}")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return atomic_write(path, buffer.getvalue(), force)
