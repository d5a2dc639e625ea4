"""The host loop of a temporal-mode .tflite: one invoke per timestep, states carried between invokes.

The metadata written by ``npukit convert --mode temporal`` says which inputs and outputs are
states (``state_order``: layer, kind, shape, initial value, input and output positions, their
quantization; docs/metadata.md). ``StepLoop.step`` is the one definition of a step, used by
``run_temporal``, by the int8 calibration of temporal models, by the profiler's T-step timing,
by ``npukit bundle`` and by the Android demo's host traces (android_demo/tools/host_trace.py),
and mirrored by the app's Kotlin SampleRunner: feed the frame and the states (each quantized
with its input tensor's scale and zero point), invoke, read the readout and the next states
(dequantized with their output tensors' parameters: the scales of a state's input and output
differ). What the host makes of the per-step readouts is the metadata's ``readout``: their
mean over T for a spiking network (as in the numpy simulator; older files without the key),
the last step's or every step's for a recurrent ANN (an LSTM or GRU network).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from npukit.errors import BadInputError
from npukit.ir.recurrence import check_token_ids
from npukit.runtime.interpreter import dequantize, make_interpreter, quantize
from npukit.snn.encoders import TIME_SERIES, encode, has_time_axis
from npukit.tflite_file import read_tflite
from npukit.validation import MAX_TIMESTEPS, positive_int


@dataclass
class Step:
    """One invoke: the readout and next states as float32, and the raw tensors fed (input
    position -> array in the tensor's dtype) and returned (one per output, in order)."""

    readout: np.ndarray
    states: list[np.ndarray]
    fed: dict[int, np.ndarray]
    got: list[np.ndarray]


class StepLoop:
    """A temporal model bound to an interpreter; ``states`` are the metadata's ``state_order``
    entries (at least ``input``, ``output``, ``shape`` or the tensor's own shape, ``init``)."""

    def __init__(self, interpreter, states: list[dict]):
        self.interp = interpreter
        self.states = states
        self.inputs = interpreter.get_input_details()
        self.outputs = interpreter.get_output_details()
        self.batch = int(self.inputs[0]["shape"][0])
        self.frame_shape = tuple(int(d) for d in self.inputs[0]["shape"][1:])

    @classmethod
    def from_model(cls, model: str | Path | bytes, **interpreter_options) -> "StepLoop":
        return cls(make_interpreter(model, **interpreter_options), temporal_metadata(model)["state_order"])

    def initial_states(self) -> list[np.ndarray]:
        return [np.full(tuple(self.inputs[s["input"]]["shape"]), s["init"], np.float32) for s in self.states]

    def step(self, frame: np.ndarray, states: list[np.ndarray]) -> Step:
        """Feed one frame (batch, *frame_shape) and the current states; invoke once."""
        fed = {0: quantize(frame, self.inputs[0])}
        for spec, value in zip(self.states, states):
            fed[spec["input"]] = quantize(value, self.inputs[spec["input"]])
        for position, value in fed.items():
            self.interp.set_tensor(self.inputs[position]["index"], value)
        self.interp.invoke()
        got = [self.interp.get_tensor(o["index"]) for o in self.outputs]
        readout = dequantize(got[0], self.outputs[0])
        nxt = [dequantize(got[s["output"]], self.outputs[s["output"]]) for s in self.states]
        return Step(readout, nxt, fed, got)

    def run(self, frames: np.ndarray, timesteps: int, on_step: Callable[[int, list[np.ndarray], Step], None] | None = None,
            keep: str = "sum"):
        """T steps of one batch: ``frames`` is one frame (fed at every step) or (T, batch, ...).
        Returns, by ``keep``, the sum of the readouts (float64, "sum"), the last one ("last") or
        all of them, (T, batch, ...) ("sequence"); ``on_step(t, states fed, step)`` sees each step."""
        constant = frames.ndim == len(self.frame_shape) + 1
        states = self.initial_states()
        total, kept = None, []
        for t in range(timesteps):
            result = self.step(frames if constant else frames[t], states)
            if on_step is not None:
                on_step(t, states, result)
            total = result.readout.astype(np.float64) if total is None else total + result.readout
            kept = [*kept, result.readout] if keep == "sequence" else [result.readout]
            states = result.states
        return total if keep == "sum" else kept[-1] if keep == "last" else np.stack(kept)


@dataclass
class TemporalResult:
    """readouts: by ``readout`` (the metadata's), (N, *output_shape) mean of the per-step
        readouts over T ("mean"), the last step's readout ("last"), or (N, T, *output_shape)
        every step's ("sequence").
    output_counts: for a spiking output layer, (N, *output_shape) spikes over T (else None).
    seconds: wall time of the T-step loop."""

    timesteps: int
    readouts: np.ndarray
    output_counts: np.ndarray | None
    seconds: float
    readout: str = "mean"

    def predictions(self) -> np.ndarray:
        """Top-1 class per sample, (N,); per sample and step, (N, T), for a "sequence" readout."""
        if self.readout == "sequence":
            return self.readouts.reshape(*self.readouts.shape[:2], -1).argmax(axis=2)
        return self.readouts.reshape(self.readouts.shape[0], -1).argmax(axis=1)


def temporal_metadata(model: str | Path | bytes) -> dict:
    meta = read_tflite(model).npukit_metadata() or {}
    if meta.get("mode") != "temporal":
        raise BadInputError("not a temporal-mode model (convert with mode='temporal')")
    return meta


def batches(x: np.ndarray, batch: int):
    """(first index, chunk of ``batch`` samples, real count): the last chunk is padded by
    repeating its last sample (the model's batch is static)."""
    for first in range(0, x.shape[0], batch):
        chunk = np.asarray(x[first : first + batch], dtype=np.float32)
        real = chunk.shape[0]
        if real < batch:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch - real, axis=0)])
        yield first, chunk, real


def run_temporal(
    model: str | Path | bytes,
    x: np.ndarray,
    timesteps: int | None = None,
    encoding: str = "current",
    seed: int = 0,
    input_max: float = 1.0,
    progress: Callable[[int], None] | None = None,
) -> TemporalResult:
    """Run a temporal model on ``x`` (N, *input_shape) for ``timesteps`` steps, or on a time
    series (N, T, *input_shape) for its T steps. Encodings as in ``npukit.snn.encoders``. The
    readouts are what the metadata's ``readout`` says (``TemporalResult``); token ids (a model
    with ``input_vocabulary``) must be whole numbers below it."""
    meta = temporal_metadata(model)
    readout = meta.get("readout", "mean")
    loop = StepLoop(make_interpreter(model), meta["state_order"])
    series = has_time_axis(x, loop.frame_shape)
    if series:
        timesteps, encoding = int(np.shape(x)[1]), TIME_SERIES
    timesteps = positive_int("timesteps", timesteps, MAX_TIMESTEPS)
    lead = 2 if series else 1
    if tuple(np.shape(x)[lead:]) != loop.frame_shape:
        raise BadInputError(f"data samples have shape {tuple(np.shape(x)[lead:])} but the model's input frame is {loop.frame_shape}")
    if readout != "mean" and not series:
        raise BadInputError(
            f"a recurrent model reads sequences: give data of shape ({', '.join(['N', 'T', *map(str, loop.frame_shape)])}); "
            f"received {tuple(np.shape(x))}"
        )
    if "input_vocabulary" in meta:
        check_token_ids(x, int(meta["input_vocabulary"]))
    spiking_output = bool(meta.get("spiking_output"))
    start = time.perf_counter()
    sums, counts = [], []
    for first, chunk, real in batches(x, loop.batch):
        frames = encode(chunk, timesteps, encoding, input_max, seed, first)
        if readout == "mean":
            total = loop.run(frames, timesteps)
            sums.append((total / timesteps)[:real])
        elif readout == "last":
            sums.append(loop.run(frames, timesteps, keep="last")[:real])
        else:  # (T, batch, ...) -> (batch, T, ...)
            sums.append(np.moveaxis(loop.run(frames, timesteps, keep="sequence"), 0, 1)[:real])
        if spiking_output:
            counts.append(np.rint(total)[:real].astype(np.int32))
        if progress:
            progress(real)
    return TemporalResult(
        timesteps,
        np.concatenate(sums).astype(np.float32),
        np.concatenate(counts) if spiking_output else None,
        time.perf_counter() - start,
        readout,
    )

