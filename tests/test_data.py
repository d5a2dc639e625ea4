"""DATA loading: the fixed digits split and .npz validation."""

from __future__ import annotations

import numpy as np
import pytest

from npukit.data import calibration_set, digits, load_data
from npukit.errors import BadInputError


def test_digits_split_is_fixed_and_disjoint():
    test, train, full = digits("test"), digits("train"), digits("all")
    assert len(test) == 360 and len(train) == 1437 and len(full) == 1797
    assert test.x.shape[1:] == (8, 8, 1) and test.x.dtype == np.float32
    assert 0 <= test.x.min() and test.x.max() <= 1
    order = np.random.default_rng(0).permutation(1797)
    np.testing.assert_array_equal(test.y, full.y[order[:360]])
    np.testing.assert_array_equal(train.x, full.x[order[360:]])


def test_calibration_draws_from_the_train_split():
    calib = calibration_set("digits", None, 100)
    np.testing.assert_array_equal(calib.x, digits("train").x[:100])


def test_npz_reading(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.ones((5, 3), np.float64), y=np.arange(5), labels=np.array(["a", "b", "c", "d", "e"]))
    data = load_data(path)
    assert data.x.dtype == np.float32 and data.y.tolist() == [0, 1, 2, 3, 4] and data.class_names[0] == "a"


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"y": np.arange(3)}, "no 'x' array"),
        ({"x": np.ones((3, 2)), "y": np.ones(3)}, "'y' must be integer labels"),
        ({"x": np.ones((3, 2)), "y": np.arange(4)}, "'y' must be integer labels"),
        ({"x": np.array([[np.inf, 1.0]])}, "NaN or Inf"),
        ({"x": np.zeros((0, 2))}, "holds no samples"),
        ({"x": np.array(["a", "b"])}, "numeric array"),
    ],
)
def test_npz_defects_are_named(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(BadInputError, match=message):
        load_data(path)


def test_unreadable_files(tmp_path):
    pickled = tmp_path / "obj.npz"
    np.savez(pickled, x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(BadInputError, match="pickled"):
        load_data(pickled)
    garbage = tmp_path / "g.npz"
    garbage.write_bytes(b"\x00" * 50)
    with pytest.raises(BadInputError, match="not a readable"):
        load_data(garbage)
    single = tmp_path / "a.npy"
    np.save(single, np.ones(3))
    with pytest.raises(BadInputError, match="not an .npz"):
        load_data(single)


def test_npz_declaring_a_huge_array_is_refused_before_allocation(tmp_path):
    import io
    import zipfile

    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.zeros((4, 8, 8, 1), np.float32))
    raw = buffer.getvalue()
    length = int.from_bytes(raw[8:10], "little")
    header = raw[10 : 10 + length].replace(b"(4, 8, 8, 1)", b"(100000000000, 8, 8, 1)")
    header = header.rstrip(b" \n")[: length - 1].ljust(length - 1) + b"\n"
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as archive:  # a valid archive: the CRC matches the lie
        archive.writestr("x.npy", raw[:10] + header + raw[10 + length :])
    with pytest.raises(BadInputError, match=r"'x' declares shape \(100000000000, 8, 8, 1\)"):
        load_data(path)
