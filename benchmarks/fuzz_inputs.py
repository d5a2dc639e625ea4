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
  (-1, 0, 1, 2, 4096, 4097, 10^7, 10^8; T up to 10^9), ``profile -T`` likewise.

Each case goes to the reader a user's command would use: ``npukit.load`` then the float
evaluator on one sample (models), ``npukit.inspect`` and the NN-API checker (.tflite),
``npukit.data.load_data`` (.npz), the API call itself (flags). Workers run with a 4 GB
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
    return seeds


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
              "keras": _keras_structural, "flags": _flags_structural}


def make_case(seeds: dict[str, Path], fmt: str, index: int, folder: Path, seed: int) -> tuple[Path, str]:
    """Write case ``index`` of ``fmt`` into ``folder``; returns (path, mutation name)."""
    rng = np.random.default_rng([seed, index, sorted(seeds).index(fmt)])
    src = seeds[fmt]
    out = folder / f"case{index:05d}{src.suffix}"
    if fmt == "flags" or (fmt in STRUCTURAL and rng.random() < 0.3):
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
    elif fmt == "npz":
        from npukit.data import load_data

        load_data(path)
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
