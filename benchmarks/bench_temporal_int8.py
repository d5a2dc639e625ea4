"""What the quantized temporal graph of a spiking network computes, per state scheme and model.

    python benchmarks/bench_temporal_int8.py [--models events,lif,rsnn,nir_if_cnn,...] [--test N]

For each spiking network, each scheme is converted by npukit from the same calibration data and
compared by ``npukit.parity`` with the float simulation on held-out samples:

* ``today``: the int8 graph npukit wrote before this benchmark existed (TensorFlow's full-integer
  post-training quantizer with its own ranges, calibrated on 48 samples' recorded steps; every
  intermediate of the neuron update its own int8 tensor; nearest rounding), rebuilt here;
* ``int8``: ``--state int8 --rounding gptq`` (everything int8, designed ranges);
* ``float32``: ``--state float32 --rounding gptq``, the default (int8 synapses, float32 states);
* ``fp16``: ``--quantize fp16`` (float32 graph, float16 kernels);
* ``none``: ``--quantize none`` (float32), the reference for size and latency.

Printed per model and scheme: top-1 agreement with the float simulation (of the LiteRT run, and
of the weight floor of that file), output spike counts equal (fraction of (sample, neuron)
pairs), accuracy (labelled data only), LiteRT = deployed-arithmetic spikes (sample, neuron,
step), file size, and LiteRT's time per step (batch 1, 1 thread, XNNPACK, host work included:
quantizing and setting inputs, reading outputs; 64 samples x T steps, best of 3, all schemes of
a model measured in the same run, the machine's load average printed).

Models: the shipped event, LIF and recurrent SNNs (test split), and networks built and exported
by their frameworks (tests/snn_zoo.py: NIR IF CNN, sinabs and snnTorch event CNNs, snnTorch
RLeaky audio network, Norse conv net; random weights, 96 calibration samples, ``--test`` held-out
samples).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import numpy as np

import npukit
from npukit import models

SCHEMES = ("today", "int8", "float32", "fp16", "none")
SHIPPED = {"events": ("DIGITS_EVENTS", "digits-events", {}), "lif": ("DIGITS_LIF", "digits", {"timesteps": 25}),
           "rsnn": ("DIGITS_RSNN", "digits-rows", {})}
ZOO = {"nir_if_cnn": 100, "sinabs_event_cnn": 300, "snntorch_event_cnn": 100, "snntorch_audio_rsnn": 100,
       "norse_conv_net": 60}
CALIBRATION = 96


def today(source, out: Path, data, settings: dict) -> None:
    """npukit's int8 temporal graph before the state schemes (module docstring), rebuilt."""
    from npukit.conversion import _metadata
    from npukit.converters.tflite_backend import run_converter
    from npukit.converters.tflite_temporal import (
        TemporalBackend, build_step_function, int8_max_counts, int8_steepness, spike_peaks,
    )
    from npukit.data import calibration_set
    from npukit.files import atomic_write
    from npukit.passes.round_weights import round_weights
    from npukit.runtime.deployed import numpy_interpreter
    from npukit.runtime.steploop import StepLoop
    from npukit.snn.encoders import encode, prepare
    from npukit.tflite_file import read_tflite

    load = {k: settings[k] for k in ("framework", "reset", "dt") if k in settings}
    graph = npukit.load(source, **load)
    calib = calibration_set(data, None, 512)
    x, steps, encoding = prepare(graph, calib.x, settings.get("timesteps"))
    backend = TemporalBackend(steps, encoding)
    metadata = _metadata(graph, data, calib, "temporal", steps, encoding, 30)
    backend.prepare(graph, x, metadata)
    flat, specs, stats = backend.calibrate(graph, x, 1)
    info = read_tflite(flat)
    ranges = {(s["layer"], s["kind"]): (stats[info.inputs[k + 1]].low, stats[info.inputs[k + 1]].high)
              for k, s in enumerate(specs)}
    steepness = int8_steepness(graph, ranges)
    max_counts = int8_max_counts(graph, spike_peaks(info, graph, stats))
    from npukit.converters.tflite_temporal import _bind

    recorded = []  # the inputs the exact float32 model sees
    loop = StepLoop(numpy_interpreter(flat, 1), _bind(info, specs))
    for i in range(min(48, len(x))):  # the old calibration: 48 samples, every step, through TensorFlow's calibrator
        loop.run(encode(x[i : i + 1], steps, encoding, 1.0, 0, i), steps,
                 lambda t, states, step: recorded.append([step.fed[0], *states]))
    fn, specs = build_step_function(graph, 1, 30, steepness, max_counts)
    blob = run_converter(fn, recorded, "int8", "int8")
    backend.state = "int8"
    blob, _ = backend._finish(blob, round_weights(graph), specs, "int8", "int8", 1, metadata, steepness, max_counts,
                              {"rounding": "nearest"})
    atomic_write(out, blob, True)


def step_time(path: Path, x: np.ndarray, steps: int | None) -> float:
    """Seconds per step of LiteRT (batch 1, 1 thread), host work included, best of 3."""
    from npukit.runtime.interpreter import make_interpreter
    from npukit.runtime.steploop import StepLoop, temporal_metadata
    from npukit.snn.encoders import encode

    meta = temporal_metadata(path)
    loop = StepLoop(make_interpreter(path, num_threads=1), meta["state_order"])
    steps = steps or int(x.shape[1])
    encoding = "time_series" if x.ndim == len(loop.frame_shape) + 2 else "current"
    frames = [encode(x[i : i + 1], steps, encoding, 1.0, 0, i) for i in range(len(x))]
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for f in frames:
            loop.run(f, steps)
        best = min(best, time.perf_counter() - start)
    return best / (len(x) * steps)


def channels_last(x: np.ndarray) -> np.ndarray:
    """(N, T, C, H, W) frames -> (N, T, H, W, C); other data as it is."""
    return x.transpose(0, 1, 3, 4, 2) if x.ndim == 5 else x


def run_model(name: str, folder: Path, test: int, schemes: list[str]) -> list[dict]:
    if name in SHIPPED:
        source_name, data, settings = SHIPPED[name]
        source, test_data, calibration = getattr(models, source_name), data, data
        from npukit.data import load_data

        x_time = load_data(data, "test").x[:64]
    else:
        import nir

        import snn_zoo

        net = snn_zoo.BUILDERS[name](samples=CALIBRATION + test, timesteps=ZOO[name])
        source = folder / f"{name}.nir"
        nir.write(str(source), net.nir_graph)
        calibration, test_data = folder / f"{name}_cal.npz", folder / f"{name}_test.npz"
        np.savez(calibration, x=net.x[:CALIBRATION])
        np.savez(test_data, x=net.x[CALIBRATION:])
        settings = {k: v for k, v in net.load_kwargs.items() if v is not None}
        x_time = net.x[CALIBRATION : CALIBRATION + 64]
    load = {k: v for k, v in settings.items() if k != "timesteps"}
    rows, paths = [], {}
    for scheme in schemes:
        out = folder / f"{name}_{scheme}.tflite"
        start = time.perf_counter()
        if scheme == "today":
            today(source, out, calibration, settings)
        else:
            options = {"quantize": scheme} if scheme in ("fp16", "none") else {"state": scheme}
            npukit.convert(source, out, mode="temporal", data=calibration, api_level=30 if scheme != "int8" else 29,
                           allow_cpu_fallback=True, **options, **settings)
        seconds = time.perf_counter() - start
        paths[scheme] = out
        report = npukit.parity(source, out, test_data, **load, timesteps=settings.get("timesteps"))
        deployed = report["deployed"]
        rows.append({
            "model": name, "scheme": scheme, "convert_s": seconds,
            "agreement": deployed["agreement"]["tflite_vs_snn"], "floor": deployed["agreement"]["floor_vs_snn"],
            "counts_equal": report["spike_agreement"], "accuracy": (report["accuracy"] or {}).get("tflite"),
            "snn_accuracy": (report["accuracy"] or {}).get("snn"),
            "predicted": deployed["spike_agreement"]["deployed_vs_tflite"], "bytes": out.stat().st_size,
            "float_synapses": len((deployed.get("tuning") or {}).get("float_synapses") or []),
        })
        print(_line(rows[-1]), flush=True)
    x = channels_last(np.asarray(x_time, np.float32))
    for scheme, path in paths.items():  # latency: all schemes of the model in one run
        next(r for r in rows if r["scheme"] == scheme)["step_us"] = 1e6 * step_time(path, x, settings.get("timesteps"))
    return rows


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def _line(r: dict) -> str:
    return (f"{r['model']:20s} {r['scheme']:8s} top-1 {_pct(r['agreement']):>7s} floor {_pct(r['floor']):>7s} "
            f"counts= {_pct(r['counts_equal']):>7s} acc {_pct(r['accuracy']):>7s} (SNN {_pct(r['snn_accuracy'])}) "
            f"predicted {r['predicted']:.5f} {r['bytes']:>8,d} B  float synapses {r['float_synapses']}  "
            f"converted in {r['convert_s']:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join([*SHIPPED, *ZOO]))
    parser.add_argument("--schemes", default=",".join(SCHEMES))
    parser.add_argument("--test", type=int, default=256, help="held-out samples of the framework networks")
    args = parser.parse_args()
    from npukit.profile.latency import cpu_name

    print(f"# {cpu_name()}, load average {os.getloadavg()[0]:.2f} at start")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            rows += run_model(name, Path(tmp), args.test, args.schemes.split(","))
    print(f"# load average {os.getloadavg()[0]:.2f} at the end\n")
    print("| model | scheme | top-1 agreement (LiteRT) | weight floor | counts equal | accuracy | LiteRT = prediction | bytes | us / step | float32 synapses |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['scheme']} | {_pct(r['agreement'])} | {_pct(r['floor'])} | {_pct(r['counts_equal'])} | "
              f"{_pct(r['accuracy'])} | {100 * r['predicted']:.3f}% | {r['bytes']:,} | {r.get('step_us', float('nan')):.0f} | "
              f"{r['float_synapses']} |")


if __name__ == "__main__":
    main()
