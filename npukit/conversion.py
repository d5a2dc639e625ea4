"""``npukit.convert``: a model to a .tflite for NN-API (rate or temporal mode), or to an IR file.

Modes (docs/snn.md, docs/nnapi.md):

* ``rate`` (default): one invoke per input. A rate-coded ANN is quantized as is. A spiking
  network becomes the rate-coded ANN of ``npukit.passes.snn_to_rate`` (activations fitted to
  the simulated firing rates), then quantized.
* ``temporal``: one invoke per timestep, states carried by the host
  (``npukit.converters.tflite_temporal``). A feed-forward rate-coded ANN is first turned into its
  IF network (``ann_to_snn``, thresholds from the calibration data); a recurrent ANN (LSTM, GRU)
  is already one step of its model and converts as it is. Rate mode refuses recurrent graphs.

Every .tflite is checked against the NN-API rules at ``api_level`` before it is written
(``npukit.nnapi.check``); a model that would not run whole is refused unless
``allow_cpu_fallback``.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from npukit.version import __version__
from npukit.data import Dataset, calibration_set, data_for, load_data
from npukit.errors import BadInputError, UnsupportedError
from npukit.files import atomic_write, check_writable
from npukit.converters.tflite import RECURRENT_IN_RATE_MODE, RateBackend
from npukit.converters.tflite_backend import MAX_BATCH
from npukit.converters.tflite_temporal import TemporalBackend
from npukit.converters.tflite_temporal_int8 import CALIBRATION_BATCH, STATES
from npukit.ir import Graph
from npukit.loading import load, source_of
from npukit.passes.ann_to_snn import ann_to_snn
from npukit.progress import Reporter, silent
from npukit.snn.encoders import ENCODINGS, TIME_SERIES, fits, has_time_axis, prepare, rate_inputs
from npukit.validation import MAX_TIMESTEPS, int_in_range, one_of, positive_int

TARGETS = ("tflite", "ir", "nir")
MODES = ("rate", "temporal")
METADATA_FORMAT = "npukit-tflite-metadata"
METADATA_VERSION = 1
#: the TFLite backend of each mode (converters/tflite_backend.py states their contract)
BACKENDS = {"rate": RateBackend, "temporal": TemporalBackend}


@dataclass
class ConversionResult:
    """What ``convert`` wrote. ``metadata`` is the JSON stored in the .tflite (docs/metadata.md);
    ``delegation`` the NN-API check of the written file (``npukit.nnapi.check.CheckReport``)."""

    path: Path | None
    target: str
    model_bytes: int
    ops: list[str]
    metadata: dict[str, Any]
    seconds: float
    delegation: Any = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "output_file": str(self.path) if self.path else None,
            "target": self.target,
            "model_bytes": self.model_bytes,
            "seconds": round(self.seconds, 3),
        }
        if self.target == "nir":
            out["nir"] = self.metadata
            return out
        if self.target != "tflite":
            return out
        meta = self.metadata
        out.update(
            mode=meta["mode"],
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
        if meta["mode"] == "temporal":
            out["timesteps"] = meta["timesteps"]
            out["states"] = [f"{s['layer']}.{s['kind']} {s['shape']}" for s in meta["state_order"]]
            out["state"] = meta.get("state")
            if meta.get("rounding"):
                out["rounding"] = meta["rounding"]
            if meta.get("tuning"):
                out["tuning"] = meta["tuning"]
        if meta.get("rate_fit"):
            out["rate_fit"] = meta["rate_fit"]["layers"]
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
    mode: str = "rate",
    data: str | Path | None = None,
    calibration: str | Path | None = None,
    calibration_samples: int = 512,
    quantize: str = "int8",
    io: str | None = None,
    state: str | None = None,
    rounding: str = "gptq",
    batch: int = 1,
    timesteps: int | None = None,
    encoding: str = "current",
    percentile: float = 99.9,
    api_level: int = 30,
    allow_cpu_fallback: bool = False,
    dt: float | None = None,
    framework: str | None = None,
    reset: str | None = None,
    input_shape: tuple[int, ...] | None = None,
    force: bool = False,
    progress: Reporter = silent,
) -> ConversionResult:
    """Convert a model to a .tflite (``mode`` rate or temporal; int8 or float32) or an IR file.

    Calibration samples (``calibration_samples`` of ``calibration``, else of the train split of
    ``data``, default digits, or of the .npz ``data``) feed int8 quantization, spiking thresholds (``percentile``)
    and rate fits. ``timesteps`` and ``encoding`` are the spiking settings: the T of a temporal
    model's host loop and of rate fits, recorded in the metadata. Class names of ``data`` become
    the metadata's ``labels``.

    ``api_level`` is the Android API level the model targets: the conversion uses ops the
    NN-API delegate takes there (documented rewrites otherwise) and refuses to write a model the
    delegate would not run whole, unless ``allow_cpu_fallback``. int8 models need API 29;
    ``io`` defaults to int8 (below API 30 the delegate converts it on the CPU; uint8 I/O would
    add a QUANTIZE to int8 that NN-API only takes from API 30). ``quantize`` "fp16" keeps the
    graph float32 with float16 weights. ``state`` (temporal int8 only) is the state scheme
    (``converters/tflite_temporal_int8.py``): "float32" (int8 synapses, float32 neuron states and
    float32 I/O; the default from API 30, where NN-API takes the QUANTIZE of spikes to int8) or
    "int8" (everything int8; the default below API 30). ``rounding`` (temporal int8 of a spiking
    graph) picks the int8 weights: "gptq" (``npukit.passes.gptq_rounding``: chosen to keep each
    layer's output on the calibration inputs) or "nearest". ``output`` is written atomically
    and never overwritten unless ``force``.
    ``dt`` (seconds), ``framework`` and ``reset`` (NIR only: the exporting framework's neuron
    convention, ``npukit.snn.frameworks``) and ``input_shape`` (ONNX only: batch-first, replaces
    symbolic dimensions) go to :func:`npukit.loading.load`.
    """
    start = time.perf_counter()
    if to not in TARGETS:
        raise BadInputError(f"target must be one of {', '.join(TARGETS)}. Received: {to!r}")
    if mode not in MODES:
        raise BadInputError(f"mode must be one of {', '.join(MODES)}. Received: {mode!r}")
    if timesteps is not None:
        positive_int("timesteps", timesteps, MAX_TIMESTEPS)
    int_in_range("batch", batch, 1, MAX_BATCH)
    if encoding not in ENCODINGS:
        raise BadInputError(f"encoding must be one of {', '.join(ENCODINGS)}. Received: {encoding!r}")
    check_writable(output, force)
    graph = load(model, dt, input_shape, framework, reset)
    if to == "ir":
        from npukit.ir.serialize import to_bytes

        blob = to_bytes(graph)
        path = atomic_write(output, blob, force)
        return ConversionResult(path, "ir", len(blob), [], {}, time.perf_counter() - start)
    if to == "nir":
        data = data_for(graph, data, required=not graph.is_spiking and calibration is None)
        blob, info = _nir(graph, data, calibration, calibration_samples, percentile, timesteps, encoding, dt, progress)
        path = atomic_write(output, blob, force)
        return ConversionResult(path, "nir", len(blob), [], info, time.perf_counter() - start)
    from npukit.nnapi.check import check_level, check_model
    from npukit.tflite_file import read_tflite

    level = check_level(api_level)
    if quantize == "int8" and level < 29:
        raise BadInputError(
            f"int8 models need API 29: at API {level} NN-API's convolutions take float32 or uint8 only, and "
            f"TensorFlow's converter no longer writes uint8 models; use quantize='none' (float32) or api_level=29 or higher"
        )
    if mode == "rate" and graph.is_recurrent:  # before any data is looked for
        raise UnsupportedError(RECURRENT_IN_RATE_MODE)
    one_of("rounding", rounding, ("gptq", "nearest"))
    if state is not None:
        one_of("state", state, STATES)
        if mode != "temporal" or quantize != "int8":
            raise BadInputError("state chooses how an int8 temporal model holds its neuron states; it needs mode "
                                "'temporal' and quantize 'int8'")
    state = state or ("float32" if level >= 30 else "int8")
    if mode == "rate" or state == "int8":
        io = io or ("int8" if quantize == "int8" else "float32")
    # int8 ranges; the rate fit of an SNN (rate mode); the IF thresholds of a feed-forward ANN
    # (temporal mode; a recurrent ANN runs as it is)
    needs_calibration = quantize == "int8" or (graph.is_spiking == (mode == "rate") and not graph.is_recurrent)
    data = data_for(graph, data, required=needs_calibration and calibration is None)
    calib = calib_x = None
    if needs_calibration:
        positive_int("calibration samples", calibration_samples)
        calib = calibration_set(data, calibration, calibration_samples)
        # channels-first samples come back channels-last; a time series fixes T and the encoding
        calib_x, timesteps, encoding = prepare(graph, calib.x, timesteps, encoding)
        if graph.is_recurrent and not graph.is_spiking and encoding != TIME_SERIES:
            raise BadInputError(
                f"a recurrent model reads sequences: its calibration data must be "
                f"({', '.join(['N', 'T', *map(str, graph.input_shape)])}); "
                f"received {calib.x.shape}"
            )
    else:  # no calibration: the data still says T when it is a time series
        test = load_data(data, "test").head(1)  # event data: bins one sample
        if has_time_axis(test.x, graph.input_shape) and fits(graph, test.x):
            _, timesteps, encoding = prepare(graph, test.x[:1], timesteps, encoding)
    timesteps = timesteps or 32
    _check_memory(graph, mode, quantize, batch, timesteps)
    metadata = _metadata(graph, data, calib, mode, timesteps, encoding, level)
    advance = progress("converting", 1)
    backend = BACKENDS[mode](timesteps, encoding, percentile, **({"state": state, "rounding": rounding} if mode == "temporal" else {}))
    converted = backend.prepare(graph, calib_x, metadata)
    samples = calib_x if quantize == "int8" else None
    blob, metadata = backend.convert(converted, samples, quantize, io, batch, metadata, level)
    advance(1)
    info = read_tflite(blob)
    delegation = check_model(info, level)
    if not delegation.fully_delegated and not allow_cpu_fallback:
        cpu = [f"{op['op']} ({op['reason']})" for op in delegation.ops if not op["delegated"]]
        raise BadInputError(
            f"the converted model is not fully delegable at API {level}: {len(cpu)} of {len(delegation.ops)} ops "
            f"would run on the CPU: {'; '.join(cpu[:3])}; pass allow_cpu_fallback=True to write it anyway"
        )
    path = atomic_write(output, blob, force)
    return ConversionResult(path, "tflite", len(blob), info.op_names(), metadata, time.perf_counter() - start, delegation)


#: arrays of a batch alive at once while converting: the float interpreter, the calibrating
#: one, the converter's own buffers, the recorded step
LIVE_COPIES = 4
#: values of a convolution window per output value the calibration holds at once (3x3 kernels, 2 copies)
CALIBRATION_WINDOW = 18


def conversion_bytes(graph: Graph, mode: str, quantize: str, batch: int, timesteps: int) -> int:
    """Estimated peak bytes of converting ``graph`` with ``batch``: every layer's values per
    sample, times the batch, 4 bytes, ``LIVE_COPIES``; an int8 temporal model adds its calibration,
    which steps CALIBRATION_BATCH samples at once in numpy (float64 convolution windows of up to
    ``CALIBRATION_WINDOW`` values per output value)."""
    values = sum(int(np.prod(shape, dtype=np.int64)) for shape in graph.shapes.values())
    estimate = LIVE_COPIES * batch * values * 4
    if mode == "temporal" and quantize == "int8":
        estimate += CALIBRATION_BATCH * values * 8 * CALIBRATION_WINDOW
    return estimate


def _check_memory(graph: Graph, mode: str, quantize: str, batch: int, timesteps: int) -> None:
    from npukit.snn.memory import BUDGET_FRACTION, available_bytes

    budget = int(BUDGET_FRACTION * available_bytes())
    needed = conversion_bytes(graph, mode, quantize, batch, timesteps)
    if needed > budget:
        raise BadInputError(
            f"converting with batch {batch} needs about {needed / 2**20:,.0f} MiB, more than the "
            f"{budget / 2**20:,.0f} MiB budget (half the available memory); lower the batch"
        )


def _metadata(graph: Graph, data, calib: Dataset | None, mode: str, timesteps: int, encoding: str, level: int) -> dict:
    dataset = load_data(data, "test").head(1)  # its shape, names and preprocessing (event data: one sample binned)
    matches = fits(graph, dataset.x)
    described = calib if calib is not None else (dataset if matches else None)
    return {
        "format": METADATA_FORMAT,
        "version": METADATA_VERSION,
        "npukit_version": __version__,
        "source": source_of(graph),
        "source_kind": "snn" if graph.is_spiking else "ann",
        "framework": graph.meta.get("framework"),
        "mode": mode,
        "timesteps": int(timesteps),
        "encoding": encoding,
        "labels": dataset.class_names if matches else None,
        "input_preprocessing": described.preprocessing if described else None,
        "calibration": {"data": calib.name, "samples": len(calib)} if calib else None,
        "api_level": level,
        "input_layout": graph.meta.get("input_layout") or "plain",
    }


def _nir(graph: Graph, data, calibration, calibration_samples, percentile, timesteps, encoding, dt, progress):
    """NIR bytes of the SNN (an ANN is converted first) and what the export changed."""
    from npukit.converters.nir import DEFAULT_DT
    from npukit.converters.nir_export import nir_bytes, to_nir
    from npukit.snn.simulate import simulate

    snn = graph
    if not graph.is_spiking:
        positive_int("calibration samples", calibration_samples)
        calib = calibration_set(data, calibration, calibration_samples)
        snn = ann_to_snn(graph, rate_inputs(graph, calib.x), percentile)
    step = DEFAULT_DT if dt is None else dt
    nir_graph, view = to_nir(snn, step)
    info: dict[str, Any] = {"dt": step, "nodes": {k: type(v).__name__ for k, v in nir_graph.nodes.items()}}
    dataset = load_data(data, "test")
    if dataset.y is not None and fits(graph, dataset.x):
        x, timesteps, encoding = prepare(graph, dataset.x, timesteps, encoding)
        ours = simulate(snn, x, timesteps, encoding=encoding, progress=progress("simulating", len(dataset)))
        exported = simulate(view, x, timesteps, encoding=encoding, progress=progress("simulating export", len(dataset)))
        info["accuracy"] = {
            "data": dataset.name, "timesteps": timesteps,
            "npukit_snn": float(np.mean(ours.predictions() == dataset.y)),
            "exported": float(np.mean(exported.predictions() == dataset.y)),
        }
    return nir_bytes(nir_graph), info
