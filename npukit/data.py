"""The DATA argument: the bundled ``digits`` set (and its event-stream version ``digits-events``,
``npukit.events``), a user ``.npz`` file, or event files.

``digits`` is scikit-learn's copy of the UCI 8x8 handwritten digits (1797 samples, 10 classes),
as float32 images of shape (8, 8, 1) with pixel values divided by 16 (range 0..1). The split is
fixed: a permutation from ``numpy.random.default_rng(0)``; its first 360 indices are the test
split, the other 1437 the train split. Calibration always draws from the train split, reports
use the test split.

An ``.npz`` file holds ``x`` (N, ...) numeric samples, optionally ``y`` (N,) integer labels and
``labels`` (class names, strings). It is read with ``allow_pickle=False``. When an .npz is used
for reports and no calibration data is given, its first samples also serve for calibration
(reported as such).

Class names, wherever they come from (an .npz's ``labels``, N-MNIST class folders, a model's
metadata, a bundle), pass ``npukit.files.check_class_names``: 1..65,536 strings (never numbers
turned into strings) of 1..256 printable characters, so ``labels.txt`` holds one per line and
reads back the same.

Event data (``npukit.events``) becomes an ``EventDataset``: its frames are binned when ``x`` is
first used, and only for the samples ``head`` kept, so ``--samples`` and calibration sample
counts bound what is binned.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from npukit.errors import BadInputError

DIGITS_TEST = 360
DIGITS_SEED = 0
SPLITS = ("train", "test", "all")


@dataclass
class Dataset:
    """Samples ``x`` (N, ...) float32, optional integer labels ``y`` (N,), class names."""

    x: np.ndarray
    y: np.ndarray | None
    name: str
    class_names: list[str] | None = None
    preprocessing: str = "none"

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def head(self, n: int | None) -> "Dataset":
        """The first n samples (all when n is None)."""
        if n is None or n >= len(self):
            return self
        if n <= 0:
            raise BadInputError(f"the number of samples must be positive. Received: {n}")
        y = None if self.y is None else self.y[:n]
        return Dataset(self.x[:n], y, f"{self.name}, first {n}", self.class_names, self.preprocessing)


class EventDataset(Dataset):
    """A Dataset of event streams (``npukit.events.EventSet``) whose ``x`` is binned on first use,
    for its first ``count`` samples only: ``head(n)`` bins nothing, the frames of the n samples
    it keeps are binned (and charged to the load budget) when read."""

    def __init__(self, events, name: str, preprocessing: str, count: int | None = None):
        self.events = events
        self.count = len(events) if count is None else int(count)
        self._x = None
        self.y = None if events.y is None else events.y[: self.count]
        self.name = name
        self.class_names = events.class_names
        self.preprocessing = preprocessing

    @property
    def x(self) -> np.ndarray:
        if self._x is None:
            self._x = self.events.frames(self.count)
        return self._x

    @x.setter
    def x(self, value: np.ndarray) -> None:
        self._x = value

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:  # without binning
        return f"EventDataset({self.name!r}, {self.count} samples)"

    def head(self, n: int | None) -> Dataset:
        if n is None or n >= len(self):
            return self
        if n <= 0:
            raise BadInputError(f"the number of samples must be positive. Received: {n}")
        return EventDataset(self.events, f"{self.name}, first {n}", self.preprocessing, n)


@dataclass(frozen=True)
class DataSpec:
    """DATA with the options of event data: ``source`` as ``load_data`` takes it and the
    ``binning`` (``npukit.events.Binning``) that makes event streams frames."""

    source: str | Path
    binning: object = None

    def __str__(self) -> str:
        return str(self.source)


def load_data(spec, split: str = "test") -> Dataset:
    """Load DATA: ``digits``, ``digits-events`` or ``digits-rows`` (with ``split`` train/test/all), an ``.npz``
    file of samples or of event streams, an N-MNIST ``.bin`` file or folder (``npukit.events``;
    ``split`` ignored), a ``DataSpec`` (the same with an event binning), or a ``Dataset`` (as is)."""
    if split not in SPLITS:
        raise BadInputError(f"split must be one of {', '.join(SPLITS)}. Received: {split!r}")
    if isinstance(spec, Dataset):
        return spec
    binning = spec.binning if isinstance(spec, DataSpec) else None
    source = str(spec)
    if source == "digits":
        return digits(split)
    from npukit import events

    if source == "digits-events":
        return digits_events(split, binning)
    if source == "digits-rows":
        return digits_rows(split)
    path = Path(source)
    if path.is_dir() or path.suffix.lower() == ".bin" or (path.is_file() and events.is_event_npz(path)):
        event_set = events.read_events(path, binning)  # binned when x is used, for the samples kept
        return EventDataset(event_set, event_set.name, events.Frames.preprocessing)
    return load_npz(path)


def digits(split: str = "test") -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[..., None]
    y = bunch.target.astype(np.int64)
    order = np.random.default_rng(DIGITS_SEED).permutation(len(y))
    index = {"test": order[:DIGITS_TEST], "train": order[DIGITS_TEST:], "all": np.arange(len(y))}[split]
    return Dataset(
        x[index], y[index], f"digits ({split} split, {len(index)} samples)",
        [str(i) for i in range(10)], "pixel values / 16 (range 0..1)",
    )


def digits_events(split: str = "test", binning=None) -> Dataset:
    """The digits of ``split`` as event streams of a moving sensor (``npukit.events.digits_streams``),
    binned into frames (N, T, 2, 12, 12); labels and split as ``digits``."""
    from npukit.events import digits_events_set

    base = digits(split)
    seed = {"train": 1, "test": 2, "all": 3}[split]  # one sensor mismatch draw per split
    name = f"digits-events ({split} split"
    event_set = digits_events_set(base.x[..., 0], seed, binning, name + ")")
    event_set.y, event_set.class_names = base.y, base.class_names
    return EventDataset(event_set, f"{name}, {len(base)} samples, {event_set.steps} frames)",
                        "event counts per pixel and polarity (channel 0 OFF, 1 ON) of the moving digits")


#: steps each image row is shown for in ``digits-rows``
ROW_STEPS = 2


def digits_rows(split: str = "test") -> Dataset:
    """The digits of ``split`` as sequences, one image row (8 pixels / 16) per step, each row
    held for ROW_STEPS steps: (N, 16, 8) time series, a task that needs memory across steps."""
    base = digits(split)
    rows = np.repeat(base.x[..., 0], ROW_STEPS, axis=1)
    return Dataset(rows, base.y, f"digits-rows ({split} split, {len(base)} samples, {rows.shape[1]} steps)",
                   base.class_names, "one image row (pixel values / 16) per step, each row for 2 steps")


#: the arrays of a data file npukit reads; other members are never read
DATA_ARRAYS = ("x", "y", "labels")


def load_npz(path: Path) -> Dataset:
    """Read ``x`` (and ``y``, ``labels`` when present) from an .npz file; other members are
    never read. Sizes are checked against the load budget (``npukit.budget``) before reading."""
    from npukit.budget import LoadBudget
    from npukit.files import check_class_names, check_regular_file
    from npukit.npy_archive import open_archive, read_array

    if path.is_dir():
        raise BadInputError(f"{path} is a folder; DATA is 'digits' or an .npz file")
    if not path.exists():
        raise BadInputError(f"data file {path} does not exist (DATA is 'digits' or an .npz file)")
    check_regular_file(path, "data file")
    with open(path, "rb") as handle:
        magic = handle.read(6)
    if magic.startswith(b"\x93NUMPY"):
        raise BadInputError(f"{path}: a .npy array, not an .npz archive with an 'x' entry")
    if not magic.startswith(b"PK"):
        raise BadInputError(f"{path}: not a readable .npz file (not a zip archive: truncated or another format?)")
    budget = LoadBudget(str(path))
    archive, members = open_archive(str(path), str(path))
    with archive:
        if "x" not in members:
            raise BadInputError(f"{path}: no 'x' array (found: {', '.join(sorted(members))[:200] or 'nothing'})")
        arrays = {key: read_array(archive, members[key], key, str(path), budget) for key in DATA_ARRAYS if key in members}
    x = arrays["x"]
    if x.dtype.kind not in "fiub" or x.ndim < 2:
        raise BadInputError(f"{path}: 'x' must be a numeric array (N, ...). Received: dtype {x.dtype}, shape {x.shape}")
    if x.shape[0] == 0:
        raise BadInputError(f"{path}: 'x' holds no samples")
    if x.dtype != np.float32:
        budget.charge(x.size * 4, "'x' as float32")
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise BadInputError(f"{path}: 'x' contains NaN or Inf values")
    y = arrays.get("y")
    if y is not None:
        if y.dtype.kind not in "iu" or y.shape != (x.shape[0],):
            raise BadInputError(
                f"{path}: 'y' must be integer labels of shape ({x.shape[0]},). Received: dtype {y.dtype}, shape {y.shape}"
            )
        y = y.astype(np.int64)
    names = arrays.get("labels")
    class_names = None if names is None else check_class_names(names, f"{path}: 'labels'")
    return Dataset(x, y, f"{path.name} ({x.shape[0]} samples)", class_names)


#: the DATA of every function that takes data, when none is given
DEFAULT_DATA = "digits"


def data_for(graph, data, required: bool = True):
    """``data``, or ``DEFAULT_DATA`` when it is None. When the default is taken but its samples
    do not fit ``graph``'s input and the data is ``required``, the error says the data was
    the default and names both shapes (instead of a shape error about data nobody gave)."""
    if data is not None:
        return data
    if required:
        from npukit.snn.encoders import fits

        sample = digits("test").x[:1]
        if not fits(graph, sample):
            raise BadInputError(
                f"no data given, and the default data ({DEFAULT_DATA}: samples of shape {sample.shape[1:]}) does not fit "
                f"the model's input {tuple(graph.input_shape)}; pass data=... with samples of that shape"
            )
    return DEFAULT_DATA


def calibration_set(data, calibration, samples: int) -> Dataset:
    """Calibration samples: ``calibration`` if given, else the train split of digits (or
    digits-events), else the first samples of the file ``data``."""
    if samples <= 0:
        raise BadInputError(f"calibration samples must be positive. Received: {samples}")
    source = calibration if calibration is not None else data
    return load_data(source, split="train").head(samples)
