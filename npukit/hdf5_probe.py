"""HDF5 files (.h5 Keras models, .nir graphs): what npukit accepts in them, and a first read of
the whole file in a child process with a deadline and a memory limit.

Accepted: groups and datasets reached by hard links only (no soft, external or user-defined
links), at most ``MAX_DEPTH`` levels and ``MAX_OBJECTS`` objects; datasets stored in the file
itself (no external raw storage, no virtual datasets: either can make HDF5 read other files,
/proc/self/environ or a FIFO), compressed only with the filters HDF5 and h5py build in
(``FILTERS``: no plugin is ever loaded), holding numbers, booleans or strings (no compound,
array, reference or opaque types, no null dataspaces). Each dataset's declared size in bytes is
charged to the load budget (``npukit.budget``) before it is read; variable-length strings, whose
sizes HDF5 does not declare, are read one element at a time and charged as they come.

Why a child: a damaged HDF5 file can send the HDF5 library into a loop that never returns (a
corrupt global heap behind a variable-length string attribute, found by
benchmarks/fuzz_inputs.py) or crash it. Before npukit (or Keras) reads an .h5 / .nir file in its
own process, ``probe`` applies the checks above and reads every attribute and dataset once in an
isolated child (``npukit.child``) whose address space is limited to the budget plus the
interpreter's own needs: a file that is refused, crashes the child, exhausts its memory or keeps
it busy past the deadline is refused with a one-line error and never opened in the caller.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from npukit.budget import LoadBudget, limit_bytes
from npukit.errors import BadInputError

TIMEOUT_S = 20.0
MAX_DEPTH = 32
MAX_OBJECTS = 100_000
MAX_STRING_ELEMENTS = 1 << 16
#: HDF5 filter ids built into HDF5 or h5py (others would load a plugin from disk)
FILTERS = {1: "gzip", 2: "shuffle", 3: "fletcher32", 4: "szip", 5: "nbit", 6: "scaleoffset", 32000: "lzf"}
#: address space of the child beyond the load budget: interpreter, numpy, h5py, nir
CHILD_OVERHEAD_BYTES = 3 << 30
_REFUSED = 3  # the child's exit code for a file it refuses (message on stderr)


# -- checks shared by the probe and the readers ----------------------------------------------------


def check_link(group, key: str, source: str) -> None:
    """Refuse any link but a hard link (soft and external links lead elsewhere)."""
    import h5py

    link = group.get(key, getlink=True)
    if not isinstance(link, h5py.HardLink):
        kind = type(link).__name__ if link is not None else "unknown link"
        raise BadInputError(f"{source}: entry {group.name.rstrip('/')}/{key} is a {kind}; npukit reads hard links only")


def check_dataset(dset, source: str) -> int:
    """Refuse what npukit does not read in a dataset; return its declared size in bytes (for
    variable-length strings: 0, they are charged while read)."""
    import h5py
    from h5py import h5d

    name = dset.name
    if dset.shape is None:
        raise BadInputError(f"{source}: dataset {name} has a null dataspace")
    plist = dset.id.get_create_plist()
    if dset.is_virtual or plist.get_layout() == h5d.VIRTUAL:
        raise BadInputError(f"{source}: dataset {name} is a virtual dataset (it maps other files); refused")
    if plist.get_external_count() > 0:
        target = plist.get_external(0)[0].decode(errors="replace")
        raise BadInputError(f"{source}: dataset {name} keeps its data in an external file ({target[:80]!r}); refused")
    for index in range(plist.get_nfilters()):
        code = plist.get_filter(index)[0]
        if code not in FILTERS:
            raise BadInputError(
                f"{source}: dataset {name} uses HDF5 filter {code}; npukit reads {', '.join(sorted(FILTERS.values()))} only"
            )
    dtype = dset.dtype
    elements = math.prod(dset.shape)
    info = h5py.check_string_dtype(dtype)
    if info is not None and info.length is None:  # variable-length strings
        if elements > MAX_STRING_ELEMENTS:
            raise BadInputError(f"{source}: dataset {name} holds {elements:,} strings (limit {MAX_STRING_ELEMENTS:,})")
        return 0
    if dtype.subdtype is not None or dtype.names is not None or dtype.kind not in "biufS":
        raise BadInputError(f"{source}: dataset {name} has an unsupported data type ({dtype}); numbers and strings only")
    return elements * dtype.itemsize


def read_dataset(dset, source: str, budget: LoadBudget) -> Any:
    """Check ``dset``, charge its size to ``budget``, read it."""
    declared = check_dataset(dset, source)
    budget.charge(declared, f"dataset {dset.name} ({dset.dtype}, shape {dset.shape})")
    if declared or dset.dtype.kind != "O":
        return dset[()]
    import numpy as np

    if dset.shape == ():
        value = dset[()]
        budget.charge(len(value), f"string dataset {dset.name}")
        return value
    out = np.empty(dset.shape, dtype=object)
    for index in np.ndindex(*dset.shape):
        value = dset[index]
        budget.charge(len(value) + 64, f"string dataset {dset.name}")
        out[index] = value
    return out


# -- the probe ---------------------------------------------------------------------------------------


def probe(path: str | Path, timeout: float = TIMEOUT_S, nir: bool = False) -> dict[str, Any]:
    """Check and read ``path`` in a child process; raise BadInputError when it is refused,
    fails, crashes, exhausts the budget or takes over ``timeout`` s. With ``nir``, the child also
    tries the ``nir`` package's typed reader: ``{"nir_typed": bool}`` says whether it accepted
    the file."""
    from npukit.child import NEUTRAL_CWD, python_command

    path = Path(path).resolve()  # the child runs elsewhere
    command = python_command("npukit.hdf5_probe:_child", str(path), str(limit_bytes()), str(os.getpid()), "1" if nir else "0")
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=NEUTRAL_CWD)
    except subprocess.TimeoutExpired:
        raise BadInputError(f"{path}: reading the HDF5 file did not finish in {timeout:.0f} s (a damaged file)")
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    if done.returncode == _REFUSED and lines:
        raise BadInputError(lines[-1])
    if done.returncode < 0:
        raise BadInputError(f"{path}: reading the HDF5 file crashed the reader (signal {-done.returncode}: a damaged file)")
    if done.returncode != 0:
        last = lines[-1] if lines else f"exit code {done.returncode}"
        if "MemoryError" in last:
            raise BadInputError(f"{path}: reading the HDF5 file needs more memory than the load budget allows")
        raise BadInputError(f"{path}: unreadable HDF5 file ({last[:200]})")
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise BadInputError(f"{path}: unreadable HDF5 file (the probe gave no verdict)")


def _walk(group, source: str, budget: LoadBudget, depth: int, seen: list[int]) -> None:
    import h5py

    if depth > MAX_DEPTH:
        raise BadInputError(f"{source}: groups nested deeper than {MAX_DEPTH} levels (a cycle?)")
    _read_attributes(group, source, budget)
    for key in group:
        seen[0] += 1
        if seen[0] > MAX_OBJECTS:
            raise BadInputError(f"{source}: more than {MAX_OBJECTS:,} objects")
        check_link(group, key, source)
        item = group[key]
        if isinstance(item, h5py.Group):
            _walk(item, source, budget, depth + 1, seen)
        else:
            _read_attributes(item, source, budget)
            read_dataset(item, source, budget)


def _read_attributes(obj, source: str, budget: LoadBudget) -> None:
    for name in obj.attrs:
        attr = obj.attrs.get_id(name)
        shape = attr.shape or ()
        budget.charge(math.prod(shape) * max(attr.dtype.itemsize, 1), f"attribute {name!r} of {obj.name}")
        obj.attrs[name]


def _child() -> None:
    """Run in the child: sys.argv = [entry, path, budget bytes, parent pid, nir flag]."""
    import resource

    from npukit.child import die_with_parent

    path, budget_bytes, parent, nir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
    die_with_parent(parent)
    limit = budget_bytes + CHILD_OVERHEAD_BYTES
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard == resource.RLIM_INFINITY or hard > limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    import h5py

    budget = LoadBudget(path, budget_bytes)
    try:
        with h5py.File(path, "r") as f:
            _walk(f, path, budget, 0, [0])
    except BadInputError as exc:
        print(exc, file=sys.stderr)
        sys.exit(_REFUSED)
    result = {"declared_bytes": budget.used}
    if nir:
        result["nir_typed"] = _nir_accepts(path)
    print(json.dumps(result))


def _nir_accepts(path: str) -> bool:
    """Whether the ``nir`` package's typed reader (with its type checks) loads the file."""
    try:
        import nir

        nir.read(path)
        return True
    except Exception:  # any refusal: npukit's own reader goes on, the graph's meta records it
        return False
