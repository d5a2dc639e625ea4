"""Loading models of every supported format into the IR, and identifying their source."""

from __future__ import annotations

import hashlib
from pathlib import Path

from npukit.errors import BadInputError, UnsupportedError
from npukit.ir import Graph

#: file suffix -> format name
FORMATS = {".keras": "keras", ".h5": "keras", ".hdf5": "keras", ".npkit": "npukit-ir", ".nir": "nir", ".onnx": "onnx"}


class ModelPath(type(Path())):
    """A model file path carrying reading options that travel with it through every API
    function to :func:`load`: ``external_data``, the folder an ONNX model's external data files
    are read from (see :func:`with_external_data`)."""

    external_data: Path | None = None


def with_external_data(model: str | Path, folder: str | Path | None) -> Path:
    """``model`` as a path whose ONNX external data :func:`load` reads from files directly in
    ``folder`` instead of the model's own folder (None: the model's folder)."""
    path = ModelPath(model)
    path.external_data = None if folder is None else Path(folder)
    return path


def load(
    model: str | Path | Graph,
    dt: float | None = None,
    input_shape: tuple[int, ...] | None = None,
    framework: str | None = None,
    reset: str | None = None,
    external_data: str | Path | None = None,
) -> Graph:
    """Load a model file into the IR: ``.keras`` / ``.h5`` (Keras, safe mode), ``.onnx``
    (opsets 13-21; ``input_shape``, ONNX layout with the batch first, fixes symbolic
    dimensions; external data from regular files directly beside the model, or in the folder
    ``external_data``), ``.nir`` (NIR SNN: neurons with the convention of the ``framework`` that
    exported it, default ``nir``, stepped by ``dt`` seconds, default the framework's; ``reset``
    overrides its reset: ``npukit.snn.frameworks``) or ``.npkit`` (npukit IR). A Graph is
    returned as is.

    Everything the load allocates is charged, from declared sizes and before it is read, to one
    ``npukit.budget.LoadBudget`` (2 GiB unless NPUKIT_MAX_LOAD_BYTES says otherwise)."""
    if isinstance(model, Graph):
        return model
    from npukit.budget import LoadBudget
    from npukit.files import check_regular_file

    if external_data is None:
        external_data = getattr(model, "external_data", None)
    path = Path(model)
    if not path.exists():
        raise BadInputError(f"model file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix != ".nir" and (framework not in (None, "nir") or reset is not None):
        raise BadInputError(f"{path}: a framework convention and a reset apply to NIR graphs (.nir) only")
    if not path.is_dir():
        check_regular_file(path, "model file")
    budget = LoadBudget(str(path))
    if path.is_dir() or suffix in (".keras", ".h5", ".hdf5"):
        from npukit.converters.keras import load_keras

        graph = load_keras(path, budget)
    elif suffix == ".onnx":
        from npukit.converters.onnx import load_onnx

        graph = load_onnx(path, input_shape, budget, external_data)
    elif suffix == ".nir":
        from npukit.converters.nir import load_nir

        graph = load_nir(path, dt, framework, reset, budget)
    elif suffix == ".npkit":
        from npukit.ir.serialize import load as load_ir

        graph = load_ir(path, budget)
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
