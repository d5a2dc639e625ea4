"""`npukit models`: the shipped example models found from any folder (listed with their
installed paths, one path, or copied into a folder without clobbering anything)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import npukit.models
from npukit.cli import app
from npukit.errors import BadInputError
from npukit.examples import copy_models, model_path, shipped_models

runner = CliRunner()


def test_the_listing_names_every_shipped_model_with_a_readable_path():
    rows = shipped_models()
    assert {r["name"] for r in rows} >= {"digits_cnn.keras", "digits_cnn.onnx", "digits_lif.nir", "digits_events.nir"}
    for constant in ("DIGITS_CNN", "DIGITS_ONNX", "DIGITS_LIF", "DIGITS_EVENTS", "DIGITS_RSNN"):  # every one the package names
        if hasattr(npukit.models, constant):
            assert str(getattr(npukit.models, constant)) in {r["path"] for r in rows}, constant
    for row in rows:
        path = Path(row["path"])
        assert path.is_file() and path.stat().st_size == row["bytes"] and path.parent == npukit.models.HERE
        assert npukit.load(path).input_shape  # each one loads
    result = runner.invoke(app, ["models", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout) == rows
    text = runner.invoke(app, ["models"]).stdout
    assert all(r["name"] in text for r in rows) and str(npukit.models.HERE) in text


def test_one_path_by_file_name_or_unambiguous_stem(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # from a folder that has no models/
    assert model_path("digits_lif.nir") == npukit.models.DIGITS_LIF
    assert model_path("digits_events") == npukit.models.DIGITS_EVENTS
    with pytest.raises(BadInputError, match="names several shipped models"):
        model_path("digits_cnn")  # .keras and .onnx
    result = runner.invoke(app, ["models", "--path", "resnet50"])
    assert result.exit_code == 2 and "is not a shipped model; the shipped models are digits_cnn.keras" in result.stderr
    result = runner.invoke(app, ["models", "--path", "digits_cnn.onnx"])
    assert result.exit_code == 0 and result.stdout.strip() == str(npukit.models.DIGITS_ONNX)


def test_copy_into_a_folder_keeps_what_is_there(tmp_path):
    folder = tmp_path / "a" / "models"  # created, parents included
    rows = copy_models(folder)
    assert all(r["copied"] for r in rows)
    for row in rows:
        assert Path(row["path"]).read_bytes() == model_path(row["name"]).read_bytes()
    assert not any(r["copied"] for r in copy_models(folder))  # identical files stay
    (folder / "digits_lif.nir").write_bytes(b"mine")
    result = runner.invoke(app, ["models", "--copy", str(folder)])
    assert result.exit_code == 2 and "differs from the shipped model; pass --force" in result.stderr
    assert (folder / "digits_lif.nir").read_bytes() == b"mine"
    result = runner.invoke(app, ["models", "--copy", str(folder), "--force"])
    assert result.exit_code == 0 and f"copied: {folder / 'digits_lif.nir'}" in result.stdout
    assert (folder / "digits_lif.nir").read_bytes() == npukit.models.DIGITS_LIF.read_bytes()
    (tmp_path / "file").write_text("x")
    with pytest.raises(BadInputError, match="is a file"):
        copy_models(tmp_path / "file")
