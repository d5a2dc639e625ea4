"""JSON Schemas of the files npukit exchanges with the Android demo, and their validation.

* ``bundle.schema.json``: ``bundle.json``, written by ``npukit bundle``, read by the app;
* ``device_report.schema.json``: the app's benchmark report, read by ``npukit profile --device-report``;
* ``tflite_metadata.schema.json``: the ``npukit`` metadata entry of a converted .tflite
  (docs/metadata.md), checked by every reader before use (``TFLiteModel.npukit_metadata``).

All are JSON Schema draft 2020-12 files shipped with the package (``schema_path(name)``), so
the contract can be checked from any language.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from npukit.errors import BadInputError

SCHEMAS = ("bundle", "device_report", "tflite_metadata")


def schema_path(name: str) -> Path:
    """The shipped schema file for ``name`` (one of SCHEMAS)."""
    if name not in SCHEMAS:
        raise ValueError(f"unknown schema {name!r}; one of {', '.join(SCHEMAS)}")
    return Path(__file__).with_name(f"{name}.schema.json")


@lru_cache(maxsize=None)
def load_schema(name: str) -> dict[str, Any]:
    """The parsed schema ``name``."""
    return json.loads(schema_path(name).read_text())


def validate(instance: Any, name: str, source: str) -> None:
    """Raise BadInputError with one line naming ``source`` and the first problem when
    ``instance`` does not follow schema ``name``: missing top-level keys first (all of them),
    then the first other violation, by its JSON path."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(load_schema(name))
    errors = sorted(validator.iter_errors(instance), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if not errors:
        return
    if not isinstance(instance, dict):
        raise BadInputError(f"{source}: expected a JSON object, found {type(instance).__name__}")
    missing = [k for k in load_schema(name).get("required", []) if k not in instance]
    if missing:
        raise BadInputError(f"{source}: lacks {', '.join(missing)}")
    error = errors[0]
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".") or "(root)"
    raise BadInputError(f"{source}: {where}: {_short(error.message)}")


def _short(message: str) -> str:
    text = " ".join(message.split())
    return text if len(text) <= 200 else text[:197] + "..."
