"""Data in the model's own layout (issue 15): an ONNX model takes ``--data`` as (N, C, H, W), its
own layout, or as (N, H, W, C), on every path (convert, simulate, parity, profile's counts,
bundle); both give the same results, and a shape that fits neither is a one-line error naming
both."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

import npukit
from npukit.cli import app
from npukit.data import load_data
from npukit.errors import BadInputError
from npukit.models import DIGITS_ONNX
from npukit.runtime import run_tflite

runner = CliRunner()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("layout")
    digits = load_data("digits", "test")
    nhwc = digits.x[:64].astype(np.float32)
    np.savez(folder / "nhwc.npz", x=nhwc, y=digits.y[:64])
    np.savez(folder / "nchw.npz", x=np.ascontiguousarray(nhwc.transpose(0, 3, 1, 2)), y=digits.y[:64])
    np.savez(folder / "wrong.npz", x=nhwc[:, :, :4])
    return folder


@pytest.mark.slow
def test_convert_simulate_parity_bundle_take_nchw_data(data, tmp_path):
    models = {}
    for layout in ("nchw", "nhwc"):
        models[layout] = npukit.convert(DIGITS_ONNX, tmp_path / f"{layout}.tflite", data=data / f"{layout}.npz",
                                        calibration_samples=64).path
    probe = load_data(data / "nhwc.npz").x
    a, _ = run_tflite(models["nchw"], probe)
    b, _ = run_tflite(models["nhwc"], probe)
    np.testing.assert_array_equal(a, b)  # same calibration samples, same int8 model
    sims = [npukit.simulate(DIGITS_ONNX, data / f"{layout}.npz", timesteps=8, calibration="digits") for layout in ("nchw", "nhwc")]
    np.testing.assert_array_equal(sims[0].result.predictions(), sims[1].result.predictions())
    report = npukit.parity(DIGITS_ONNX, models["nchw"], data / "nchw.npz", timesteps=8, calibration="digits").to_dict()
    assert report["agreement"]["tflite_vs_reference"] >= 0.9
    (tmp_path / "b").mkdir()
    result = runner.invoke(app, ["bundle", str(models["nchw"]), "--data", str(data / "nchw.npz"), "--out", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output


def test_a_shape_that_fits_neither_layout_names_both(data, tmp_path):
    with pytest.raises(BadInputError, match=r"\(1, 8, 8\) \(C, H, W, the model's own layout\) or \(8, 8, 1\) \(H, W, C\)"):
        npukit.simulate(DIGITS_ONNX, data / "wrong.npz", timesteps=4, calibration="digits")
    result = runner.invoke(app, ["convert", str(DIGITS_ONNX), "-o", str(tmp_path / "x.tflite"), "--data", str(data / "wrong.npz")])
    assert result.exit_code == 2 and "C, H, W" in result.output and "H, W, C" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "x.tflite").exists()
