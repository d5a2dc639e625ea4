"""npukit's private folders in the user's cache: ``$XDG_CACHE_HOME/npukit/NAME``, else
``~/.cache/npukit/NAME`` (a relative ``XDG_CACHE_HOME`` is ignored, as the XDG rules say).

Such a folder holds what a library would otherwise keep in a place others may write to (numba's
compiled kernels: ``npukit.kernels.jit``; Keras' home when the home folder cannot be written:
``npukit.quiet``). It is created with mode 0700 and used only when it, and the ``npukit`` folder
above it, are real folders (not links) owned by this user and closed to group and others.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path


def is_private(path: Path, create: bool = True) -> bool:
    """``path`` is (after creating it with mode 0700 if absent and ``create``) a folder, not a
    link, owned by this user and closed to group and others."""
    try:
        if create:
            path.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(path)
    except OSError:
        return False
    return (stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid() and info.st_mode & 0o077 == 0)


def private_folder(name: str, env: Mapping[str, str] = os.environ) -> Path | None:
    """npukit's private folder ``name`` (module docstring), or None where there can be none."""
    if not hasattr(os, "geteuid"):
        return None
    base = env.get("XDG_CACHE_HOME", "").strip()
    if not base or not os.path.isabs(base):
        home = env.get("HOME") or os.path.expanduser("~")
        if not os.path.isabs(home):
            return None
        base = os.path.join(home, ".cache")
    try:
        os.makedirs(base, mode=0o700, exist_ok=True)
    except OSError:
        return None
    folder = Path(base) / "npukit" / name
    return folder if is_private(folder.parent) and is_private(folder) else None
