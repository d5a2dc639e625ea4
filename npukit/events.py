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
first to last event (the frame of an event is computed in exact integers over any time span).
The sensor size comes from the file (``sensor_size``; N-MNIST: 34 x 34), ``sensor``, or else
the largest event coordinates. Events outside the sensor, negative time stamps, unknown fields,
a truncated file or a file without any event (and no sensor size) are refused with one line
naming the file.

Limits. Event data is read and binned under the load budget (``npukit.budget``: 2 GiB unless
``NPUKIT_MAX_LOAD_BYTES`` says otherwise), one budget per DATA: each .npz member's declared size
before it is read, its events in the 16-byte layout they take once read, a ``.bin`` file's bytes
and its events (5 bytes each on disk) before it is read, and the frames, N x T x 2 x H x W
float32, before they are allocated; a refusal names what was asked for, its size in bytes and
the budget. ``npukit.data.load_data`` bins lazily: ``load_data(...).head(n)`` (``--samples``,
calibration samples) bins the first n samples only. Further caps: a sensor of at most
``MAX_SENSOR`` x ``MAX_SENSOR`` pixels (4096 x 4096), ``MAX_FRAMES`` frames per sample,
``MAX_EVENTS`` events per file; class names as ``npukit.files.check_class_names`` says (at most
65,536 names of 1..256 printable characters, strings only). A ``.bin`` input must be a regular
file (no FIFO, device or socket); inside a data folder, symbolic links are refused without
being followed (neither class folders nor ``.bin`` files may be links), so nothing outside the
folder is read or described.
"""

from __future__ import annotations

import errno
import math
import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from npukit.budget import LoadBudget
from npukit.errors import BadInputError, show
from npukit.npy_archive import ZIP_ERRORS

EVENT_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", np.int8)])
NMNIST_SENSOR = (34, 34)
#: the most frames a binning may produce per sample
MAX_FRAMES = 100_000
#: the most events one file may hold (each costs 16 bytes as read)
MAX_EVENTS = 1 << 27
#: the largest sensor width and height, in pixels (a megapixel event camera is 1280 x 720)
MAX_SENSOR = 4096
_INT64_MAX = int(np.iinfo(np.int64).max)


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
            if not all(isinstance(v, (int, np.integer)) and 1 <= v <= MAX_SENSOR for v in (w, h)):
                raise BadInputError(f"the sensor size must be two integers in 1..{MAX_SENSOR} (width, height). Received: {show(self.sensor)}")

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


def as_events(array: np.ndarray, source: str, budget: LoadBudget | None = None) -> np.ndarray:
    """A structured array with fields x, y, t, p as ``EVENT_DTYPE`` (integer fields only); the
    copy (16 bytes per event) is charged to ``budget`` first."""
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
    if array.size > MAX_EVENTS:
        raise BadInputError(f"{source}: {array.size:,} events (limit {MAX_EVENTS:,})")
    if budget is not None:
        budget.charge(array.size * EVENT_DTYPE.itemsize, f"{array.size:,} events as read (16 bytes each)")
    # min and max of each field, no widened copies: the only large allocation is ``out``
    for name in ("x", "y"):
        values = array[name]
        if values.size and (int(values.min()) < 0 or int(values.max()) > np.iinfo(np.int16).max):
            raise BadInputError(f"{source}: event {name} coordinates must lie in 0..32767 (found {int(values.min())}..{int(values.max())})")
    t = array["t"]
    if t.size and (int(t.min()) < 0 or int(t.max()) > _INT64_MAX):
        low = int(t.min())
        if low < 0:
            raise BadInputError(f"{source}: negative event time stamp {low} us")
        raise BadInputError(f"{source}: event time stamps past {_INT64_MAX} us")
    p = array["p"]
    if p.size and (int(p.min()) < -1 or int(p.max()) > 1):  # integers in -1..1: exactly -1, 0, 1
        raise BadInputError(f"{source}: event polarity must be 0/1 (or -1/1). Received values {np.unique(p)[:5].tolist()}")
    out = np.empty(array.shape, EVENT_DTYPE)
    out["x"], out["y"], out["t"] = array["x"], array["y"], t
    out["p"] = p > 0
    return out


def check_sensor(events: np.ndarray, sensor: tuple[int, int], source: str) -> None:
    w, h = sensor
    if events.size and (events["x"].max() >= w or events["y"].max() >= h):
        raise BadInputError(
            f"{source}: an event at x={int(events['x'].max())}, y={int(events['y'].max())} lies outside the "
            f"{w}x{h} sensor (give the sensor size)"
        )


def check_sensor_size(sensor, source: str) -> tuple[int, int]:
    """``sensor`` (width, height) as ints within 1..MAX_SENSOR; else a BadInputError naming ``source``."""
    w, h = (int(v) for v in sensor)
    if not (1 <= w <= MAX_SENSOR and 1 <= h <= MAX_SENSOR):
        raise BadInputError(
            f"{source}: a {w}x{h} sensor; npukit bins sensors of width and height in 1..{MAX_SENSOR}"
        )
    return w, h


# -- readers ------------------------------------------------------------------------------------------


def read_nmnist_bin(path: str | Path, budget: LoadBudget | None = None, follow_links: bool = True) -> np.ndarray:
    """The events of one N-MNIST ``.bin`` file (module docstring). The file must be a regular file
    (opened without blocking: a FIFO is refused, not waited on); its bytes and its events
    (16 bytes each once read) are charged to ``budget`` before it is read. ``follow_links=False``
    (files inside a data folder): a symbolic link is refused without being followed."""
    path = Path(path)
    budget = budget if budget is not None else LoadBudget(str(path))
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow_links:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:  # a device is refused before it is opened; the descriptor is checked again once open
        _check_bin_mode((os.stat if follow_links else os.lstat)(path).st_mode, path)
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise BadInputError(f"event file {path} does not exist")
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_links:
            raise _link_refused(path)
        raise BadInputError(f"event file {path} cannot be read ({exc.strerror or exc})")
    with os.fdopen(fd, "rb") as handle:
        status = os.fstat(fd)
        _check_bin_mode(status.st_mode, path)
        size = status.st_size
        if size % 5:
            raise BadInputError(f"{path}: {size} bytes is not a whole number of 5-byte N-MNIST events (truncated?)")
        if size // 5 > MAX_EVENTS:
            raise BadInputError(f"{path}: {size // 5:,} events (limit {MAX_EVENTS:,})")
        n = size // 5
        budget.charge(size + n * EVENT_DTYPE.itemsize, f"{path.name}: {n:,} events ({size:,} bytes, 16 bytes per event once read)")
        try:
            raw = handle.read(size)
        except OSError as exc:
            raise BadInputError(f"event file {path} cannot be read ({exc.strerror or exc})")
    if len(raw) != size:
        raise BadInputError(f"{path}: changed while it was read ({len(raw)} of {size} bytes)")
    b = np.frombuffer(raw, np.uint8).reshape(-1, 5)
    events = np.empty(n, EVENT_DTYPE)
    events["x"] = b[:, 0]
    events["y"] = b[:, 1]
    events["p"] = b[:, 2] >> 7
    t = events["t"]  # a view: the 23-bit time stamp is assembled in place
    t[...] = b[:, 2] & 0x7F
    t <<= 8
    t |= b[:, 3]
    t <<= 8
    t |= b[:, 4]
    return events


def _check_bin_mode(mode: int, path: Path) -> None:
    if stat.S_ISLNK(mode):
        raise _link_refused(path)
    if stat.S_ISDIR(mode):
        raise BadInputError(f"{path} is a folder, not an N-MNIST .bin file")
    if not stat.S_ISREG(mode):
        raise BadInputError(f"event file {path} is not a regular file (a device, FIFO or socket); refused")


def _link_refused(path: Path) -> BadInputError:
    return BadInputError(
        f"{path} is a symbolic link inside the data folder; npukit reads only the folder's own files and "
        f"folders, never through links (copy the data in instead)"
    )


def _nmnist_folder(folder: Path, budget: LoadBudget) -> tuple[list[np.ndarray], np.ndarray | None, list[str] | None]:
    """The folder's ``<label>/*.bin`` files (or its own ``*.bin`` files); no entry of the folder
    nor of a class folder that would be read may be a symbolic link (none is followed)."""
    from npukit.files import check_class_names

    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        raise BadInputError(f"event data folder {folder} cannot be read ({exc.strerror or exc})")
    for entry in entries:
        if entry.is_symlink():
            raise _link_refused(Path(entry.path))
    classes = [e.name for e in entries if e.is_dir(follow_symlinks=False)]
    files: list[tuple[int | None, Path]] = []
    for label, name in enumerate(classes):
        try:
            inner = sorted(os.scandir(folder / name), key=lambda e: e.name)
        except OSError as exc:
            raise BadInputError(f"event data folder {folder / name} cannot be read ({exc.strerror or exc})")
        for entry in inner:
            if entry.name.endswith(".bin") and not entry.name.startswith("."):
                if entry.is_symlink():
                    raise _link_refused(Path(entry.path))
                files.append((label, Path(entry.path)))
    if not files:
        files = [(None, Path(e.path)) for e in entries if e.name.endswith(".bin") and not e.name.startswith(".")]
        classes = None
    if not files:
        raise BadInputError(f"{folder}: no .bin event files (expected <label>/*.bin as N-MNIST lays them out)")
    if classes is not None:
        classes = check_class_names(classes, f"{folder}: class folder names")
    streams = [read_nmnist_bin(f, budget, follow_links=False) for _, f in files]
    labels = None if classes is None else np.array([label for label, _ in files], np.int64)
    return streams, labels, classes


def read_event_npz(
    path: Path, budget: LoadBudget | None = None,
) -> tuple[list[np.ndarray], np.ndarray | None, list[str] | None, tuple[int, int] | None]:
    """(streams, labels, class names, sensor size) of an event .npz (module docstring). Only the
    named arrays are read, each after its declared size was charged to the load budget
    (``npukit.npy_archive``), and its events in their 16-byte layout as well."""
    from npukit.files import check_class_names
    from npukit.files import check_regular_file
    from npukit.npy_archive import open_archive, read_array

    path = check_regular_file(path, "data file")
    budget = budget if budget is not None else LoadBudget(str(path))
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
        streams = [as_events(read(k), f"{path}: {k}", budget) for k in order]
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
            raise BadInputError(f"{path}: 'sensor_size' must be (width, height[, polarities]). Received: {sensor.tolist()[:3]}")
        sensor = check_sensor_size(sensor[:2].tolist(), f"{path}: 'sensor_size'")
    class_names = None if names is None else check_class_names(names, f"{path}: 'labels'")
    return streams, y, class_names, sensor


def is_event_npz(path: Path) -> bool:
    """Whether the .npz ``path`` holds event streams (``events_0``...); an unreadable archive, or
    one of more than ``MAX_MEMBERS`` members, is left to the .npz reader, which says why."""
    from npukit.npy_archive import MAX_MEMBERS

    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except ZIP_ERRORS:
        return False
    return len(names) <= MAX_MEMBERS and any(n.startswith("events_") for n in names)


# -- binning ----------------------------------------------------------------------------------------


def frame_count(streams: list[np.ndarray], binning: Binning) -> int:
    """T, the frames per sample ``binning`` makes of ``streams`` (at most MAX_FRAMES)."""
    if binning.frames is not None:
        steps = int(binning.frames)
    else:
        window = binning.bin_us or 1000
        last = max((int(s["t"].max()) for s in streams if s.size), default=0)
        steps = last // window + 1
    if steps > MAX_FRAMES:
        raise BadInputError(f"binning gives {steps:,} frames per sample (limit {MAX_FRAMES:,}); use a longer window")
    return steps


def frame_index(t: np.ndarray, steps: int) -> np.ndarray:
    """The frame (0..steps-1) of each time stamp when the span from the first to the last one is
    cut into ``steps`` equal windows: floor((t - t0) * steps / span), span = t1 - t0 + 1, exact.
    Where (t - t0) * steps could pass int64, each event is located among the frames' first
    offsets ceil(k * span / steps) = k * q + ceil(k * r / steps) (span = q * steps + r), which
    never pass span - 1."""
    start = int(t.min())
    span = int(t.max()) - start + 1
    offset = t - np.int64(start)  # in 0..span-1: both are in 0..2^63-1
    if steps == 1:
        return np.zeros(t.shape, np.int64)
    if (span - 1) * steps <= _INT64_MAX:
        return offset * steps // span
    q, r = divmod(span, steps)  # r < steps <= MAX_FRAMES: k * r fits int64
    k = np.arange(1, steps, dtype=np.int64)
    firsts = k * np.int64(q) + (k * np.int64(r) + (steps - 1)) // steps
    return np.searchsorted(firsts, offset, side="right")


def to_frames(streams: list[np.ndarray], sensor: tuple[int, int], binning: Binning, steps: int | None = None,
              budget: LoadBudget | None = None) -> np.ndarray:
    """(N, T, 2, H, W) float32 event counts (module docstring); their size is charged to ``budget``
    (default: a new load budget) before they are allocated. ``steps``: T when already counted
    (``frame_count`` of a larger set the streams are the first of)."""
    w, h = check_sensor_size(sensor, "event data")
    steps = frame_count(streams, binning) if steps is None else steps
    budget = budget if budget is not None else LoadBudget("event data")
    n = len(streams)
    budget.charge(n * steps * 2 * h * w * np.dtype(np.float32).itemsize, f"frames ({n}, {steps}, 2, {h}, {w}) float32")
    out = np.zeros((n, steps, 2, h, w), np.float32)
    for k, s in enumerate(streams):
        if not s.size:
            continue
        t = s["t"]
        index = frame_index(t, steps) if binning.frames is not None else t // (binning.bin_us or 1000)
        np.add.at(out[k], (index, s["p"].astype(np.int64), s["y"].astype(np.int64), s["x"].astype(np.int64)), 1.0)
    return out


@dataclass
class EventSet:
    """Event streams read and checked but not binned yet: ``frames(n)`` bins the first n samples
    into (n, T, 2, H, W), T counted over all of them (``frame_count``), charged to ``budget``
    (the budget their reading was charged to)."""

    streams: list[np.ndarray]
    y: np.ndarray | None
    class_names: list[str] | None
    sensor: tuple[int, int]
    binning: Binning
    steps: int
    name: str
    budget: LoadBudget

    def __len__(self) -> int:
        return len(self.streams)

    def frames(self, n: int | None = None) -> np.ndarray:
        streams = self.streams if n is None else self.streams[:n]
        return to_frames(streams, self.sensor, self.binning, self.steps, self.budget)


@dataclass
class Frames:
    """Binned event streams: ``x`` (N, T, 2, H, W) float32 counts, labels ``y`` (or None),
    class names, and a description of where they came from."""

    x: np.ndarray
    y: np.ndarray | None
    name: str
    class_names: list[str] | None
    preprocessing: str = "event counts per pixel and polarity (channel 0 OFF, 1 ON)"


def read_events(path: str | Path, binning: Binning | None = None) -> EventSet:
    """An event file or N-MNIST folder, read and checked (sensor, frame count), not binned."""
    binning = binning or Binning()
    path = Path(path)
    if not os.path.lexists(path):
        raise BadInputError(f"event data {path} does not exist")
    budget = LoadBudget(str(path))
    sensor = None
    if path.is_dir():
        streams, y, classes = _nmnist_folder(path, budget)
        sensor = NMNIST_SENSOR
    elif path.suffix.lower() == ".bin":
        streams, y, classes, sensor = [read_nmnist_bin(path, budget)], None, None, NMNIST_SENSOR
    else:
        streams, y, classes, sensor = read_event_npz(path, budget)
    sensor = binning.sensor or sensor
    if sensor is None:
        busy = [s for s in streams if s.size]
        if not busy:
            raise BadInputError(
                f"{path}: no events in any of its {len(streams)} samples, so no sensor size to infer; "
                f"give the sensor size (sensor_size in the file, or the sensor WIDTHxHEIGHT of the binning)"
            )
        sensor = (max(int(s["x"].max()) for s in busy) + 1, max(int(s["y"].max()) for s in busy) + 1)
        sensor = check_sensor_size(sensor, f"{path}: the events' coordinates")
    for k, s in enumerate(streams):
        check_sensor(s, sensor, f"{path} (sample {k})")
    steps = frame_count(streams, binning)
    how = f"{binning.frames} frames per sample" if binning.frames else f"{binning.bin_us or 1000} us windows"
    name = f"{path.name} ({len(streams)} event streams, {sensor[0]}x{sensor[1]}, {how})"
    return EventSet(streams, y, classes, sensor, binning, steps, name, budget)


def load_events(path: str | Path, binning: Binning | None = None) -> Frames:
    """An event file or N-MNIST folder as frames (N, T, 2, H, W), all samples binned."""
    events = read_events(path, binning)
    return Frames(events.frames(), events.y, events.name, events.class_names)


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


def digits_events_set(images: np.ndarray, seed: int, binning: Binning | None = None, name: str = "digits-events") -> EventSet:
    """``digits_streams`` of ``images``, not binned yet (default binning: DIGITS_EVENT_FRAMES windows
    of 10 ms over the 300 ms of the three saccades; sensor: the CANVAS x CANVAS canvas)."""
    binning = binning or Binning(bin_us=3 * SACCADE_US // DIGITS_EVENT_FRAMES)
    streams = digits_streams(images, seed)
    sensor = binning.sensor or (CANVAS, CANVAS)
    for k, s in enumerate(streams):
        check_sensor(s, sensor, f"{name} (sample {k})")
    return EventSet(streams, None, None, sensor, binning, frame_count(streams, binning), name, LoadBudget(name))


def digits_frames(images: np.ndarray, seed: int, binning: Binning | None = None) -> np.ndarray:
    """Frames (N, T, 2, CANVAS, CANVAS) of ``digits_streams`` (``digits_events_set``), charged to a
    load budget before they are allocated."""
    return digits_events_set(images, seed, binning).frames()
