"""npukit against onnx2tf on the same ONNX model: ops, NN-API delegation, size, latency, accuracy.

    python benchmarks/bench_onnx2tf.py [--model models/digits_cnn.onnx] [--runs 200]

Both converters get the shipped digits CNN (``models/digits_cnn.onnx``, NCHW, a symbolic batch
fixed to 1) and the same 256 calibration samples of the digits train split, and write full-int8
models with int8 input and output (onnx2tf: ``-oiqt -qt per-channel``, its
``*_full_integer_quant.tflite``; npukit: ``npukit.convert`` defaults). Printed for each .tflite:
op count and op types, ops the NN-API delegate takes at API 30 and partitions (npukit's
checker, ``npukit check``), size, LiteRT latency (``npukit.profile.latency``: fresh process,
1 thread, XNNPACK on, mean of ``--runs`` invokes) and top-1 accuracy on the digits test split
against onnxruntime's float accuracy and agreement with it.

onnx2tf is not a dependency of npukit: install it in a separate environment (it pins its own
tensorflow and numpy) and point ``--onnx2tf`` at its executable, or leave it on PATH.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

import npukit
from npukit.data import load_data
from npukit.models import DIGITS_ONNX
from npukit.nnapi.check import check_model
from npukit.profile.latency import cpu_name, measure_latency
from npukit.runtime import run_tflite
from npukit.tflite_file import read_tflite


def onnx2tf(exe: str, model: Path, calib: np.ndarray, folder: Path) -> Path:
    """Convert with onnx2tf; returns its full-integer model (int8 I/O)."""
    name = _input_name(model)
    np.save(folder / "calib.npy", calib)
    out = folder / "onnx2tf"
    cmd = [exe, "-i", str(model), "-o", str(out), "-b", "1", "-oiqt", "-qt", "per-channel",
           "-cind", name, str(folder / "calib.npy"), "[[[[0.0]]]]", "[[[[1.0]]]]", "-n"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"onnx2tf failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    (path,) = out.glob("*_full_integer_quant.tflite")
    return path


def _input_name(model: Path) -> str:
    import onnx

    return onnx.load(str(model), load_external_data=False).graph.input[0].name


def ort_outputs(model: Path, x_nhwc: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return session.run(None, {_input_name(model): np.transpose(x_nhwc, (0, 3, 1, 2))})[0]


def describe(path: Path, x: np.ndarray, y: np.ndarray, reference: np.ndarray, runs: int) -> dict:
    info = read_tflite(path.read_bytes())
    ops = collections.Counter(info.op_names())
    report = check_model(path, api_level=30)
    out, _ = run_tflite(path, x)
    return {
        "ops": sum(ops.values()),
        "types": ", ".join(f"{k}x{v}" if v > 1 else k for k, v in sorted(ops.items())),
        "nnapi": f"{report.delegated_ops}/{len(report.ops)}, {report.partitions} partition(s)",
        "kb": path.stat().st_size / 1024,
        "ms": measure_latency(path, runs=runs, warmup=10, threads=1)["latency_ms"]["mean"],
        "acc": float(np.mean(out.argmax(1) == y)),
        "agree": float(np.mean(out.argmax(1) == reference.argmax(1))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path(DIGITS_ONNX))
    parser.add_argument("--onnx2tf", default=shutil.which("onnx2tf"), help="onnx2tf executable")
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    train, test = load_data("digits", "train"), load_data("digits", "test")
    calib = train.x[:256].astype(np.float32)
    reference = ort_outputs(args.model, test.x)
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores")
    print(f"onnxruntime float32: top-1 {np.mean(reference.argmax(1) == test.y):.2%} on {len(test.y)} digits test samples")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = {"npukit": npukit.convert(args.model, folder / "npukit.tflite", data="digits", calibration_samples=256).path}
        if args.onnx2tf:
            files["onnx2tf"] = onnx2tf(args.onnx2tf, args.model, calib, folder)
        else:
            print("onnx2tf not found: pass --onnx2tf PATH (install it in its own environment)")
        rows = {name: describe(Path(path), test.x, test.y, reference, args.runs) for name, path in files.items()}
    print(f"{'converter':10} {'ops':>4} {'NN-API@30':>18} {'KB':>7} {'ms 1t':>7} {'top-1':>7} {'agree':>7}  op types")
    for name, r in rows.items():
        print(f"{name:10} {r['ops']:4d} {r['nnapi']:>18} {r['kb']:7.1f} {r['ms']:7.4f} {r['acc']:7.2%} {r['agree']:7.2%}  {r['types']}")
    if len(rows) == 2:
        print(f"latency ratio npukit/onnx2tf: {rows['npukit']['ms'] / rows['onnx2tf']['ms']:.2f}; "
              f"op ratio: {rows['npukit']['ops'] / rows['onnx2tf']['ops']:.2f}")


if __name__ == "__main__":
    main()
