"""`npukit report` and `parity --sweep --plot` on every kind of shipped source: ONNX (rate),
the NIR LIF SNN (rate and temporal) and the NIR event SNN on event data (temporal, its sweep
bounded by the data's 30 frames). The Keras CNN's report runs in tests/test_profile.py and in the
README test."""

from __future__ import annotations

import base64
import html
import io
import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

import npukit
from npukit.cli import app
from npukit.models import DIGITS_EVENTS, DIGITS_LIF, DIGITS_ONNX

runner = CliRunner()
SECTIONS = ("summary", "model", "conversion", "nnapi", "parity", "latency", "energy")


def images(page: str) -> list[np.ndarray]:
    import matplotlib.image as mpimg

    return [mpimg.imread(io.BytesIO(base64.b64decode(b)), format="png")
            for b in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<img[^>]*>", "", page)))


@pytest.mark.slow
@pytest.mark.parametrize("model, args, mode, data_name", [
    (DIGITS_ONNX, [], "rate", "digits"),
    (DIGITS_LIF, ["-T", "25"], "rate", "digits"),
    (DIGITS_LIF, ["-T", "25", "--mode", "temporal"], "temporal", "digits"),
    (DIGITS_EVENTS, ["--mode", "temporal", "--data", "digits-events"], "temporal", "digits-events"),
], ids=["onnx-rate", "nir-rate", "nir-temporal", "nir-events-temporal"])
def test_report_for_every_source_kind_and_mode(tmp_path, model, args, mode, data_name):
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["report", str(model), "-o", str(out), "--runs", "5", "--samples", "48", *args])
    assert result.exit_code == 0, (result.stderr, result.stdout)
    assert result.stdout.strip() == f"wrote {out}"
    page = out.read_text()
    for section in SECTIONS:
        assert f"id='{section}'" in page, section
    assert len(images(page)) == 3  # the sweep, the latency histogram, the energy bars: all decodable
    text = " ".join(text_of(page).split())
    assert f"Converted to {mode}-mode int8 TFLite" in text and f"data: {data_name}" in text
    assert "SNN (numpy simulation)" in text and "int8 TFLite" in text
    assert "nan" not in text.split() and "internal error" not in text
    # the accuracies on the page are parity's own figures on the same samples
    rate = re.search(r"SNN \(numpy simulation\) ([\d.]+)%", text)
    assert rate and 0 <= float(rate.group(1)) <= 100


@pytest.fixture(scope="module")
def lif_rate(tmp_path_factory):
    path = tmp_path_factory.mktemp("lif") / "lif_rate.tflite"
    npukit.convert(DIGITS_LIF, path, timesteps=25, calibration_samples=128)
    return path


def test_parity_sweep_and_plot_on_a_nir_source(tmp_path, lif_rate):
    plot = tmp_path / "s.png"
    result = runner.invoke(app, ["parity", str(DIGITS_LIF), str(lif_rate), "-n", "48", "--sweep", "5,10,25",
                                 "--plot", str(plot), "--json"])
    assert result.exit_code == 0, result.stderr
    figures = json.loads(result.stdout)
    assert [row["timesteps"] for row in figures["sweep"]] == [5, 10, 25]
    assert "reference" not in figures["accuracy"]  # a spiking source has no float model
    # the sweep's last row is the simulation at T = 25, the report's own SNN figure
    assert figures["sweep"][-1]["snn_accuracy"] == pytest.approx(figures["accuracy"]["snn"], abs=1e-12)
    assert figures["plot"] == str(plot) and plot.read_bytes()[:4] == b"\x89PNG"
