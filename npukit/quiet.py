"""Keeping TensorFlow's native log lines (absl, CUDA probes, MLIR passes) off the user's terminal.

TensorFlow's C++ code writes to file descriptors 1 and 2 directly, past Python's sys.stdout and
sys.stderr, and ignores TF_CPP_MIN_LOG_LEVEL for some messages. ``native_output_captured``
points both descriptors at a temporary file for the duration of a block; the captured text is
returned in a list so an error message can quote it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile


@contextlib.contextmanager
def native_output_captured():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    captured: list[str] = []
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    log = tempfile.TemporaryFile(mode="w+b")
    saved = [os.dup(1), os.dup(2)]
    try:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        yield captured
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        log.seek(0)
        captured.append(log.read().decode(errors="replace"))
        log.close()


def keras_home(env=os.environ) -> str | None:
    """The ``KERAS_HOME`` npukit gives Keras, or None to leave Keras' own choice. Keras reads
    ``keras.json`` (its backend, image layout, float type) from ``$KERAS_HOME``, else ``~/.keras``,
    else, when the home folder cannot be written, from ``/tmp/.keras``: a folder anyone may write
    to. In that last case npukit's private folder ``keras`` (``npukit.user_cache``) is used."""
    if "KERAS_HOME" in env:
        return None
    home = env.get("HOME") or os.path.expanduser("~")
    if os.access(home, os.W_OK):
        return None
    from npukit.user_cache import private_folder

    folder = private_folder("keras", env)
    return str(folder) if folder is not None else None


def import_tensorflow():
    """Import TensorFlow (and Keras with it) without its start-up log lines, Keras with the
    TensorFlow backend and never with a configuration from a shared folder (``keras_home``)."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = "tensorflow"  # npukit converts with TensorFlow, whatever keras.json says
        home = keras_home()
        if home is not None:
            os.environ["KERAS_HOME"] = home
    # Keras imports matplotlib.pyplot when it can (keras.src.visualization), and matplotlib reads
    # a matplotlibrc from the working folder (a FIFO there blocks forever): hidden meanwhile, so
    # Keras goes without it (npukit draws in a child: npukit.figures)
    hidden = [name for name in ("matplotlib", "matplotlib.pyplot") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None
    try:
        with native_output_captured():
            import tensorflow as tf
            import keras  # noqa: F401 - imported here so its own start-up is silent too
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]
    return tf
