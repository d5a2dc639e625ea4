"""``npukit demo``: a shipped example model through the whole pipeline.

* default: the digits CNN (Keras): int8 rate-mode TFLite, float vs SNN vs TFLite parity;
* ``snn``: the digits LIF SNN (NIR): rate-mode int8, temporal int8 and temporal float32 TFLite,
  each against the simulation;
* ``events``: the event-camera SNN (NIR, trained on the digits as event streams): the same three
  conversions on ``digits-events`` (T = 30 frames from the data), and the temporal int8 model
  packed as an Android demo bundle;
* ``rsnn``: the recurrent SNN (NIR, reading the digits one row per step): temporal int8 and
  float32 on ``digits-rows`` (a recurrent network has no rate mode), and an Android bundle.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from npukit.errors import BadInputError
from npukit.progress import Reporter, silent

SNN_RUNS = (("rate", "int8"), ("temporal", "int8"), ("temporal", "none"))
TEMPORAL_RUNS = (("temporal", "int8"), ("temporal", "none"))
EXAMPLES = ("cnn", "snn", "events", "rsnn")


def run_demo(example: str = "cnn", timesteps: int | None = None, out: str | Path | None = None, force: bool = False,
             progress: Reporter = silent) -> dict[str, Any]:
    """Run the demo of ``example`` (``EXAMPLES``); returns {"model", "data", "runs":
    [{"convert", "parity"}...], "bundle"}. Converted files go to ``out`` (a folder, created if
    missing) or a temporary folder."""
    from npukit.bundle import write_bundle
    from npukit.conversion import convert
    from npukit.models import DIGITS_CNN, DIGITS_EVENTS, DIGITS_LIF, DIGITS_LIF_TIMESTEPS, DIGITS_RSNN
    from npukit.parity import parity

    if example not in EXAMPLES:
        raise BadInputError(f"the demo example must be one of {', '.join(EXAMPLES)}. Received: {example!r}")
    source, data, runs = {
        "cnn": (DIGITS_CNN, "digits", (("rate", "int8"),)),
        "snn": (DIGITS_LIF, "digits", SNN_RUNS),
        "events": (DIGITS_EVENTS, "digits-events", SNN_RUNS),
        "rsnn": (DIGITS_RSNN, "digits-rows", TEMPORAL_RUNS),
    }[example]
    steps = timesteps or {"cnn": 32, "snn": DIGITS_LIF_TIMESTEPS}.get(example)
    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise BadInputError(f"the demo's output folder {out} is a file")
    figures: dict[str, Any] = {"model": source.name, "data": data, "runs": [], "bundle": None}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(out) if out is not None else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for mode, quantize in runs:
            suffix = "" if example == "cnn" else f"_{mode}_{'int8' if quantize == 'int8' else 'float32'}"
            target = folder / f"{source.stem}{suffix}.tflite"
            converted = convert(source, target, mode=mode, quantize=quantize, data=data, timesteps=steps, force=force,
                                progress=progress)
            report = parity(source, target, data, timesteps=steps, progress=progress)
            entry = {"convert": converted.to_dict(), "parity": report.to_dict()}
            if out is None:
                entry["convert"]["output_file"] = None
            figures["runs"].append(entry)
        if example in ("events", "rsnn"):  # the temporal int8 model for the Android app
            bundle = write_bundle(folder / f"{source.stem}_temporal_int8.tflite", data, folder / "bundles",
                                  name=f"{source.stem}_temporal", samples=60 if example == "events" else None, force=force)
            if out is None:
                bundle["folder"] = None
            figures["bundle"] = bundle
    return figures


def summary(figures: dict[str, Any]) -> str:
    """One line: the accuracy of the simulation and of every converted model on the test data."""
    parts = []
    for entry in figures["runs"]:
        report, convert = entry["parity"], entry["convert"]
        if not parts and report["accuracy"]:
            acc = report["accuracy"]
            if "reference" in acc:
                parts.append(f"float {acc['reference']:.2%}")
            parts.append(f"SNN (simulator) {acc['snn']:.2%}")
        if report["accuracy"]:
            quant = "int8" if convert["quantization"] == "int8" else "float32"
            parts.append(f"{convert['mode']} {quant} TFLite {report['accuracy']['tflite']:.2%}")
    return f"{figures['data']} test accuracy: " + ", ".join(parts)
