"""What a new user meets in the first hour: the default data on a model it cannot fit, a .tflite
made from another model, outputs that say where they went, latencies under 1 ms, the profile
plot's bars."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

import npukit
from npukit.cli import app
from npukit.errors import BadInputError
from npukit.models import DIGITS_CNN, DIGITS_LIF, DIGITS_ONNX

runner = CliRunner()


@pytest.fixture(scope="module")
def other_shape_model(tmp_path_factory):
    """A small Keras CNN on 6 x 6 x 2 inputs: the digits (8 x 8 x 1) cannot feed it."""
    import keras

    keras.utils.set_random_seed(0)
    path = tmp_path_factory.mktemp("other") / "other.keras"
    keras.Sequential([keras.Input((6, 6, 2)), keras.layers.Conv2D(4, 3, activation="relu"), keras.layers.Flatten(),
                      keras.layers.Dense(3)]).save(path)
    return path


def test_the_default_data_is_named_when_it_cannot_fit(tmp_path, other_shape_model):
    with pytest.raises(BadInputError) as caught:
        npukit.simulate(other_shape_model)
    message = str(caught.value)
    assert "no data given" in message and "default data (digits" in message
    assert "(8, 8, 1)" in message and "(6, 6, 2)" in message and "data=..." in message
    for args in (["simulate", other_shape_model], ["convert", other_shape_model, "-o", tmp_path / "o.tflite"],
                 ["report", other_shape_model, "-o", tmp_path / "o.html"]):
        result = runner.invoke(app, [str(a) for a in args])
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1, (args, result.stderr)
        assert "default data (digits: samples of shape (8, 8, 1))" in lines[0] and "pass --data" in lines[0]
    assert not list(tmp_path.iterdir())
    # data that fits is used; a float32 conversion needs no data, so the default is not required
    data = tmp_path / "d.npz"
    np.savez(data, x=np.random.default_rng(0).uniform(0, 1, (10, 6, 6, 2)).astype(np.float32))
    assert npukit.simulate(other_shape_model, data, timesteps=4).to_dict()["samples"] == 10
    result = npukit.convert(other_shape_model, tmp_path / "f32.tflite", quantize="none", api_level=27)
    assert result.metadata["labels"] is None and result.metadata["calibration"] is None
    # data given explicitly that does not fit says so without blaming a default
    with pytest.raises(BadInputError, match=r"data samples have shape \(8, 8, 1\)") as caught:
        npukit.simulate(other_shape_model, "digits")
    assert "default" not in str(caught.value)


def test_a_tflite_from_another_model_is_refused_or_flagged(shipped_tflite):
    # the digits CNN converted from Keras, compared with the LIF SNN: refused before any work
    with pytest.raises(BadInputError) as caught:
        npukit.parity(DIGITS_LIF, shipped_tflite)
    message = str(caught.value)
    assert "was converted from digits_cnn.keras" in message and "not from" in message and "allow_source_mismatch=True" in message
    result = runner.invoke(app, ["parity", str(DIGITS_LIF), str(shipped_tflite)])
    assert result.exit_code == 2 and "pass --allow-source-mismatch to compare them anyway" in result.stderr
    # the same network from another file (the ONNX export): compared on request, with a warning
    report = npukit.parity(DIGITS_ONNX, shipped_tflite, samples=24, allow_source_mismatch=True)
    assert report["tflite_model"]["source_matches"] is False
    assert any("not from" in w and "two different models" in w for w in report["warnings"])
    result = runner.invoke(app, ["parity", str(DIGITS_ONNX), str(shipped_tflite), "-n", "24", "--allow-source-mismatch"])
    assert result.exit_code == 0 and "warning: " in result.stdout and "two different models" in result.stdout
    # its own source: no warning
    report = npukit.parity(DIGITS_CNN, shipped_tflite, samples=24)
    assert report["tflite_model"]["source_matches"] is True and report["warnings"] == []


def test_save_and_plot_say_what_they_wrote(tmp_path, shipped_tflite):
    spikes, sweep = tmp_path / "spikes.npz", tmp_path / "sweep.png"
    result = runner.invoke(app, ["simulate", str(DIGITS_CNN), "-T", "4", "-n", "16", "--save", str(spikes)])
    assert result.exit_code == 0 and result.stdout.strip().splitlines()[-1].startswith(f"wrote {spikes}")
    result = runner.invoke(app, ["parity", str(DIGITS_CNN), str(shipped_tflite), "-n", "16", "--sweep", "1,2",
                                 "--plot", str(sweep)])
    assert result.exit_code == 0 and result.stdout.strip().splitlines()[-1].startswith(f"wrote {sweep}")
    assert spikes.is_file() and sweep.read_bytes()[:4] == b"\x89PNG"


def test_times_under_a_millisecond_are_printed_in_microseconds():
    from npukit.reports import duration

    assert [duration(v) for v in (0.0065, 0.053, 0.41234, 1.0, 41.68, 1234.5)] == [
        "6.50 us", "53.0 us", "412 us", "1.00 ms", "41.7 ms", "1234 ms"]


def test_profile_text_and_plot(tmp_path, shipped_tflite):
    plot = tmp_path / "profile.png"
    result = runner.invoke(app, ["profile", str(shipped_tflite), "--source", str(DIGITS_CNN), "--data", "digits",
                                 "--runs", "20", "--plot", str(plot), "--json"])
    assert result.exit_code == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["plot"] == str(plot) and plot.read_bytes()[:4] == b"\x89PNG"
    from npukit.reports import render_profile

    text = render_profile(figures)
    steady = next(line for line in text.splitlines() if line.startswith("steady state"))
    printed = dict((k, (float(v), u)) for k, v, u in re.findall(r"(\w+) ([\d.]+) (us|ms)", steady))
    assert set(printed) == {"mean", "std", "min", "max", "p50", "p90", "p99"}
    for key, (value, unit) in printed.items():  # the JSON's ms, printed in us below 1 ms, 3 digits
        ms = figures["latency_ms"][key]
        assert unit == ("us" if ms < 1 else "ms"), (key, ms, unit)
        assert value * (1e-3 if unit == "us" else 1) == pytest.approx(ms, rel=5e-3, abs=1e-6), (key, ms, value)
    assert text.splitlines()[-1] == f"wrote {plot} (latency histogram and energy per layer)"


def test_energy_bars_are_in_microjoules_without_zero_stubs(monkeypatch):
    """The bars drawn, read back from matplotlib: per-layer values in uJ summing to the totals
    in uJ, and no bar where a layer costs nothing on a platform."""
    import matplotlib.axes

    from npukit.profile import plots

    figures = {
        "energy_uj": {"cpu": {"uj": 3.5}, "chip": {"uj": 0.002}},
        "layers": [
            {"name": "conv", "energy_pj": {"cpu": 3.0e6, "chip": 2000.0}},
            {"name": "relu", "energy_pj": {"cpu": 0.5e6, "chip": 0.0}},  # free on the chip
            {"name": "flatten", "energy_pj": {"cpu": 0.0, "chip": 0.0}},  # free everywhere
        ],
    }
    drawn = {}
    real_bar = matplotlib.axes.Axes.bar

    def bar(self, x, height, *args, label=None, **kwargs):
        drawn[label] = list(height)
        return real_bar(self, x, height, *args, label=label, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "bar", bar)
    png = plots.energy_bars(figures)
    assert png[:4] == b"\x89PNG"
    by_platform = {label.split(" ")[0]: values for label, values in drawn.items()}
    assert by_platform["cpu"] == pytest.approx([3.0, 0.5]) and sum(by_platform["cpu"]) == pytest.approx(3.5)
    assert by_platform["chip"] == pytest.approx([0.002])  # no stub for relu
    assert all("uJ" in label for label in drawn)
