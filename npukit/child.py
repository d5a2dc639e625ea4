"""Child interpreters npukit starts (the HDF5 probe, the latency worker): isolated, and never
outliving the process that started them.

Isolated: ``python -I`` puts neither the working folder nor PYTHONPATH on ``sys.path`` and
ignores PYTHON* variables and the user's site-packages, and the child runs in a neutral folder
(the file system root): an ``h5py.py`` or ``json.py`` lying beside a model is never imported.
The child finds npukit where the parent's npukit lives (appended to ``sys.path``, after
site-packages), so both run the same code.

Never orphaned: a child calls ``die_with_parent`` first. On Linux the kernel sends it SIGKILL
when the parent dies (``prctl(PR_SET_PDEATHSIG)``, even when the parent is killed with SIGKILL);
elsewhere a daemon thread polls the parent's id and exits when it changes.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

NEUTRAL_CWD = os.path.abspath(os.sep)
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_POLL_S = 0.5

# argv: [root, "module:function", *args]; the function reads the rest of sys.argv
_BOOT = (
    "import sys, importlib; sys.path.append(sys.argv[1]); name, fn = sys.argv[2].split(':'); "
    "sys.argv = sys.argv[2:]; getattr(importlib.import_module(name), fn)()"
)


def _package_root() -> str:
    """The folder holding the ``npukit`` package the parent runs."""
    return str(Path(__file__).resolve().parent.parent)


def python_command(entry: str, *args: str) -> list[str]:
    """The command line running ``entry`` ("module:function") in an isolated interpreter;
    the function finds ``args`` in ``sys.argv[1:]``."""
    return [sys.executable, "-I", "-c", _BOOT, _package_root(), entry, *args]


def die_with_parent(parent_pid: int) -> None:
    """End this process when ``parent_pid`` ends (first thing a child does)."""
    if sys.platform.startswith("linux") and _pdeathsig():
        if os.getppid() != parent_pid:  # the parent died before the kernel could be told
            os._exit(1)
        return
    if os.getppid() != parent_pid:
        os._exit(1)
    threading.Thread(target=_watch, args=(parent_pid,), daemon=True, name="npukit-parent-watch").start()


def _pdeathsig() -> bool:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(_POLL_S)
    os._exit(1)
