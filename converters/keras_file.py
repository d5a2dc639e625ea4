"""Checks of a Keras model file before Keras reads it: what it may hold, what it may allocate.

Keras' ``load_model(safe_mode=True)`` runs no Python code from the file, but it reads
config.json whole, keeps model.weights.h5 in memory, extracts assets to the temporary
directory, and builds every layer's variables at the sizes the config declares before any
weight is read (a Dense with 10^9 units in a 1 KB file). So, first:

* .keras archive: only ``config.json``, ``metadata.json``, ``model.weights.h5`` /
  ``model.weights.npz`` and ``assets/...`` members, no duplicate, absolute, ``..`` or
  encrypted ones. Their declared (inflated) sizes are charged to the load budget
  (``npukit.budget``) before anything is inflated: the JSON files ``JSON_OBJECT_FACTOR`` times
  (the Python objects JSON becomes), the weights file once (Keras holds it in memory), the
  assets' total once (Keras writes them to disk). The weights file is then checked like any
  HDF5 file (``npukit.hdf5_probe``, in a child process) or, as .npz, by its arrays' headers.
* .h5: the HDF5 probe, then its ``model_config`` attribute.
* The config: a Sequential or functional model whose layers (nested models' too) are all
  classes npukit converts (the frontend's registries of layers and keras.ops operations: every
  unknown class named in one error; a Lambda or a custom class is refused before Keras
  instantiates anything), and the bytes of the variables it
  declares, computed by Keras itself with no memory behind them (a ``StatelessScope`` that
  leaves variables uninitialized), charged to the budget.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any, Callable

import numpy as np

from npukit.budget import LoadBudget
from npukit.errors import BadInputError, InternalError, UnsupportedError
from npukit.files import parse_json
from npukit.npy_archive import ZIP_ERRORS, check_member

JSON_FILES = ("config.json", "metadata.json")
WEIGHT_FILES = ("model.weights.h5", "model.weights.npz")
JSON_OBJECT_FACTOR = 16
MAX_MEMBERS = 10_000
MODEL_CLASSES = ("Sequential", "Functional", "Model")
LAMBDA_REFUSAL = (
    "refused: the model contains a Lambda layer (arbitrary Python code); "
    "npukit loads Keras models with safe_mode on and never runs such code"
)


def check_keras_file(path: Path, budget: LoadBudget, check_layers: Callable[[list[tuple[str, str, bool]], str], None]) -> None:
    """Run the checks of the module docstring on a .keras or .h5 file; raise BadInputError.
    ``check_layers(found, source)`` gets (class name, where, is a keras.ops operation) for every
    layer of the config, nested models' included, and raises for the classes the frontend does
    not convert (all of them in one error)."""
    if zipfile.is_zipfile(path):
        _check_archive(path, budget, check_layers)
    else:
        _check_h5(path, budget, check_layers)


def _check_archive(path: Path, budget: LoadBudget, check_layers) -> None:
    source = str(path)
    try:
        archive = zipfile.ZipFile(path)
    except ZIP_ERRORS as exc:
        raise BadInputError(f"{source}: not a .keras archive ({' '.join(str(exc).split())[:200]})")
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise BadInputError(f"{source}: {len(infos):,} archive members (limit {MAX_MEMBERS:,})")
        names: set[str] = set()
        assets, asset_bytes = 0, 0
        for info in infos:
            name = info.filename
            _check_member_name(name, names, source)
            names.add(name)
            check_member(info, source)
            if name in JSON_FILES:
                budget.charge(
                    info.file_size * JSON_OBJECT_FACTOR,
                    f"{name} (inflates to {info.file_size:,} bytes, counted {JSON_OBJECT_FACTOR} times for the "
                    f"Python objects it becomes)",
                )
            elif name in WEIGHT_FILES:
                budget.charge(info.file_size, f"{name} (inflates to {info.file_size:,} bytes, held in memory)")
            elif name.startswith("assets/"):
                assets += 1
                asset_bytes += info.file_size
            elif not name.endswith("/"):
                raise BadInputError(
                    f"{source}: unexpected archive member {name[:80]!r}; a .keras archive holds "
                    f"{', '.join(JSON_FILES + WEIGHT_FILES)} and assets/"
                )
        if assets:
            budget.charge(asset_bytes, f"assets/ ({assets} files inflating to {asset_bytes:,} bytes, extracted to disk)")
        if "config.json" not in names:
            raise BadInputError(f"{source}: not a Keras model archive (no config.json)")
        try:
            text = archive.read("config.json")
        except ZIP_ERRORS as exc:  # a CRC mismatch
            raise BadInputError(f"{source}: config.json cannot be read ({' '.join(str(exc).split())[:200]})")
        config = parse_json(text, f"{source}: config.json")
        check_model_config(config, source, budget, check_layers)
        if "model.weights.h5" in names:
            _probe_member(archive, "model.weights.h5", source)
        if "model.weights.npz" in names:
            _check_npz_member(archive, "model.weights.npz", source)


def _check_member_name(name: str, seen: set[str], source: str) -> None:
    parts = PurePosixPath(name).parts
    if name in seen:
        raise BadInputError(f"{source}: the archive holds {name!r} twice")
    if not name or name.startswith("/") or "\\" in name or ".." in parts or ":" in name or "\0" in name:
        raise BadInputError(f"{source}: archive member {name[:80]!r} is not a plain relative path; refused")


def _probe_member(archive: zipfile.ZipFile, name: str, source: str) -> None:
    """Copy the weights file out (its size is already charged) and probe it as HDF5."""
    from npukit.hdf5_probe import probe

    folder = tempfile.mkdtemp(prefix="npukit-weights-")
    try:
        target = Path(folder) / name
        try:
            with archive.open(name) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        except ZIP_ERRORS as exc:
            raise BadInputError(f"{source}: {name} cannot be read ({' '.join(str(exc).split())[:200]})")
        try:
            probe(target)
        except BadInputError as exc:
            raise BadInputError(f"{source}: {name}: {str(exc).replace(str(target) + ': ', '')}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _check_npz_member(archive: zipfile.ZipFile, name: str, source: str) -> None:
    """Check every array header of the weights .npz (Keras reads them all)."""
    import io

    from npukit.npy_archive import check_array, open_archive

    inner_source = f"{source}: {name}"
    try:
        blob = archive.read(name)  # its size is already charged
    except ZIP_ERRORS as exc:
        raise BadInputError(f"{inner_source} cannot be read ({' '.join(str(exc).split())[:200]})")
    inner, members = open_archive(io.BytesIO(blob), inner_source)
    budget = LoadBudget(inner_source)
    with inner:
        for key, info in members.items():
            check_array(inner, info, key, inner_source, budget)


def _check_h5(path: Path, budget: LoadBudget, check_layers) -> None:
    from npukit.hdf5_probe import probe

    source = str(path)
    probe(path)  # a damaged HDF5 file can hang or crash the HDF5 library: try it in a child first
    import h5py

    try:
        with h5py.File(path, "r") as f:
            text = f.attrs.get("model_config")
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise BadInputError(f"{source}: unreadable HDF5 file ({' '.join(str(exc).split())[:200]})")
    if text is None:
        raise BadInputError(f"{source}: an HDF5 file without a Keras model_config (a weights-only file?)")
    if not isinstance(text, (str, bytes)):
        raise BadInputError(f"{source}: its model_config is not JSON text")
    check_model_config(parse_json(text, f"{source}: model_config"), source, budget, check_layers, legacy=True)


def check_model_config(config: Any, source: str, budget: LoadBudget, check_layers, legacy: bool = False) -> None:
    """Refuse a config with layers the frontend does not convert (``check_keras_file``); charge
    its variables to ``budget``."""
    root = config.get("class_name") if isinstance(config, dict) else None
    if root not in MODEL_CLASSES:
        raise UnsupportedError(f"{source}: the model is a {str(root)[:60]!r}; npukit reads Sequential and functional Keras models")
    found: list[tuple[str, str, bool]] = []
    _collect_layers(config, source, found, 0)
    check_layers(found, source)
    budget.charge(declared_variable_bytes(config, source, legacy), "the variables the model config declares")


#: nested models (a model used as a layer) deeper than this are refused
MAX_NESTING = 8


def _collect_layers(config: dict, source: str, found: list, depth: int) -> None:
    """(class name, where, is a keras.ops operation) of every layer of ``config``, nested models'
    layers included; a Lambda or custom class is refused at once."""
    layers = (config.get("config") or {}).get("layers") if isinstance(config.get("config"), dict) else None
    if not isinstance(layers, list):
        raise BadInputError(f"{source}: the model config lists no layers")
    for layer in layers:
        if not isinstance(layer, dict):
            raise BadInputError(f"{source}: a layer of the model config is not an object")
        cls = layer.get("class_name")
        name = (layer.get("config") or {}).get("name") if isinstance(layer.get("config"), dict) else None
        if cls == "Lambda":
            raise BadInputError(f"{source}: {LAMBDA_REFUSAL}")
        module, registered = layer.get("module"), layer.get("registered_name")
        if cls in MODEL_CLASSES:
            if depth >= MAX_NESTING:
                raise BadInputError(f"{source}: models nested more than {MAX_NESTING} deep")
            _collect_layers(layer, source, found, depth + 1)
            continue
        if registered not in (None, cls) or (module is not None and not str(module).startswith("keras")):
            raise UnsupportedError(f"{source}: layer {name!r} is a custom object ({str(registered or module)[:60]}); not supported")
        found.append((str(cls)[:60], f"layer {name!r}", str(module or "").startswith("keras.src.ops")))


def declared_variable_bytes(config: dict, source: str, legacy: bool = False) -> int:
    """Bytes of the variables Keras would create for ``config``: the model is built in a
    ``StatelessScope`` that leaves variables uninitialized (no memory behind them), and they
    are taken off Keras' list of variables to initialize later."""
    keras = import_keras()
    try:
        from keras.src.backend.common import global_state
        from keras.src.saving import serialization_lib
    except ImportError as exc:  # Keras reorganized its internals: the check cannot run, so nothing loads
        raise InternalError(f"this Keras ({keras.__version__}) lacks what npukit's config check uses: {exc}")

    config = {k: v for k, v in config.items() if k != "compile_config"}  # an optimizer makes variables at once
    pending = global_state.get_global_attribute("uninitialized_variables", [], set_to_default=True)
    start = len(pending)
    try:
        with keras.StatelessScope(initialize_variables=False), serialization_lib.SafeModeScope(True):
            if legacy:
                from keras.src.legacy.saving import saving_options, saving_utils

                with saving_options.keras_option_scope(use_legacy_config=True):
                    model = saving_utils.model_from_config(json.loads(json.dumps(config)))
            else:
                model = serialization_lib.deserialize_keras_object(json.loads(json.dumps(config)), safe_mode=True)
        variables = {id(v): v for v in model.weights}.values()
        return sum(math.prod(v.shape) * np.dtype(v.dtype).itemsize for v in variables)
    except BadInputError:
        raise
    except Exception as exc:  # Keras raises many types; all mean "this config cannot be built"
        text = " ".join(str(exc).split())
        if "Lambda" in text or "safe_mode" in text:
            raise BadInputError(f"{source}: {LAMBDA_REFUSAL}")
        raise BadInputError(f"{source}: Keras could not read this model ({type(exc).__name__}: {text[:300]})")
    finally:
        del pending[start:]  # never initialize them


def import_keras():
    """The keras module (TensorFlow's logging quieted first); InternalError when it is missing."""
    from npukit.quiet import import_tensorflow

    try:
        import_tensorflow()
        import keras
    except ImportError as exc:  # keras ships with tensorflow, a dependency of npukit
        raise InternalError(f"the Keras frontend needs keras (pip install tensorflow): {exc}")
    return keras
