"""Output files: written whole or not at all, never overwriting without consent."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from npukit.errors import BadInputError


def check_writable(path: str | Path, force: bool = False) -> Path:
    """Fail early (before any long computation) if ``path`` cannot be written."""
    path = Path(path)
    if path.is_dir():
        raise BadInputError(f"{path} is a folder; give a file name")
    if path.exists() and not force:
        raise BadInputError(f"{path} exists; pass force=True to overwrite it")
    if not path.parent.exists():
        raise BadInputError(f"the folder {path.parent} does not exist")
    return path


def _file_mode(path: Path) -> int:
    """An existing file's mode, else 0666 minus the process umask."""
    if path.exists():
        return path.stat().st_mode & 0o777
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: str | Path, data: bytes, force: bool = False) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    A failure at any point leaves no partial file and keeps an existing ``path`` untouched.
    """
    path = check_writable(path, force)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _file_mode(path))  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def read_json(path: str | Path, what: str) -> Any:
    """Parse the JSON file ``path``; a missing, unreadable or invalid file raises BadInputError
    naming ``what`` (e.g. "energy table")."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise BadInputError(f"{what} {path} does not exist")
    except IsADirectoryError:
        raise BadInputError(f"{what} {path} is a folder, not a JSON file")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{what} {path} is not valid JSON ({exc})")
