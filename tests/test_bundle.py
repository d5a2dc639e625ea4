"""npukit bundle: what the Android demo reads, checked against independent references.

Tolerance tiers: vectors, labels, predictions and quantization parameters are exact (they are
copies); nothing here is approximate.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

import npukit
from npukit.bundle import HEADER, decode_vectors, encode_vectors, read_bundle, write_bundle
from npukit.cli import app
from npukit.data import digits
from npukit.errors import BadInputError
from npukit.schemas import load_schema, schema_path

runner = CliRunner()


def _interpreter(path):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    interp.allocate_tensors()
    return interp


def _schema_errors(doc):
    schema = json.loads(schema_path("bundle").read_text())
    Draft202012Validator.check_schema(schema)
    return [e.message for e in Draft202012Validator(schema).iter_errors(doc)]


@pytest.fixture(scope="module")
def temporal_tflite(tmp_path_factory):
    from npukit.models import DIGITS_LIF, DIGITS_LIF_TIMESTEPS

    path = tmp_path_factory.mktemp("temporal") / "lif_temporal.tflite"
    npukit.convert(DIGITS_LIF, path, mode="temporal", quantize="int8", timesteps=DIGITS_LIF_TIMESTEPS)
    return path


def _check_tensors(doc, model_path):
    """Each tensor entry equals what LiteRT itself reports for the .tflite (name, shape, dtype,
    scale, zero point), position by position."""
    interp = _interpreter(model_path)
    for entries, details in ((doc["inputs"], interp.get_input_details()), (doc["outputs"], interp.get_output_details())):
        assert len(entries) == len(details)
        for entry, detail in zip(entries, details):
            assert entry["name"] == detail["name"]
            assert entry["shape"] == [int(d) for d in detail["shape"]]
            assert entry["dtype"] == np.dtype(detail["dtype"]).name
            scale, zero = detail["quantization"]
            if entry["dtype"] == "float32":
                assert entry["scale"] is None and entry["zero_point"] is None
            else:
                assert entry["scale"] == scale and entry["zero_point"] == zero


def test_rate_bundle_matches_data_model_and_host(tmp_path, shipped_tflite):
    doc = write_bundle(shipped_tflite, "digits", tmp_path)
    folder = tmp_path / "digits_cnn"
    assert doc["folder"] == str(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["bundle.json", "labels.txt", "model.tflite", "vectors.bin"]
    written = json.loads((folder / "bundle.json").read_text())
    assert _schema_errors(written) == []
    assert (folder / "model.tflite").read_bytes() == shipped_tflite.read_bytes()
    _check_tensors(written, shipped_tflite)
    data = digits("test")
    vectors = decode_vectors((folder / "vectors.bin").read_bytes())
    assert vectors.frames.dtype == np.float32 and vectors.frames.shape == (360, 1, 64)
    np.testing.assert_array_equal(vectors.frames.reshape(data.x.shape), data.x)
    np.testing.assert_array_equal(vectors.labels, data.y)
    assert vectors.labeled
    # host predictions: LiteRT called directly, one sample at a time
    interp = _interpreter(shipped_tflite)
    (inp,), (out,) = interp.get_input_details(), interp.get_output_details()
    scale, zero = inp["quantization"]
    expected = []
    for x in data.x:
        q = np.clip(np.round(x / scale) + zero, -128, 127).astype(np.int8)[None]
        interp.set_tensor(inp["index"], q)
        interp.invoke()
        expected.append(int(interp.get_tensor(out["index"]).argmax()))
    np.testing.assert_array_equal(vectors.predictions, expected)
    assert written["host"]["accuracy"] == pytest.approx(np.mean(np.array(expected) == data.y), abs=0)
    assert written["mode"] == "rate" and written["timesteps"] == 1 and written["states"] == []
    assert (folder / "labels.txt").read_text().splitlines() == [str(k) for k in range(10)]
    assert read_bundle(folder)[0] == written


def test_temporal_bundle_states_and_host_loop(tmp_path, temporal_tflite):
    from npukit.tflite_file import read_tflite

    doc = write_bundle(temporal_tflite, "digits", tmp_path, name="lif", samples=40)
    written, vectors = read_bundle(tmp_path / "lif")
    assert _schema_errors(written) == []
    _check_tensors(written, temporal_tflite)
    meta = read_tflite(temporal_tflite).npukit_metadata()
    assert written["mode"] == "temporal" and written["timesteps"] == meta["timesteps"] == 25
    assert [(s["layer"], s["input"], s["output"], s["init"]) for s in written["states"]] == [
        (s["layer"], s["input"], s["output"], s["init"]) for s in meta["state_order"]
    ]
    # the states' quantization in the metadata is the tensors' own (what the app uses)
    for s in meta["state_order"]:
        assert written["inputs"][s["input"]]["scale"] == s["input_scale"]
        assert written["outputs"][s["output"]]["zero_point"] == s["output_zero_point"]
    assert written["frames_per_sample"] == 1 and written["encoding"] == "current" and written["spiking_output"]
    result = npukit.run_temporal(temporal_tflite, digits("test").x[:40], 25)
    np.testing.assert_array_equal(vectors.predictions, result.predictions())
    assert doc["vectors"]["samples"] == 40


def test_spike_encoded_frames_are_the_host_series(temporal_tflite):
    """Bernoulli frames are 0/1 spikes whose rates track the pixels, and they are the series the
    host loop draws itself: the temporal model gives the same readouts on either."""
    from npukit.bundle import _frames

    x = digits("test").x[:5]
    frames, per_sample, steps, encoding, feed = _frames({"timesteps": 7, "encoding": "bernoulli", "input_max": 1.0},
                                                        "temporal", x, (8, 8, 1), None)
    assert (per_sample, steps, encoding) == (7, 7, "bernoulli") and frames.shape == (5, 7, 64)
    np.testing.assert_array_equal(feed.reshape(5, 7, 64), frames)
    host = npukit.run_temporal(temporal_tflite, x, 7, encoding="bernoulli", seed=0, input_max=1.0)
    replayed = npukit.run_temporal(temporal_tflite, frames.reshape(5, 7, 8, 8, 1))  # a time series
    np.testing.assert_array_equal(replayed.readouts, host.readouts)
    np.testing.assert_array_equal(replayed.output_counts, host.output_counts)
    long, *_ = _frames({"timesteps": 4000, "encoding": "bernoulli", "input_max": 1.0}, "temporal", x, (8, 8, 1), None)
    assert set(np.unique(long)) <= {0.0, 1.0}
    assert np.abs(long.mean(axis=1) - x.reshape(5, 64)).max() < 0.06  # 5 sigma of a rate over 4000 steps
    series = np.random.default_rng(0).random((3, 4, 8, 8, 1)).astype(np.float32)
    frames, per_sample, steps, encoding, _ = _frames({"timesteps": 9}, "temporal", series, (8, 8, 1), None)
    assert (per_sample, steps, encoding) == (4, 4, "time_series")
    np.testing.assert_array_equal(frames, series.reshape(3, 4, 64))


def test_vectors_layout_by_hand():
    labels, predictions = np.array([3, -1]), np.array([3, 0])
    frames = np.arange(12, dtype=np.float32).reshape(2, 3, 2)
    blob = encode_vectors(labels, predictions, frames)
    assert blob[:4] == b"NPKV" and len(blob) == 24 + 8 * 2 + 4 * 12
    assert np.frombuffer(blob[4:24], "<u4").tolist() == [1, 2, 3, 2, 1]
    assert np.frombuffer(blob[24:32], "<i4").tolist() == [3, -1]
    assert np.frombuffer(blob[32:40], "<i4").tolist() == [3, 0]
    assert np.frombuffer(blob[40:], "<f4").tolist() == list(range(12))
    unlabeled = decode_vectors(encode_vectors(None, predictions, frames))
    assert not unlabeled.labeled and unlabeled.labels.tolist() == [-1, -1]
    for bad, message in (
        (blob[:10], "shorter than"), (blob[:-1], "make"), (b"XXXX" + blob[4:], "magic"),
        (blob[:4] + (2).to_bytes(4, "little") + blob[8:], "layout version"),
    ):
        with pytest.raises(BadInputError, match=message):
            decode_vectors(bad)
    assert HEADER.size == 24


def test_bundle_cli_and_refusals(tmp_path, shipped_tflite):
    out = tmp_path / "assets"
    out.mkdir()
    result = runner.invoke(app, ["bundle", str(shipped_tflite), "--data", "digits", "--out", str(out), "--samples", "20"])
    assert result.exit_code == 0, result.stderr
    assert "host accuracy" in result.stdout and "20 samples" in result.stdout
    before = (out / "digits_cnn" / "vectors.bin").read_bytes()
    cases = [
        (["--out", str(out)], "exists; pass --force"),
        (["--out", str(shipped_tflite)], "is a file"),
        (["--out", str(out), "--name", "../x"], "bundle name"),
        (["--out", str(out), "--name", "n", "--samples", "0"], "positive integer"),
        (["--out", str(out), "--name", "n", "-T", "5"], "temporal-mode"),
    ]
    for extra, message in cases:
        result = runner.invoke(app, ["bundle", str(shipped_tflite), "--data", "digits", *extra])
        assert result.exit_code == 2 and message in result.stderr, (extra, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1
    assert (out / "digits_cnn" / "vectors.bin").read_bytes() == before
    # a missing output folder is created
    result = runner.invoke(app, ["bundle", str(shipped_tflite), "--data", "digits", "--out", str(tmp_path / "new" / "assets"),
                                 "--samples", "3"])
    assert result.exit_code == 0 and (tmp_path / "new" / "assets" / "digits_cnn" / "bundle.json").is_file(), result.stderr
    # wrong data shape, a non-model, a batch-4 model: refused, nothing written
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((3, 5, 5, 1), np.float32))
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model at all" * 4)
    batch4 = tmp_path / "b4.tflite"
    npukit.convert(npukit.models.DIGITS_CNN, batch4, batch=4)
    for model, data, message in ((shipped_tflite, str(bad), "input is (8, 8, 1)"), (junk, "digits", "not a TFLite"),
                                 (batch4, "digits", "batch is 4")):
        result = runner.invoke(app, ["bundle", str(model), "--data", data, "--out", str(out), "--name", "other"])
        assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["digits_cnn"]  # no partial or temporary folder
    # --force replaces a bundle, never a folder holding other files
    result = runner.invoke(app, ["bundle", str(shipped_tflite), "-d", "digits", "-o", str(out), "--force", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["vectors"]["samples"] == 360
    (out / "digits_cnn" / "notes.txt").write_text("mine")
    result = runner.invoke(app, ["bundle", str(shipped_tflite), "-d", "digits", "-o", str(out), "--force"])
    assert result.exit_code == 2 and "not replaced" in result.stderr
    assert (out / "digits_cnn" / "notes.txt").read_text() == "mine"


def test_read_bundle_catches_tampering(tmp_path, shipped_tflite):
    write_bundle(shipped_tflite, "digits", tmp_path, samples=5)
    folder = tmp_path / "digits_cnn"
    vectors = folder / "vectors.bin"
    blob = bytearray(vectors.read_bytes())
    blob[-1] ^= 0xFF
    vectors.write_bytes(bytes(blob))
    with pytest.raises(BadInputError, match="does not match bundle.json"):
        read_bundle(folder)
    doc = json.loads((folder / "bundle.json").read_text())
    del doc["states"]
    (folder / "bundle.json").write_text(json.dumps(doc))
    with pytest.raises(BadInputError, match="lacks states"):
        read_bundle(folder)


def test_schemas_are_valid_json_schema():
    for name in ("bundle", "device_report"):
        Draft202012Validator.check_schema(load_schema(name))


def test_time_series_data_travel_frame_by_frame(tmp_path, temporal_tflite):
    series = np.random.default_rng(3).random((6, 5, 8, 8, 1)).astype(np.float32)
    data = tmp_path / "series.npz"
    np.savez(data, x=series, y=np.arange(6) % 10)
    write_bundle(temporal_tflite, data, tmp_path, name="series")
    doc, vectors = read_bundle(tmp_path / "series")
    assert (doc["timesteps"], doc["frames_per_sample"], doc["encoding"]) == (5, 5, "time_series")
    np.testing.assert_array_equal(vectors.frames, series.reshape(6, 5, 64))
    np.testing.assert_array_equal(vectors.predictions, npukit.run_temporal(temporal_tflite, series).predictions())
    with pytest.raises(BadInputError, match="the data has 5 timesteps"):
        write_bundle(temporal_tflite, data, tmp_path, name="other", timesteps=7)


def test_uint8_io_and_foreign_models(tmp_path, shipped_model):
    from tflite_models import dynamic_batch, int8_conv

    u8 = tmp_path / "u8.tflite"
    npukit.convert(shipped_model, u8, io="uint8")
    doc = write_bundle(u8, "digits", tmp_path, samples=30)
    assert doc["inputs"][0]["dtype"] == doc["outputs"][0]["dtype"] == "uint8"
    _check_tensors(doc, u8)
    assert _schema_errors(read_bundle(tmp_path / "u8")[0]) == []
    # a .tflite npukit did not write: rate mode, class names by position, no source
    plain = tmp_path / "plain.tflite"
    plain.write_bytes(int8_conv())
    data = tmp_path / "conv.npz"
    np.savez(data, x=np.random.default_rng(0).uniform(-1, 1, (4, 6, 6, 2)).astype(np.float32))
    doc = write_bundle(plain, data, tmp_path)
    assert doc["mode"] == "rate" and doc["model"]["source"] is None and doc["host"]["accuracy"] is None
    assert len(doc["labels"]["classes"]) == 6 * 6 * 4 and not doc["vectors"]["labeled"]
    _check_tensors(doc, plain)
    dynamic = tmp_path / "dyn.tflite"
    dynamic.write_bytes(dynamic_batch())
    with pytest.raises(BadInputError, match="dynamic shape"):
        write_bundle(dynamic, data, tmp_path)
