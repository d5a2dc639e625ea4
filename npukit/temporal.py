"""Running a temporal-mode .tflite (one timestep per invoke) over T steps on the host.

The metadata written by ``npukit convert --mode temporal`` says which inputs and outputs are
states (``state_order``: layer, kind, shape, initial value, input and output positions, their
quantization). Each step feeds the input frame and the states, reads the readout and the next
states; int8 states are dequantized on output and quantized again for the next step (the
scales of a state's input and output tensors differ). The readout over T is the mean of the
per-step readouts, as in the numpy simulator.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from npukit.errors import BadInputError
from npukit.runtime import dequantize, make_interpreter, quantize
from npukit.snn.encoders import TIME_SERIES, encode, has_time_axis
from npukit.tflite_file import read_tflite


@dataclass
class TemporalResult:
    """readouts: (N, *output_shape) mean of the per-step readouts over T.
    output_counts: for a spiking output layer, (N, *output_shape) spikes over T (else None).
    seconds: wall time of the T-step loop."""

    timesteps: int
    readouts: np.ndarray
    output_counts: np.ndarray | None
    seconds: float

    def predictions(self) -> np.ndarray:
        return self.readouts.reshape(self.readouts.shape[0], -1).argmax(axis=1)


def temporal_metadata(model: str | Path | bytes) -> dict:
    meta = read_tflite(model).npukit_metadata() or {}
    if meta.get("mode") != "temporal":
        raise BadInputError("not a temporal-mode model (convert with --mode temporal)")
    return meta


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
    series (N, T, *input_shape) for its T steps. Encodings as in ``npukit.snn.encoders``."""
    meta = temporal_metadata(model)
    states = meta["state_order"]
    interp = make_interpreter(model)
    inputs, outputs = interp.get_input_details(), interp.get_output_details()
    batch = int(inputs[0]["shape"][0])
    frame = tuple(inputs[0]["shape"][1:])
    series = has_time_axis(x, frame)
    if series:
        timesteps, encoding = int(np.shape(x)[1]), TIME_SERIES
    if not isinstance(timesteps, (int, np.integer)) or timesteps <= 0:
        raise BadInputError(f"timesteps must be a positive integer. Received: {timesteps!r}")
    lead = 2 if series else 1
    if tuple(np.shape(x)[lead:]) != frame:
        raise BadInputError(f"data samples have shape {tuple(np.shape(x)[lead:])} but the model's input frame is {frame}")
    spiking_output = bool(meta.get("spiking_output"))
    start = time.perf_counter()
    sums, counts = [], []
    n = x.shape[0]
    for first in range(0, n, batch):
        chunk = np.asarray(x[first : first + batch], dtype=np.float32)
        real = chunk.shape[0]
        if real < batch:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch - real, axis=0)])
        frames = encode(chunk, timesteps, encoding, input_max, seed, first)
        state = [np.full((batch, *s["shape"]), s["init"], np.float32) for s in states]
        total = None
        for t in range(timesteps):
            interp.set_tensor(inputs[0]["index"], quantize(frames if frames.ndim == len(frame) + 1 else frames[t], inputs[0]))
            for s, value in zip(states, state):
                interp.set_tensor(inputs[s["input"]]["index"], quantize(value, inputs[s["input"]]))
            interp.invoke()
            readout = dequantize(interp.get_tensor(outputs[0]["index"]), outputs[0])
            total = readout.astype(np.float64) if total is None else total + readout
            state = [dequantize(interp.get_tensor(outputs[s["output"]]["index"]), outputs[s["output"]]) for s in states]
        sums.append((total / timesteps)[:real])
        if spiking_output:
            counts.append(np.rint(total)[:real].astype(np.int32))
        if progress:
            progress(real)
    return TemporalResult(
        timesteps,
        np.concatenate(sums).astype(np.float32),
        np.concatenate(counts) if spiking_output else None,
        time.perf_counter() - start,
    )
