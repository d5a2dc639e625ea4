"""Atomic outputs: a conversion that fails while writing leaves nothing and keeps what was there."""

from __future__ import annotations

import os

import pytest

import npukit
from npukit.errors import BadInputError
from npukit.models import DIGITS_CNN


def _fail_on_fsync(monkeypatch):
    def broken(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken)


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    out = tmp_path / "model.tflite"
    _fail_on_fsync(monkeypatch)
    with pytest.raises(OSError, match="No space left"):
        npukit.convert(DIGITS_CNN, out, calibration_samples=32)
    assert list(tmp_path.iterdir()) == []  # neither the output nor a temporary file


def test_failed_overwrite_keeps_the_existing_file(tmp_path, monkeypatch):
    out = tmp_path / "model.tflite"
    out.write_bytes(b"previous model")
    with pytest.raises(BadInputError, match="exists"):
        npukit.convert(DIGITS_CNN, out, calibration_samples=32)  # no --force: refused up front
    _fail_on_fsync(monkeypatch)
    with pytest.raises(OSError):
        npukit.convert(DIGITS_CNN, out, calibration_samples=32, force=True)
    assert out.read_bytes() == b"previous model"
    assert [p.name for p in tmp_path.iterdir()] == ["model.tflite"]
