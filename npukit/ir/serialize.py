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


def from_bytes(data: bytes, source: str = "<bytes>") -> Graph:
    """Parse a serialized graph; any defect raises BadInputError naming ``source``."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            entries = {key: archive[key] for key in archive.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise BadInputError(f"{source}: not a readable npukit IR file ({exc})")
    if "__graph__" not in entries:
        raise BadInputError(f"{source}: not an npukit IR file (no __graph__ entry)")
    try:
        header = json.loads(entries.pop("__graph__").tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInputError(f"{source}: the graph description is not valid JSON ({exc})")
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise BadInputError(f"{source}: not an npukit IR file")
    if header.get("version") != VERSION:
        raise BadInputError(f"{source}: IR format version {header.get('version')!r} is not supported (this npukit reads {VERSION})")
    nodes = []
    for index, spec in enumerate(header.get("nodes", [])):
        if not isinstance(spec, dict):
            raise BadInputError(f"{source}: node {index} is not an object")
        spec = dict(spec)
        kind = spec.pop("type", None)
        cls = NODE_TYPES.get(kind)
        if cls is None:
            raise BadInputError(f"{source}: unknown node type {kind!r}; known: {', '.join(sorted(NODE_TYPES))}")
        prefix = f"{index}/"
        for key in [k for k in entries if k.startswith(prefix)]:
            spec[key[len(prefix):]] = entries.pop(key)
        try:
            nodes.append(cls(**spec))
        except TypeError as exc:
            raise BadInputError(f"{source}: node {index} ({kind}) has bad fields ({exc})")
    return Graph(nodes, header.get("output", ""), header.get("meta") or {})


def load(path: str | Path) -> Graph:
    """Read a .npkit file (``npukit convert --to ir`` writes them)."""
    path = Path(path)
    return from_bytes(path.read_bytes(), source=str(path))
