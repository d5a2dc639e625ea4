"""Loading models of every supported format into the IR, and identifying their source."""

from __future__ import annotations

import hashlib
from pathlib import Path

from npukit.errors import BadInputError, UnsupportedError
from npukit.ir import Graph

#: file suffix -> format name
FORMATS = {".keras": "keras", ".h5": "keras", ".hdf5": "keras", ".npkit": "npukit-ir", ".nir": "nir", ".onnx": "onnx"}


def load(model: str | Path | Graph, dt: float | None = None, input_shape: tuple[int, ...] | None = None,
         framework: str | None = None, reset: str | None = None) -> Graph:
    """Load a model file into the IR: ``.keras`` / ``.h5`` (Keras, safe mode), ``.onnx``
    (opsets 13-21; ``input_shape``, ONNX layout with the batch first, fixes symbolic
    dimensions), ``.nir`` (NIR SNN: neurons with the convention of the ``framework`` that
    exported it, default ``nir``, stepped by ``dt`` seconds, default the framework's; ``reset``
    overrides its reset: ``npukit.snn.frameworks``) or ``.npkit`` (npukit IR). A Graph is
    returned as is."""
    if isinstance(model, Graph):
        return model
    path = Path(model)
    if not path.exists():
        raise BadInputError(f"model file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix != ".nir" and (framework not in (None, "nir") or reset is not None):
        raise BadInputError(f"{path}: a framework convention and a reset apply to NIR graphs (.nir) only")
    if path.is_dir() or suffix in (".keras", ".h5", ".hdf5"):
        from npukit.converters.keras import load_keras

        graph = load_keras(path)
    elif suffix == ".onnx":
        from npukit.converters.onnx import load_onnx

        graph = load_onnx(path, input_shape)
    elif suffix == ".nir":
        from npukit.converters.nir import load_nir

        graph = load_nir(path, dt, framework, reset)
    elif suffix == ".npkit":
        from npukit.ir.serialize import load as load_ir

        graph = load_ir(path)
    elif suffix == ".tflite":
        raise BadInputError(f"{path} is a converted .tflite model; give the source model (.keras, .h5, .onnx, .nir or .npkit)")
    else:
        raise UnsupportedError(
            f"{path}: unknown model format {suffix or '(no suffix)'!r}; supported: {', '.join(sorted(FORMATS))}"
        )
    graph.meta.setdefault("source_file", path.name)
    if path.is_file():
        graph.meta.setdefault("source_sha256", sha256_file(path))
    return graph


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def source_of(graph: Graph) -> dict[str, str]:
    """{"file", "sha256"} of the model a graph came from (the IR bytes' hash for a graph built
    in memory)."""
    if "source_sha256" in graph.meta:
        return {"file": graph.meta.get("source_file", ""), "sha256": graph.meta["source_sha256"]}
    from npukit.ir.serialize import to_bytes

    return {"file": "(in memory)", "sha256": hashlib.sha256(to_bytes(graph)).hexdigest()}
