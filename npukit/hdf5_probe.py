"""Read every attribute and small dataset of an HDF5 file in a child process, with a deadline.

A damaged HDF5 file can send the HDF5 library into a loop that never returns (a corrupt global
heap behind a variable-length string attribute, found by benchmarks/fuzz_inputs.py) or crash
it. Before npukit (or Keras) reads an .h5 / .nir file in its own process, ``probe`` reads it
once in a short-lived child process: a file that crashes the child, or keeps it busy past the
deadline, is refused with a one-line error and never opened in the caller.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from npukit.errors import BadInputError

TIMEOUT_S = 20.0
MAX_PROBED_ELEMENTS = 1 << 24  # larger datasets are checked later by the readers' own limits

_CHILD = """
import sys, h5py
limit = int(sys.argv[2])
def walk(group):
    for name in group.attrs:
        group.attrs[name]
    for key in group:
        link = group.get(key, getlink=True)
        if not isinstance(link, h5py.HardLink):
            continue
        item = group[key]
        if isinstance(item, h5py.Group):
            walk(item)
        else:
            for name in item.attrs:
                item.attrs[name]
            if item.size <= limit:
                item[()]
with h5py.File(sys.argv[1], "r") as f:
    walk(f)
"""


def probe(path: str | Path, timeout: float = TIMEOUT_S) -> None:
    """Raise BadInputError when reading ``path`` fails, crashes or takes over ``timeout`` s."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, str(path), str(MAX_PROBED_ELEMENTS)],
            capture_output=True, text=True, timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise BadInputError(f"{path}: reading the HDF5 file did not finish in {timeout:.0f} s (a damaged file)")
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise BadInputError(f"{path}: unreadable HDF5 file ({last[:200]})")
