"""``npukit.profile``: latency, operation counts and energy estimates of a converted model."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from npukit.errors import BadInputError, UnsupportedError
from npukit.files import read_json
from npukit.progress import Reporter, silent
from npukit.profile.counts import layer_counts, tflite_counts
from npukit.profile.energy import estimate, load_tables
from npukit.profile.latency import measure_latency
from npukit.tflite_file import MAX_TIMESTEPS, metadata_timesteps, read_tflite

#: samples simulated to count spikes (SOPs) when DATA is given
SOP_SAMPLES = 128


@dataclass
class ProfileReport:
    """The figures of ``profile``; ``to_dict()`` is the ``--json`` output (docs/reports.md)."""

    figures: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self.figures

    def __getitem__(self, key: str) -> Any:
        return self.figures[key]


def _first_layers(graph) -> set[str]:
    """Weighted layers with no neuron upstream: they read the analog input."""
    from npukit import ir

    below: dict[str, bool] = {}
    first = set()
    for node in graph:
        below[node.name] = isinstance(node, ir.NEURONS) or any(below[i] for i in node.inputs)
        if isinstance(node, ir.WEIGHTED) and not any(below[i] for i in node.inputs):
            first.add(node.name)
    return first


def profile(
    tflite: str | Path,
    *,
    source: str | Path | None = None,
    data: str | Path | None = None,
    runs: int = 100,
    warmup: int = 10,
    threads: int | None = None,
    use_xnnpack: bool = True,
    timesteps: int | None = None,
    energy_table: str | Path | None = None,
    dt: float | None = None,
    framework: str | None = None,
    reset: str | None = None,
    input_shape: tuple[int, ...] | None = None,
    progress: Reporter = silent,
) -> ProfileReport:
    """Profile a .tflite: LiteRT latency (in a fresh process), MACs per layer, and energy
    estimates. With ``source`` (the model it was converted from) the counts come from the IR;
    with ``data`` too, the spiking version is simulated (``SOP_SAMPLES`` samples, T =
    ``timesteps`` or the model's) to count spikes, SOPs and neuron updates for the neuromorphic
    estimates (SOPs as the simulator counted them). Without ``source``, MACs are counted from the
    .tflite alone.

    ``dt`` (seconds), ``framework`` and ``reset`` (NIR only: the exporting framework's neuron
    convention, ``npukit.snn.frameworks``) and ``input_shape`` (ONNX only: batch-first, replaces
    symbolic dimensions) go to :func:`npukit.loading.load`.
    """
    from npukit.data import load_data

    info = read_tflite(tflite)
    meta = info.npukit_metadata() or {}
    tables = load_tables(energy_table)
    temporal = meta.get("mode") == "temporal"
    if timesteps is not None and (isinstance(timesteps, bool) or not isinstance(timesteps, int)
                                  or not 1 <= timesteps <= MAX_TIMESTEPS):
        raise BadInputError(f"timesteps must be an integer in 1..{MAX_TIMESTEPS}. Received: {timesteps!r}")
    steps = timesteps if timesteps is not None else metadata_timesteps(meta)
    samples = None
    dataset = None
    if data is not None:
        batch = info.tensors[info.inputs[0]].shape[0]
        dataset = load_data(data, "test").head(max(batch, SOP_SAMPLES))  # event data: bins these only
        frame = tuple(info.tensors[info.inputs[0]].shape[1:])
        x = dataset.x
        if meta.get("input_layout") == "CHW" and x.ndim == 4 and x.shape[1:] == (frame[2], frame[0], frame[1]):
            x = np.moveaxis(x, 1, -1)  # the source's (C, H, W) samples, as the .tflite takes them
        if tuple(x.shape[1:]) == frame:
            samples = x[:batch]
    advance = progress("timing", 1)
    latency = measure_latency(tflite, runs, warmup, threads, use_xnnpack, samples, steps if temporal else None)
    advance(1)
    spiking = False
    snn_unavailable = None
    first: set[str] = set()
    counted_from = "tflite"
    if source is not None:
        from npukit.loading import load

        graph = load(source, dt, input_shape, framework, reset)
        counted_from = "source model"
        rows = None
        if dataset is not None:  # simulate the spiking version to count spikes
            try:
                rows, first, steps = _snn_rows(graph, data, dataset, steps, progress)
                spiking = True
            except UnsupportedError as exc:  # no spiking form (SiLU, GELU...): the ANN's counts
                snn_unavailable = str(exc)
        if rows is None:
            rows = layer_counts(graph)
    else:
        rows = tflite_counts(info)
    energy = estimate(rows, tables, first, spiking)
    sops = sum(r["sops"] or 0.0 for r in rows) if spiking else None
    updates = sum(r["neuron_updates"] or 0 for r in rows) if spiking else None
    figures = {
        "model": str(tflite),
        "mode": meta.get("mode", "rate"),
        "model_bytes": info.size_bytes,
        **latency,
        "macs": int(sum(r["macs"] for r in rows)),
        "sops": sops,
        "neuron_updates": updates,
        "timesteps": steps if spiking or temporal else None,
        "counted_from": counted_from,
        "snn_unavailable": snn_unavailable,
        "energy_uj": energy,
        "energy_note": tables["note"],
        "layers": rows,
    }
    return ProfileReport(figures)


def _snn_rows(graph, data, dataset, steps: int, progress):
    """Counts of the spiking version of ``graph`` (an ANN is converted with thresholds from the
    calibration data of ``data``) simulated on the first samples of the data."""
    from npukit.passes.ann_to_snn import spiking_version
    from npukit.snn.encoders import has_time_axis, prepare
    from npukit.snn.simulate import simulate

    snn = spiking_version(graph, data, None, 512, 99.9, progress)
    series = has_time_axis(dataset.x, snn.input_shape)  # a time series runs for its own T
    x, steps, encoding = prepare(snn, dataset.x[:SOP_SAMPLES], None if series else steps)
    result = simulate(snn, x, steps, encoding=encoding, progress=progress("counting spikes", len(x)))
    # a layer reading input events counts as SOPs, not as analog MACs
    return layer_counts(snn, result.spike_counts, steps, sops=result.sops), _first_layers(snn) - set(result.sops), steps


def compare_device(host: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """Host figures beside those of a device report (the Android demo's benchmark JSON)."""
    device = read_json(path, "device report")
    validate_device_report(device, str(path))
    rows = []
    for key in ("mean", "p50", "p90", "p99", "min", "max", "std"):
        rows.append({"figure": f"latency_ms.{key}", "host": host["latency_ms"].get(key), "device": device["latency_ms"].get(key)})
    for key in ("p50", "p90"):
        if "step_loop_ms" in host or "step_loop_ms" in device:
            rows.append({"figure": f"step_loop_ms.{key}", "host": (host.get("step_loop_ms") or {}).get(key),
                         "device": (device.get("step_loop_ms") or {}).get(key)})
    for key in ("init_ms", "first_inference_ms", "model_bytes", "peak_rss_mb", "runs", "threads"):
        rows.append({"figure": key, "host": host.get(key), "device": device.get(key)})
    same_model = None
    if device.get("model_sha256") and host.get("model") and Path(host["model"]).is_file():
        same_model = hashlib.sha256(Path(host["model"]).read_bytes()).hexdigest() == device["model_sha256"]
    return {
        "device": device["device"], "delegate": device["delegate"], "delegate_error": device.get("delegate_error"),
        "accuracy": device["accuracy"], "host_agreement": device.get("host_agreement"), "same_model": same_model,
        "rows": rows,
    }


def validate_device_report(device: Any, source: str) -> None:
    """Check a device report against ``npukit/schemas/device_report.schema.json`` (one-line
    BadInputError naming the first problem); NaN or infinite numbers anywhere are refused too
    (JSON Schema's bounds let NaN through)."""
    from npukit.schemas import validate

    validate(device, "device_report", source)
    where = _non_finite(device)
    if where is not None:
        raise BadInputError(f"{source}: {where} must be a finite number")


def _non_finite(value: Any, path: str = "") -> str | None:
    """The path of the first NaN or infinite number in a parsed JSON value, else None."""
    if isinstance(value, float) and not math.isfinite(value):
        return path or "(root)"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _non_finite(item, f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}".lstrip("."))
        if found is not None:
            return found
    return None
