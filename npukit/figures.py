"""PNG figures (``parity --plot``, ``profile --plot``, the HTML report), drawn with one fixed
style in an isolated child interpreter.

matplotlib reads a ``matplotlibrc`` from the *current working folder* when it is imported, before
any other configuration: a working folder holding one could set ``savefig.dpi: 20000`` (a figure
of gigabytes), name a FIFO (the import blocks forever) or choose a backend module. npukit
therefore never imports matplotlib itself: ``render`` starts a child (``npukit.child``: ``python
-I``, run in the file system root, ``MATPLOTLIBRC`` removed from its environment, ended when
npukit ends), which imports matplotlib there, resets every setting to matplotlib's built-in
defaults (so neither a working folder's nor the user's matplotlibrc or style applies), applies
``STYLE`` and draws with the Agg backend. The figure functions receive JSON data only.

The style: matplotlib's defaults, 100 dots per inch, DejaVu Sans (shipped with matplotlib), and
PNG metadata without the software version (the same data gives the same bytes).
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from typing import Any

from npukit.errors import BadInputError

#: the figures a child may draw: name -> "module:function(*args) -> PNG bytes"
FIGURES = {
    "parity": "npukit.parity.plot:draw",
    "profile": "npukit.profile.plots:profile_png",
    "latency": "npukit.profile.plots:latency_histogram",
    "energy": "npukit.profile.plots:energy_bars",
}
#: rcParams applied over matplotlib's built-in defaults
STYLE = {"figure.dpi": 100, "savefig.dpi": 100, "font.family": "DejaVu Sans", "savefig.format": "png"}
TIMEOUT_S = 120
_LENGTH = struct.Struct(">Q")


def _jsonable(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else str(value)  # numpy arrays and scalars; paths


def render(*figures: tuple[str, tuple]) -> list[bytes]:
    """Draw each ``(name, args)`` of ``figures`` (``FIGURES``) in one child process; their PNGs."""
    from npukit.child import NEUTRAL_CWD, python_command

    for name, _ in figures:
        if name not in FIGURES:
            raise ValueError(f"unknown figure {name!r}")
    payload = json.dumps([[name, list(args)] for name, args in figures], default=_jsonable).encode()
    env = {k: v for k, v in os.environ.items() if k != "MATPLOTLIBRC"}
    command = python_command("npukit.figures:_child", str(os.getpid()))
    try:
        done = subprocess.run(command, input=payload, capture_output=True, timeout=TIMEOUT_S, cwd=NEUTRAL_CWD, env=env)
    except subprocess.TimeoutExpired:
        raise BadInputError(f"drawing the figure did not finish in {TIMEOUT_S} s")
    if done.returncode != 0:
        lines = [line for line in done.stderr.decode(errors="replace").splitlines() if line.strip()]
        raise BadInputError(f"the figure could not be drawn ({(lines[-1] if lines else f'exit code {done.returncode}')[:200]})")
    pngs, data = [], done.stdout
    while data:
        (size,), data = _LENGTH.unpack(data[:_LENGTH.size]), data[_LENGTH.size:]
        pngs.append(data[:size])
        data = data[size:]
    if len(pngs) != len(figures):
        raise BadInputError("the figure could not be drawn (the drawing process returned no image)")
    return pngs


def pyplot():
    """matplotlib's pyplot on the Agg backend (the figure functions draw with it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def use_fixed_style() -> None:
    """matplotlib's built-in defaults with ``STYLE`` over them (the child does this once)."""
    import matplotlib

    matplotlib.rcdefaults()
    matplotlib.rcParams.update(STYLE)


def png(fig) -> bytes:
    """``fig`` as PNG bytes (closed afterwards), without the software version in its metadata."""
    import io

    plt = pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=STYLE["savefig.dpi"], metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def _child() -> None:
    """Run in the child: sys.argv = [entry, parent pid]; the figures' JSON on stdin."""
    import importlib

    from npukit.child import die_with_parent

    die_with_parent(int(sys.argv[1]))
    pyplot()
    use_fixed_style()
    out = sys.stdout.buffer
    for name, args in json.loads(sys.stdin.buffer.read()):
        module, function = FIGURES[name].split(":")
        image = getattr(importlib.import_module(module), function)(*args)
        out.write(_LENGTH.pack(len(image)) + image)
    out.flush()
