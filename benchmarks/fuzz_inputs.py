"""Robustness run: mutated model and data files of every accepted format against npukit's readers.

    python benchmarks/fuzz_inputs.py [--cases 2000] [--seed 0] [--timeout 30] [--json out.json]

Seeds: the shipped digits CNN as .keras, as .h5 (saved here) and as .onnx, the shipped LIF
SNN (.nir), the CNN converted to int8 .tflite, a .npz data file, and for the ``flags`` format
the LIF SNN with a temporal-mode .tflite of it. Each case mutates one seed (``MUTATIONS``):

* byte level: truncation, bit flips, a wrong magic number, a zeroed or duplicated block, empty;
* ONNX: huge declared dimensions, NaN/Inf weights, no nodes, a cycle, zero-size tensors;
* HDF5 (.nir and .h5): NaN weights, a 10^9 x 10^9 shape, no nodes, a reversed edge, zero-size
  weights, and hostile storage: external raw storage (a secret file, /dev/zero, a FIFO), a
  virtual dataset, a gzip dataset declaring 3.6 GB, an array data type, 10^5 strings, soft and
  external links, an unused 100 MB dataset; .h5 model configs with 10^9 units, a Lambda, an
  unknown class;
* .keras archives: a config.json inflating past the budget, asset bombs, 10^4 assets, '..'
  and duplicate member names, unexpected members, Lambda / TFSMLayer / 10^9-unit configs, a
  weights file with external storage;
* .npz: NaN/Inf data, a header declaring 10^11 samples, pickled objects, wrong rank, no
  samples, an ``x`` member without the .npy suffix, ``x`` twice, an unused lying member;
* ``flags``: ``convert --mode temporal`` with batch and T drawn from absurd and valid values
  (-1, 0, 1, 2, 4096, 4097, 10^7, 10^8; T up to 10^9), ``profile -T`` likewise;
* ``events`` (an event .npz of 6 digit streams): byte mutations, or a sensor of up to 10^9 x
  10^9, negative or 2^62 time stamps, 10^5..10^6 class names, names with control characters,
  integer names, no events, float fields, events outside the sensor or at 32000, a header
  declaring 10^11 events, a pickled member, 2000 times the events; each case with a binning
  drawn from 1 us .. 10^9 us windows or 1 .. 10^9 frames;
* ``nmnist`` (a folder of class folders of .bin files), with the same binnings: links to a
  secret file, /dev/zero or /dev/null, a link escaping the folder, a class folder that is a
  link, a FIFO, a truncated record, a sparse 5 GB file, random bytes, no files, 2000 empty
  classes, a class name with a vertical tab;
* ``onnxfold``: a model adding to its input a constant only folding computes (Expand, Concat,
  Gather, Tile, ConstantOfShape, Range, Pad, Split, Slice, Reshape, Cast, Mul), sizes from 2
  to 2^40, zero steps and zero splits among the values;
* ``nirdelay`` (a recurrent NIR graph whose cycle runs through a LIF, a Delay and an Affine):
  byte mutations, or Delays of 10^3..10^12 s, negative, NaN, zero, fractional or misshapen,
  a cycle without a neuron;
* ``tflmeta`` (the temporal .tflite): one to three metadata values (or fields of a state)
  replaced by None, numbers, huge numbers, strings, lists, objects or NaN.

Each case goes to the reader a user's command would use: ``npukit.load`` then the float
evaluator on one sample (models), ``npukit.inspect`` and the NN-API checker (.tflite),
``npukit.data.load_data`` (.npz; event data: then the first two samples binned), ``inspect`` and
``profile`` (tflmeta), the API call itself (flags). Workers run with a 4 GB
address-space limit and a load budget (NPUKIT_MAX_LOAD_BYTES) of 256 MiB, so bombs stay cheap
to build; a worker is replaced every 100 cases.

Verdicts: ``accepted`` (read without error: the mutation kept the file valid), ``refused``
(npukit's own error type, the one-line CLI error, exit 2 or 1), ``FOREIGN`` (any other
exception, MemoryError included), ``CRASH`` (the worker process died, e.g. a segfault),
``HANG`` (no verdict within --timeout seconds). Cases run in worker processes that are
restarted after a crash or hang. The run passes when no case is FOREIGN, CRASH or HANG; the
exit code is 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

FAILURES = ("FOREIGN", "CRASH", "HANG")
WORKER_ADDRESS_SPACE = 4 << 30
WORKER_BUDGET = 256 << 20
WORKER_CASES = 100  # a fresh worker after this many cases (TensorFlow's caches grow)


# -- seeds ---------------------------------------------------------------------------------------


def make_seeds(folder: Path) -> dict[str, Path]:
    """One valid file per format, in ``folder``."""
    import npukit
    from npukit.models import DIGITS_CNN, DIGITS_LIF, DIGITS_ONNX
    from npukit.quiet import import_tensorflow

    import_tensorflow()
    import keras

    seeds = {"keras": folder / "seed.keras", "onnx": folder / "seed.onnx", "nir": folder / "seed.nir"}
    seeds["keras"].write_bytes(Path(DIGITS_CNN).read_bytes())
    seeds["onnx"].write_bytes(Path(DIGITS_ONNX).read_bytes())
    seeds["nir"].write_bytes(Path(DIGITS_LIF).read_bytes())
    seeds["h5"] = folder / "seed.h5"
    keras.models.load_model(DIGITS_CNN).save(seeds["h5"])
    seeds["tflite"] = npukit.convert(DIGITS_CNN, folder / "seed.tflite", calibration_samples=64).path
    seeds["npz"] = folder / "seed.npz"
    rng = np.random.default_rng(0)
    np.savez(seeds["npz"], x=rng.uniform(0, 1, (16, 8, 8, 1)).astype(np.float32), y=np.arange(16) % 10,
             labels=np.array([str(i) for i in range(10)]))
    seeds["flags"] = folder / "seed.flags"  # a case file: JSON naming the command and values
    seeds["flags"].write_text("{}")
    npukit.convert(DIGITS_LIF, folder / "temporal.tflite", mode="temporal", quantize="none", timesteps=4)
    (folder / "secret.bin").write_bytes(b"NPUKIT-FUZZ-SECRET" * 200)
    _event_seeds(folder, seeds)
    seeds["onnxfold"] = folder / "seed_fold.onnx"  # a case file is a whole ONNX model built per case
    seeds["onnxfold"].write_bytes(b"")
    seeds["tflmeta"] = folder / "temporal.tflite"
    seeds["nirdelay"] = _nir_delay_seed(folder / "seed_delay.nir")
    return seeds


def _event_seeds(folder: Path, seeds: dict[str, Path]) -> None:
    """An event .npz (6 digit streams, labels, class names, sensor size) and an N-MNIST folder
    (two class folders of two .bin files each)."""
    from npukit.data import digits
    from npukit.events import digits_streams

    streams = digits_streams(digits("test").x[:6, ..., 0], seed=0)
    seeds["events"] = folder / "seed_events.npz"
    np.savez(seeds["events"], **{f"events_{k}": e for k, e in enumerate(streams)}, y=np.arange(6) % 2,
             labels=np.array(["zero", "one"]), sensor_size=np.array([12, 12, 2]))
    seeds["nmnist"] = folder / "seed_nmnist"
    for label in ("0", "1"):
        (seeds["nmnist"] / label).mkdir(parents=True)
        for k in range(2):
            (seeds["nmnist"] / label / f"{k:05d}.bin").write_bytes(_nmnist_bytes(streams[2 * int(label) + k]))


def _nmnist_bytes(events: np.ndarray) -> bytes:
    """N-MNIST's 5-byte records: x, y, then polarity (1 bit) and a 23-bit time stamp, big-endian."""
    out = np.zeros((len(events), 5), np.uint8)
    t = events["t"].astype(np.int64) & 0x7FFFFF
    out[:, 0], out[:, 1] = events["x"], events["y"]
    out[:, 2] = ((events["p"].astype(np.int64) > 0) << 7) | (t >> 16)
    out[:, 3], out[:, 4] = (t >> 8) & 0xFF, t & 0xFF
    return out.tobytes()


def _nir_delay_seed(path: Path) -> Path:
    """A small recurrent NIR graph: input -> Affine -> LIF -> output, the LIF's spikes fed back
    through a Delay of 2 steps and an Affine (a cycle of three nodes)."""
    import nir

    rng = np.random.default_rng(0)
    n = 4
    nodes = {
        "input": nir.Input(input_type={"input": np.array([3])}),
        "fc": nir.Affine(weight=rng.normal(0, 1, (n, 3)).astype(np.float32), bias=np.zeros(n, np.float32)),
        "lif": nir.LIF(tau=np.full(n, 0.02, np.float32), r=np.ones(n, np.float32), v_leak=np.zeros(n, np.float32),
                       v_threshold=np.ones(n, np.float32)),
        "delay": nir.Delay(delay=np.full(n, 0.002, np.float32)),
        "rec": nir.Affine(weight=rng.normal(0, 0.5, (n, n)).astype(np.float32), bias=np.zeros(n, np.float32)),
        "output": nir.Output(output_type={"output": np.array([n])}),
    }
    edges = [("input", "fc"), ("fc", "lif"), ("lif", "output"), ("lif", "delay"), ("delay", "rec"), ("rec", "lif")]
    nir.write(str(path), nir.NIRGraph(nodes=nodes, edges=edges))
    return path


# -- mutations -----------------------------------------------------------------------------------


def _truncate(data: bytes, rng) -> bytes:
    return data[: int(rng.integers(0, len(data)))]


def _bit_flips(data: bytes, rng) -> bytes:
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 64))):
        i = int(rng.integers(0, len(out)))
        out[i] ^= 1 << int(rng.integers(0, 8))
    return bytes(out)


def _magic(data: bytes, rng) -> bytes:
    return bytes(rng.integers(0, 256, 8, dtype=np.uint8)) + data[8:]


def _zero_block(data: bytes, rng) -> bytes:
    i = int(rng.integers(0, len(data)))
    n = int(rng.integers(1, 4096))
    return data[:i] + bytes(min(n, len(data) - i)) + data[i + n :]


def _duplicate_block(data: bytes, rng) -> bytes:
    i = int(rng.integers(0, len(data)))
    n = int(rng.integers(1, 4096))
    return data[: i + n] + data[i : i + n] + data[i + n :]


def _empty(data: bytes, rng) -> bytes:
    return b""


BYTE_MUTATIONS = {"truncate": _truncate, "bit_flips": _bit_flips, "magic": _magic,
                  "zero_block": _zero_block, "duplicate_block": _duplicate_block, "empty": _empty}


def _onnx_structural(path: Path, out: Path, rng) -> str:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    g = model.graph
    kind = ["huge_dims", "nan_weights", "empty_graph", "cycle", "zero_size", "inf_weights"][int(rng.integers(0, 6))]
    if kind == "huge_dims":
        dim = g.input[0].type.tensor_type.shape.dim[int(rng.integers(1, 4))]
        dim.ClearField("dim_param")
        dim.dim_value = int(10 ** rng.integers(6, 13))
    elif kind in ("nan_weights", "inf_weights"):
        t = g.initializer[int(rng.integers(0, len(g.initializer)))]
        a = numpy_helper.to_array(t).copy()
        a.flat[int(rng.integers(0, a.size))] = np.nan if kind == "nan_weights" else np.inf
        t.CopyFrom(numpy_helper.from_array(a, t.name))
    elif kind == "empty_graph":
        del g.node[:]
    elif kind == "cycle":
        first, last = g.node[0], g.node[len(g.node) - 1]
        first.input[0] = last.output[0]
    else:  # zero-size tensor
        t = g.initializer[int(rng.integers(0, len(g.initializer)))]
        t.CopyFrom(numpy_helper.from_array(np.zeros((0,) + tuple(t.dims[1:]), np.float32), t.name))
    onnx.save(model, str(out))
    return kind


HDF5_STORAGE = ["external_secret", "external_zero", "external_fifo", "virtual", "gzip_bomb", "array_dtype",
                "many_strings", "soft_link", "external_link", "unused_junk"]


def _hostile_storage(f, group, name: str, kind: str, out: Path) -> None:
    """Replace dataset ``group[name]`` (or add next to it) with hostile HDF5 storage ``kind``."""
    import h5py

    shape, dtype = group[name].shape, group[name].dtype
    nbytes = int(np.prod(shape)) * dtype.itemsize
    secret = out.parent.parent / "seeds" / "secret.bin"
    if kind == "unused_junk":
        group.create_dataset("junk", (5000, 5000), "f4", chunks=(500, 500), compression="gzip")
        return
    del group[name]
    if kind in ("external_secret", "external_zero", "external_fifo"):
        target = {"external_secret": secret, "external_zero": Path("/dev/zero"),
                  "external_fifo": out.with_suffix(".fifo")}[kind]
        group.create_dataset(name, shape, dtype, external=[(str(target), 0, nbytes)])
        if kind == "external_fifo":
            os.mkfifo(target)
    elif kind == "virtual":
        source = out.with_suffix(".source.h5")
        with h5py.File(source, "w") as src:
            src.create_dataset("w", shape, dtype)
        layout = h5py.VirtualLayout(shape=shape, dtype=dtype)
        layout[...] = h5py.VirtualSource(str(source), "w", shape=shape)
        group.create_virtual_dataset(name, layout)
    elif kind == "gzip_bomb":
        group.create_dataset(name, (30000, 30000), "f4", chunks=(1000, 1000), compression="gzip")
    elif kind == "array_dtype":
        group.create_dataset(name, (), np.dtype(("f4", (20000, 20000))))
    elif kind == "many_strings":
        group.create_dataset(name, data=np.array(["w"] * 100_000, dtype=object), dtype=h5py.string_dtype())
    elif kind == "soft_link":
        group[name] = h5py.SoftLink("/")
    else:  # external link
        group[name] = h5py.ExternalLink(str(secret), "/")


def _nir_structural(path: Path, out: Path, rng) -> str:
    import h5py

    out.write_bytes(path.read_bytes())
    kinds = ["nan_weights", "huge_shape", "empty_graph", "cycle", "zero_size"] + HDF5_STORAGE
    kind = kinds[int(rng.integers(0, len(kinds)))]
    if kind in HDF5_STORAGE:
        with h5py.File(out, "r+") as f:
            _hostile_storage(f, f["node/nodes/fc2"], "weight", kind, out)
        return kind
    with h5py.File(out, "r+") as f:
        nodes = f["node"]["nodes"]
        names = list(nodes)
        weighted = [n for n in names if "weight" in nodes[n]]
        if kind == "nan_weights":
            w = nodes[weighted[0]]["weight"]
            a = w[()].astype(np.float32)
            a.flat[0] = np.nan
            del nodes[weighted[0]]["weight"]
            nodes[weighted[0]].create_dataset("weight", data=a)
        elif kind == "huge_shape":
            node = nodes[names[0]]
            for key in ("shape", "input_type"):
                if key in node:
                    del node[key]
            node.create_dataset("shape", data=np.array([10**9, 10**9], np.int64))
        elif kind == "empty_graph":
            for n in names:
                del nodes[n]
        elif kind == "cycle":
            edges = f["node"]["edges"]
            e = edges[()]
            del f["node"]["edges"]
            f["node"].create_dataset("edges", data=np.concatenate([e, e[::-1][:1, ::-1]]))
        else:
            del nodes[weighted[-1]]["weight"]
            nodes[weighted[-1]].create_dataset("weight", data=np.zeros((0, 4), np.float32))
    return kind


def _lying_npy(x: np.ndarray, shape: tuple[int, ...]) -> bytes:
    """The .npy bytes of ``x`` with a header declaring ``shape`` (a valid zip member: the CRC matches)."""
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, x)
    raw = buffer.getvalue()
    length = int.from_bytes(raw[8:10], "little")
    header = raw[10 : 10 + length].replace(repr(x.shape).encode(), repr(shape).encode())
    header = header.rstrip(b" \n")[: length - 1].ljust(length - 1) + b"\n"
    return raw[:10] + header + raw[10 + length :]


def _npz_structural(path: Path, out: Path, rng) -> str:
    import io
    import zipfile

    kinds = ["nan_data", "inf_data", "huge_header", "object_array", "wrong_rank", "zero_samples",
             "plain_x_lie", "duplicate_x", "unused_lie", "plain_x"]
    kind = kinds[int(rng.integers(0, len(kinds)))]
    x = np.random.default_rng(1).uniform(0, 1, (8, 8, 8, 1)).astype(np.float32)
    if kind in ("plain_x_lie", "duplicate_x", "unused_lie", "plain_x"):
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, x)
        members = {"plain_x_lie": {"x": _lying_npy(x, (10**11, 8, 8, 1))},
                   "duplicate_x": {"x": buffer.getvalue(), "x.npy": buffer.getvalue()},
                   "unused_lie": {"x.npy": buffer.getvalue(), "junk.npy": _lying_npy(x, (10**11, 8, 8, 1))},
                   "plain_x": {"x": buffer.getvalue()}}[kind]
        with zipfile.ZipFile(out, "w") as z:
            for name, blob in members.items():
                z.writestr(name, blob)
        return kind
    if kind == "nan_data":
        x[0, 0, 0, 0] = np.nan
        np.savez(out, x=x)
    elif kind == "inf_data":
        x[-1, 1, 1, 0] = np.inf
        np.savez(out, x=x)
    elif kind == "huge_header":  # a valid archive whose .npy header declares 10^11 samples
        import io
        import zipfile

        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, x)
        raw = buffer.getvalue()
        length = int.from_bytes(raw[8:10], "little")
        header = raw[10 : 10 + length]
        bigger = header.replace(b"(8, 8, 8, 1)", b"(100000000000, 8, 8, 1)")
        bigger = bigger.rstrip(b" \n")[: length - 1].ljust(length - 1) + b"\n"
        with zipfile.ZipFile(out, "w") as z:
            z.writestr("x.npy", raw[:10] + bigger + raw[10 + length :])
    elif kind == "object_array":
        import zipfile

        with zipfile.ZipFile(out, "w") as z:
            header = b"\x93NUMPY\x01\x00" + (118).to_bytes(2, "little")
            text = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
            z.writestr("x.npy", header + text.ljust(118 - 1) + b"\n" + b"\x80\x04N.")
    elif kind == "wrong_rank":
        np.savez(out, x=x[:, :, :, 0])
    else:
        np.savez(out, x=x[:0])
    return kind


def _h5_structural(path: Path, out: Path, rng) -> str:
    import h5py

    out.write_bytes(path.read_bytes())
    kinds = HDF5_STORAGE + ["huge_units", "lambda_layer", "unknown_class", "deep_config"]
    kind = kinds[int(rng.integers(0, len(kinds)))]
    with h5py.File(out, "r+") as f:
        if kind in HDF5_STORAGE:
            _hostile_storage(f, f["model_weights/fc1/fc1"], "kernel", kind, out)
        else:
            f.attrs["model_config"] = json.dumps(_mutated_config(json.loads(f.attrs["model_config"]), kind))
    return kind


def _mutated_config(config: dict, kind: str) -> dict | list:
    layers = config["config"]["layers"]
    dense = next(layer for layer in layers if layer["class_name"] == "Dense")
    if kind == "huge_units":  # the last layer: nothing after it checks its output size
        [layer for layer in layers if layer["class_name"] == "Dense"][-1]["config"]["units"] = 10**9
    elif kind == "lambda_layer":
        dense["class_name"] = "Lambda"
        dense["config"]["function"] = {"class_name": "__lambda__", "config": {"code": "", "defaults": None, "closure": None}}
    elif kind == "unknown_class":
        dense["class_name"] = "TFSMLayer"
        dense["config"]["filepath"] = "/tmp"
    else:  # deep_config
        nested: list = []
        for _ in range(500):
            nested = [nested]
        return nested
    return config


def _keras_structural(path: Path, out: Path, rng) -> str:
    import zipfile

    kinds = ["config_bomb", "asset_bomb", "many_assets", "dotdot_member", "duplicate_member", "unexpected_member",
             "lambda_layer", "unknown_class", "huge_units", "deep_config", "weights_external", "weights_gzip_bomb"]
    kind = kinds[int(rng.integers(0, len(kinds)))]
    with zipfile.ZipFile(path) as src:
        members = {name: src.read(name) for name in src.namelist()}
    extra: list[tuple[str, bytes]] = []
    if kind == "config_bomb":  # counted 16 times: past the 256 MiB budget of the run
        members["config.json"] = members["config.json"] + b" " * (20 << 20)
    elif kind == "asset_bomb":
        extra = [(f"assets/a{k}.bin", bytes(40 << 20)) for k in range(8)]
    elif kind == "many_assets":
        extra = [(f"assets/a{k}.txt", b"x") for k in range(20_000)]
    elif kind == "dotdot_member":
        extra = [("assets/../../evil.txt", b"x")]
    elif kind == "duplicate_member":
        extra = [("config.json", members["config.json"])]
    elif kind == "unexpected_member":
        extra = [("run_me.py", b"print('hi')")]
    elif kind in ("lambda_layer", "unknown_class", "huge_units", "deep_config"):
        members["config.json"] = json.dumps(_mutated_config(json.loads(members["config.json"]), kind)).encode()
    else:  # a weights file with hostile storage
        import h5py

        weights = out.with_suffix(".weights.h5")
        weights.write_bytes(members["model.weights.h5"])
        with h5py.File(weights, "r+") as f:
            group = next(g for g in _h5_groups(f) if "vars" in g.name and "0" in g)
            _hostile_storage(f, group, "0", "external_secret" if kind == "weights_external" else "gzip_bomb", out)
        members["model.weights.h5"] = weights.read_bytes()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for name, blob in list(members.items()) + extra:
            z.writestr(name, blob)
    return kind


def _h5_groups(f):
    import h5py

    found = []
    f.visititems(lambda name, item: found.append(item) if isinstance(item, h5py.Group) else None)
    return found


EVENT_KINDS = ["huge_sensor", "negative_t", "huge_span", "many_names", "no_events", "float_fields", "outside_sensor",
               "lying_header", "object_member", "huge_coords", "name_controls", "int_labels", "many_events", "no_sensor"]


def _event_npz_structural(path: Path, out: Path, rng) -> str:
    """A hostile event .npz; the case's binning (window or frame count) is drawn too."""
    import io
    import zipfile

    kind = EVENT_KINDS[int(rng.integers(0, len(EVENT_KINDS)))]
    with np.load(path) as z:
        members = {k: z[k] for k in z.files}
    streams = [members.pop(k) for k in sorted(k for k in list(members) if k.startswith("events_"))]
    e = streams[0].copy()
    if kind == "huge_sensor":
        members["sensor_size"] = np.array([int(10 ** rng.integers(4, 10)), int(10 ** rng.integers(4, 10)), 2])
    elif kind == "negative_t":
        e["t"][0] = -5
    elif kind == "huge_span":
        e["t"][-1] = int(2**62 + rng.integers(0, 2**40))
    elif kind == "many_names":
        members["labels"] = np.array([f"c{k}" for k in range(int(10 ** rng.integers(5, 7)))])
    elif kind == "no_events":
        streams, members = [], {k: v for k, v in members.items() if k == "sensor_size"}
    elif kind == "float_fields":
        e = e.astype([("x", "f4"), ("y", "f4"), ("t", "f8"), ("p", "f4")])
    elif kind == "outside_sensor":
        e["x"][0] = 200
    elif kind == "huge_coords":
        members.pop("sensor_size")
        e["x"][0], e["y"][0] = 32000, 32000
    elif kind == "name_controls":
        members["labels"] = np.array(["zero\x0b", "one\u2028"])
    elif kind == "int_labels":
        members["labels"] = np.array([0, 1])
    elif kind == "many_events":
        e = np.concatenate([e] * 2000)
    elif kind == "no_sensor":
        members.pop("sensor_size")
    streams = ([e] + streams[1:]) if streams else []
    arrays = {**{f"events_{k}": v for k, v in enumerate(streams)}, **members}
    with zipfile.ZipFile(out, "w") as z:
        for name, value in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, value, allow_pickle=False)
            blob = buffer.getvalue()
            if kind == "lying_header" and name == "events_0":
                blob = _lying_npy(value, (10**11,))
            z.writestr(f"{name}.npy", blob)
        if kind == "object_member":
            header = b"\x93NUMPY\x01\x00" + (118).to_bytes(2, "little")
            text = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
            z.writestr("events_9.npy", header + text.ljust(118 - 1) + b"\n" + b"\x80\x04N.")
    return kind


NMNIST_KINDS = ["link_secret", "link_zero", "fifo", "truncated", "sparse_huge", "class_link", "empty_folder",
                "random_bytes", "link_dir_escape", "socket_like_dev", "many_classes", "odd_names"]


def _nmnist_structural(path: Path, out: Path, rng) -> str:
    """A hostile N-MNIST folder (``out`` is a folder of class folders)."""
    import shutil

    kind = NMNIST_KINDS[int(rng.integers(0, len(NMNIST_KINDS)))]
    shutil.copytree(path, out)
    first = out / "0" / "00000.bin"
    secret = out.parent.parent / "seeds" / "secret.bin"
    if kind == "link_secret":
        first.unlink()
        first.symlink_to(secret)
    elif kind == "link_zero":
        first.unlink()
        first.symlink_to("/dev/zero")
    elif kind == "fifo":
        first.unlink()
        os.mkfifo(first)
    elif kind == "truncated":
        first.write_bytes(first.read_bytes()[:-2])
    elif kind == "sparse_huge":
        with open(first, "r+b") as f:
            f.truncate(5 * 10**9)  # 5 GB of zero events, no disk used
    elif kind == "class_link":
        shutil.rmtree(out / "1")
        (out / "1").symlink_to(secret.parent)
    elif kind == "empty_folder":
        shutil.rmtree(out)
        out.mkdir()
    elif kind == "random_bytes":
        first.write_bytes(bytes(rng.integers(0, 256, 5 * 64, dtype=np.uint8)))
    elif kind == "link_dir_escape":
        (out / "0" / "up.bin").symlink_to("../../../seeds/secret.bin")
    elif kind == "socket_like_dev":
        (out / "0" / "null.bin").symlink_to("/dev/null")
    elif kind == "many_classes":
        for k in range(int(rng.integers(100, 2000))):
            (out / f"c{k}").mkdir()
    else:  # names a label file could not hold
        (out / "1").rename(out / "one\x0btwo")
    return kind


def _onnx_fold_structural(path: Path, out: Path, rng) -> str:
    """An ONNX model whose output is x (1, 4) plus a constant that only folding computes: Expand,
    Concat, Gather, Tile, ConstantOfShape, Range, Pad, Split, Slice, Reshape, Cast, Mul of
    constants; sizes drawn from small and valid to bombs of 10^12 elements."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def const(name, value):
        return numpy_helper.from_array(np.asarray(value), name)

    big = int(2 ** rng.integers(1, 41))
    kinds = ["expand", "concat", "gather", "tile", "constant_of_shape", "range", "pad", "split", "slice", "reshape",
             "cast", "mul"]
    kind = kinds[int(rng.integers(0, len(kinds)))]
    inits, attrs = [], {}
    if kind == "expand":
        inits = [const("a", np.zeros((min(big, 4096), 1), np.float32)), const("b", np.array([1, big], np.int64))]
        node = helper.make_node("Expand", ["a", "b"], ["c"], name="fold")
    elif kind == "concat":
        inits = [const("a", np.zeros((64, 4), np.float32))]
        node = helper.make_node("Concat", ["a"] * int(rng.integers(0, 3000)), ["c"], name="fold", axis=int(rng.integers(-3, 3)))
    elif kind == "gather":
        inits = [const("a", np.zeros((8, 4), np.float32)), const("i", rng.integers(-10, 10, min(big, 1 << 22)).astype(np.int64))]
        node = helper.make_node("Gather", ["a", "i"], ["c"], name="fold", axis=int(rng.integers(-2, 3)))
    elif kind == "tile":
        inits = [const("a", np.zeros((1, 4), np.float32)), const("r", np.array([big, 1], np.int64))]
        node = helper.make_node("Tile", ["a", "r"], ["c"], name="fold")
    elif kind == "constant_of_shape":
        inits = [const("s", np.array([big, 4], np.int64))]
        node = helper.make_node("ConstantOfShape", ["s"], ["c"], name="fold")
    elif kind == "range":
        inits = [const("s", np.array(0.0, np.float32)), const("l", np.array(float(big), np.float32)),
                 const("d", np.array(float(rng.choice([0.0, 1.0, -1.0, 1e-30])), np.float32))]
        node = helper.make_node("Range", ["s", "l", "d"], ["c"], name="fold")
    elif kind == "pad":
        inits = [const("a", np.zeros((1, 4), np.float32)), const("p", np.array([0, 0, big, 0], np.int64))]
        node = helper.make_node("Pad", ["a", "p"], ["c"], name="fold")
    elif kind == "split":
        inits = [const("a", np.zeros((8, 4), np.float32))]
        parts = int(rng.integers(0, 4))
        attrs = {"num_outputs": int(rng.choice([0, 1, 2, big]))}
        node = helper.make_node("Split", ["a"], [f"c{k}" for k in range(parts)] or ["c"], name="fold", axis=0, **attrs)
    elif kind == "slice":
        inits = [const("a", np.zeros((8, 4), np.float32)), const("st", np.array([0], np.int64)),
                 const("en", np.array([big], np.int64)), const("ax", np.array([int(rng.integers(-3, 3))], np.int64)),
                 const("sp", np.array([int(rng.choice([0, 1, -1, big]))], np.int64))]
        node = helper.make_node("Slice", ["a", "st", "en", "ax", "sp"], ["c"], name="fold")
    elif kind == "reshape":
        inits = [const("a", np.zeros((8, 4), np.float32)), const("s", np.array([int(rng.choice([-1, -2, 0, big])), 4], np.int64))]
        node = helper.make_node("Reshape", ["a", "s"], ["c"], name="fold")
    elif kind == "cast":
        inits = [const("a", np.zeros((min(big, 1 << 22), 4), np.uint8))]
        node = helper.make_node("Cast", ["a"], ["c"], name="fold", to=int(rng.choice([1, 11, 7, 8, 999])))
    else:
        inits = [const("a", np.zeros((min(big, 1 << 16), 1), np.float32)), const("b", np.zeros((1, min(big, 1 << 16)), np.float32))]
        node = helper.make_node("Mul", ["a", "b"], ["c"], name="fold")
    first = node.output[0]
    nodes = [node, helper.make_node("Add", ["x", first], ["y"], name="use")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(out))
    return f"{kind}:{big}"


#: wrong-typed or out-of-range values for metadata keys (docs/metadata.md)
META_VALUES = [None, 0, -1, 1.5, 10**12, "", "x" * 5000, True, [], [1, 2], ["a"], {}, {"a": 1}, [{}], float("nan")]


def _tflite_meta_structural(path: Path, out: Path, rng) -> str:
    """The temporal .tflite with one (or a few) metadata values replaced by hostile ones."""
    from npukit.tflite_file import read_tflite, with_metadata

    meta = read_tflite(path).npukit_metadata()
    changed = []
    for _ in range(int(rng.integers(1, 4))):
        key = sorted(meta)[int(rng.integers(0, len(meta)))]
        value = META_VALUES[int(rng.integers(0, len(META_VALUES)))]
        if key == "state_order" and rng.random() < 0.5 and meta[key]:  # one field of one state
            entry = dict(meta[key][0])
            field = sorted(entry)[int(rng.integers(0, len(entry)))]
            entry[field] = value
            meta[key] = [entry] + meta[key][1:]
            key = f"state_order[0].{field}"
        else:
            meta[key] = value
        changed.append(key)
    out.write_bytes(with_metadata(path.read_bytes(), meta))
    return ",".join(changed)


def _nir_delay_structural(path: Path, out: Path, rng) -> str:
    """The recurrent NIR graph with a hostile Delay or cycle."""
    import h5py

    out.write_bytes(path.read_bytes())
    kinds = ["huge_delay", "negative_delay", "nan_delay", "zero_delay", "wrong_shape", "no_state_cycle", "fraction"]
    kind = kinds[int(rng.integers(0, len(kinds)))]
    with h5py.File(out, "r+") as f:
        node = f["node/nodes/delay"]
        value = {"huge_delay": float(10 ** rng.integers(3, 13)), "negative_delay": -0.002, "nan_delay": np.nan,
                 "zero_delay": 0.0, "fraction": 0.0015}.get(kind)
        if value is not None:
            data = np.full(node["delay"].shape, value, np.float32)
            del node["delay"]
            node.create_dataset("delay", data=data)
        elif kind == "wrong_shape":
            del node["delay"]
            node.create_dataset("delay", data=np.full((7, 3), 0.002, np.float32))
        else:  # the cycle through the Delay and the Affine only: the LIF's edge leaves it
            edges = [tuple(e.decode() if isinstance(e, bytes) else e for e in row) for row in f["node/edges"][()]]
            edges = [e for e in edges if e != ("rec", "lif")] + [("rec", "delay")]
            del f["node/edges"]
            f["node"].create_dataset("edges", data=np.array(edges, dtype=h5py.string_dtype()))
    return kind


FLAG_BATCHES = [-1, 0, 1, 2, 4096, 4097, 10**7, 10**8]
FLAG_STEPS = [-5, 0, 1, 2, 100_000, 100_001, 10**9]


def _flags_structural(path: Path, out: Path, rng) -> str:
    """A case file naming a command and its values; one in eight is small and valid."""
    command = ["convert", "profile"][int(rng.integers(0, 2))]
    if rng.random() < 0.125:
        batch, steps = int(rng.integers(1, 3)), int(rng.integers(1, 4))
    else:
        batch = FLAG_BATCHES[int(rng.integers(0, len(FLAG_BATCHES)))]
        steps = FLAG_STEPS[int(rng.integers(0, len(FLAG_STEPS)))]
    out.write_text(json.dumps({"command": command, "batch": batch, "timesteps": steps}))
    return f"{command}:batch={batch},T={steps}"


STRUCTURAL = {"onnx": _onnx_structural, "nir": _nir_structural, "npz": _npz_structural, "h5": _h5_structural,
              "keras": _keras_structural, "flags": _flags_structural, "events": _event_npz_structural,
              "nmnist": _nmnist_structural, "onnxfold": _onnx_fold_structural, "tflmeta": _tflite_meta_structural,
              "nirdelay": _nir_delay_structural}
#: formats whose every case is structural (a byte mutation of a folder or of an empty seed means nothing)
ALWAYS_STRUCTURAL = ("flags", "nmnist", "onnxfold", "tflmeta")
#: event binnings drawn for event cases: (bin_us, frames)
EVENT_BINNINGS = [(None, None), (1, None), (3, None), (1000, None), (10**9, None), (None, 1), (None, 10),
                  (None, 100_000), (None, 10**9)]


def make_case(seeds: dict[str, Path], fmt: str, index: int, folder: Path, seed: int) -> tuple[Path, str]:
    """Write case ``index`` of ``fmt`` into ``folder``; returns (path, mutation name)."""
    rng = np.random.default_rng([seed, index, sorted(seeds).index(fmt)])
    src = seeds[fmt]
    out = folder / f"case{index:05d}{src.suffix}"
    if fmt in ("events", "nmnist"):  # the binning options go with the case, in a file beside it
        bin_us, frames = EVENT_BINNINGS[int(rng.integers(0, len(EVENT_BINNINGS)))]
        out.with_name(out.name + ".binning").write_text(json.dumps({"bin_us": bin_us, "frames": frames}))
    if fmt in ALWAYS_STRUCTURAL or (fmt in STRUCTURAL and rng.random() < 0.3):
        return out, "structural:" + STRUCTURAL[fmt](src, out, rng)
    name = list(BYTE_MUTATIONS)[int(rng.integers(0, len(BYTE_MUTATIONS)))]
    out.write_bytes(BYTE_MUTATIONS[name](src.read_bytes(), rng))
    return out, name


# -- the worker ----------------------------------------------------------------------------------


def read_case(fmt: str, path: str) -> None:
    """What a user's command does with such a file; raises what npukit raises."""
    import npukit

    if fmt == "flags":
        from npukit.models import DIGITS_LIF
        from npukit.profile.run import profile

        case = json.loads(Path(path).read_text())
        folder = Path(path).parent
        if case["command"] == "convert":
            npukit.convert(DIGITS_LIF, folder / "flags_out.tflite", mode="temporal", batch=case["batch"],
                           timesteps=case["timesteps"], calibration_samples=64, force=True)
        else:
            profile(folder.parent / "seeds" / "temporal.tflite", runs=3, warmup=0, timesteps=case["timesteps"])
    elif fmt == "tflite":
        from npukit.nnapi.check import check_model

        npukit.inspect(path)
        check_model(path, 30)
    elif fmt == "tflmeta":
        from npukit.profile.run import profile

        npukit.inspect(path)
        profile(path, runs=2, warmup=0)
    elif fmt == "npz":
        from npukit.data import load_data

        load_data(path)
    elif fmt in ("events", "nmnist"):
        from npukit.data import DataSpec, load_data
        from npukit.events import Binning

        binning = json.loads(Path(path + ".binning").read_text())
        dataset = load_data(DataSpec(path, Binning(binning["bin_us"], binning["frames"])))
        dataset.head(2).x  # bins the first two samples, as --samples 2 would
    else:
        from npukit import ir
        from npukit.reference import evaluate
        from npukit.snn.simulate import simulate

        graph = npukit.load(path)
        sample = np.zeros((1,) + tuple(graph.input_shape), np.float32)
        if any(isinstance(node, ir.NEURONS) for node in graph):
            simulate(graph, sample, 2)
        else:
            evaluate(graph, sample)


def worker() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (WORKER_ADDRESS_SPACE, WORKER_ADDRESS_SPACE))
    os.environ["NPUKIT_MAX_LOAD_BYTES"] = str(WORKER_BUDGET)
    from npukit.errors import NpukitError

    print("ready", flush=True)
    for line in sys.stdin:
        fmt, path = line.rstrip("\n").split("\t", 1)
        try:
            read_case(fmt, path)
            verdict, detail = "accepted", ""
        except NpukitError as exc:
            verdict, detail = "refused", f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
        except BaseException as exc:  # noqa: BLE001 - what the run is looking for
            verdict, detail = "FOREIGN", f"{type(exc).__name__}: {str(exc)[:300]}"
        print(json.dumps({"verdict": verdict, "detail": detail}), flush=True)


class Worker:
    """A worker process fed one case at a time, with a deadline per case."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, bufsize=1,
        )
        if self._line(120) != "ready":
            raise SystemExit("the fuzz worker did not start")

    def _line(self, timeout: float) -> str | None:
        import select

        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return None  # no answer in time
        return self.proc.stdout.readline().strip() or ""  # "" at end of file: the worker is gone

    def run(self, fmt: str, path: Path, timeout: float) -> dict:
        try:
            self.proc.stdin.write(f"{fmt}\t{path}\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            return {"verdict": "CRASH", "detail": "worker gone"}
        line = self._line(timeout)
        if not line:
            # None: nothing within the deadline (a hang, unless the worker died meanwhile);
            # "": its output closed, so it died (poll() may not see the exit yet: no race on it)
            hung = line is None and self.proc.poll() is None
            self.close()
            return {"verdict": "HANG" if hung else "CRASH", "detail": f"exit {self.proc.returncode}"}
        return json.loads(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def run(cases: int, seed: int = 0, timeout: float = 30.0, formats: list[str] | None = None,
        progress: bool = False) -> dict:
    """Run ``cases`` mutated files spread evenly over ``formats``; returns the summary dict."""
    results: list[dict] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "seeds").mkdir()
        (folder / "cases").mkdir()
        seeds = make_seeds(folder / "seeds")
        formats = formats or sorted(seeds)
        worker_ = Worker()
        for index in range(cases):
            fmt = formats[index % len(formats)]
            path, mutation = make_case(seeds, fmt, index, folder / "cases", seed)
            if worker_.proc.poll() is not None or (index and index % WORKER_CASES == 0):
                worker_.close()
                worker_ = Worker()
            outcome = worker_.run(fmt, path, timeout)
            if outcome["verdict"] in ("CRASH", "HANG"):
                worker_ = Worker()
            results.append({"case": index, "format": fmt, "mutation": mutation, **outcome})
            for leftover in (folder / "cases").iterdir():
                if leftover.is_dir() and not leftover.is_symlink():
                    shutil.rmtree(leftover)
                else:
                    leftover.unlink()
            if progress and (index + 1) % 100 == 0:
                print(f"  {index + 1}/{cases} cases, {time.perf_counter() - start:.0f} s", file=sys.stderr)
        worker_.close()
    by_format = {f: dict(Counter(r["verdict"] for r in results if r["format"] == f)) for f in formats}
    failures = [r for r in results if r["verdict"] in FAILURES]
    return {"cases": cases, "seed": seed, "timeout_s": timeout, "seconds": round(time.perf_counter() - start, 1),
            "verdicts": dict(Counter(r["verdict"] for r in results)), "by_format": by_format,
            "failures": failures, "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per case before it counts as a hang")
    parser.add_argument("--json", type=Path, help="write every case's verdict here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker()
        return
    summary = run(args.cases, args.seed, args.timeout, progress=True)
    print(f"{summary['cases']} mutated inputs in {summary['seconds']} s (seed {args.seed}, timeout {args.timeout} s)")
    for fmt, counts in summary["by_format"].items():
        print(f"  {fmt:7} " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print("verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(summary["verdicts"].items())))
    for failure in summary["failures"][:20]:
        print(f"  {failure['verdict']}: case {failure['case']} {failure['format']} {failure['mutation']}: {failure['detail']}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))
    sys.exit(1 if summary["failures"] else 0)


if __name__ == "__main__":
    main()
