"""``npukit bundle``: a converted model packed for the Android demo.

A bundle is one folder ``OUT/NAME/`` holding

* ``model.tflite``: the model, byte for byte;
* ``vectors.bin``: test samples, their labels and the host's predictions (layout below);
* ``labels.txt``: class names, one per line (UTF-8), line k = output position k;
* ``bundle.json``: everything the app needs to know about the three files (tensor names,
  dtypes, shapes, quantization, mode, T, state tensor order), following
  ``npukit/schemas/bundle.schema.json``. docs/bundle.md explains each key.

``vectors.bin`` (layout ``npkv1``), all little-endian::

    offset 0   4 bytes   magic b"NPKV"
    offset 4   uint32    layout version (1)
    offset 8   uint32    N, samples
    offset 12  uint32    F, frames per sample (1: the one frame is fed at every timestep)
    offset 16  uint32    E, elements per frame (the input shape without its batch axis)
    offset 20  uint32    flags (bit 0: the labels are real; clear: all labels are -1)
    offset 24  int32[N]  labels (-1: none)
    then       int32[N]  host predictions: argmax of the readout on the host's LiteRT
    then       float32[N * F * E]  frames, sample-major, then frame, then element in the
                         model's input layout (NHWC, channels fastest), as float values before
                         quantization (the app quantizes them with the input's scale and zero point)

The file is exactly 24 + 8 N + 4 N F E bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import stat
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from npukit import interrupt
from npukit.errors import BadInputError
from npukit.validation import positive_int

MAGIC = b"NPKV"
LAYOUT_VERSION = 1
HEADER = struct.Struct("<4sIIIII")
FILES = ("model.tflite", "vectors.bin", "labels.txt", "bundle.json")
MAX_VECTOR_BYTES = 256 << 20  # an APK's assets are not the place for more
_DTYPES = {"FLOAT32": "float32", "INT8": "int8", "UINT8": "uint8", "INT32": "int32"}  # int32: token ids, unquantized
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass
class Vectors:
    """Decoded ``vectors.bin``: labels (N,) int32 (-1: none), host predictions (N,) int32,
    frames (N, F, E) float32, and whether the labels are real."""

    labels: np.ndarray
    predictions: np.ndarray
    frames: np.ndarray
    labeled: bool


def encode_vectors(labels: np.ndarray | None, predictions: np.ndarray, frames: np.ndarray) -> bytes:
    """The ``npkv1`` bytes of ``frames`` (N, F, E) with their labels and host predictions."""
    frames = np.ascontiguousarray(frames, dtype="<f4")
    n, f, e = frames.shape
    labeled = labels is not None
    lab = np.full(n, -1, "<i4") if labels is None else np.asarray(labels, "<i4")
    header = HEADER.pack(MAGIC, LAYOUT_VERSION, n, f, e, 1 if labeled else 0)
    return header + lab.tobytes() + np.asarray(predictions, "<i4").tobytes() + frames.tobytes()


def decode_vectors(blob: bytes, source: str = "vectors.bin") -> Vectors:
    """Parse ``npkv1`` bytes; a wrong magic, version or size is a BadInputError."""
    if len(blob) < HEADER.size:
        raise BadInputError(f"{source}: {len(blob)} bytes, shorter than the {HEADER.size}-byte header")
    magic, version, n, f, e, flags = HEADER.unpack_from(blob)
    if magic != MAGIC:
        raise BadInputError(f"{source}: not an npukit vectors file (magic {magic!r})")
    if version != LAYOUT_VERSION:
        raise BadInputError(f"{source}: layout version {version}; this npukit reads {LAYOUT_VERSION}")
    expected = HEADER.size + 8 * n + 4 * n * f * e
    if len(blob) != expected:
        raise BadInputError(f"{source}: {len(blob)} bytes, but N={n}, F={f}, E={e} make {expected}")
    at = HEADER.size
    labels = np.frombuffer(blob, "<i4", n, at).astype(np.int32)
    predictions = np.frombuffer(blob, "<i4", n, at + 4 * n).astype(np.int32)
    frames = np.frombuffer(blob, "<f4", n * f * e, at + 8 * n).astype(np.float32).reshape(n, f, e)
    return Vectors(labels, predictions, frames, bool(flags & 1))


def _tensor(model, index: int) -> dict[str, Any]:
    t = model.tensors[index]
    if t.dtype not in _DTYPES:
        raise BadInputError(f"tensor {t.name!r} is {t.dtype}; the Android demo feeds float32, int8, uint8 or int32 tensors")
    if any(d <= 0 for d in t.shape_signature):
        raise BadInputError(f"tensor {t.name!r} has a dynamic shape {list(t.shape_signature)}; bundle static-shape models")
    if t.per_channel:
        raise BadInputError(f"tensor {t.name!r} is quantized per channel; model inputs and outputs must be per tensor")
    quantized = t.dtype in ("INT8", "UINT8")
    if quantized and (not t.scale or t.scale[0] <= 0):
        raise BadInputError(f"tensor {t.name!r} is {t.dtype} without a positive quantization scale")
    return {
        "name": t.name, "dtype": _DTYPES[t.dtype], "shape": [int(d) for d in t.shape],
        "scale": float(t.scale[0]) if quantized else None, "zero_point": int(t.zero_point[0]) if quantized else None,
    }


def _states(meta: dict[str, Any], inputs: list[dict], outputs: list[dict]) -> list[dict[str, Any]]:
    states = []
    for s in meta.get("state_order") or []:
        i, o = int(s["input"]), int(s["output"])
        if not (0 < i < len(inputs) and 0 < o < len(outputs)):
            raise BadInputError(f"state {s.get('layer')!r} names input {i} / output {o}, which the model lacks")
        if inputs[i]["shape"][1:] != outputs[o]["shape"][1:]:
            raise BadInputError(f"state {s.get('layer')!r}: input {i} and output {o} differ in shape")
        if not np.isfinite(s["init"]):
            raise BadInputError(f"state {s.get('layer')!r} has a non-finite initial value")
        states.append({"layer": str(s["layer"]), "kind": s["kind"], "input": i, "output": o, "init": float(s["init"])})
    if len(states) != len(inputs) - 1:
        raise BadInputError(f"the model has {len(inputs)} inputs but its metadata names {len(states)} state tensors")
    return states


def _frames(meta, mode, x, frame, timesteps):
    """(frames (N, F, E), F, T, encoding, what to give run_temporal)."""
    from npukit.ir.layout import chw, data_to_ir
    from npukit.snn.encoders import TIME_SERIES, encode, has_time_axis, resolve_timesteps
    from npukit.tflite_file import metadata_timesteps

    n = x.shape[0]
    lead = 2 if has_time_axis(x, frame) else 1
    channels_first = meta.get("input_layout", "CHW") == "CHW"  # NIR, ONNX sources (older files: allowed)
    if channels_first and len(frame) == 3 and tuple(x.shape[lead:]) == chw(frame) and chw(frame) != frame:
        x = data_to_ir(x, lead)  # channels-first samples (NIR, ONNX) in the model's NHWC layout
    if mode == "rate":
        if timesteps is not None:
            raise BadInputError("timesteps apply to temporal-mode models; a rate-mode model runs once per sample")
        if lead == 2:  # a rate-mode model sees a time series' mean over T (docs/snn.md)
            x = np.ascontiguousarray(x.mean(axis=1, dtype=np.float32))
        if tuple(x.shape[1:]) != frame:
            also = f" or {chw(frame)} (C, H, W, the source model's layout)" if meta.get("input_layout") == "CHW" else ""
            raise BadInputError(f"data samples have shape {tuple(x.shape[1:])} but the model's input is {frame}{also}")
        return x.reshape(n, 1, -1), 1, 1, "none", x
    series = has_time_axis(x, frame)
    # a time axis in the data fixes T; else the timesteps asked for, else the model's own T
    steps, encoding = resolve_timesteps(
        x, frame, timesteps if series or timesteps is not None else (metadata_timesteps(meta) if "timesteps" in meta else None),
        meta.get("encoding", "current"),
    )
    if tuple(x.shape[2 if series else 1:]) != frame:
        raise BadInputError(f"data samples have frames of shape {tuple(x.shape[2 if series else 1:])} but the model's input frame is {frame}")
    if not 1 <= steps <= 100_000:
        raise BadInputError(f"timesteps must be an integer in 1..100000. Received: {steps}")
    if encoding == TIME_SERIES:
        return x.reshape(n, steps, -1), steps, steps, TIME_SERIES, x
    if encoding == "current":
        return x.reshape(n, 1, -1), 1, steps, "current", x
    # spike encoders draw per sample from (seed 0, sample index): the same series the host runs
    spikes = np.moveaxis(encode(x, steps, encoding, float(meta.get("input_max", 1.0)), 0, 0), 0, 1)
    return spikes.reshape(n, steps, -1), steps, steps, encoding, np.ascontiguousarray(spikes)


def _classes(meta, dataset, n_out: int) -> list[str]:
    """The class names labels.txt holds, checked as ``read_bundle`` checks them (one function)."""
    from npukit.files import check_class_names

    if meta.get("labels"):
        classes = check_class_names(meta["labels"], "the model's class names (its npukit metadata)")
    elif dataset.class_names:
        classes = check_class_names(dataset.class_names, "the data's class names")
    else:
        classes = [str(k) for k in range(n_out)]
    if len(classes) != n_out:
        raise BadInputError(f"{len(classes)} class names for a readout of {n_out} values")
    return classes


def write_bundle(
    model: str | Path,
    data: str | Path,
    out: str | Path,
    name: str | None = None,
    samples: int | None = None,
    timesteps: int | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Write the bundle of ``model`` (a .tflite) with the test samples of ``data`` (``digits``
    or an .npz) into ``out/name/`` (name: the model's file stem). ``samples`` keeps the first
    ones; ``timesteps`` overrides a temporal model's T. Returns ``bundle.json`` plus ``folder``.

    The folder is written whole or not at all; an existing bundle is replaced only with
    ``force``, and a folder holding anything but bundle files never is."""
    from npukit.data import load_data
    from npukit.runtime import interpreter_name, run_temporal, run_tflite
    from npukit.tflite_file import read_tflite

    model = Path(model)
    out = Path(out)
    name = name if name is not None else re.sub(r"[^A-Za-z0-9_.-]", "_", model.stem).lstrip("._-") or "model"
    if not _NAME.match(name):
        raise BadInputError(f"bundle name {name!r}: use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit")
    if out.exists() and not out.is_dir():
        raise BadInputError(f"the bundle's output folder {out} is a file")
    target = out / name
    _check_target(target, force)
    if model.suffix.lower() != ".tflite":
        raise BadInputError(f"{model}: bundle takes a .tflite (convert the model first: npukit convert)")
    tfl = read_tflite(model)
    blob = tfl.raw
    meta = tfl.npukit_metadata() or {}
    mode = meta.get("mode", "rate")
    readout = meta.get("readout", "mean") if mode == "temporal" else "mean"
    if readout not in ("mean", "last"):
        raise BadInputError(
            f"the model's output is a sequence (readout {readout!r}): the Android demo scores one prediction per "
            f"sample, from the mean or the last of the per-step readouts"
        )
    inputs = [_tensor(tfl, i) for i in tfl.inputs]
    outputs = [_tensor(tfl, i) for i in tfl.outputs]
    if inputs[0]["shape"][0] != 1:
        raise BadInputError(f"the model's batch is {inputs[0]['shape'][0]}; the Android demo runs batch 1 (convert it with batch=1)")
    if mode == "rate" and (len(inputs) != 1 or len(outputs) != 1):
        raise BadInputError(f"a rate-mode model has one input and one output; this one has {len(inputs)} and {len(outputs)}")
    states = _states(meta, inputs, outputs) if mode == "temporal" else []
    if samples is not None:
        positive_int("samples", samples)
    dataset = load_data(data, split="test").head(samples)
    frame = tuple(inputs[0]["shape"][1:])
    frames, per_sample, steps, encoding, feed = _frames(meta, mode, dataset.x, frame, timesteps)
    size = HEADER.size + 8 * frames.shape[0] + 4 * frames.size
    if size > MAX_VECTOR_BYTES:
        raise BadInputError(f"the test vectors would take {size / 2**20:.0f} MiB (limit {MAX_VECTOR_BYTES >> 20}); keep fewer samples")
    n_out = int(np.prod(outputs[0]["shape"][1:]))
    classes = _classes(meta, dataset, n_out)
    y = dataset.y
    if y is not None and (y.min() < 0 or y.max() >= n_out):
        raise BadInputError(f"the data's labels span {y.min()}..{y.max()} but the model has {n_out} classes")
    if mode == "rate":
        result = run_tflite(blob, feed)[0]
    else:
        result = run_temporal(blob, feed, steps).readouts
    predictions = result.reshape(result.shape[0], -1).argmax(axis=1).astype(np.int32)
    vectors = encode_vectors(y, predictions, frames)
    doc = {
        "format": "npukit-android-bundle", "version": 1, "name": name,
        "npukit_version": _version(),
        "model": {
            "file": "model.tflite", "bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest(),
            "operators": len(tfl.operators),
            "source": (meta.get("source") or {}).get("file"), "quantization": meta.get("quantization"),
            "state": meta.get("state") if mode == "temporal" else None, "rounding": meta.get("rounding"),
            "api_level": meta.get("api_level"), "framework": meta.get("framework"),
        },
        "vectors": {
            "file": "vectors.bin", "bytes": len(vectors), "sha256": hashlib.sha256(vectors).hexdigest(),
            "layout": "npkv1", "samples": int(frames.shape[0]), "elements_per_frame": int(frames.shape[2]),
            "labeled": y is not None, "data": dataset.name, "input_preprocessing": dataset.preprocessing,
        },
        "labels": {"file": "labels.txt", "classes": classes},
        "mode": mode, "readout": readout, "timesteps": steps, "encoding": encoding, "frames_per_sample": per_sample,
        "inputs": inputs, "outputs": outputs, "frame_input": 0, "readout_output": 0, "states": states,
        "spiking_output": bool(meta.get("spiking_output", False)),
        "host": {
            "interpreter": interpreter_name(),
            "accuracy": None if y is None else float(np.mean(predictions == y)),
            "predictions": "vectors.bin",
        },
    }
    from npukit.schemas import validate

    validate(doc, "bundle", "bundle.json")  # a bug if it fails: the writer breaks its own schema
    files = {
        "model.tflite": blob, "vectors.bin": vectors, "labels.txt": ("\n".join(classes) + "\n").encode(),
        "bundle.json": (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode(),
    }
    out.mkdir(parents=True, exist_ok=True)  # a missing output folder is created
    _write_folder(target, files, force)
    return {**doc, "folder": str(target)}


def _version() -> str:
    from npukit.version import __version__

    return __version__


def _check_target(target: Path, force: bool) -> None:
    if not os.path.lexists(target):
        return
    if not force:
        raise BadInputError(f"{target} exists; pass force=True to replace the bundle")
    _check_replaceable(target, target)


def _check_replaceable(folder: Path, target: Path) -> None:
    """What ``force`` may replace: a real folder (no link) holding only bundle files (regular)."""
    if not stat.S_ISDIR(os.lstat(folder).st_mode):
        raise BadInputError(f"{target} is not a bundle folder (a file, link or device); not replaced")
    for entry in os.scandir(folder):
        if entry.name not in FILES or not entry.is_file(follow_symlinks=False):
            raise BadInputError(f"{target} holds files that are not a bundle's; not replaced (choose another bundle name)")


def _write_folder(target: Path, files: dict[str, bytes], force: bool = False) -> None:
    """Write ``files`` into a temporary sibling folder, then give it the name ``target``.

    "Nothing replaced without ``force``" holds at the moment of the swap: the name is claimed
    with mkdir (which fails if anything holds it, even something created a moment ago) and the
    finished folder renamed over that empty claim. With ``force`` the existing bundle is first
    renamed aside (atomically: whatever is there at that moment) and checked to hold bundle files
    only; anything else is put back. On failure nothing changes."""
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    old: Path | None = None
    claimed = False
    try:
        for file_name, payload in files.items():
            with open(tmp / file_name, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
        tmp.chmod(0o755)
        interrupt.check()  # a Ctrl-C that a library swallowed still publishes nothing
        if force and os.path.lexists(target):
            old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old."))
            old.rmdir()
            target.rename(old)
            _check_replaceable(old, target)
        try:
            os.mkdir(target)
        except FileExistsError:
            raise BadInputError(f"{target} exists (created meanwhile); pass force=True to replace the bundle")
        claimed = True
        tmp.rename(target)  # over our own empty folder
        claimed = False
    except BaseException:
        if claimed:
            with contextlib.suppress(OSError):
                os.rmdir(target)  # only if still empty: never anything of someone else's
        if old is not None and not os.path.lexists(target):
            old.rename(target)
        old = None
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:  # the replaced bundle: its files only
        for file_name in FILES:
            with contextlib.suppress(FileNotFoundError):
                (old / file_name).unlink()
        with contextlib.suppress(OSError):
            old.rmdir()


def read_bundle(folder: str | Path) -> tuple[dict[str, Any], Vectors]:
    """Read and check a bundle folder as the app would: bundle.json against its schema, the
    files' sizes and SHA-256 against it, labels.txt against its classes. Returns (bundle.json,
    decoded vectors)."""
    from npukit.files import check_class_names
    from npukit.files import read_json
    from npukit.schemas import validate

    folder = Path(folder)
    doc = read_json(folder / "bundle.json", "bundle metadata")
    validate(doc, "bundle", str(folder / "bundle.json"))
    check_class_names(doc["labels"]["classes"], str(folder / "bundle.json"))  # as write_bundle checks them
    for key in ("model", "vectors"):
        path = folder / doc[key]["file"]
        if not path.is_file():
            raise BadInputError(f"{path} is missing")
        payload = path.read_bytes()
        if len(payload) != doc[key]["bytes"] or hashlib.sha256(payload).hexdigest() != doc[key]["sha256"]:
            raise BadInputError(f"{path} does not match bundle.json (size or sha256 differs)")
    if not (folder / "labels.txt").is_file():
        raise BadInputError(f"{folder / 'labels.txt'} is missing")
    lines = (folder / "labels.txt").read_text(encoding="utf-8", errors="replace").splitlines()
    if lines != doc["labels"]["classes"]:
        raise BadInputError(f"{folder / 'labels.txt'} does not match bundle.json's classes")
    vectors = decode_vectors((folder / "vectors.bin").read_bytes(), str(folder / "vectors.bin"))
    v = doc["vectors"]
    if vectors.frames.shape != (v["samples"], doc["frames_per_sample"], v["elements_per_frame"]):
        raise BadInputError(f"{folder / 'vectors.bin'}: shape {vectors.frames.shape} differs from bundle.json")
    return doc, vectors
