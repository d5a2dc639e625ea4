"""What a converted model computes on the phone, predicted on the host: its arithmetic in numpy.

``simulate_deployed`` runs a .tflite written by ``npukit convert`` with the arithmetic the file
carries (its rounded weights, int8 or float32 states and their scales, its spike functions and
every requantization), in numpy (``npukit.runtime.NumpyInterpreter``), through the host loop a
temporal model needs (``npukit.runtime.StepLoop``). It needs no LiteRT and no source model, runs
every sample of a batch in one invoke per timestep, and returns a ``SimulationResult`` like the
float simulator's, with every spiking layer's spike counts (the metadata's ``spike_tensors`` say
which tensor holds each layer's spikes).

``observable(model)`` is the same model with those spike tensors added as outputs, so that
LiteRT with its default delegate (XNNPACK, which keeps no other intermediate tensor) returns
them; ``Stepper`` steps such a copy in either interpreter, and ``npukit parity`` compares the
prediction with LiteRT layer by layer and step by step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from npukit.errors import BadInputError
from npukit.runtime.interpreter import dequantize
from npukit.runtime.numpy_interpreter import NumpyInterpreter
from npukit.runtime.steploop import StepLoop, batches, temporal_metadata
from npukit.snn.encoders import TIME_SERIES, encode, has_time_axis, rates
from npukit.tflite_file import IDENTIFIER, read_tflite, schema
from npukit.validation import MAX_TIMESTEPS, positive_int


def observable(model: bytes) -> tuple[bytes, dict[str, int]]:
    """(the temporal ``model`` with every spiking layer's spike tensor added as an output, layer ->
    its output position). The operators and their arithmetic are unchanged."""
    import flatbuffers

    meta = temporal_metadata(model)
    tensors = {layer: int(index) for layer, index in (meta.get("spike_tensors") or {}).items()}
    s = schema()
    obj = s.ModelT.InitFromObj(s.Model.GetRootAs(model, 0))
    graph = obj.subgraphs[0]
    outputs = [int(o) for o in graph.outputs]
    positions = {}
    for layer, index in tensors.items():
        if index not in outputs:
            outputs.append(index)
        positions[layer] = outputs.index(index)
    graph.outputs = outputs
    builder = flatbuffers.Builder(len(model) + 1024)
    builder.Finish(obj.Pack(builder), file_identifier=IDENTIFIER)
    return bytes(builder.Output()), positions


@dataclass
class StepRecord:
    """One timestep of a batch: the readout, the next states (float32, in ``state_order``) and
    each spiking layer's spikes (float32: 0/1, or counts)."""

    readout: np.ndarray
    states: list[np.ndarray]
    spikes: dict[str, np.ndarray]


class Stepper:
    """A temporal model (an ``observable`` copy) bound to one interpreter, ``make(model_bytes,
    batch)``: ``run`` steps one batch of frames through it."""

    def __init__(self, model: bytes, make: Callable[[bytes, int], object], batch: int):
        meta = temporal_metadata(model)
        watched, self.positions = observable(model)
        self.loop = StepLoop(make(watched, batch), meta["state_order"])

    def run(self, frames: np.ndarray, timesteps: int, on_step: Callable[[int, StepRecord], None]) -> None:
        """Step ``frames`` ((T, batch, ...), or one frame (batch, ...) fed at every step);
        ``on_step(t, record)`` sees each step."""
        outputs = self.loop.outputs

        def keep(t: int, states, step) -> None:
            spikes = {layer: dequantize(step.got[p], outputs[p]) for layer, p in self.positions.items()}
            on_step(t, StepRecord(step.readout, step.states, spikes))

        self.loop.run(frames, timesteps, keep)


def numpy_interpreter(model: bytes, batch: int) -> NumpyInterpreter:
    return NumpyInterpreter(model, batch=batch)


def simulate_deployed(model: str | Path | bytes, x: np.ndarray, timesteps: int | None = None, encoding: str = "current",
                      seed: int = 0, input_max: float | None = None, batch_size: int = 256,
                      progress: Callable[[int], None] | None = None):
    """Run ``model`` (a .tflite npukit wrote, or its bytes) on ``x`` with its own arithmetic in
    numpy: a temporal model for ``timesteps`` steps (or the time axis of ``x``, (N, T, ...)) with
    ``encoding`` (``npukit.snn.encoders``), a rate-mode model once per sample on the time-mean of
    a time series. ``x`` is in the model's input layout (channels-last). Returns a
    ``npukit.snn.simulate.SimulationResult`` (one checkpoint, T; per-layer spike counts of a
    temporal spiking model)."""
    from npukit.snn.simulate import SimulationResult

    blob = Path(model).read_bytes() if not isinstance(model, (bytes, bytearray)) else bytes(model)
    info = read_tflite(blob)
    meta = info.npukit_metadata() or {}
    positive_int("batch size", batch_size)
    frame_shape = tuple(info.tensors[info.inputs[0]].shape[1:])
    start = time.perf_counter()
    if meta.get("mode") != "temporal":
        series = has_time_axis(x, frame_shape)
        data = rates(np.asarray(x, np.float32), frame_shape) if series else np.asarray(x, np.float32)
        if tuple(data.shape[1:]) != frame_shape:
            raise BadInputError(f"data samples have shape {tuple(data.shape[1:])} but the model's input is {frame_shape}")
        outputs = []
        for first, chunk, real in batches(data, batch_size):
            interp = NumpyInterpreter(info, batch=len(chunk))
            detail = interp.get_input_details()[0]
            from npukit.runtime.interpreter import quantize

            interp.set_tensor(detail["index"], quantize(chunk, detail))
            interp.invoke()
            out = interp.get_output_details()[0]
            outputs.append(dequantize(interp.get_tensor(out["index"]), out)[:real])
            if progress:
                progress(real)
        steps = int(np.shape(x)[1]) if series else int(timesteps or meta.get("timesteps", 1))
        return SimulationResult(steps, (steps,), TIME_SERIES if series else encoding, np.concatenate(outputs)[None],
                                {}, seconds=time.perf_counter() - start)
    readout_kind = meta.get("readout", "mean")
    if readout_kind != "mean":
        raise BadInputError("the deployed-arithmetic simulation runs spiking temporal models (readout 'mean'); this "
                            f"model's readout is {readout_kind!r}")
    series = has_time_axis(x, frame_shape)
    if series:
        timesteps, encoding = int(np.shape(x)[1]), TIME_SERIES
    timesteps = positive_int("timesteps", timesteps if timesteps is not None else meta.get("timesteps", 32), MAX_TIMESTEPS)
    lead = 2 if series else 1
    if tuple(np.shape(x)[lead:]) != frame_shape:
        raise BadInputError(f"data samples have shape {tuple(np.shape(x)[lead:])} but the model's input frame is {frame_shape}")
    input_max = float(meta.get("input_max", 1.0)) if input_max is None else input_max
    readouts, counts = [], {}
    peaks: dict[str, int] = {}
    for first in range(0, len(x), batch_size):
        chunk = np.asarray(x[first : first + batch_size], np.float32)
        frames = encode(chunk, timesteps, encoding, input_max, seed, first)
        sums: dict[str, np.ndarray] = {}

        def add(t: int, record: StepRecord) -> None:
            sums[""] = record.readout.astype(np.float64) + sums.get("", 0)
            for layer, spikes in record.spikes.items():
                sums[layer] = sums.get(layer, 0) + spikes
                peaks[layer] = max(peaks.get(layer, 0), int(np.rint(spikes.max(initial=0))))

        Stepper(blob, numpy_interpreter, len(chunk)).run(frames, timesteps, add)
        readouts.append((sums.pop("") / timesteps).astype(np.float32))
        layer_totals = sums
        for layer, value in layer_totals.items():
            counts.setdefault(layer, []).append(np.rint(value).astype(np.int32))
        if progress:
            progress(len(chunk))
    return SimulationResult(
        timesteps, (timesteps,), encoding, np.concatenate(readouts)[None],
        {layer: np.concatenate(parts) for layer, parts in counts.items()},
        seconds=time.perf_counter() - start, peak_spikes=peaks,
    )
