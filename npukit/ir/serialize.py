"""Lossless save and safe load of IR graphs (``.npkit`` files).

A ``.npkit`` file is a numpy ``.npz`` archive: the entry ``__graph__`` holds UTF-8 JSON (format
version, node types, attributes, output, meta) as a uint8 array, and each array field is stored
as its own entry ``<node index>/<field>`` with its exact dtype and shape. Loading uses
``allow_pickle=False`` and builds nodes only from the registered node types, so a file cannot
run code.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from npukit.errors import BadInputError
from npukit.ir.base import NODE_TYPES
from npukit.ir.graph import Graph

FORMAT = "npukit-ir"
VERSION = 1


def to_bytes(graph: Graph) -> bytes:
    """Serialize a graph; the same graph always gives the same bytes."""
    header = {"format": FORMAT, "version": VERSION, "output": graph.output, "meta": graph.meta, "nodes": []}
    arrays: dict[str, np.ndarray] = {}
    for index, node in enumerate(graph):
        header["nodes"].append({"type": type(node).__name__, **node.attributes()})
        for field, value in node.arrays().items():
            arrays[f"{index}/{field}"] = value
    text = json.dumps(header, sort_keys=True).encode()
    buffer = io.BytesIO()
    # zipfile with a fixed timestamp keeps the bytes reproducible
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, value in [("__graph__", np.frombuffer(text, dtype=np.uint8))] + sorted(arrays.items()):
            entry = io.BytesIO()
            np.lib.format.write_array(entry, np.ascontiguousarray(value), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, entry.getvalue())
    return buffer.getvalue()


def from_bytes(data: bytes, source: str = "<bytes>", budget=None) -> Graph:
    """Parse a serialized graph; any defect raises BadInputError naming ``source``. Only the
    entries the graph description names are read, each after its declared size is charged to
    ``budget`` (``npukit.budget.LoadBudget``; default: a new one)."""
    from npukit.budget import LoadBudget
    from npukit.files import parse_json
    from npukit.npy_archive import open_archive, read_array

    budget = budget or LoadBudget(source)
    archive, members = open_archive(io.BytesIO(data), source, "npukit IR file")
    with archive:
        if "__graph__" not in members:
            raise BadInputError(f"{source}: not an npukit IR file (no __graph__ entry)")
        text = read_array(archive, members["__graph__"], "__graph__", source, budget)
        if text.dtype != np.uint8 or text.ndim != 1:
            raise BadInputError(f"{source}: the graph description is not UTF-8 bytes")
        header = parse_json(text.tobytes(), f"{source}: the graph description")
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise BadInputError(f"{source}: not an npukit IR file")
        if header.get("version") != VERSION:
            raise BadInputError(f"{source}: IR format version {header.get('version')!r} is not supported (this npukit reads {VERSION})")
        specs = header.get("nodes", [])
        if not isinstance(specs, list):
            raise BadInputError(f"{source}: 'nodes' is not a list")
        fields: dict[str, list[str]] = {}
        for name in members:
            index, _, field = name.partition("/")
            if field:
                fields.setdefault(index, []).append(field)
        nodes = []
        for index, spec in enumerate(specs):
            if not isinstance(spec, dict):
                raise BadInputError(f"{source}: node {index} is not an object")
            spec = dict(spec)
            kind = spec.pop("type", None)
            cls = NODE_TYPES.get(kind) if isinstance(kind, str) else None
            if cls is None:
                raise BadInputError(f"{source}: unknown node type {kind!r}; known: {', '.join(sorted(NODE_TYPES))}")
            for field in fields.get(str(index), []):
                key = f"{index}/{field}"
                spec[field] = read_array(archive, members[key], key, source, budget)
            try:
                nodes.append(cls(**spec))
            except (TypeError, ValueError) as exc:
                raise BadInputError(f"{source}: node {index} ({kind}) has bad fields ({exc})")
    meta = header.get("meta") or {}
    if not isinstance(meta, dict):
        raise BadInputError(f"{source}: 'meta' is not an object")
    return Graph(nodes, header.get("output", ""), meta)


def save(graph: Graph, path: str | Path, force: bool = False) -> Path:
    """Write ``graph`` to ``path`` atomically; an existing file is replaced only with ``force``."""
    from npukit.files import atomic_write

    return atomic_write(path, to_bytes(graph), force=force)


def load(path: str | Path, budget=None) -> Graph:
    """Read an .npkit file (``npukit convert --to ir`` writes them); its size, then each array's declared size, are charged to
    ``budget`` (``npukit.budget.LoadBudget``; default: a new one) before they are read."""
    from npukit.budget import LoadBudget
    from npukit.files import check_regular_file

    path = check_regular_file(path, "model file")
    budget = budget or LoadBudget(str(path))
    budget.charge(path.stat().st_size, "the file")
    return from_bytes(path.read_bytes(), source=str(path), budget=budget)
