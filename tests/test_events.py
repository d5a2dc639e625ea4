"""Event streams: hand-made files with known events give known frames; damaged files are refused in
one line; digits as event streams are deterministic and made of real intensity changes."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from npukit.cli import app
from npukit.data import DataSpec, digits_events, load_data
from npukit.errors import BadInputError
from npukit.events import EVENT_DTYPE, Binning, digits_streams, load_events, read_nmnist_bin, to_frames


def events(*rows):
    """Events from (x, y, t, p) rows."""
    out = np.zeros(len(rows), EVENT_DTYPE)
    for k, (x, y, t, p) in enumerate(rows):
        out[k] = (x, y, t, p)
    return out


def nmnist_bytes(rows) -> bytes:
    """N-MNIST's 5-byte events, written bit by bit from (x, y, t, p) rows."""
    out = bytearray()
    for x, y, t, p in rows:
        out += bytes([x, y, (p << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF])
    return bytes(out)


def test_fixed_windows_count_events_per_pixel_and_polarity(tmp_path):
    a = events((0, 0, 0, 1), (0, 0, 999, 1), (2, 1, 1000, 0), (1, 1, 2500, 1))
    b = events((2, 0, 10, 0))
    path = tmp_path / "ev.npz"
    np.savez(path, events_0=a, events_1=b, y=np.array([3, 1]), sensor_size=np.array([3, 2, 2]))
    frames = load_events(path, Binning(bin_us=1000))
    assert frames.x.shape == (2, 3, 2, 2, 3)  # T = 2500 // 1000 + 1 windows, (OFF, ON), H = 2, W = 3
    expected = np.zeros((2, 3, 2, 2, 3), np.float32)
    expected[0, 0, 1, 0, 0] = 2  # two ON events at (0, 0) in the first millisecond
    expected[0, 1, 0, 1, 2] = 1  # OFF at x=2, y=1, t=1000 us
    expected[0, 2, 1, 1, 1] = 1
    expected[1, 0, 0, 0, 2] = 1
    np.testing.assert_array_equal(frames.x, expected)
    np.testing.assert_array_equal(frames.y, [3, 1])


def test_a_frame_count_splits_each_sample_from_its_first_to_last_event():
    a = events((0, 0, 100, 1), (0, 0, 149, 1), (1, 0, 150, 0), (1, 0, 199, 0))
    x = to_frames([a], (2, 1), Binning(frames=2))  # 100 us span: [100, 150) and [150, 200)
    np.testing.assert_array_equal(x[0, :, :, 0, :], [[[0, 0], [2, 0]], [[0, 2], [0, 0]]])


def test_nmnist_bin_files_and_folders(tmp_path):
    rows = [(33, 0, 5, 1), (0, 33, 8388607, 0), (17, 4, 65536 + 258, 1)]
    path = tmp_path / "00001.bin"
    path.write_bytes(nmnist_bytes(rows))
    ev = read_nmnist_bin(path)
    assert [tuple(int(v) for v in e) for e in ev] == [(x, y, t, p) for x, y, t, p in rows]
    for label in ("0", "7"):
        (tmp_path / "set" / label).mkdir(parents=True)
        (tmp_path / "set" / label / "a.bin").write_bytes(nmnist_bytes([(int(label), 1, 10, 1)]))
    data = load_data(DataSpec(tmp_path / "set", Binning(bin_us=100)))
    assert data.x.shape == (2, 1, 2, 34, 34) and data.y.tolist() == [0, 1] and data.class_names == ["0", "7"]
    assert data.x[1, 0, 1, 1, 7] == 1 and data.x.sum() == 2


@pytest.mark.parametrize("kind, message", [
    ("negative_t", "negative event time stamp"),
    ("outside", "outside the 4x4 sensor"),
    ("float_field", "event field 'x' must hold integers"),
    ("missing_field", "fields x, y, t, p"),
    ("polarity", "polarity must be 0/1"),
    ("gap", "without gaps"),
    ("truncated_bin", "not a whole number of 5-byte"),
])
def test_damaged_event_files_are_refused_in_one_line(tmp_path, kind, message):
    path = tmp_path / ("ev.bin" if kind == "truncated_bin" else "ev.npz")
    good = events((1, 1, 10, 1))
    if kind == "truncated_bin":
        path.write_bytes(nmnist_bytes([(1, 1, 10, 1)])[:-2])
    elif kind == "float_field":
        bad = np.zeros(1, [("x", np.float32), ("y", np.int16), ("t", np.int64), ("p", np.int8)])
        np.savez(path, events_0=bad)
    elif kind == "missing_field":
        np.savez(path, events_0=np.zeros(1, [("x", np.int16), ("y", np.int16), ("t", np.int64)]))
    elif kind == "gap":
        np.savez(path, events_0=good, events_2=good)
    else:
        bad = good.copy()
        if kind == "negative_t":
            bad["t"] = -5
        elif kind == "outside":
            bad["x"] = 9
        else:
            bad = np.zeros(1, [("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", np.int8)])
            bad["p"] = 3
        np.savez(path, events_0=bad, sensor_size=np.array([4, 4]))
    with pytest.raises(BadInputError, match=message):
        load_events(path)
    model = tmp_path / "m.nir"
    _tiny_event_model(model)
    out = tmp_path / "out.npz"
    result = CliRunner().invoke(app, ["simulate", str(model), "--data", str(path), "--save", str(out)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert not out.exists()


def _tiny_event_model(path):
    import nir

    nodes = {
        "input": nir.Input(input_type={"input": np.array([2, 4, 4])}),
        "flat": nir.Flatten(input_type={"input": np.array([2, 4, 4])}, start_dim=0),
        "fc": nir.Affine(weight=np.ones((3, 32), np.float32), bias=np.zeros(3, np.float32)),
        "if": nir.IF(r=np.ones(3, np.float32), v_threshold=np.ones(3, np.float32), v_reset=np.zeros(3, np.float32)),
        "output": nir.Output(output_type={"output": np.array([3])}),
    }
    names = list(nodes)
    nir.write(str(path), nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])), type_check=False))


def test_digits_events_are_deterministic_intensity_changes():
    from npukit.data import digits

    images = digits("test").x[:16, ..., 0]
    first, again = digits_streams(images, seed=5), digits_streams(images, seed=5)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert all(len(s) > 100 for s in first)
    for s in first:
        assert np.all(np.diff(s["t"]) >= 0) and s["t"].max() < 300_000
    blank = digits_streams(np.zeros((2, 8, 8)), seed=5)  # a blank image never changes: no events
    assert all(len(s) == 0 for s in blank)
    data = digits_events("test")
    assert data.x.shape == (360, 30, 2, 12, 12) and data.y.tolist() == digits("test").y.tolist()
    # the canvas corners are at least 2 pixels from the 8x8 digit, which moves by at most 2 pixels
    assert data.x[:, :, :, 0, 0].sum() == 0
