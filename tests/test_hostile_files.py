"""Hostile model and data files (issue 18, items 1-3): no code from the working folder, no bytes
from outside the model, bounded memory. Every command runs in a child process under a 4 GB
address-space limit (tests/hostile.py) and must fail closed: one `error:` line, exit 2, no
output file, no foreign bytes in what it prints."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import onnx
import pytest
from hostile import assert_refused, run_cli
from onnx import TensorProto, helper

from npukit.models import DIGITS_CNN, DIGITS_LIF

SECRET = b"NPUKIT-SECRET-TOKEN"


def _secret_file(folder: Path, size: int = 2560) -> Path:
    path = folder / "secret.bin"
    path.write_bytes((SECRET * (size // len(SECRET) + 1))[:size])
    return path


def _nir_with(tmp_path: Path, name: str, make) -> Path:
    """The shipped LIF SNN with its fc2 weight (10 x 64 float32, used by the graph) replaced by
    ``make(group)``."""
    path = tmp_path / name
    shutil.copy(DIGITS_LIF, path)
    with h5py.File(path, "r+") as f:
        group = f["node/nodes/fc2"]
        del group["weight"]
        make(group)
    return path


# -- 1. child interpreters ----------------------------------------------------------------------


MARKER_MODULE = "open({marker!r}, 'w').write('ran'); raise SystemExit(7)\n"


def test_modules_beside_the_model_never_run(tmp_path, shipped_tflite):
    work = tmp_path / "work"
    work.mkdir()
    marker = tmp_path / "hostile_code_ran"
    for module in ("h5py", "json", "numpy", "nir", "ai_edge_litert"):
        (work / f"{module}.py").write_text(MARKER_MODULE.format(marker=str(marker)))
    shutil.copy(DIGITS_LIF, work / "model.nir")
    shutil.copy(shipped_tflite, work / "model.tflite")
    # the hostile modules work: an interpreter that is not isolated runs them
    control = subprocess.run([sys.executable, "-c", "import h5py"], cwd=work, capture_output=True)
    assert control.returncode == 7 and marker.exists()
    marker.unlink()
    result = run_cli("inspect", "model.nir", "--json", cwd=work)  # the HDF5 probe's child
    assert result.returncode == 0, result.stderr
    result = run_cli("profile", "model.tflite", "--runs", 3, "--warmup", 0, "--json", cwd=work)  # the latency worker
    assert result.returncode == 0, result.stderr
    assert not marker.exists()


# -- 2. bytes from outside the model ---------------------------------------------------------------


@pytest.mark.parametrize("target", ["secret", "/dev/zero", "fifo"])
def test_nir_external_storage_is_refused(tmp_path, target):
    kind = target
    target = {"secret": str(_secret_file(tmp_path)), "fifo": str(tmp_path / "fifo")}.get(kind, target)
    model = _nir_with(tmp_path, "ext.nir", lambda g: g.create_dataset("weight", (10, 64), "f4", external=[(target, 0, 2560)]))
    if kind == "fifo":  # made after the dataset: HDF5 writes nothing at creation, reading would block
        os.mkfifo(target)
    for args in (["--to", "nir", "-o", tmp_path / "out.nir"], ["--to", "ir", "-o", tmp_path / "out.npkit"],
                 ["--mode", "temporal", "--quantize", "none", "-o", tmp_path / "out.tflite"]):
        result = run_cli("convert", model, *args, timeout=120)
        assert_refused(result, r"dataset /node/nodes/fc2/weight keeps its data in an external file", SECRET)
        assert not Path(args[-1]).exists()


def test_nir_virtual_dataset_is_refused(tmp_path):
    source = tmp_path / "secret.h5"
    with h5py.File(source, "w") as f:
        f["w"] = np.frombuffer(_secret_file(tmp_path).read_bytes(), np.float32).reshape(10, 64)

    def virtual(group):
        layout = h5py.VirtualLayout(shape=(10, 64), dtype="f4")
        layout[:] = h5py.VirtualSource(str(source), "w", shape=(10, 64))
        group.create_virtual_dataset("weight", layout)

    model = _nir_with(tmp_path, "vds.nir", virtual)
    result = run_cli("convert", model, "--to", "ir", "-o", tmp_path / "out.npkit")
    assert_refused(result, r"dataset /node/nodes/fc2/weight is a virtual dataset", SECRET)
    assert not (tmp_path / "out.npkit").exists()


def test_the_nir_reader_refuses_external_storage_without_the_probe(tmp_path, monkeypatch):
    """The reader applies the probe's checks itself (the probe could be bypassed or fooled)."""
    import npukit as api
    from npukit import hdf5_probe
    from npukit.errors import BadInputError

    monkeypatch.setattr(hdf5_probe, "probe", lambda path, **kwargs: {})
    secret = str(_secret_file(tmp_path))
    model = _nir_with(tmp_path, "ext.nir", lambda g: g.create_dataset("weight", (10, 64), "f4", external=[(secret, 0, 2560)]))
    with pytest.raises(BadInputError, match="external file"):
        api.load(model)


def _external_onnx(folder: Path, location: str) -> Path:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    c = helper.make_tensor("c", TensorProto.FLOAT, [4], np.zeros(4, np.float32).tobytes(), raw=True)
    c.ClearField("raw_data")
    c.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "16")):
        entry = c.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph([helper.make_node("Add", ["x", "c"], ["y"])], "g", [x], [y], [c])
    path = folder / "model.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_onnx_external_data_only_beside_the_model(tmp_path):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_bytes(SECRET[:16])
    model = _external_onnx(home, ".ssh/id_rsa")  # inside the model's folder tree, not beside it
    result = run_cli("convert", model, "--quantize", "none", "-o", tmp_path / "out.tflite")
    assert_refused(result, r"points to external data '.ssh/id_rsa', not a file beside the model", SECRET)
    os.symlink(home / ".ssh" / "id_rsa", home / "w.bin")  # beside it, but a link
    model = _external_onnx(home, "w.bin")
    result = run_cli("convert", model, "--quantize", "none", "-o", tmp_path / "out.tflite")
    assert_refused(result, r"'w.bin' .* links are refused", SECRET)
    assert not (tmp_path / "out.tflite").exists()


def test_external_data_folder_option(tmp_path):
    import npukit as api
    from npukit.loading import with_external_data
    from npukit.reference import evaluate

    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "w.bin").write_bytes(np.arange(4, dtype=np.float32).tobytes())
    model = _external_onnx(tmp_path, "w.bin")
    assert_refused(run_cli("inspect", model), r"external data file 'w.bin' .* is missing")
    result = run_cli("inspect", model, "--external-data", weights, "--json")
    assert result.returncode == 0, result.stderr
    graph = api.load(with_external_data(model, weights))  # what the option does, through the API
    x = np.ones((1, 4), np.float32)
    np.testing.assert_array_equal(evaluate(graph, x)[graph.output], x + np.arange(4, dtype=np.float32))


# -- 3. memory and hangs from small files ----------------------------------------------------------

BUDGET_MESSAGE = r"past its budget of 2,147,483,648 bytes .*NPUKIT_MAX_LOAD_BYTES"


def test_nir_declared_sizes_are_checked_before_reading(tmp_path):
    # a gzip dataset declaring 3.6 GB in a file of kilobytes (never written chunks read as fill)
    bomb = _nir_with(tmp_path, "gzip.nir", lambda g: g.create_dataset(
        "weight", (30000, 30000), "f4", chunks=(1000, 1000), compression="gzip"))
    assert bomb.stat().st_size < 1 << 20
    assert_refused(run_cli("inspect", bomb), r"dataset /node/nodes/fc2/weight \(float32, shape \(30000, 30000\)\): 3,600,000,000 bytes")
    # a scalar whose array data type holds 4 * 10^8 values
    array_type = _nir_with(tmp_path, "array.nir", lambda g: g.create_dataset("weight", (), np.dtype(("f4", (20000, 20000)))))
    assert_refused(run_cli("inspect", array_type), r"unsupported data type")
    # 100,000 variable-length strings
    strings = _nir_with(tmp_path, "strings.nir", lambda g: g.create_dataset(
        "weight", data=np.array(["w"] * 100_000, dtype=object), dtype=h5py.string_dtype()))
    assert_refused(run_cli("inspect", strings), r"holds 100,000 strings \(limit 65,536\)")


def test_a_fifo_model_is_refused_not_waited_on(tmp_path):
    os.mkfifo(tmp_path / "model.nir")
    assert_refused(run_cli("inspect", tmp_path / "model.nir", timeout=60), r"is not a regular file")


def test_nir_datasets_the_graph_does_not_use_are_never_read(tmp_path):
    from npukit.budget import LoadBudget
    from npukit.converters.nir import load_nir

    junk = _nir_with(tmp_path, "junk.nir", lambda g: (
        g.create_dataset("weight", data=np.ones((10, 64), np.float32)),
        g.create_dataset("junk", (5000, 5000), "f4", chunks=(500, 500), compression="gzip")))  # 100 MB declared
    budget = LoadBudget(str(junk))
    load_nir(junk, budget=budget)
    assert 0 < budget.used < 1 << 20  # the graph's own arrays: kilobytes; the junk was never read


def _npz(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, blob in members.items():
            archive.writestr(name, blob)
    return path


def _npy(array: np.ndarray, lie: tuple[int, ...] | None = None) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array)
    raw = buffer.getvalue()
    if lie is None:
        return raw
    length = int.from_bytes(raw[8:10], "little")
    header = raw[10 : 10 + length].replace(repr(array.shape).encode(), repr(lie).encode())
    header = header.rstrip(b" \n")[: length - 1].ljust(length - 1) + b"\n"
    return raw[:10] + header + raw[10 + length :]


def test_npz_member_names_and_unused_members(tmp_path, shipped_tflite):
    from npukit.data import load_data

    x = np.random.default_rng(0).uniform(0, 1, (4, 8, 8, 1)).astype(np.float32)
    plain_x = _npz(tmp_path / "plain.npz", {"x": _npy(x, lie=(10**11, 8, 8, 1))})  # no .npy suffix
    result = run_cli("bundle", shipped_tflite, "--data", plain_x, "--out", tmp_path)
    assert_refused(result, r"'x' declares shape \(100000000000, 8, 8, 1\)")
    twice = _npz(tmp_path / "twice.npz", {"x": _npy(x), "x.npy": _npy(x)})
    assert_refused(run_cli("bundle", shipped_tflite, "--data", twice, "--out", tmp_path), r"two archive members hold the array 'x'")
    # an unused member declaring 10^11 samples is never read: the data loads
    unused = _npz(tmp_path / "unused.npz", {"x.npy": _npy(x), "junk.npy": _npy(x, lie=(10**11, 8, 8, 1))})
    np.testing.assert_array_equal(load_data(unused).x, x)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.npz", "twice.npz", "unused.npz"]


def _unknown_compression(path: Path) -> Path:
    """Set every member's compression method to 99 (found by the fuzz run: zipfile raised
    NotImplementedError)."""
    raw = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        at = raw.find(signature)
        while at >= 0:
            raw[at + offset : at + offset + 2] = (99).to_bytes(2, "little")
            at = raw.find(signature, at + 4)
    path.write_bytes(bytes(raw))
    return path


def test_zip_members_with_an_unknown_compression_method(tmp_path):
    import npukit as api
    from npukit.data import load_data
    from npukit.errors import BadInputError

    data = tmp_path / "d.npz"
    np.savez(data, x=np.ones((3, 4), np.float32))
    with pytest.raises(BadInputError, match="'x.npy' uses unknown zip compression method 99"):
        load_data(_unknown_compression(data))
    model = tmp_path / "m.keras"
    shutil.copy(DIGITS_CNN, model)
    with pytest.raises(BadInputError, match="uses unknown zip compression method 99"):
        api.load(_unknown_compression(model))


def test_npkit_arrays_are_size_checked_and_only_named_ones_read(tmp_path):
    import npukit as api

    good = tmp_path / "good.npkit"
    api.convert(DIGITS_LIF, good, to="ir")
    with zipfile.ZipFile(good) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    kernel = next(n for n in members if n.endswith("/kernel.npy"))
    value = np.load(io.BytesIO(members[kernel]))
    lying = _npz(tmp_path / "lying.npkit", {**members, kernel: _npy(value, lie=(10**6, 10**6))})
    assert_refused(run_cli("inspect", lying), r"declares shape \(1000000, 1000000\)")
    junk = _npz(tmp_path / "junk.npkit", {**members, "junk.npy": _npy(value, lie=(10**6, 10**6))})
    assert run_cli("inspect", junk).returncode == 0
    result = run_cli("inspect", good, env={"NPUKIT_MAX_LOAD_BYTES": "1000"})
    assert_refused(result, r"the file: [\d,]+ bytes, which takes this load past its budget of 1,000 bytes")


def _keras_with(path: Path, extra: dict[str, bytes] = {}, config_padding: int = 0) -> Path:
    """The shipped CNN's archive, config.json padded with whitespace, extra members added."""
    with zipfile.ZipFile(DIGITS_CNN) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "config.json" and config_padding:
                with dst.open("config.json", "w", force_zip64=True) as member:
                    member.write(data)
                    chunk = b" " * (1 << 20)
                    for _ in range(config_padding >> 20):
                        member.write(chunk)
                continue
            dst.writestr(info.filename, data)
        for name, data in extra.items():
            dst.writestr(name, data)
    return path


def test_keras_config_bomb_is_refused_before_inflating_and_the_limit_can_be_raised(tmp_path):
    bomb = _keras_with(tmp_path / "bomb.keras", config_padding=136 << 20)  # 136 MiB of JSON whitespace: 16 x 136 MiB > 2 GiB
    assert bomb.stat().st_size < 2 << 20
    assert_refused(run_cli("inspect", bomb), r"config.json \(inflates to 142,6\d\d,\d\d\d bytes, counted 16 times for the Python objects it becomes\): [\d,]+ bytes, which takes this load " + BUDGET_MESSAGE)
    result = run_cli("inspect", bomb, "--json", env={"NPUKIT_MAX_LOAD_BYTES": str(8 << 30)})
    assert result.returncode == 0, result.stderr  # a valid (if padded) model, under the raised limit


def test_keras_asset_bomb_is_refused_before_extraction(tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    assets = {f"assets/a{k}.bin": bytes(40 << 20) for k in range(8)}  # 8 x 40 MiB of zeros
    bomb = _keras_with(tmp_path / "assets.keras", assets)
    result = run_cli("inspect", bomb, env={"NPUKIT_MAX_LOAD_BYTES": str(256 << 20), "TMPDIR": str(temp)})
    assert_refused(result, r"assets/ \(8 files inflating to 335,544,320 bytes, extracted to disk\).*268,435,456 bytes")
    assert list(temp.iterdir()) == []


def test_keras_temporary_files_go_on_ctrl_c(tmp_path, monkeypatch):
    """Keras extracts an archive with assets to the temporary directory; an interruption right
    after that extraction leaves nothing behind."""
    import tempfile

    import npukit as api
    from npukit.quiet import import_tensorflow

    import_tensorflow()
    from keras.src.utils import file_utils

    model = _keras_with(tmp_path / "assets.keras", {"assets/vocabulary.txt": b"a\nb\n"})
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    extracted = []
    real = file_utils.extract_open_archive

    def extract_then_interrupt(archive, path="."):
        real(archive, path)
        extracted.extend(Path(path).rglob("*"))
        raise KeyboardInterrupt

    monkeypatch.setattr(file_utils, "extract_open_archive", extract_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        api.load(model)
    assert any(p.name == "vocabulary.txt" for p in extracted)  # Keras did write to the temporary directory
    assert list(temp.iterdir()) == []


def test_onnx_initializers_sharing_one_external_region(tmp_path):
    n = 1 << 28  # 1 GiB of float32 each, all at offset 0 of one (sparse) file
    with open(tmp_path / "w.bin", "wb") as handle:
        handle.truncate(n * 4)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n])
    tensors, nodes, last = [], [], "x"
    for k in range(4):
        t = TensorProto(name=f"c{k}", data_type=TensorProto.FLOAT, dims=[n])
        t.data_location = TensorProto.EXTERNAL
        for key, value in (("location", "w.bin"), ("offset", "0"), ("length", str(n * 4))):
            entry = t.external_data.add()
            entry.key, entry.value = key, value
        tensors.append(t)
        nodes.append(helper.make_node("Add", [last, f"c{k}"], [f"s{k}" if k < 3 else "y"]))
        last = f"s{k}"
    model = tmp_path / "shared.onnx"
    onnx.save(helper.make_model(helper.make_graph(nodes, "g", [x], [y], tensors), opset_imports=[helper.make_opsetid("", 17)]), str(model))
    assert_refused(run_cli("inspect", model), r"tensor 'c1': 1,073,741,824 bytes.*" + BUDGET_MESSAGE)
