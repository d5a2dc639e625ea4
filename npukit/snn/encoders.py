"""Input encodings: how a data sample drives the first layer over T timesteps.

* ``current`` (default): the analog sample is the input current at every step (constant), so
  layers fed only by it are computed once.
* ``bernoulli``: at each step an input element emits a spike of size ``input_max`` with
  probability ``|x| / input_max`` (sign kept): the mean over steps is x (clipped to input_max).
* ``poisson``: at each step an element emits k ~ Poisson(|x| / input_max) spikes of size
  ``input_max`` (sign kept): the mean is x, and a step may carry several spikes.

``input_max`` is the largest |x| of the calibration data (``graph.meta["snn"]["input_max"]``).
Data with a time axis, (N, T, *input_shape), is used as given (encoding ``time_series``): step t
feeds x[:, t]. Random draws come from one generator per sample, seeded with ``(seed, sample index)``: the
spikes of a sample do not depend on the batch it is simulated in.
"""

from __future__ import annotations

import numpy as np

from npukit.errors import BadInputError

ENCODINGS = ("current", "bernoulli", "poisson")
#: the encoding name of data that already has a time axis (N, T, ...): used as given
TIME_SERIES = "time_series"


def has_time_axis(x: np.ndarray, input_shape: tuple[int, ...]) -> bool:
    """Data of rank len(input_shape) + 2 is (N, T, ...): a value per sample and timestep."""
    return np.ndim(x) == len(input_shape) + 2


def resolve_timesteps(x: np.ndarray, input_shape: tuple[int, ...], timesteps: int | None, encoding: str):
    """(T, encoding) for a simulation of ``x``: a time axis in the data fixes both."""
    if has_time_axis(x, input_shape):
        steps = int(np.shape(x)[1])
        if timesteps is not None and timesteps != steps:
            raise BadInputError(f"the data has {steps} timesteps (axis 1) but {timesteps} were asked for; omit the timesteps")
        return steps, TIME_SERIES
    if timesteps is None:
        raise BadInputError("give the number of timesteps (data without a time axis)")
    return timesteps, encoding


def prepare(graph, x: np.ndarray, timesteps: int | None = None, encoding: str = "current",
            default_timesteps: int = 32) -> tuple[np.ndarray, int, str]:
    """Data for a simulation of ``graph``: (x in the IR's layout, T, encoding).

    A time axis in the data, (N, T, ...), fixes T and the encoding (``time_series``; a
    ``timesteps`` that differs is refused); otherwise T is ``timesteps`` (default
    ``default_timesteps``) and the encoding is ``encoding``. Channels-first samples of NIR and
    ONNX graphs come back channels-last (``npukit.reference.check_input``)."""
    from npukit.reference import check_input
    from npukit.validation import MAX_TIMESTEPS, positive_int

    if timesteps is not None:
        positive_int("timesteps", timesteps, MAX_TIMESTEPS)
    series = has_time_axis(x, graph.input_shape)
    if timesteps is None and not series:
        timesteps = default_timesteps
    timesteps, encoding = resolve_timesteps(x, graph.input_shape, timesteps, encoding)
    return check_input(graph, x, time_axis=series), timesteps, encoding


def fits(graph, x: np.ndarray) -> bool:
    """Whether data ``x`` (with or without a time axis, in the IR's or a channels-first layout)
    fits ``graph``'s input."""
    from npukit.reference import check_input

    try:
        check_input(graph, x[:1], time_axis=has_time_axis(x, graph.input_shape))
    except BadInputError:
        return False
    return True


def rate_inputs(graph, x: np.ndarray) -> np.ndarray:
    """What a rate-coded model sees of data, in the IR's layout: a time series (N, T, ...) is
    averaged over its T steps (for event frames: the events per pixel and step, the event rate),
    other data is used as it is."""
    from npukit.reference import check_input

    x = check_input(graph, x, time_axis=has_time_axis(x, graph.input_shape))
    return rates(x, graph.input_shape)


def rates(x: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    """Data already in the IR's layout, a time series averaged over its T steps (``rate_inputs``)."""
    return np.asarray(x, np.float32).mean(axis=1) if has_time_axis(x, input_shape) else x


def event_input(x: np.ndarray, encoding: str, input_max: float) -> tuple[float | None, int]:
    """(unit, bound) of event input (``npukit.snn.plan``): unit 1 for a time series of integers
    (event frames, counts), the spike size of Bernoulli/Poisson input when it is a power of two
    (the values are then integers times it), None for analog input; bound: the largest value in
    units (the data's for a time series, 1 for Bernoulli, 255 for Poisson: not bounded)."""
    if encoding == TIME_SERIES:
        x = np.asarray(x)
        if x.dtype.kind == "b" or not x.size:
            return 1.0, 1
        top = max(float(np.max(x)), -float(np.min(x)))
        if x.dtype.kind in "ui" or all(np.array_equal(part, np.rint(part)) for part in x.reshape(len(x), -1)):
            return 1.0, int(min(max(top, 1.0), 255))
        return None, 255
    if encoding in ("bernoulli", "poisson"):
        amp = float(np.float32(input_max if input_max > 0 else 1.0))
        unit = amp if np.frexp(amp)[0] == 0.5 else None
        return unit, 1 if encoding == "bernoulli" else 255
    return None, 255


def encode(
    x: np.ndarray, timesteps: int, encoding: str, input_max: float, seed: int = 0, first_index: int = 0
) -> np.ndarray:
    """Return (B, ...) float32 for ``current``, else (T, B, ...) float32 values (spikes, or the
    data's own time series, given as (B, T, ...))."""
    if encoding == TIME_SERIES:
        return np.ascontiguousarray(np.moveaxis(np.asarray(x, dtype=np.float32), 1, 0))
    if encoding not in ENCODINGS:
        raise BadInputError(f"encoding must be one of {', '.join(ENCODINGS)}. Received: {encoding!r}")
    x = np.asarray(x, dtype=np.float32)
    if encoding == "current":
        return x
    amp = np.float32(input_max if input_max > 0 else 1.0)
    rate = np.minimum(np.abs(x) / amp, 1.0) if encoding == "bernoulli" else np.abs(x) / amp
    sign = np.sign(x).astype(np.float32)
    out = np.empty((timesteps,) + x.shape, dtype=np.float32)
    for b in range(x.shape[0]):
        rng = np.random.default_rng([seed, first_index + b])
        if encoding == "bernoulli":
            events = rng.random((timesteps,) + x.shape[1:]) < rate[b]
        else:
            events = rng.poisson(np.broadcast_to(rate[b], (timesteps,) + x.shape[1:]))
        out[:, b] = events * (sign[b] * amp)
    return out
