"""int8 against float32 TFLite of the same network: latency and size ratios, 1 and 2 threads.

    python benchmarks/bench_int8_vs_float.py [--runs 50] [--rounds 5] [--skip-mobilenet]

Networks, each converted by npukit twice (int8 full-integer, and --quantize none):
* the shipped digits CNN (Keras), rate mode;
* the shipped digits LIF SNN (NIR), rate mode and temporal mode (one timestep per invoke);
* keras.applications.MobileNetV2 (weights=None, 224x224x3, random weights: latency does not
  depend on them), calibrated on 16 random images.

Latency: ``npukit.profile.latency.measure_latency`` (a fresh process per measurement, LiteRT
with its default XNNPACK delegate), mean of the steady-state invokes; the int8 and float32
files of a network are measured alternately for ``--rounds`` rounds and the medians printed. Also printed: the float
IR evaluator against Keras on MobileNetV2 (max abs difference), and whether each int8 model is
fully delegated to NN-API at API 30.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

import npukit
from npukit.models import DIGITS_CNN, DIGITS_LIF, DIGITS_LIF_TIMESTEPS
from npukit.profile.latency import cpu_name, measure_latency



def mobilenet(folder: Path) -> tuple[Path, Path, float]:
    """MobileNetV2 as .keras, random calibration images, and the IR-vs-Keras max difference."""
    from npukit.quiet import import_tensorflow
    from npukit.reference import evaluate

    import_tensorflow()
    import keras

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))
    path = folder / "mobilenet_v2.keras"
    model.save(path)
    x = np.random.default_rng(0).uniform(-1, 1, (16, 224, 224, 3)).astype(np.float32)
    data = folder / "calibration.npz"
    np.savez(data, x=x)
    graph = npukit.load(path)
    diff = float(np.max(np.abs(evaluate(graph, x[:2])[graph.output] - model.predict(x[:2], verbose=0))))
    return path, data, diff


def interleaved(files: dict, rounds: int, runs: int, threads: int) -> dict[str, float]:
    """Median over ``rounds`` of the mean latency (ms) of each file, the files measured
    alternately within each round (a busy moment of a shared machine hits both)."""
    times: dict[str, list[float]] = {q: [] for q in files}
    for _ in range(rounds):
        for q, r in files.items():
            times[q].append(measure_latency(r.path, runs=runs, warmup=5, threads=threads)["latency_ms"]["mean"])
    return {q: float(np.median(t)) for q, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per pair; medians are printed")
    parser.add_argument("--skip-mobilenet", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cases = [
            ("digits CNN", DIGITS_CNN, "digits", {"mode": "rate"}),
            ("digits LIF SNN, rate", DIGITS_LIF, "digits", {"mode": "rate", "timesteps": DIGITS_LIF_TIMESTEPS}),
            ("digits LIF SNN, temporal (per step)", DIGITS_LIF, "digits", {"mode": "temporal", "timesteps": DIGITS_LIF_TIMESTEPS}),
        ]
        note = None
        if not args.skip_mobilenet:
            path, data, diff = mobilenet(folder)
            cases.append(("MobileNetV2 224", path, str(data), {"mode": "rate", "calibration_samples": 16}))
            note = f"MobileNetV2: float IR evaluator vs Keras, max abs difference {diff:.2e} on 2 images"
        print(f"machine: {cpu_name()}, {os.cpu_count()} cores; LiteRT via ai_edge_litert, XNNPACK on, {args.rounds} "
              f"alternating rounds of {args.runs} runs, medians of the round means")
        header = f"{'network':38} {'int8 KB':>9} {'f32 KB':>9} {'size':>6} {'f32 ms 1t':>10} {'i8 ms 1t':>9} {'ratio':>6} {'f32 ms 2t':>10} {'i8 ms 2t':>9} {'ratio':>6}  NN-API@30"
        print(header)
        for name, source, data, options in cases:
            files = {}
            for quantize in ("int8", "none"):
                target = folder / f"{Path(source).stem}_{options['mode']}_{quantize}.tflite"
                files[quantize] = npukit.convert(source, target, data=data, quantize=quantize, force=True, **options)
            sizes = {q: r.model_bytes for q, r in files.items()}
            row = f"{name:38} {sizes['int8'] / 1024:9.1f} {sizes['none'] / 1024:9.1f} {sizes['int8'] / sizes['none']:6.2f}"
            for threads in (1, 2):
                times = interleaved(files, args.rounds, args.runs, threads)
                row += f" {times['none']:10.3f} {times['int8']:9.3f} {times['int8'] / times['none']:6.2f}"
            delegated = files["int8"].delegation
            row += f"  {delegated.delegated_ops}/{len(delegated.ops)}{' whole' if delegated.fully_delegated else ''}"
            print(row)
        print("ratio = int8 / float32 (below 1: int8 smaller or faster)")
        if note:
            print(note)


if __name__ == "__main__":
    main()
