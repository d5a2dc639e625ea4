"""The example models shipped with npukit (``npukit models``): where the installed package keeps
them, and a copy of them in a working folder, so the README's commands run from any folder.

The files themselves live in ``npukit.models`` (models/ in the source tree, models/README.md
says how each was trained and what it scores).
"""

from __future__ import annotations

import filecmp
from pathlib import Path
from typing import Any

from npukit.errors import BadInputError


#: what each shipped file is: (DATA it takes, one line about it); models/README.md has the rest
_ABOUT = {
    "digits_cnn.keras": ("digits", "rate-coded ReLU CNN for the 8x8 digits"),
    "digits_cnn.onnx": ("digits", "the same CNN exported to ONNX (NCHW, batch symbolic)"),
    "digits_lif.nir": ("digits", "LIF spiking network for the digits, trained at T = {lif_t}"),
    "digits_events.nir": ("digits-events", "convolutional LIF SNN for the digits as event streams"),
    "digits_rsnn.nir": ("digits-rows", "recurrent LIF SNN reading the digits one row per step"),
}


def shipped_models() -> list[dict[str, Any]]:
    """One row per model file shipped in ``npukit.models``: ``name`` (its file name),
    ``format``, ``data`` (the DATA it takes), ``about`` and ``path`` (where the installed
    package keeps it), ``bytes``."""
    from npukit import models
    from npukit.loading import FORMATS

    rows = []
    for path in sorted(models.HERE.iterdir(), key=lambda p: (p.suffix != ".keras", p.suffix != ".onnx", p.name)):
        if path.suffix.lower() not in FORMATS or not path.is_file():
            continue
        data, about = _ABOUT.get(path.name, (None, None))
        rows.append({"name": path.name, "format": FORMATS[path.suffix.lower()], "data": data,
                     "about": about and about.format(lif_t=models.DIGITS_LIF_TIMESTEPS),
                     "path": str(path), "bytes": path.stat().st_size})
    return rows


def model_path(name: str) -> Path:
    """The installed path of the shipped model ``name``: its file name (``digits_cnn.keras``),
    or its stem where only one file has it (``digits_lif``)."""
    rows = shipped_models()
    found = [r for r in rows if name in (r["name"], Path(r["name"]).stem)]
    if len(found) != 1:
        names = ", ".join(r["name"] for r in rows)
        what = "names several shipped models" if found else "is not a shipped model"
        raise BadInputError(f"{name!r} {what}; the shipped models are {names}")
    path = Path(found[0]["path"])
    if not path.is_file():
        raise BadInputError(f"the shipped model {path} is missing from this installation (reinstall npukit)")
    return path


def copy_models(folder: str | Path, force: bool = False) -> list[dict[str, Any]]:
    """Copy every shipped model into ``folder`` (created if missing). A file already there with
    the same bytes is kept; one that differs is replaced only with ``force``. Returns one row
    per model: ``name``, ``path`` (the copy), ``copied`` (False: it was already there)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise BadInputError(f"{folder} is a file; give a folder to copy the models into")
    sources = [model_path(row["name"]) for row in shipped_models()]
    targets = [folder / source.name for source in sources]
    clash = [t for s, t in zip(sources, targets) if t.exists() and (not t.is_file() or not filecmp.cmp(s, t, shallow=False))]
    if clash and not force:  # checked for every file before any is written
        raise BadInputError(f"{clash[0]} exists and differs from the shipped model; pass force=True to replace it")
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for source, target in zip(sources, targets):
        copied = target not in clash and not target.exists()
        if copied or target in clash:
            from npukit.files import atomic_write

            atomic_write(target, source.read_bytes(), force=True)
            copied = True
        rows.append({"name": source.name, "path": str(target), "copied": copied})
    return rows


def render_models(rows: list[dict[str, Any]]) -> str:
    """Text of ``npukit models``: one model a line, then where they are."""
    from npukit.reports import _table

    table = _table(["model", "format", "data", "about"], [[r["name"], r["format"], r["data"] or "-", r["about"] or "-"] for r in rows])
    folders = sorted({str(Path(r["path"]).parent) for r in rows})
    return "\n".join([table, f"installed in {', '.join(folders)}",
                      "copy them into a folder: npukit models --copy models; one path: npukit models --path NAME"])


__all__ = ["shipped_models", "model_path", "copy_models", "render_models"]
