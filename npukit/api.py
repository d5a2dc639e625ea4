"""The Python API: convert, simulate, inspect (parity lives in ``npukit.parity``).

Every function takes model paths or Graphs, DATA as ``"digits"`` or an .npz path (see
``npukit.data``), and keyword options with the CLI's names. They return report objects whose
``to_dict()`` is the CLI's ``--json`` output; they raise ``npukit.errors.NpukitError``
subclasses, never exit.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from npukit import __version__
from npukit.data import Dataset, calibration_set, load_data
from npukit.errors import BadInputError
from npukit.files import atomic_write, check_writable
from npukit.ir import Graph
from npukit.loading import load, source_of
from npukit.passes.ann_to_snn import ann_to_snn
from npukit.progress import Reporter, silent
from npukit.reference import check_input
from npukit.snn.encoders import ENCODINGS, TIME_SERIES, has_time_axis, resolve_timesteps
from npukit.snn.simulate import SimulationResult
from npukit.snn.simulate import simulate as simulate_graph

TARGETS = ("tflite", "ir")
METADATA_FORMAT = "npukit-tflite-metadata"
METADATA_VERSION = 1


def _check_positive(name: str, value: int, maximum: int | None = None) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0 or (maximum and value > maximum):
        bound = f" and at most {maximum}" if maximum else ""
        raise BadInputError(f"{name} must be a positive integer{bound}. Received: {value!r}")
    return int(value)


# -- convert -------------------------------------------------------------------------------------


@dataclass
class ConversionResult:
    """What ``convert`` wrote. ``metadata`` is the JSON stored in the .tflite (docs/metadata.md)."""

    path: Path | None
    target: str
    model_bytes: int
    ops: list[str]
    metadata: dict[str, Any]
    seconds: float
    delegation: Any = None  # npukit.nnapi.check.CheckReport of the written file

    def to_dict(self) -> dict[str, Any]:
        out = {
            "output_file": str(self.path) if self.path else None,
            "target": self.target,
            "model_bytes": self.model_bytes,
            "seconds": round(self.seconds, 3),
        }
        if self.target == "tflite":
            meta = self.metadata
            out.update(
                ops=self.ops,
                op_counts=dict(Counter(self.ops)),
                quantization=meta["quantization"],
                io_dtype=meta["io_dtype"],
                batch=meta["batch"],
                input_tensor=meta["input"],
                output_tensor=meta["output"],
                calibration=meta["calibration"],
                traced_layers=sorted(meta["tensor_map"]),
            )
        if self.delegation is not None:
            d = self.delegation
            out["nnapi"] = {
                "api_level": d.api_level,
                "delegated_ops": d.delegated_ops,
                "total_ops": len(d.ops),
                "partitions": d.partitions,
                "fully_delegated": d.fully_delegated,
                "min_api_level": d.min_api_level,
                "warnings": d.warnings,
                "cpu_ops": [f"{op['index']} {op['op']}: {op['reason']}" for op in d.ops if not op["delegated"]],
            }
        return out


def convert(
    model: str | Path | Graph,
    output: str | Path,
    *,
    to: str = "tflite",
    data: str | Path = "digits",
    calibration: str | Path | None = None,
    calibration_samples: int = 512,
    quantize: str = "int8",
    io: str | None = None,
    batch: int = 1,
    timesteps: int = 32,
    encoding: str = "current",
    api_level: int = 30,
    allow_cpu_fallback: bool = False,
    dt: float | None = None,
    force: bool = False,
    progress: Reporter = silent,
) -> ConversionResult:
    """Convert a model to an int8 (or float32) .tflite file, or to an npukit IR file.

    Calibration samples (``calibration_samples`` of ``calibration``, else of the digits train
    split or of the .npz ``data``) feed int8 quantization. ``timesteps`` and ``encoding`` are
    recorded in the metadata as the spiking settings the model is meant to be checked with;
    class names of ``data`` become the metadata's ``labels``.

    ``api_level`` is the Android API level the model targets: the conversion uses ops the
    NN-API delegate takes at that level (documented rewrites otherwise), then checks its own
    output with ``npukit.nnapi.check`` and refuses to write a model the delegate would not run
    whole, unless ``allow_cpu_fallback``. int8 models need API 29; ``io`` defaults to int8 model
    I/O (below API 30 the delegate converts it on the CPU; uint8 I/O would add a QUANTIZE to
    int8 that NN-API only takes from API 30). ``output`` is written atomically and never
    overwritten unless ``force``.
    """
    start = time.perf_counter()
    if to not in TARGETS:
        raise BadInputError(f"target must be one of {', '.join(TARGETS)}. Received: {to!r}")
    _check_positive("timesteps", timesteps)
    if encoding not in ENCODINGS:
        raise BadInputError(f"encoding must be one of {', '.join(ENCODINGS)}. Received: {encoding!r}")
    check_writable(output, force)
    graph = load(model, dt)
    if to == "ir":
        from npukit.ir.serialize import to_bytes

        blob = to_bytes(graph)
        path = atomic_write(output, blob, force)
        return ConversionResult(path, "ir", len(blob), [], {}, time.perf_counter() - start)
    from npukit.converters.tflite import convert_graph
    from npukit.nnapi.check import check_level, check_model
    from npukit.tflite_file import read_tflite

    level = check_level(api_level)
    if quantize == "int8" and level < 29:
        raise BadInputError(
            f"int8 models need API 29: at API {level} NN-API's convolutions take float32 or uint8 only, and "
            f"TensorFlow's converter no longer writes uint8 models; use --quantize none (float32) or --api-level 29+"
        )
    io = io or ("int8" if quantize == "int8" else "float32")
    calib = None
    if quantize == "int8":  # float32 models need no calibration
        _check_positive("calibration samples", calibration_samples)
        calib = calibration_set(data, calibration, calibration_samples)
        check_input(graph, calib.x)
    dataset = load_data(data, "test")
    matches = tuple(dataset.x.shape[1:]) == graph.input_shape  # labels only from data this model reads
    described = calib if calib is not None else (dataset if matches else None)
    metadata = {
        "format": METADATA_FORMAT,
        "version": METADATA_VERSION,
        "npukit_version": __version__,
        "source": source_of(graph),
        "mode": "rate",
        "timesteps": int(timesteps),
        "encoding": encoding,
        "labels": dataset.class_names if matches else None,
        "input_preprocessing": described.preprocessing if described else None,
        "calibration": {"data": calib.name, "samples": len(calib)} if calib else None,
        "api_level": level,
    }
    advance = progress("converting", 1)
    blob, metadata = convert_graph(
        graph, None if calib is None else calib.x, quantize=quantize, io=io, batch=batch, metadata=metadata, api_level=level
    )
    advance(1)
    info = read_tflite(blob)
    delegation = check_model(info, level)
    if not delegation.fully_delegated and not allow_cpu_fallback:
        cpu = [f"{op['op']} ({op['reason']})" for op in delegation.ops if not op["delegated"]]
        raise BadInputError(
            f"the converted model is not fully delegable at API {level}: {len(cpu)} of {len(delegation.ops)} ops "
            f"would run on the CPU: {'; '.join(cpu[:3])}; pass --allow-cpu-fallback to write it anyway"
        )
    path = atomic_write(output, blob, force)
    return ConversionResult(
        path, "tflite", len(blob), info.op_names(), metadata, time.perf_counter() - start, delegation
    )


# -- simulate ------------------------------------------------------------------------------------


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
            "thresholds": snn_meta.get("thresholds"),
            "percentile": snn_meta.get("percentile"),
            "calibration_samples": snn_meta.get("calibration_samples"),
            "seconds": round(r.seconds, 4),
            "samples_x_timesteps_per_second": round(len(self.data) * r.timesteps / max(r.seconds, 1e-9), 1),
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


def _timesteps(graph: Graph, x: np.ndarray, timesteps: int | None, encoding: str) -> tuple[int, str]:
    """(T, encoding): the data's own time axis, else ``timesteps`` (default 32) and ``encoding``."""
    if timesteps is not None:
        _check_positive("timesteps", timesteps, 100_000)
    if timesteps is None and not has_time_axis(x, graph.input_shape):
        timesteps = 32
    return resolve_timesteps(x, graph.input_shape, timesteps, encoding)


def spiking_version(
    graph: Graph,
    data: str | Path,
    calibration: str | Path | None,
    calibration_samples: int,
    percentile: float,
    progress: Reporter = silent,
) -> Graph:
    """The SNN to simulate: ``graph`` itself if it spikes, else its ANN -> SNN conversion with
    thresholds from the calibration set."""
    if graph.is_spiking:
        return graph
    _check_positive("calibration samples", calibration_samples)
    calib = calibration_set(data, calibration, calibration_samples)
    check_input(graph, calib.x)
    snn = ann_to_snn(graph, calib.x, percentile, progress=progress("calibrating thresholds", len(calib)))
    snn.meta["snn"]["calibration_data"] = calib.name
    return snn


def simulate(
    model: str | Path | Graph,
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
    checkpoints: Iterable[int] | None = None,
    keep: Iterable[str] = (),
    dt: float | None = None,
    progress: Reporter = silent,
) -> SimulationReport:
    """Simulate the spiking version of ``model`` on ``data`` (digits: its test split).

    A rate-coded model is converted first (``npukit.passes.ann_to_snn``: IF neurons, thresholds
    at the ``percentile`` of each layer's activations on the calibration set). ``samples``
    limits the data to its first N samples. ``timesteps`` defaults to 32, or to the length of
    the data's time axis when it has one ((N, T, ...): used as given).
    """
    _check_positive("batch size", batch_size)
    graph = load(model, dt)
    dataset = load_data(data, "test").head(samples)
    timesteps, encoding = _timesteps(graph, dataset.x, timesteps, encoding)
    check_input(graph, dataset.x, time_axis=encoding == TIME_SERIES)
    snn = spiking_version(graph, data, calibration, calibration_samples, percentile, progress)
    result = simulate_graph(
        snn, dataset.x, timesteps, encoding=encoding, seed=seed, batch_size=batch_size,
        keep=keep, checkpoints=checkpoints, progress=progress("simulating", len(dataset)),
    )
    return SimulationReport(result, snn, dataset, seed)


# -- inspect -------------------------------------------------------------------------------------


def inspect(model: str | Path | Graph, dt: float | None = None) -> dict[str, Any]:
    """Describe a model: for source models the IR layers (name, type, inputs, shape, params,
    MACs per sample) and totals; for a .tflite file its ops, I/O tensors and npukit metadata."""
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
    graph = load(model, dt)
    rows = graph.summary()
    return {
        "model": str(model) if not isinstance(model, Graph) else "(in memory)",
        "format": graph.meta.get("source_format", "npukit-ir"),
        "input_shape": list(graph.input_shape),
        "output_shape": list(graph.output_shape),
        "spiking": graph.is_spiking,
        "layers": rows,
        "total_params": int(sum(r["params"] for r in rows)),
        "total_macs": int(sum(r["macs"] for r in rows)),
        "folded_batchnorm": graph.meta.get("folded_batchnorm", {}),
    }
