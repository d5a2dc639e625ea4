"""Event streams from neuromorphic vision sensors, read from files and binned into frames.

An event is (x, y, t, p): pixel column and row, time stamp in microseconds, polarity (ON = 1,
OFF = 0; -1 is read as OFF). Streams are read from

* ``.npz`` files holding one structured array per sample, ``events_0``, ``events_1``... with
  the fields x, y, t, p (the layout tonic gives a sample; save a list of them with
  ``np.savez(path, **{f"events_{k}": e for k, e in enumerate(streams)}, y=labels)``), optional
  ``y`` (N,) integer labels, ``labels`` (class names) and ``sensor_size`` (width, height[, 2]);
* N-MNIST's binary ``.bin`` files (Orchard et al. 2015: 5 bytes per event, big-endian bit
  fields x: 8, y: 8, polarity: 1, time stamp: 23 bits in microseconds; a 34 x 34 sensor), a
  single file (one sample, no label) or a folder of class folders ``<label>/*.bin`` (the data
  set's own layout, e.g. ``Test/``);
* ``digits-events``: npukit's bundled digits made into event streams the way N-MNIST was
  made (``digits_streams``; ``npukit.data.digits_events`` gives its splits).

``Binning`` turns a stream into frames (T, 2, H, W) of event counts per pixel and polarity
(channel 0 OFF, channel 1 ON), channels first like NIR graphs and tonic's ``ToFrame``: either
fixed windows of ``bin_us`` microseconds from t = 0 (T is the longest sample's window count,
shorter samples end in empty frames) or ``frames`` equal windows spanning each sample's own
first to last event. The sensor size comes from the file (``sensor_size``; N-MNIST: 34 x 34) or
``sensor``. Events outside the sensor, negative time stamps, unknown fields or a truncated file
are refused with one line naming the file.
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from npukit.errors import BadInputError, show
from npukit.npy_archive import ZIP_ERRORS

EVENT_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", np.int8)])
NMNIST_SENSOR = (34, 34)
#: the most frames a binning may produce per sample
MAX_FRAMES = 100_000
#: the most events one file may hold (each costs 16 bytes as read)
MAX_EVENTS = 1 << 27


@dataclass(frozen=True)
class Binning:
    """How streams become frames: ``bin_us`` (window length, microseconds) or ``frames`` (count
    per sample); ``sensor`` (width, height) when the file does not say. Default: 1 ms windows."""

    bin_us: int | None = None
    frames: int | None = None
    sensor: tuple[int, int] | None = None

    def __post_init__(self):
        if self.bin_us is not None and self.frames is not None:
            raise BadInputError("give either a window length (bin_us) or a frame count (frames), not both")
        for name in ("bin_us", "frames"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not 1 <= value <= 10**9):
                raise BadInputError(f"{name} must be an integer in 1..1,000,000,000. Received: {show(value)}")
        if self.sensor is not None:
            w, h = self.sensor
            if not all(isinstance(v, (int, np.integer)) and 1 <= v <= 4096 for v in (w, h)):
                raise BadInputError(f"the sensor size must be two integers in 1..4096 (width, height). Received: {show(self.sensor)}")

    @property
    def window_us(self) -> int | None:
        return self.bin_us if self.frames is None else None


def parse_sensor(text: str) -> tuple[int, int]:
    """'34x34' -> (34, 34) (width x height)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise BadInputError(f"the sensor size is WIDTHxHEIGHT, e.g. 34x34. Received: {text!r}")
    return w, h


# -- validation -----------------------------------------------------------------------------------


def as_events(array: np.ndarray, source: str) -> np.ndarray:
    """A structured array with fields x, y, t, p as ``EVENT_DTYPE`` (integer fields only)."""
    names = array.dtype.names or ()
    missing = [f for f in EVENT_DTYPE.names if f not in names]
    if array.ndim != 1 or missing:
        raise BadInputError(
            f"{source}: events must be a 1-D structured array with fields x, y, t, p; "
            f"received dtype {array.dtype} of shape {array.shape}"
        )
    for name in EVENT_DTYPE.names:
        kind = array.dtype[name].kind
        if kind not in "iub":
            raise BadInputError(f"{source}: event field {name!r} must hold integers. Received: {array.dtype[name]}")
    out = np.empty(array.shape, EVENT_DTYPE)
    for name in ("x", "y"):
        values = array[name].astype(np.int64)
        if values.size and (values.min() < 0 or values.max() > np.iinfo(np.int16).max):
            raise BadInputError(f"{source}: event {name} coordinates must lie in 0..32767 (found {values.min()}..{values.max()})")
        out[name] = values
    out["t"] = array["t"].astype(np.int64)
    if out.size and out["t"].min() < 0:
        raise BadInputError(f"{source}: negative event time stamp {int(out['t'].min())} us")
    p = array["p"].astype(np.int64)
    if p.size and not np.isin(p, (-1, 0, 1)).all():
        raise BadInputError(f"{source}: event polarity must be 0/1 (or -1/1). Received values {sorted(set(np.unique(p).tolist()))[:5]}")
    out["p"] = p > 0
    return out


def check_sensor(events: np.ndarray, sensor: tuple[int, int], source: str) -> None:
    w, h = sensor
    if events.size and (events["x"].max() >= w or events["y"].max() >= h):
        raise BadInputError(
            f"{source}: an event at x={int(events['x'].max())}, y={int(events['y'].max())} lies outside the "
            f"{w}x{h} sensor (give the sensor size)"
        )


# -- readers ------------------------------------------------------------------------------------------


def read_nmnist_bin(path: str | Path) -> np.ndarray:
    """The events of one N-MNIST ``.bin`` file (module docstring)."""
    path = Path(path)
    raw = path.read_bytes()
    if len(raw) % 5:
        raise BadInputError(f"{path}: {len(raw)} bytes is not a whole number of 5-byte N-MNIST events (truncated?)")
    if len(raw) // 5 > MAX_EVENTS:
        raise BadInputError(f"{path}: {len(raw) // 5:,} events (limit {MAX_EVENTS:,})")
    b = np.frombuffer(raw, np.uint8).reshape(-1, 5).astype(np.int64)
    events = np.empty(len(b), EVENT_DTYPE)
    events["x"] = b[:, 0]
    events["y"] = b[:, 1]
    events["p"] = b[:, 2] >> 7
    events["t"] = ((b[:, 2] & 0x7F) << 16) | (b[:, 3] << 8) | b[:, 4]
    return events


def _nmnist_folder(folder: Path) -> tuple[list[np.ndarray], np.ndarray | None, list[str] | None]:
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    files = [(label, f) for label, name in enumerate(classes) for f in sorted((folder / name).glob("*.bin"))]
    if not files:
        files = [(None, f) for f in sorted(folder.glob("*.bin"))]
        classes = None
    if not files:
        raise BadInputError(f"{folder}: no .bin event files (expected <label>/*.bin as N-MNIST lays them out)")
    streams = [read_nmnist_bin(f) for _, f in files]
    labels = None if classes is None else np.array([label for label, _ in files], np.int64)
    return streams, labels, classes


def read_event_npz(path: Path) -> tuple[list[np.ndarray], np.ndarray | None, list[str] | None, tuple[int, int] | None]:
    """(streams, labels, class names, sensor size) of an event .npz (module docstring). Only the
    named arrays are read, each after its declared size was charged to the load budget
    (``npukit.npy_archive``)."""
    from npukit.budget import LoadBudget
    from npukit.files import check_regular_file
    from npukit.npy_archive import open_archive, read_array

    path = check_regular_file(path, "data file")
    budget = LoadBudget(str(path))
    archive, members = open_archive(str(path), str(path))
    with archive:
        keys = [k for k in members if k.startswith("events_")]
        try:
            order = sorted(keys, key=lambda k: int(k[len("events_"):]))
        except ValueError:
            raise BadInputError(f"{path}: event entries must be named events_0, events_1, ...")
        if [int(k[len("events_"):]) for k in order] != list(range(len(order))):
            raise BadInputError(f"{path}: event entries must be events_0 .. events_{len(order) - 1} without gaps")
        read = lambda key: read_array(archive, members[key], key, str(path), budget) if key in members else None  # noqa: E731
        streams = [as_events(read(k), f"{path}: {k}") for k in order]
        y, names, sensor = read("y"), read("labels"), read("sensor_size")
    if not streams:
        raise BadInputError(f"{path}: no events_0 ... entries")
    if y is not None:
        if y.dtype.kind not in "iu" or y.shape != (len(streams),):
            raise BadInputError(f"{path}: 'y' must be {len(streams)} integer labels. Received: dtype {y.dtype}, shape {y.shape}")
        y = y.astype(np.int64)
    if sensor is not None:
        sensor = np.asarray(sensor).reshape(-1)
        if sensor.dtype.kind not in "iu" or sensor.size not in (2, 3) or sensor[:2].min() < 1:
            raise BadInputError(f"{path}: 'sensor_size' must be (width, height[, polarities]). Received: {sensor.tolist()}")
        sensor = (int(sensor[0]), int(sensor[1]))
    class_names = None if names is None else [str(n) for n in names.reshape(-1)]
    return streams, y, class_names, sensor


def is_event_npz(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return any(n.startswith("events_") for n in archive.namelist())
    except ZIP_ERRORS:  # not a readable zip: the .npz reader says why
        return False


# -- binning ----------------------------------------------------------------------------------------


def to_frames(streams: list[np.ndarray], sensor: tuple[int, int], binning: Binning) -> np.ndarray:
    """(N, T, 2, H, W) float32 event counts (module docstring)."""
    w, h = sensor
    if binning.frames is not None:
        steps = binning.frames
    else:
        window = binning.bin_us or 1000
        last = max((int(s["t"].max()) for s in streams if s.size), default=0)
        steps = last // window + 1
    if steps > MAX_FRAMES:
        raise BadInputError(f"binning gives {steps:,} frames per sample (limit {MAX_FRAMES:,}); use a longer window")
    out = np.zeros((len(streams), steps, 2, h, w), np.float32)
    for k, s in enumerate(streams):
        if not s.size:
            continue
        t = s["t"]
        if binning.frames is not None:
            start, span = int(t.min()), int(t.max()) - int(t.min()) + 1
            index = (t - start) * steps // span
        else:
            index = t // (binning.bin_us or 1000)
        np.add.at(out[k], (index, s["p"].astype(np.int64), s["y"].astype(np.int64), s["x"].astype(np.int64)), 1.0)
    return out


@dataclass
class Frames:
    """Binned event streams: ``x`` (N, T, 2, H, W) float32 counts, labels ``y`` (or None),
    class names, and a description of where they came from."""

    x: np.ndarray
    y: np.ndarray | None
    name: str
    class_names: list[str] | None
    preprocessing: str = "event counts per pixel and polarity (channel 0 OFF, 1 ON)"


def load_events(path: str | Path, binning: Binning | None = None) -> Frames:
    """An event file or N-MNIST folder as frames (N, T, 2, H, W)."""
    binning = binning or Binning()
    path = Path(path)
    if not path.exists():
        raise BadInputError(f"event data {path} does not exist")
    sensor = None
    if path.is_dir():
        streams, y, classes = _nmnist_folder(path)
        sensor = NMNIST_SENSOR
    elif path.suffix.lower() == ".bin":
        streams, y, classes, sensor = [read_nmnist_bin(path)], None, None, NMNIST_SENSOR
    else:
        streams, y, classes, sensor = read_event_npz(path)
    sensor = binning.sensor or sensor
    if sensor is None:
        sensor = (max(int(s["x"].max()) for s in streams if s.size) + 1, max(int(s["y"].max()) for s in streams if s.size) + 1)
    for k, s in enumerate(streams):
        check_sensor(s, sensor, f"{path} (sample {k})")
    frames = to_frames(streams, sensor, binning)
    how = f"{binning.frames} frames per sample" if binning.frames else f"{binning.bin_us or 1000} us windows"
    return Frames(frames, y, f"{path.name} ({len(streams)} event streams, {sensor[0]}x{sensor[1]}, {how})", classes)


# -- digits as event streams ----------------------------------------------------------------------------

#: the canvas the 8x8 digits move on, and the motion: three saccades of SACCADE_US each along a
#: triangle of side AMPLITUDE pixels, as N-MNIST moved its sensor (Orchard et al. 2015)
CANVAS = 12
AMPLITUDE = 2.0
SACCADE_US = 100_000
SIM_STEPS = 60  # sensor updates per saccade
CONTRAST = 0.15  # log-intensity change that emits one event
DIGITS_EVENT_FRAMES = 30


def _shifted(images: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """The 8x8 images on the canvas, moved by (dx, dy) pixels with bilinear interpolation."""
    n = images.shape[0]
    margin = (CANVAS - images.shape[1]) // 2
    canvas = np.zeros((n, CANVAS + 2, CANVAS + 2), np.float64)
    canvas[:, 1 + margin : 1 + margin + images.shape[1], 1 + margin : 1 + margin + images.shape[2]] = images
    ys, xs = np.mgrid[0:CANVAS, 0:CANVAS].astype(np.float64)
    sx, sy = xs - dx + 1, ys - dy + 1
    x0, y0 = np.floor(sx).astype(int), np.floor(sy).astype(int)
    fx, fy = sx - x0, sy - y0
    x0, y0 = np.clip(x0, 0, CANVAS), np.clip(y0, 0, CANVAS)
    x1, y1 = np.clip(x0 + 1, 0, CANVAS + 1), np.clip(y0 + 1, 0, CANVAS + 1)
    return ((1 - fy) * ((1 - fx) * canvas[:, y0, x0] + fx * canvas[:, y0, x1])
            + fy * ((1 - fx) * canvas[:, y1, x0] + fx * canvas[:, y1, x1]))


def digits_streams(images: np.ndarray, seed: int = 0) -> list[np.ndarray]:
    """Event streams of 8x8 images (values 0..1) moved in three saccades in front of a simulated
    event sensor: a pixel emits an event each time its log intensity has changed by CONTRAST
    since its last event (ON when it rose), time stamps spread evenly within the update. Each
    pixel's threshold varies by a few percent (sensor mismatch, drawn from ``seed``)."""
    rng = np.random.default_rng(seed)
    n = images.shape[0]
    threshold = CONTRAST * rng.uniform(0.9, 1.1, (n, CANVAS, CANVAS))
    corners = [(0.0, 0.0), (AMPLITUDE, 0.0), (AMPLITUDE / 2, AMPLITUDE * math.sqrt(3) / 2), (0.0, 0.0)]
    log = lambda img: np.log(img + 0.1)  # noqa: E731
    reference = log(_shifted(images, 0.0, 0.0))
    dt = SACCADE_US // SIM_STEPS
    chunks = []
    for leg in range(3):
        (ax, ay), (bx, by) = corners[leg], corners[leg + 1]
        for k in range(1, SIM_STEPS + 1):
            f = k / SIM_STEPS
            now = log(_shifted(images, ax + f * (bx - ax), ay + f * (by - ay)))
            change = now - reference
            count = np.floor(np.abs(change) / threshold).astype(np.int64)
            reference += np.sign(change) * count * threshold
            sample, y, x = np.nonzero(count)
            c = count[sample, y, x]
            # the j-th of c events of a pixel in this update: at t0 + j * dt / (c + 1), j = 1..c
            j = np.arange(c.sum()) - np.repeat(np.cumsum(c) - c, c) + 1
            chunk = np.empty(c.sum(), [("sample", np.int64)] + EVENT_DTYPE.descr)
            chunk["sample"], chunk["x"], chunk["y"] = np.repeat(sample, c), np.repeat(x, c), np.repeat(y, c)
            chunk["p"] = np.repeat(change[sample, y, x] > 0, c)
            chunk["t"] = leg * SACCADE_US + (k - 1) * dt + j * dt // (np.repeat(c, c) + 1)
            chunks.append(chunk)
    events = np.concatenate(chunks)
    events = events[np.lexsort((events["t"], events["sample"]))]
    bounds = np.searchsorted(events["sample"], np.arange(n + 1))
    return [np.array(events[a:b][list(EVENT_DTYPE.names)], dtype=EVENT_DTYPE) for a, b in zip(bounds[:-1], bounds[1:])]


def digits_frames(images: np.ndarray, seed: int, binning: Binning | None = None) -> np.ndarray:
    """Frames (N, T, 2, CANVAS, CANVAS) of ``digits_streams`` (default binning: DIGITS_EVENT_FRAMES
    windows of 10 ms over the 300 ms of the three saccades)."""
    binning = binning or Binning(bin_us=3 * SACCADE_US // DIGITS_EVENT_FRAMES)
    return to_frames(digits_streams(images, seed), binning.sensor or (CANVAS, CANVAS), binning)
