"""The Python API: simulate and inspect (convert lives in ``npukit.conversion``, parity in
``npukit.parity``).

Every function takes model paths or Graphs, DATA as ``"digits"`` or an .npz path (see
``npukit.data``), and keyword options with the CLI's names. They return report objects whose
``to_dict()`` is the CLI's ``--json`` output; they raise ``npukit.errors.NpukitError``
subclasses, never exit.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from npukit.data import Dataset, data_for, load_data
from npukit.files import atomic_write
from npukit.ir import Graph
from npukit.loading import load
from npukit.passes.ann_to_snn import spiking_version
from npukit.progress import Reporter, silent
from npukit.snn.diagnose import firing_warnings
from npukit.snn.encoders import prepare
from npukit.snn.simulate import SimulationResult
from npukit.snn.simulate import simulate as simulate_graph
from npukit.validation import positive_int
from npukit.validation import seed as seed_value

# -- simulate ------------------------------------------------------------------------------------


def layer_thresholds(snn: Graph) -> dict[str, float | None]:
    """Spiking layer -> its threshold, or None where neurons of the layer differ."""
    out = {}
    for node in snn:
        theta = getattr(node, "v_threshold", None)
        if theta is not None:
            out[node.name] = float(theta.reshape(-1)[0]) if np.ptp(theta) == 0 else None
    return out


@dataclass
class SimulationReport:
    """A simulation of the spiking version of a model on a data set.

    ``result`` holds the arrays (``npukit.snn.simulate.SimulationResult``); ``snn`` the spiking
    graph that ran (its ``meta["snn"]`` lists thresholds and calibration).
    """

    result: SimulationResult
    snn: Graph
    data: Dataset
    seed: int
    extra: dict[str, Any] = field(default_factory=dict)

    def accuracy(self, checkpoint: int | None = None) -> float | None:
        if self.data.y is None:
            return None
        return float(np.mean(self.result.predictions(checkpoint) == self.data.y))

    def to_dict(self) -> dict[str, Any]:
        r = self.result
        snn_meta = self.snn.meta.get("snn", {})
        return {
            "data": self.data.name,
            "samples": len(self.data),
            "timesteps": r.timesteps,
            "encoding": r.encoding,
            "seed": self.seed,
            "accuracy": self.accuracy(),
            "spikes_per_sample": r.spikes_per_sample(),
            "firing_rate": r.firing_rates(),
            "thresholds": snn_meta.get("thresholds") or layer_thresholds(self.snn),
            "percentile": snn_meta.get("percentile"),
            "calibration_samples": snn_meta.get("calibration_samples"),
            "warnings": firing_warnings(self.snn, r.spike_counts, r.timesteps),
            "seconds": round(r.seconds, 4),
            "samples_x_timesteps_per_second": round(len(self.data) * r.timesteps / max(r.seconds, 1e-9), 1),
            "sops": r.sops_per_sample(),
            "layer_sops": dict(r.sops),
            "synaptic_paths": dict(r.paths),
            **self.extra,
        }

    def save(self, path: str | Path, force: bool = False) -> Path:
        """Write an .npz: ``outputs`` (N, *output_shape): the readout after T steps, or, when the
        network's last node spikes, its spike counts; ``y`` when the data has labels; and
        ``spikes/<layer>`` (N, *layer_shape) spike counts per spiking layer."""
        import io

        output = self.snn.output
        counts = self.result.spike_counts
        arrays = {"outputs": counts[output] if output in counts else self.result.outputs}
        if self.data.y is not None:
            arrays["y"] = self.data.y
        for name, counts in self.result.spike_counts.items():
            arrays[f"spikes/{name}"] = counts
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        return atomic_write(path, buffer.getvalue(), force)


def simulate(
    model: str | Path | Graph,
    data: str | Path | None = None,
    *,
    timesteps: int | None = None,
    encoding: str = "current",
    seed: int = 0,
    percentile: float = 99.9,
    calibration: str | Path | None = None,
    calibration_samples: int = 512,
    samples: int | None = None,
    batch_size: int = 256,
    checkpoints: Iterable[int] | None = None,
    keep: Iterable[str] = (),
    dt: float | None = None,
    framework: str | None = None,
    reset: str | None = None,
    input_shape: tuple[int, ...] | None = None,
    as_deployed: str | Path | None = None,
    progress: Reporter = silent,
) -> SimulationReport:
    """Simulate the spiking version of ``model`` on ``data`` (default digits; digits: its test split).

    ``as_deployed``: a .tflite converted from ``model``; the simulation then runs that file's
    arithmetic (its rounded weights, int8 or float32 states, every requantization) in numpy
    (``npukit.runtime.deployed``): a prediction of what LiteRT and the phone compute, spike counts
    of every layer included. ``timesteps`` then defaults to the T the file records.

    A rate-coded model is converted first (``npukit.passes.ann_to_snn``: IF neurons, thresholds
    at the ``percentile`` of each layer's activations on the calibration set). ``samples``
    limits the data to its first N samples. ``timesteps`` defaults to 32, or to the length of
    the data's time axis when it has one ((N, T, ...): used as given).
    ``dt`` (seconds), ``framework`` and ``reset`` (NIR only: the exporting framework's neuron
    convention, ``npukit.snn.frameworks``) and ``input_shape`` (ONNX only: batch-first, replaces
    symbolic dimensions) go to :func:`npukit.loading.load`.
    """
    positive_int("batch size", batch_size)
    seed_value(seed)
    graph = load(model, dt, input_shape, framework, reset)
    data = data_for(graph, data)
    dataset = load_data(data, "test").head(samples)
    extra: dict[str, Any] = {}
    if as_deployed is not None:
        from npukit.tflite_file import metadata_timesteps, read_tflite

        meta = read_tflite(as_deployed).npukit_metadata() or {}
        if timesteps is None:
            timesteps = metadata_timesteps(meta)
        extra["as_deployed"] = {
            "tflite": str(as_deployed), "mode": meta.get("mode"), "quantization": meta.get("quantization"),
            "state": meta.get("state"),
        }
    x, timesteps, encoding = prepare(graph, dataset.x, timesteps, encoding)
    snn = spiking_version(graph, data, calibration, calibration_samples, percentile, progress)
    if as_deployed is not None:
        from npukit.runtime.deployed import simulate_deployed

        result = simulate_deployed(as_deployed, x, timesteps, encoding=encoding, seed=seed, batch_size=batch_size,
                                   progress=progress("simulating the deployed arithmetic", len(dataset)))
        return SimulationReport(result, snn, dataset, seed, extra)
    result = simulate_graph(
        snn, x, timesteps, encoding=encoding, seed=seed, batch_size=batch_size,
        keep=keep, checkpoints=checkpoints, progress=progress("simulating", len(dataset)),
    )
    return SimulationReport(result, snn, dataset, seed)


# -- inspect -------------------------------------------------------------------------------------


def inspect(model: str | Path | Graph, dt: float | None = None, input_shape: tuple[int, ...] | None = None,
            framework: str | None = None, reset: str | None = None) -> dict[str, Any]:
    """Describe a model: for source models the IR layers (name, type, inputs, shape, params,
    MACs per sample) and totals; for a .tflite file its ops, I/O tensors and npukit metadata.
    A source model with ops npukit does not convert is described by them: ``convertible``
    False, ``unsupported`` (every such op: {"op", "where"}), ``supported`` and ``error`` (the
    message converting it gives).

    ``dt`` (seconds), ``framework`` and ``reset`` (NIR only: the exporting framework's neuron
    convention, ``npukit.snn.frameworks``) and ``input_shape`` (ONNX only: batch-first, replaces
    symbolic dimensions) go to :func:`npukit.loading.load`.
    """
    if not isinstance(model, Graph) and Path(model).suffix.lower() == ".tflite":
        from npukit.tflite_file import read_tflite

        info = read_tflite(model)

        def io(index: int) -> dict[str, Any]:
            t = info.tensors[index]
            return {"name": t.name, "shape": list(t.shape), "dtype": t.dtype.lower(), "scale": t.scale[:1], "zero_point": t.zero_point[:1]}

        return {
            "model": str(model),
            "format": "tflite",
            "model_bytes": info.size_bytes,
            "ops": info.op_names(),
            "op_counts": dict(Counter(info.op_names())),
            "tensors": len(info.tensors),
            "inputs": [io(i) for i in info.inputs],
            "outputs": [io(i) for i in info.outputs],
            "metadata": info.npukit_metadata(),
        }
    from npukit.converters.frontend import UnsupportedOpsError

    try:
        graph = load(model, dt, input_shape, framework, reset)
    except UnsupportedOpsError as exc:  # a model that does not convert: what in it does not
        from npukit.loading import FORMATS

        return {
            "model": str(model), "format": FORMATS.get(Path(model).suffix.lower(), "keras"),
            "convertible": False, "unsupported": exc.ops, "supported": exc.supported, "error": str(exc),
        }
    rows = graph.summary()
    return {
        "model": str(model) if not isinstance(model, Graph) else "(in memory)",
        "format": graph.meta.get("source_format", "npukit-ir"),
        "convertible": True,
        "unsupported": [],
        "input_shape": list(graph.input_shape),
        "output_shape": list(graph.output_shape),
        "spiking": graph.is_spiking,
        "layers": rows,
        "total_params": int(sum(r["params"] for r in rows)),
        "total_macs": int(sum(r["macs"] for r in rows)),
        "folded_batchnorm": graph.meta.get("folded_batchnorm", {}),
    }
