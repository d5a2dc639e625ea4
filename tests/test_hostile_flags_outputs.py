"""Absurd flags, hostile output paths, exit codes and the Keras floor (issue 18, items 4-7).
Commands run in a child process under a 4 GB address-space limit (tests/hostile.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hostile import assert_refused, run_cli

from npukit.errors import BadInputError
from npukit.models import DIGITS_CNN, DIGITS_LIF
from npukit.tflite_file import read_tflite, schema, with_metadata

# -- 4. bounds and the latency worker ----------------------------------------------------------------


def test_temporal_batch_is_bounded_and_memory_checked(tmp_path, monkeypatch):
    import npukit as api
    from npukit.snn import memory as snn_memory

    out = tmp_path / "t.tflite"
    for batch in (10**8, 10**7, 4097, 0, -1):
        result = run_cli("convert", DIGITS_LIF, "--mode", "temporal", "--batch", batch, "-o", out)
        assert_refused(result, rf"batch must be an integer in 1..4,096. Received: {batch}")
    monkeypatch.setattr(snn_memory, "available_bytes", lambda: 64 << 20)
    with pytest.raises(BadInputError, match=r"converting with batch 4096 needs about [\d,]+ MiB, more than the 32 MiB budget"):
        api.convert(DIGITS_LIF, out, mode="temporal", batch=4096, timesteps=32)
    assert not out.exists()


def test_profile_timesteps_are_bounded(tmp_path, shipped_tflite):
    for steps in ("1000000000", "100001", "0", "-5"):
        result = run_cli("profile", shipped_tflite, "-T", steps, "--runs", 2)
        assert_refused(result, rf"timesteps must be an integer in 1..100000. Received: {steps}")
    meta = read_tflite(shipped_tflite).npukit_metadata()
    for value in (1e9, -3, "32", None):
        bad = tmp_path / "meta.tflite"
        bad.write_bytes(with_metadata(shipped_tflite.read_bytes(), {**meta, "timesteps": value}))
        result = run_cli("profile", bad, "--runs", 2)
        assert_refused(result, r"the npukit metadata entry of this .tflite: timesteps: .* (is not of type 'integer'|is greater than the maximum of 100000|is less than the minimum of 1)")


def test_a_measurement_that_cannot_finish_is_refused_up_front(shipped_tflite):
    from npukit.profile.latency import measure_latency

    start = time.perf_counter()
    with pytest.raises(BadInputError, match=r"timing 1,000,000 invokes of [\d.]+ ms would take about [\d,]+ s, more than the 1 s allowed"):
        measure_latency(shipped_tflite, runs=1_000_000, warmup=5, timeout_s=1)
    assert time.perf_counter() - start < 30


def _children(pid: int) -> list[tuple[int, str]]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append((int(entry.name), cmdline))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find the worker process")
def test_killing_the_parent_ends_the_latency_worker(shipped_tflite):
    code = ("import sys; from npukit.profile.latency import measure_latency; "
            "measure_latency(sys.argv[1], runs=1_000_000, warmup=0, threads=1, use_xnnpack=False, timesteps=100_000)")
    parent = subprocess.Popen([sys.executable, "-P", "-c", code, str(shipped_tflite)])
    try:
        deadline, worker = time.monotonic() + 60, None
        while worker is None and time.monotonic() < deadline and parent.poll() is None:
            worker = next((pid for pid, cmd in _children(parent.pid) if "npukit.profile.latency:_worker" in cmd), None)
            time.sleep(0.05)
        assert worker is not None, "the latency worker never started"
        time.sleep(1.0)  # well into its ~25 s of invokes
        assert _alive(worker)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 5
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(worker), "the latency worker outlived its killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()


# -- 5. outputs --------------------------------------------------------------------------------------


def test_no_overwrite_without_force_at_the_moment_of_the_rename(tmp_path, monkeypatch):
    from npukit.files import atomic_write

    target = tmp_path / "out.bin"
    real_fsync = os.fsync

    def concurrent_writer(fd):  # another process creates the file after the up-front check
        real_fsync(fd)
        target.write_bytes(b"theirs")

    monkeypatch.setattr(os, "fsync", concurrent_writer)
    with pytest.raises(BadInputError, match="exists; pass force=True"):
        atomic_write(target, b"ours")
    assert target.read_bytes() == b"theirs" and [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_outputs_are_regular_files_only(tmp_path, shipped_tflite):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "link.png"
    link.symlink_to(victim)
    dangling = tmp_path / "dangling.png"
    dangling.symlink_to(tmp_path / "nowhere.png")
    fifo = tmp_path / "fifo.png"
    os.mkfifo(fifo)
    cases = [(link, "--force", "is a symbolic link"), (dangling, None, "is a symbolic link"),
             (dangling, "--force", "is a symbolic link"), (fifo, "--force", "is not a regular file")]
    for path, force, message in cases:
        args = ["profile", shipped_tflite, "--runs", 2, "--plot", path] + ([force] if force else [])
        assert_refused(run_cli(*args, timeout=120), message)
    assert victim.read_text() == "keep me" and not (tmp_path / "nowhere.png").exists()
    assert link.is_symlink() and dangling.is_symlink() and fifo.is_fifo()


def _bundle_cmd(model, out, *extra):
    return ["bundle", model, "--data", "digits", "--samples", 4, "--out", out, *extra]


def test_bundle_target_is_claimed_at_the_moment_of_the_rename(tmp_path, shipped_tflite, monkeypatch):
    import npukit.bundle as bundle

    out = tmp_path / "assets"
    out.mkdir()
    real = bundle.encode_vectors

    def someone_else_creates_it(*args):  # after the up-front check, before the swap
        (out / "digits_cnn").mkdir()
        (out / "digits_cnn" / "notes.txt").write_text("mine")
        return real(*args)

    monkeypatch.setattr(bundle, "encode_vectors", someone_else_creates_it)
    with pytest.raises(BadInputError, match="exists \\(created meanwhile\\)"):
        bundle.write_bundle(shipped_tflite, "digits", out, samples=4)
    assert (out / "digits_cnn" / "notes.txt").read_text() == "mine"
    (out / "digits_cnn" / "notes.txt").unlink()
    (out / "digits_cnn").rmdir()

    def someone_else_fills_it(*args):  # with force: a folder that is not a bundle appears
        (out / "digits_cnn").mkdir(exist_ok=True)
        (out / "digits_cnn" / "thesis.tex").write_text("mine")
        return real(*args)

    monkeypatch.setattr(bundle, "encode_vectors", someone_else_fills_it)
    with pytest.raises(BadInputError, match="holds files that are not a bundle's"):
        bundle.write_bundle(shipped_tflite, "digits", out, samples=4, force=True)
    assert (out / "digits_cnn" / "thesis.tex").read_text() == "mine"
    assert sorted(p.name for p in out.iterdir()) == ["digits_cnn"]  # no temporary folder left


def test_bundle_refuses_links_in_place_of_the_folder(tmp_path, shipped_tflite):
    out = tmp_path / "assets"
    out.mkdir()
    elsewhere = tmp_path / "elsewhere"
    assert run_cli(*_bundle_cmd(shipped_tflite, tmp_path, "--name", "elsewhere")).returncode == 0
    (out / "digits_cnn").symlink_to(elsewhere)
    assert_refused(run_cli(*_bundle_cmd(shipped_tflite, out, "--force")), r"is not a bundle folder \(a file, link or device\)")
    assert (out / "digits_cnn").is_symlink() and (elsewhere / "bundle.json").is_file()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_conversion_leaves_no_temporary_or_output_file(tmp_path, sig):
    temp = tmp_path / "tmp"
    temp.mkdir()
    out = tmp_path / "out.tflite"
    env = {**os.environ, "TMPDIR": str(temp), "TF_CPP_MIN_LOG_LEVEL": "3"}
    code = "import sys; from npukit.cli import main; sys.argv = ['npukit'] + sys.argv[1:]; main()"
    proc = subprocess.Popen([sys.executable, "-P", "-c", code, "convert", str(DIGITS_CNN), "-o", str(out)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    loaded = False  # the Keras reader's temporary files come and go, then TensorFlow converts
    while proc.poll() is None and time.monotonic() < deadline:
        unpacked = list(temp.rglob("npukit-keras-*"))
        if unpacked:
            loaded = True
        elif loaded:
            break
        time.sleep(0.02)
    assert loaded and proc.poll() is None, "the conversion never unpacked the model into the temporary directory"
    time.sleep(0.05)  # as the conversion starts (an interrupt deep inside TensorFlow's converter ends the process
    # with SIGINT's default action, exit -2 and no message: not yet handled)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130 and stderr.strip().splitlines() == ["interrupted"], (proc.returncode, stderr[-2000:])
    assert list(temp.iterdir()) == [] and not out.exists()


# -- 6. exit codes and stderr ------------------------------------------------------------------------


@pytest.mark.parametrize("field, value, message", [
    ("offset", "abc", r"external-data offset 'abc' is not a byte count"),
    ("length", "-16", r"external-data length '-16' is not a byte count"),
    ("basepath_x", "1", r"unknown or repeated external-data field 'basepath_x'"),
])
def test_malformed_onnx_external_data_fields(tmp_path, field, value, message):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    c = TensorProto(name="c", data_type=TensorProto.FLOAT, dims=[4])
    c.data_location = TensorProto.EXTERNAL
    (tmp_path / "w.bin").write_bytes(bytes(16))
    for key, text in (("location", "w.bin"), (field, value)):
        entry = c.external_data.add()
        entry.key, entry.value = key, text
    path = tmp_path / "m.onnx"
    graph = helper.make_graph([helper.make_node("Add", ["x", "c"], ["y"])], "g", [x], [y], [c])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    assert_refused(run_cli("inspect", path), message)


def test_deeply_nested_json_is_bad_input(tmp_path, shipped_tflite):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    assert_refused(run_cli("profile", shipped_tflite, "--runs", 2, "--energy-table", deep), r"energy table .* nests deeper than 64 levels")
    assert_refused(run_cli("profile", shipped_tflite, "--runs", 2, "--device-report", deep), r"device report .* nests deeper than 64 levels")
    nested: list = []
    for _ in range(200):
        nested = [nested]
    meta = {**read_tflite(shipped_tflite).npukit_metadata(), "labels": nested}
    model = tmp_path / "deep.tflite"
    model.write_bytes(with_metadata(shipped_tflite.read_bytes(), meta))
    assert_refused(run_cli("inspect", model), r"the npukit metadata entry of this .tflite nests deeper than 64 levels")
    import io
    import zipfile

    graph = tmp_path / "deep.npkit"
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.frombuffer(b"[" * 100_000 + b"]" * 100_000, np.uint8))
    with zipfile.ZipFile(graph, "w") as archive:
        archive.writestr("__graph__.npy", buffer.getvalue())
    assert_refused(run_cli("inspect", graph), r"the graph description nests deeper than 64 levels")


def test_negative_seed_is_bad_input():
    result = run_cli("simulate", DIGITS_LIF, "--encoding", "bernoulli", "--seed", -1, "-T", 2, "--samples", 2)
    assert_refused(result, r"seed must be an integer in 0..2\^63-1. Received: -1")


def test_a_model_litert_refuses_is_bad_input(tmp_path, shipped_tflite):
    s = schema()
    obj = s.ModelT.InitFromObj(s.Model.GetRootAs(shipped_tflite.read_bytes(), 0))
    code = obj.operatorCodes[0]
    code.builtinCode = code.deprecatedBuiltinCode = s.BuiltinOperator.CUSTOM
    code.customCode = b"NPUKIT_NO_SUCH_OP"
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(obj.Pack(builder), file_identifier=b"TFL3")
    model = tmp_path / "custom.tflite"
    model.write_bytes(bytes(builder.Output()))
    assert_refused(run_cli("profile", model, "--runs", 2), r"refused the model.*NPUKIT_NO_SUCH_OP")


def test_library_warnings_never_reach_stderr(tmp_path, shipped_tflite):
    """An .npy header of Python 2 makes numpy warn; the user sees the one error line only."""
    import zipfile

    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }"
    header = header.ljust(118 - 1) + b"\n"
    blob = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + bytes(24)
    data = tmp_path / "py2.npz"
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("x.npy", blob)
    with pytest.warns(UserWarning):  # numpy does warn about it
        np.lib.format.read_array(__import__("io").BytesIO(blob))
    result = run_cli("bundle", shipped_tflite, "--data", data, "--out", tmp_path)
    assert_refused(result, r"data samples have shape \(3,\) but the model's input is \(8, 8, 1\)|'x' must be a numeric array")


# -- 7. the Keras floor ----------------------------------------------------------------------------


def test_keras_floor_is_declared_and_installed():
    from importlib.metadata import requires, version

    floor = next(r for r in requires("npukit") if r.replace(" ", "").startswith("keras>="))
    wanted = tuple(int(p) for p in floor.split(">=")[1].split(";")[0].strip().split("."))
    installed = tuple(int(p) for p in version("keras").split(".")[:3])
    assert wanted >= (3, 13, 2)  # CVE-2026-1462 (TFSMLayer safe_mode bypass) and earlier fixes
    assert installed >= wanted


def test_an_interrupt_that_a_library_swallowed_still_writes_nothing(tmp_path, monkeypatch, shipped_tflite):
    # TensorFlow's tracing can catch the KeyboardInterrupt of a Ctrl-C and carry on: the request
    # is remembered, and the writers refuse to publish (npukit.interrupt)
    from npukit import bundle, interrupt
    from npukit.files import atomic_write

    monkeypatch.setattr(interrupt, "_pending", False)
    with pytest.raises(KeyboardInterrupt):
        interrupt.request()
    out = tmp_path / "out.bin"
    with pytest.raises(KeyboardInterrupt):
        atomic_write(out, b"data")
    with pytest.raises(KeyboardInterrupt):
        bundle.write_bundle(shipped_tflite, "digits", tmp_path / "assets", samples=4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["assets"] and list((tmp_path / "assets").iterdir()) == []
