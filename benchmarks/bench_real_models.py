"""npukit against the converters people use, on real architectures: keras.applications against the
plain TFLiteConverter, torchvision (ONNX, both exporters) against onnx2tf.

    python benchmarks/bench_real_models.py --work DIR [--onnx2tf EXE] [--torch-python PY]
                                           [--only NAME ...] [--rounds 5] [--runs 20]

Models: random weights (``weights=None``) with BatchNorm statistics re-estimated on natural
images (``benchmarks/real_images.py``: crops of photos shipped in scikit-learn and matplotlib), so
activations have realistic scales. Keras: 64 calibration images through the model's own
``preprocess_input``, logits (``classifier_activation=None``). torchvision: ImageNet-normalized
NCHW images, exported in ``--torch-python`` (an environment with torch 2.14.1 and torchvision
0.29.1: ``benchmarks/export_torchvision.py``) with torch's default exporter (dynamo) and with
``dynamo=False``.

Each converter gets the same 64 calibration images and writes full-int8 with int8 I/O, batch 1:
npukit (``npukit.convert``; ONNX models get the calibration data in NCHW, their own layout), the
plain TFLiteConverter (Keras: a static-batch concrete function, default int8 settings) and
onnx2tf (``-oiqt -qt per-channel``, calibration from a local .npy in NHWC, its layout). Per
.tflite: operator count, NN-API delegation at API 30 (``npukit.nnapi.check``), size, LiteRT
latency at 1 thread (``npukit.profile.latency``, XNNPACK on; the two files of a model measured
alternately for ``--rounds`` rounds of ``--runs`` invokes, median of the round means), cosine
similarity of the int8 logits with the float source's (Keras, or onnxruntime on the .onnx) on 32
other images (mean over images), top-1 agreement, conversion seconds. npukit converts with
``allow_cpu_fallback`` so a model that is not fully delegable is still measured (the table
says so).

``--onnx2tf-once`` converts each torchvision model with onnx2tf from the ``dynamo=False`` export
only and compares both exports' npukit files with that one (the same network and weights).
``--remeasure RESULTS.jsonl`` measures the latencies of a finished run again, the two files of
a model invoked alternately in one process (median of ``--runs`` invokes each): on a shared
machine, separate fresh processes measured minutes apart differ by up to 2x for op-for-op
identical graphs, the paired medians do not. The docs' ratios come from this pass.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from real_images import crops  # noqa: E402

import npukit  # noqa: E402
import npukit.errors  # noqa: E402
from npukit.nnapi.check import check_model  # noqa: E402
from npukit.profile.latency import cpu_name, measure_latency  # noqa: E402
from npukit.runtime import run_tflite  # noqa: E402
from npukit.tflite_file import read_tflite  # noqa: E402

KERAS = {  # class -> module holding its preprocess_input
    "MobileNetV2": "mobilenet_v2", "MobileNetV3Small": "mobilenet_v3", "MobileNetV3Large": "mobilenet_v3",
    "EfficientNetB0": "efficientnet", "ResNet50": "resnet50", "DenseNet121": "densenet", "NASNetMobile": "nasnet",
    "ConvNeXtTiny": "convnext",
}
TORCHVISION = ("resnet18", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "squeezenet1_1",
               "shufflenet_v2_x1_0", "regnet_y_400mf", "mnasnet0_5", "googlenet", "convnext_tiny")
MEAN, STD = np.array([0.485, 0.456, 0.406]) * 255, np.array([0.229, 0.224, 0.225]) * 255


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    return float(np.mean(np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-30)))


def describe(path: Path, x: np.ndarray, reference: np.ndarray, seconds: float) -> dict:
    """Static figures and accuracy of one .tflite (latency is measured later, interleaved)."""
    info = read_tflite(path.read_bytes())
    report = check_model(info, api_level=30)
    out, _ = run_tflite(path, x)
    return {
        "ops": len(info.op_names()),
        "op_types": dict(collections.Counter(info.op_names())),
        "delegated": report.delegated_ops, "total": len(report.ops), "partitions": report.partitions,
        "cpu_ops": sorted({op["op"] for op in report.ops if not op["delegated"]}),
        "kb": path.stat().st_size / 1024,
        "cosine": cosine(out, reference),
        "top1": float(np.mean(out.argmax(1) == reference.argmax(1))),
        "convert_s": seconds,
    }


def paired_latency(paths: list[Path], runs: int) -> list[float]:
    """Median 1-thread invoke time (ms) of each file, the files invoked alternately in one process
    (XNNPACK on): a burst of load on a shared machine hits every file alike, so the ratio holds
    where separate processes measured minutes apart do not."""
    from npukit.runtime.interpreter import make_interpreter

    interps = [make_interpreter(path, num_threads=1) for path in paths]
    feeds = []
    for interp in interps:
        (inp,) = interp.get_input_details()
        feeds.append((inp["index"], np.zeros(inp["shape"], inp["dtype"])))
    times: list[list[float]] = [[] for _ in paths]
    for step in range(runs + 5):
        for k, interp in enumerate(interps):
            interp.set_tensor(*feeds[k])
            start = time.perf_counter()
            interp.invoke()
            if step >= 5:  # warm-up invokes are not counted
                times[k].append((time.perf_counter() - start) * 1000)
    return [float(np.median(t)) for t in times]


def latency(paths: list[Path], rounds: int, runs: int) -> list[float]:
    """Median over rounds of the mean 1-thread latency (ms), the files measured alternately."""
    times: list[list[float]] = [[] for _ in paths]
    for _ in range(rounds):
        for k, path in enumerate(paths):
            times[k].append(measure_latency(path, runs=runs, warmup=3, threads=1)["latency_ms"]["mean"])
    return [float(np.median(t)) for t in times]


# -- Keras -------------------------------------------------------------------------------------------


def keras_model(name: str, calib: np.ndarray, folder: Path):
    """keras.applications ``name`` with BatchNorm statistics of ``calib`` (already preprocessed)."""
    import keras

    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, name)(weights=None, input_shape=(224, 224, 3), classifier_activation=None)
    norms = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:  # one training-mode pass: the moving statistics become those of the batch
        layer.momentum = 0.0
    if norms:
        model(calib[:32], training=True)
    for layer in norms:
        layer.momentum = 0.99
    path = folder / f"{name}.keras"
    model.save(path)
    return model, path


def tflite_converter(model, calib: np.ndarray, path: Path) -> float:
    """The plain TFLiteConverter (``from_keras_model``), full int8 with int8 I/O, static batch 1;
    returns seconds."""
    import keras
    import tensorflow as tf

    start = time.perf_counter()
    inputs = keras.Input((224, 224, 3), batch_size=1)  # a static batch, as npukit's model has
    converter = tf.lite.TFLiteConverter.from_keras_model(keras.Model(inputs, model(inputs)))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([calib[i : i + 1]] for i in range(len(calib)))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    path.write_bytes(converter.convert())
    return time.perf_counter() - start


def run_keras(name: str, images: dict, folder: Path, args) -> dict:
    import keras

    prep = getattr(keras.applications, KERAS[name]).preprocess_input
    calib, evalx = prep(images["calib"].copy()), prep(images["eval"].copy())
    model, path = keras_model(name, calib, folder)
    reference = model.predict(evalx, verbose=0)
    np.savez(folder / f"{name}.calib.npz", x=calib)
    start = time.perf_counter()
    npukit.convert(path, folder / f"{name}.npukit.tflite", data=folder / f"{name}.calib.npz", calibration_samples=len(calib),
                   allow_cpu_fallback=True, force=True)
    ours = describe(folder / f"{name}.npukit.tflite", evalx, reference, time.perf_counter() - start)
    seconds = tflite_converter(model, calib, folder / f"{name}.tfliteconverter.tflite")
    theirs = describe(folder / f"{name}.tfliteconverter.tflite", evalx, reference, seconds)
    ours["ms"], theirs["ms"] = latency([folder / f"{name}.npukit.tflite", folder / f"{name}.tfliteconverter.tflite"],
                                        args.rounds, args.runs)
    return {"model": f"keras {name}", "baseline": "TFLiteConverter", "npukit": ours, "other": theirs}


# -- torchvision / ONNX ------------------------------------------------------------------------------


def onnx2tf(exe: str, model: Path, calib_nhwc: np.ndarray, folder: Path) -> tuple[Path, float]:
    """onnx2tf full-integer int8 (int8 I/O), calibration from a local .npy (NHWC)."""
    import onnx

    name = onnx.load(str(model), load_external_data=False).graph.input[0].name
    np.save(folder / "calib_nhwc.npy", calib_nhwc.astype(np.float32))
    out = folder / f"{model.stem}.onnx2tf"
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    cmd = [exe, "-i", str(model), "-o", str(out), "-b", "1", "-oiqt", "-qt", "per-channel",
           "-cind", name, str(folder / "calib_nhwc.npy"), "[[[[0.0]]]]", "[[[[1.0]]]]", "-n"]
    # onnx2tf's dummy inference of 3-channel image models reads this file from the working folder
    # and downloads it when absent: give it local images instead (20 crops, 128 x 128, in [0, 1])
    sample = folder / "calibration_image_sample_data_20x128x128x3_float32.npy"
    if not sample.exists():
        np.save(sample, (crops(20, 128, 2) / 255.0).astype(np.float32))
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, cwd=folder)
    seconds = time.perf_counter() - start
    found = list(out.glob("*_full_integer_quant.tflite"))
    if done.returncode != 0 or not found:
        tail = [line for line in (done.stdout + done.stderr).strip().splitlines() if line.strip()][-1:]
        raise RuntimeError(f"onnx2tf failed (exit {done.returncode}): {tail}")
    return found[0], seconds


def ort_outputs(model: Path, x_nchw: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: x_nchw[i : i + 1]})[0] for i in range(len(x_nchw))])


_ONNX2TF: dict[str, tuple[Path, float]] = {}  # torchvision name -> onnx2tf's file of the legacy export, seconds


def run_onnx(name: str, exporter: str, images: dict, folder: Path, args) -> dict:
    model = folder / f"{name}.{exporter}.onnx"
    calib_nchw, eval_nchw = images["calib_nchw"], images["eval_nchw"]
    reference = ort_outputs(model, eval_nchw)
    eval_nhwc = np.ascontiguousarray(eval_nchw.transpose(0, 2, 3, 1))
    start = time.perf_counter()
    ours_path = folder / f"{name}.{exporter}.npukit.tflite"
    npukit.convert(model, ours_path, data=folder / "calib_nchw.npz", calibration_samples=len(calib_nchw),
                   allow_cpu_fallback=True, force=True)
    ours = describe(ours_path, eval_nhwc, reference, time.perf_counter() - start)
    row = {"model": f"torchvision {name} ({exporter})", "baseline": "onnx2tf", "npukit": ours, "other": None}
    try:
        if args.onnx2tf_once and name in _ONNX2TF:  # the same network: onnx2tf's file of the legacy export
            theirs_path, seconds = _ONNX2TF[name]
            row["baseline_from"] = "legacy export"
        else:
            theirs_path, seconds = onnx2tf(args.onnx2tf, model, calib_nchw.transpose(0, 2, 3, 1), folder)
            _ONNX2TF[name] = (theirs_path, seconds)
        row["other"] = describe(theirs_path, eval_nhwc, reference, seconds)
        ours["ms"], row["other"]["ms"] = latency([ours_path, theirs_path], args.rounds, args.runs)
    except (RuntimeError, npukit.errors.BadInputError) as exc:  # onnx2tf failed, or wrote a model LiteRT refuses
        row["other"] = None
        row["other_error"] = str(exc)[:300]
        ours["ms"] = latency([ours_path], args.rounds, args.runs)[0]
    return row


# -- report ------------------------------------------------------------------------------------------


def print_row(row: dict) -> None:
    ours, theirs = row["npukit"], row.get("other")

    def cells(r):
        if r is None:
            return "failed"
        deleg = f"{r['delegated']}/{r['total']}" + ("" if r["delegated"] == r["total"] else f" cpu:{','.join(r['cpu_ops'])}")
        return (f"ops {r['ops']:4d}  nnapi {deleg:>10}  {r['kb']:8.0f} KB  {r['ms']:7.2f} ms  cos {r['cosine']:.4f}  "
                f"top1 {r['top1']:6.1%}  conv {r['convert_s']:6.1f} s")

    print(f"{row['model']}", flush=True)
    print(f"    npukit           {cells(ours)}", flush=True)
    print(f"    {row['baseline']:16} {cells(theirs)}" + (f"  ({row['other_error']})" if row.get("other_error") else ""), flush=True)
    if theirs is not None:
        print(f"    ratio npukit/{row['baseline']}: latency {ours['ms'] / theirs['ms']:.2f}, "
              f"cosine {ours['cosine'] - theirs['cosine']:+.4f}, ops {ours['ops']}/{theirs['ops']}", flush=True)


def _files(row: dict, folder: Path) -> list[Path]:
    """The .tflite files of a result row: npukit's, then the baseline's (if it converted)."""
    kind, rest = row["model"].split(" ", 1)
    if kind == "keras":
        return [folder / f"{rest}.npukit.tflite", folder / f"{rest}.tfliteconverter.tflite"]
    name, exporter = rest.rstrip(")").split(" (")
    files = [folder / f"{name}.{exporter}.npukit.tflite"]
    if row.get("other") is not None:
        source = "legacy" if row.get("baseline_from") else exporter
        files += list((folder / f"{name}.{source}.onnx2tf").glob("*_full_integer_quant.tflite"))
    return files


def remeasure(path: Path, folder: Path, rounds: int, runs: int) -> list[dict]:
    """Latency of every pair in the JSON lines ``path`` measured again, paired in one process
    (``paired_latency``, ``runs`` alternating invokes per file; ``rounds`` is not used)."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for row in rows:
        times = paired_latency(_files(row, folder), runs)
        row["npukit"]["ms"] = times[0]
        if len(times) > 1:
            row["other"]["ms"] = times[1]
        print_row(row)
    return rows


def markdown(rows: list[dict]) -> str:
    """The docs/benchmarks.md table of result rows."""
    lines = ["| model | converts | ops (npukit / baseline) | NN-API @30 npukit | NN-API @30 baseline | KB npukit / baseline "
             "| cosine npukit / baseline | top-1 agr. npukit / baseline | latency ratio | conversion s npukit / baseline |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        a, b = row["npukit"], row.get("other")

        def deleg(r):
            return f"{r['delegated']}/{r['total']}" + ("" if r["delegated"] == r["total"] else f" (CPU: {', '.join(r['cpu_ops'])})")

        if b is None:
            lines.append(f"| {row['model']} | npukit yes, {row['baseline']} no | {a['ops']} / - | {deleg(a)} | - | {a['kb']:.0f} / - "
                         f"| {a['cosine']:.4f} / - | {a['top1']:.0%} / - | - | {a['convert_s']:.0f} / - |")
            continue
        lines.append(f"| {row['model']} | yes / yes | {a['ops']} / {b['ops']} | {deleg(a)} | {deleg(b)} | {a['kb']:.0f} / {b['kb']:.0f} "
                     f"| {a['cosine']:.4f} / {b['cosine']:.4f} | {a['top1']:.0%} / {b['top1']:.0%} | {a['ms'] / b['ms']:.2f} "
                     f"({a['ms']:.1f} / {b['ms']:.1f} ms) | {a['convert_s']:.0f} / {b['convert_s']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for models and .tflite files (kept)")
    parser.add_argument("--onnx2tf", default=shutil.which("onnx2tf"))
    parser.add_argument("--torch-python", default=None, help="python of an environment with torchvision")
    parser.add_argument("--only", nargs="*", default=None, help="model names to run (Keras class or torchvision name)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", type=Path, default=None, help="append one JSON line per model here")
    parser.add_argument("--onnx2tf-once", action="store_true",
                        help="run onnx2tf on the dynamo=False export only and compare both exports' npukit files with it "
                             "(onnx2tf takes minutes per model)")
    parser.add_argument("--remeasure", type=Path, default=None,
                        help="only measure latency again for the rows of this JSON-lines file (files in --work); "
                             "print the table and a Markdown version")
    args = parser.parse_args()
    folder = args.work
    if args.remeasure:
        rows = remeasure(args.remeasure, folder, args.rounds, args.runs)
        print(markdown(rows))
        if args.json:
            args.json.write_text("".join(json.dumps(row) + "\n" for row in rows))
        return
    folder.mkdir(parents=True, exist_ok=True)
    calib, evalx = crops(64, 224, 0), crops(32, 224, 1)
    images = {"calib": calib, "eval": evalx, "calib_nchw": ((calib - MEAN) / STD).transpose(0, 3, 1, 2).astype(np.float32),
              "eval_nchw": ((evalx - MEAN) / STD).transpose(0, 3, 1, 2).astype(np.float32)}
    np.savez(folder / "images_nchw.npz", calib=images["calib_nchw"], eval=images["eval_nchw"])
    np.savez(folder / "calib_nchw.npz", x=images["calib_nchw"])
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores; LiteRT 1 thread, XNNPACK on; {args.rounds} rounds x "
          f"{args.runs} runs, median of round means; 64 calibration / 32 evaluation images", flush=True)
    wanted = set(args.only) if args.only else None
    rows = []
    for name in KERAS:
        if wanted is None or name in wanted:
            rows.append(run_keras(name, images, folder, args))
            print_row(rows[-1])
            _save(args.json, rows[-1])
    names = [n for n in TORCHVISION if wanted is None or n in wanted]
    missing = [n for n in names if not (folder / f"{n}.legacy.onnx").exists() or not (folder / f"{n}.dynamo.onnx").exists()]
    if missing:
        if not args.torch_python:
            raise SystemExit(f"no ONNX exports of {missing} in {folder}: pass --torch-python")
        subprocess.run([args.torch_python, str(Path(__file__).parent / "export_torchvision.py"), str(folder), *missing],
                       check=True, capture_output=True)
    for name in names:
        for exporter in ("legacy", "dynamo"):
            rows.append(run_onnx(name, exporter, images, folder, args))
            print_row(rows[-1])
            _save(args.json, rows[-1])


def _save(path: Path | None, row: dict) -> None:
    if path is not None:
        with open(path, "a") as handle:
            handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
