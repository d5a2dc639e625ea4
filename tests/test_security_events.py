"""Event data as guarded as model files (security round 3, items 3, 4, 7 and 8).

Binning is charged to the load budget before it allocates; sensor sizes, frame counts, class
names are capped; only the samples used are binned; N-MNIST .bin inputs are regular files read
within the budget, never through links out of a data folder; the frame index of a frame count
binning is exact over any time span; class names are printable strings, checked by one function
when a bundle is written and when it is read. Most cases run in-process (tracemalloc measures
the peak of what numpy allocated); a few run the CLI in a child under an address-space limit
(tests/hostile.py) for the contract: nothing runs, one `error:` line, exit 2, nothing written.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hostile import assert_refused, run_cli
from test_events import events, nmnist_bytes

from npukit.data import DataSpec, Dataset, calibration_set, load_data
from npukit.errors import BadInputError
from npukit.events import EVENT_DTYPE, Binning, load_events, read_nmnist_bin, to_frames

BUDGET = 16 << 20
MARGIN = 8 << 20  # index arrays and copies of the few events these tests use
SECRET = b"NPUKIT-SECRET-TOKEN"


@pytest.fixture
def budget(monkeypatch):
    monkeypatch.setenv("NPUKIT_MAX_LOAD_BYTES", str(BUDGET))
    return BUDGET


@contextlib.contextmanager
def peak_below(limit: int):
    """Fail if what is allocated (numpy arrays included) inside the block peaks above ``limit``."""
    tracemalloc.start()
    try:
        yield
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < limit, f"peak {peak:,} bytes"


@contextlib.contextmanager
def deadline(seconds: int):
    """Fail instead of hanging (a FIFO read waits for a writer forever)."""
    def expired(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _events_model() -> Path:
    from npukit.models import DIGITS_EVENTS

    return Path(DIGITS_EVENTS)


# -- 3. event data charged to the budget -----------------------------------------------------------


def test_binning_is_charged_to_the_budget_before_it_allocates(tmp_path, budget):
    path = tmp_path / "long.npz"  # two events 0.1 s apart in 1 us windows: 100,000 frames of 64 x 64
    np.savez(path, events_0=events((0, 0, 0, 1), (63, 63, 99_999, 0)), sensor_size=np.array([64, 64]))
    with peak_below(BUDGET + MARGIN), pytest.raises(BadInputError) as info:
        load_events(path, Binning(bin_us=1))
    message = str(info.value)
    assert "3,276,800,000 bytes" in message and f"budget of {BUDGET:,} bytes" in message and str(path) in message
    with peak_below(BUDGET + MARGIN), pytest.raises(BadInputError, match="3,276,800,000 bytes"):
        load_data(DataSpec(path, Binning(bin_us=1))).x
    with peak_below(BUDGET + MARGIN), pytest.raises(BadInputError, match=f"budget of {BUDGET:,} bytes"):
        to_frames([events((0, 0, 0, 1), (63, 63, 99_999, 0))], (64, 64), Binning(bin_us=1))


def _many_samples(path: Path, n: int = 50) -> Path:
    """n samples whose frames take 100 x 2 x 64 x 64 x 4 = 3.2 MB each (160 MB in all)."""
    streams = {f"events_{k}": events((k % 64, 0, 0, 1), (0, 63, 99_999, 0)) for k in range(n)}
    np.savez(path, **streams, y=np.arange(n) % 10, sensor_size=np.array([64, 64]))
    return path


def test_only_the_samples_used_are_binned(tmp_path, budget):
    spec = DataSpec(_many_samples(tmp_path / "many.npz"), Binning(bin_us=1000))
    with peak_below(BUDGET + MARGIN):
        head = load_data(spec).head(2)
        assert len(head) == 2 and head.x.shape == (2, 100, 2, 64, 64)
        assert head.x[1, 0, 1, 0, 1] == 1 and head.x[1, 99, 0, 63, 0] == 1 and head.x.sum() == 4
        assert head.y.tolist() == [0, 1]
        calib = calibration_set(spec, None, 3)
        assert calib.x.shape == (3, 100, 2, 64, 64) and len(calib) == 3
    data = load_data(spec)
    assert len(data) == 50  # counted without binning
    with peak_below(BUDGET + MARGIN), pytest.raises(BadInputError, match=r"\(50, 100, 2, 64, 64\).*163,840,000 bytes"):
        data.x


def test_the_sensor_size_is_capped(tmp_path):
    path = tmp_path / "wide.npz"
    np.savez(path, events_0=events((0, 0, 0, 1)), sensor_size=np.array([4097, 1]))
    with pytest.raises(BadInputError, match=r"sensor_size.*4097x1.*1\.\.4096"):
        load_events(path)
    path = tmp_path / "far.npz"  # no sensor size: the events say 5001 x 1, past the cap
    np.savez(path, events_0=events((5000, 0, 0, 1)))
    with pytest.raises(BadInputError, match=r"5001x1.*1\.\.4096"):
        load_events(path)


def test_an_event_file_without_events_is_refused_in_one_line(tmp_path):
    path = tmp_path / "empty.npz"
    np.savez(path, events_0=np.zeros(0, EVENT_DTYPE), events_1=np.zeros(0, EVENT_DTYPE))
    with pytest.raises(BadInputError, match="no events.*give the sensor size"):
        load_events(path)
    np.savez(path, events_0=np.zeros(0, EVENT_DTYPE), sensor_size=np.array([4, 3]))  # with a sensor: empty frames
    frames = load_events(path)
    assert frames.x.shape == (1, 1, 2, 3, 4) and frames.x.sum() == 0


def test_event_members_are_converted_within_the_budget(tmp_path, budget):
    """1-byte fields expand to the 16-byte event layout: that copy is charged too."""
    narrow = np.zeros(BUDGET // 6, [("x", "u1"), ("y", "u1"), ("t", "u1"), ("p", "u1")])  # 11 MB as stored
    path = tmp_path / "narrow.npz"
    np.savez(path, events_0=narrow, sensor_size=np.array([1, 1]))
    with peak_below(BUDGET + MARGIN), pytest.raises(BadInputError, match=f"budget of {BUDGET:,} bytes"):
        load_events(path)


# -- 8. frame binning in exact integers -------------------------------------------------------------


def test_a_frame_count_binning_is_exact_over_a_huge_time_span():
    from npukit.events import frame_index

    last = 1 << 62
    inner = [last // 3, last // 2, (last // 100_000) * 68_928, last - 1]
    stream = events((0, 0, 0, 1), *[(0, 0, t, 1) for t in inner], (0, 0, last, 0))
    x = to_frames([stream], (1, 1), Binning(frames=100_000))
    assert x.shape == (1, 100_000, 2, 1, 1) and x.sum() == len(stream)
    assert x[0, 0, 1, 0, 0] == 1 and x[0, 99_999, 0, 0, 0] == 1  # the last event: frame 99999, not 68928
    span = last + 1
    for t in inner:
        assert x[0, t * 100_000 // span, 1, 0, 0] >= 1, t
    rng = np.random.default_rng(0)  # any span, any frame count: floor((t - t0) * T / span) in Python integers
    for steps in (1, 2, 7, 99_999, 100_000):
        for low, high in ((0, 10), (5, 2**40), (3, 2**62), (0, 2**63 - 1), (2**62, 2**63 - 1)):
            ts = [low, high, *(int(v) for v in rng.integers(low, high, 40, dtype=np.int64, endpoint=True))]
            got = frame_index(np.array(ts, np.int64), steps).tolist()
            assert got == [(t - low) * steps // (high - low + 1) for t in ts], (steps, low, high)
    # N-MNIST-sized spans keep their frames (the ordinary path)
    small = events((0, 0, 100, 1), (0, 0, 149, 1), (0, 0, 150, 0), (0, 0, 199, 0))
    np.testing.assert_array_equal(to_frames([small], (1, 1), Binning(frames=2))[0, :, :, 0, 0], [[0, 2], [2, 0]])


# -- 8. class names: printable strings within limits, checked alike everywhere -------------------------


@pytest.mark.parametrize("names, message", [
    (np.arange(3), "must be strings"),
    (np.array([b"a", b"b"]), "must be strings"),
    (np.array(["a", "b\vc"]), "printable"),
    (np.array(["a\u2028b"]), "printable"),
    (np.array(["a\x85"]), "printable"),
    (np.array(["ok", ""]), "1..256 characters"),
    (np.array(["x" * 257]), "1..256 characters"),
    (np.array(["n"] * 65_537), "65,537 class names.*limit 65,536"),
])
@pytest.mark.parametrize("kind", ["events", "samples"])
def test_class_names_must_be_printable_strings_within_limits(tmp_path, names, message, kind):
    path = tmp_path / "data.npz"
    if kind == "events":
        np.savez(path, events_0=events((0, 0, 0, 1)), labels=names, sensor_size=np.array([2, 2]))
    else:
        np.savez(path, x=np.zeros((2, 3), np.float32), labels=names)
    with pytest.raises(BadInputError, match=message):
        load_data(path)


def test_many_class_names_from_a_small_file_are_refused_before_conversion(tmp_path, budget):
    path = tmp_path / "names.npz"
    np.savez_compressed(path, events_0=events((0, 0, 0, 1)), labels=np.full(2_000_000, "a"))
    assert path.stat().st_size < 100_000
    with peak_below(BUDGET + MARGIN), pytest.raises(BadInputError, match=r"2,000,000 class names \(limit 65,536\)"):
        load_data(path)


def _tiny_tflite(tmp_path: Path) -> Path:
    from tflite_builder import T, one_op

    path = tmp_path / "tiny.tflite"
    path.write_bytes(one_op("RELU", [T((1, 3))], [T((1, 3))]))
    return path


@pytest.mark.parametrize("bad", ["b\vc", "b\u2028c", "b\x1cc", "b\nc", 7])
def test_a_bundle_refuses_the_class_names_read_bundle_refuses(tmp_path, bad):
    from npukit.bundle import read_bundle, write_bundle

    model = _tiny_tflite(tmp_path)
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(BadInputError) as written:
        write_bundle(model, Dataset(x, np.array([0, 1]), "d", ["a", bad, "d"]), tmp_path / "out")
    assert not (tmp_path / "out" / "tiny").exists()
    write_bundle(model, Dataset(x, np.array([0, 1]), "d", ["a", "b", "d"]), tmp_path / "out")
    folder = tmp_path / "out" / "tiny"
    read_bundle(folder)
    import json

    doc = json.loads((folder / "bundle.json").read_text())
    doc["labels"]["classes"][1] = bad
    (folder / "bundle.json").write_text(json.dumps(doc))
    if isinstance(bad, str):
        (folder / "labels.txt").write_text("\n".join(doc["labels"]["classes"]) + "\n", encoding="utf-8")
    with pytest.raises(BadInputError) as read:
        read_bundle(folder)
    if isinstance(bad, str):  # one function: the same words at write and read time
        assert str(written.value).split(": ", 1)[1] == str(read.value).split(": ", 1)[1], (written.value, read.value)


# -- 4. N-MNIST .bin inputs --------------------------------------------------------------------------


def _secret_file(folder: Path, size: int = 2563) -> Path:
    path = folder / "secret.dat"
    path.write_bytes((SECRET * (size // len(SECRET) + 1))[:size])
    return path


def test_links_in_a_data_folder_are_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = _secret_file(outside)
    data = tmp_path / "set"
    (data / "0").mkdir(parents=True)
    (data / "0" / "a.bin").write_bytes(nmnist_bytes([(1, 1, 10, 1)]))
    os.symlink(secret, data / "0" / "b.bin")
    with pytest.raises(BadInputError, match="symbolic link") as info:
        load_data(data)
    assert "2563" not in str(info.value) and "2,563" not in str(info.value)
    (data / "0" / "b.bin").unlink()
    (outside / "1").mkdir()
    (outside / "1" / "c.bin").write_bytes(nmnist_bytes([(1, 1, 10, 1)]))
    os.symlink(outside / "1", data / "1")  # a class folder that is a link
    with pytest.raises(BadInputError, match="symbolic link"):
        load_data(data)
    (data / "1").unlink()
    os.symlink(outside, data / "2")
    with pytest.raises(BadInputError, match="symbolic link"):
        load_data(data)
    (data / "2").unlink()
    assert load_data(data).x.shape == (1, 1, 2, 34, 34)  # the folder's own file reads


def test_fifos_in_a_data_folder_are_refused_not_waited_on(tmp_path):
    data = tmp_path / "set"
    (data / "0").mkdir(parents=True)
    (data / "0" / "a.bin").write_bytes(nmnist_bytes([(1, 1, 10, 1)]))
    os.mkfifo(data / "0" / "b.bin")
    with deadline(20), pytest.raises(BadInputError, match="not a regular file"):
        load_data(data)


def test_bin_files_are_read_within_the_budget(tmp_path, budget):
    path = tmp_path / "big.bin"
    path.write_bytes(bytes(5 * (BUDGET // 16 + 1000)))  # events of 16 bytes once read: past the budget
    with peak_below(BUDGET + MARGIN), pytest.raises(BadInputError, match=f"budget of {BUDGET:,} bytes"):
        read_nmnist_bin(path)
    data = tmp_path / "set"
    (data / "0").mkdir(parents=True)
    for k in range(3):  # each fits, the folder does not
        (data / "0" / f"{k}.bin").write_bytes(bytes(5 * (BUDGET // 48 + 1000)))
    with peak_below(BUDGET + MARGIN), pytest.raises(BadInputError, match=f"budget of {BUDGET:,} bytes"):
        load_data(data)


def test_a_bin_file_given_directly_may_be_a_link_to_a_regular_file(tmp_path):
    (tmp_path / "real.bin").write_bytes(nmnist_bytes([(2, 3, 10, 1)]))
    os.symlink(tmp_path / "real.bin", tmp_path / "link.bin")
    assert load_data(tmp_path / "link.bin").x[0, 0, 1, 3, 2] == 1


# -- 7. the CLI contract: one line, exit 2, nothing run, nothing written ---------------------------------


def _npz_file(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.npz"
    if kind == "empty":
        np.savez(path, events_0=np.zeros(0, EVENT_DTYPE))
    elif kind == "8gib_sensor":  # a few hundred bytes asking for 32768 x 32768 x 2 float32 = 8 GiB
        np.savez_compressed(path, events_0=events((0, 0, 0, 1)), sensor_size=np.array([32768, 32768]))
    elif kind == "absurd_sensor":
        np.savez(path, events_0=events((0, 0, 0, 1)), sensor_size=np.array([1 << 40, 1 << 40]))
    return path


@pytest.mark.parametrize("kind, pattern", [
    ("empty", r"no events .*give the sensor size"),
    ("8gib_sensor", r"32768x32768.*1\.\.4096"),
    ("absurd_sensor", r"1099511627776x1099511627776.*1\.\.4096"),
])
def test_cli_refuses_hostile_event_files(tmp_path, kind, pattern):
    out = tmp_path / "out.npz"
    result = run_cli("simulate", _events_model(), "--data", _npz_file(tmp_path, kind), "--save", out,
                     env={"NPUKIT_MAX_LOAD_BYTES": str(64 << 20)}, limit=3 << 30, timeout=120)
    assert_refused(result, pattern)
    assert not out.exists()


@pytest.mark.parametrize("flag", [("--frames", "100000"), ("--bin-us", "3")])
def test_cli_binning_flags_on_digits_events_are_charged_to_the_budget(tmp_path, flag):
    out = tmp_path / "out.npz"
    result = run_cli("simulate", _events_model(), "--data", "digits-events", *flag, "--save", out,
                     env={"NPUKIT_MAX_LOAD_BYTES": str(64 << 20)}, limit=3 << 30, timeout=120)
    steps = "100000" if flag[0] == "--frames" else r"\d+"
    assert_refused(result, rf"frames \(360, {steps}, 2, 12, 12\).*bytes.*budget of 67,108,864 bytes")
    assert not out.exists()


def test_cli_samples_bins_only_the_samples_used():
    """360 samples of 2000 frames take 829 MB, past a 64 MiB budget; --samples 5 bins 5 of them."""
    result = run_cli("simulate", _events_model(), "--data", "digits-events", "--frames", "2000", "--samples", "5", "--json",
                     env={"NPUKIT_MAX_LOAD_BYTES": str(64 << 20)}, limit=3 << 30, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert '"samples": 5' in result.stdout and '"timesteps": 2000' in result.stdout


@pytest.mark.parametrize("target", ["fifo", "/dev/zero"])
def test_cli_refuses_a_bin_file_that_is_not_a_regular_file(tmp_path, target):
    path = tmp_path / "sample.bin"
    if target == "fifo":
        os.mkfifo(path)
    else:
        os.symlink(target, path)
    out = tmp_path / "out.npz"
    result = run_cli("simulate", _events_model(), "--data", path, "--save", out, limit=3 << 30, timeout=60)
    assert_refused(result, r"is not a regular file")
    assert not out.exists()


def test_cli_refuses_a_link_out_of_a_data_folder_without_facts_about_its_bytes(tmp_path):
    secret = _secret_file(tmp_path)
    data = tmp_path / "set"
    (data / "0").mkdir(parents=True)
    os.symlink(secret, data / "0" / "a.bin")
    out = tmp_path / "out.npz"
    result = run_cli("simulate", _events_model(), "--data", data, "--save", out, limit=3 << 30, timeout=60)
    assert_refused(result, r"symbolic link", SECRET, "2563", "2,563")
    assert not out.exists()
