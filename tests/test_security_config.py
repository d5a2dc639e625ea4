"""Nothing from the working folder or a shared folder configures npukit's libraries or runs:
numba's cache and configuration file (npukit.kernels.jit), matplotlib's matplotlibrc
(npukit.figures), Keras' keras.json (npukit.quiet). Each attack plants a pickle that creates a
marker file when it is unpickled, or a configuration that would break the command, in the
places the library would look, and runs the CLI in a child process from that folder."""

from __future__ import annotations

import os
import pickle
import struct
import stat
import sys
from pathlib import Path

import pytest
from hostile import run_cli

import npukit
from npukit.kernels import jit

EVENT_SNN = Path(npukit.__file__).resolve().parent / "models" / "digits_events.nir"
if not EVENT_SNN.exists():
    EVENT_SNN = Path(npukit.__file__).resolve().parent.parent / "models" / "digits_events.nir"


class _Payload:
    """Unpickling it creates ``marker`` (builtins.open(marker, "w")): code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _plant_numba_index(cache_dir: Path, marker: Path) -> list[Path]:
    """A hostile index (.nbi) for every event kernel, where numba's own locators look when
    its cache folder is ``cache_dir`` (``NUMBA_CACHE_DIR`` / ``cache_dir:`` in the config file)."""
    from numba.core.caching import UserProvidedCacheLocator

    from npukit.kernels import events_jit

    source = Path(events_jit.__file__)
    folder = cache_dir / UserProvidedCacheLocator.get_suitable_cache_subpath(str(source))
    folder.mkdir(parents=True, exist_ok=True)
    abi = getattr(sys, "abiflags", "")
    planted = []
    for name in ("_scatter_row", "_finish_rows", "run_rows", "scatter_rows", "finish_rows"):
        fn = getattr(events_jit, name).py_func
        path = folder / f"events_jit.{fn.__qualname__}-{fn.__code__.co_firstlineno}.py{sys.version_info[0]}{sys.version_info[1]}{abi}.nbi"
        path.write_bytes(pickle.dumps(_Payload(marker)))
        planted.append(path)
    return planted


def _simulate_events(cwd: Path, env: dict) -> None:
    result = run_cli("simulate", EVENT_SNN, "--data", "digits-events", "--samples", "2", cwd=cwd, env=env)
    assert result.returncode == 0, result.stderr[-2000:]


def test_a_numba_cache_dir_from_the_environment_is_never_read(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # a world-writable folder someone else planted an index in
    marker = tmp_path / "ran"
    _plant_numba_index(shared, marker)
    _simulate_events(tmp_path, {"NUMBA_CACHE_DIR": str(shared), "XDG_CACHE_HOME": str(tmp_path / "xdg")})
    assert not marker.exists()
    relative = tmp_path / "work"
    relative.mkdir()
    _plant_numba_index(relative / "nbcache", marker)
    _simulate_events(relative, {"NUMBA_CACHE_DIR": "nbcache", "XDG_CACHE_HOME": str(tmp_path / "xdg")})
    assert not marker.exists()


def test_a_numba_config_file_in_the_working_folder_is_never_read(tmp_path):
    pytest.importorskip("yaml", reason="numba reads .numba_config.yaml only when PyYAML is installed (a test extra)")
    marker = tmp_path / "ran"
    (tmp_path / ".numba_config.yaml").write_text("cache_dir: ./.nbcache\n")
    _plant_numba_index(tmp_path / ".nbcache", marker)
    result = run_cli("simulate", EVENT_SNN, "--data", "digits-events", "--samples", "2", cwd=tmp_path,
                     env={"XDG_CACHE_HOME": str(tmp_path / "xdg")})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr == ""  # not even numba's warning about the file
    assert not marker.exists()


def test_the_kernels_are_cached_in_a_private_folder(tmp_path):
    xdg = tmp_path / "xdg"
    _simulate_events(tmp_path, {"XDG_CACHE_HOME": str(xdg)})
    folder = xdg / "npukit" / "numba"
    indexes = list(folder.rglob("*.nbi"))
    assert indexes, "nothing cached"
    for path in (xdg / "npukit", folder, *{p.parent for p in indexes}):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path


def test_private_cache_dir_refuses_folders_others_can_write_or_links(tmp_path, monkeypatch):
    monkeypatch.delenv(jit.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert jit.private_cache_dir() == tmp_path / "npukit" / "numba"
    (tmp_path / "npukit" / "numba").chmod(0o770)
    assert jit.private_cache_dir() is None
    (tmp_path / "npukit" / "numba").rmdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (tmp_path / "npukit" / "numba").symlink_to(elsewhere)
    assert jit.private_cache_dir() is None
    monkeypatch.setenv(jit.CACHE_ENV, "0")
    (tmp_path / "npukit" / "numba").unlink()
    assert jit.private_cache_dir() is None
    monkeypatch.delenv(jit.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # ignored, as XDG says: the home's .cache
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert jit.private_cache_dir() == tmp_path / "home" / ".cache" / "npukit" / "numba"


def test_a_matplotlibrc_in_the_working_folder_is_ignored(tmp_path, shipped_tflite):
    (tmp_path / "matplotlibrc").write_text("savefig.dpi: 20000\nfigure.dpi: 20000\n")
    plot = tmp_path / "profile.png"
    result = run_cli("profile", shipped_tflite, "--runs", "5", "--plot", plot, cwd=tmp_path, limit=3 << 30)
    assert result.returncode == 0, result.stderr[-2000:]
    from npukit.figures import STYLE

    width, height = struct.unpack(">II", plot.read_bytes()[16:24])  # the PNG's IHDR
    assert width == 8 * STYLE["savefig.dpi"], (width, height)  # profile_png: 8 inches wide


def test_a_fifo_named_matplotlibrc_hangs_nothing(tmp_path, shipped_tflite):
    """Keras imports matplotlib when it is installed, and matplotlib opens a working folder's
    matplotlibrc at import: npukit imports Keras without it, and draws in a child elsewhere."""
    from npukit.models import DIGITS_CNN

    os.mkfifo(tmp_path / "matplotlibrc")
    plot = tmp_path / "profile.png"
    result = run_cli("profile", shipped_tflite, "--runs", "5", "--plot", plot, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert plot.read_bytes()[:4] == b"\x89PNG"
    result = run_cli("convert", DIGITS_CNN, "-o", tmp_path / "cnn.tflite", "--calibration-samples", "16", cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_figures_are_drawn_the_same_whatever_the_users_matplotlib_settings(tmp_path, monkeypatch):
    from npukit.figures import render

    times = [0.1, 0.12, 0.11, 0.13]
    plain = render(("latency", (times, "t")))[0]
    rc = tmp_path / "rc"
    rc.write_text("lines.linewidth: 9\nfont.size: 30\nsavefig.dpi: 300\n")
    monkeypatch.setenv("MATPLOTLIBRC", str(rc))
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path))
    (tmp_path / "matplotlibrc").write_text(rc.read_text())
    assert render(("latency", (times, "t")))[0] == plain


def test_a_keras_json_in_a_shared_keras_home_is_not_read(tmp_path):
    """Keras reads keras.json from ~/.keras, or from /tmp/.keras when the home folder cannot be
    written: a folder anyone may write to. npukit points KERAS_HOME at its private folder then."""
    from npukit.quiet import keras_home

    home = tmp_path / "gone"  # no home folder to write to: Keras would fall back to /tmp/.keras
    xdg = tmp_path / "xdg"
    env = {"HOME": str(home), "XDG_CACHE_HOME": str(xdg)}
    assert keras_home(env) == str(xdg / "npukit" / "keras")
    assert keras_home({"HOME": str(tmp_path), "XDG_CACHE_HOME": str(xdg)}) is None  # Keras' own ~/.keras
    assert keras_home({**env, "KERAS_HOME": "/somewhere"}) is None  # the user's choice
