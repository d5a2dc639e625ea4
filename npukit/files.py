"""Input and output files: inputs must be regular files; outputs are written whole or not at
all, never overwriting without consent, never through a link or into a device.

* ``check_regular_file``: an input that is a FIFO, a device or a socket is refused before it is
  opened (reading a FIFO blocks forever, /dev/zero never ends).
* ``check_writable`` / ``atomic_write``: an output path must be absent, or (with ``force``) a
  regular file; symbolic links (dangling ones included), devices, FIFOs and folders are refused.
  The data goes to a temporary file in the target folder, then takes its name: without
  ``force`` by a hard link, which fails if the name was taken meanwhile (so "no overwrite
  without --force" holds at that very moment, even against a concurrent writer); with
  ``force`` by a rename over the regular file checked just before.
* ``private_tempdir``: a temporary folder for everything a command (or Keras, TensorFlow's
  autograph) writes to the temporary directory, removed on every exit path.
* ``check_class_names``: class names, which ``labels.txt`` holds one per line, are printable
  strings within limits, checked alike when data is read, a bundle written and a bundle read.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any

from npukit import interrupt
from npukit.errors import BadInputError, show

MAX_JSON_DEPTH = 64
MAX_JSON_BYTES = 64 << 20  # energy tables, device reports, bundle.json: kilobytes in practice


def check_regular_file(path: str | Path, what: str = "file") -> Path:
    """``path`` if it names a regular file (symbolic links followed); else BadInputError."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise BadInputError(f"{what} {path} does not exist")
    except OSError as exc:
        raise BadInputError(f"{what} {path} cannot be read ({exc.strerror or exc})")
    if stat.S_ISDIR(mode):
        raise BadInputError(f"{path} is a folder, not a {what}")
    if not stat.S_ISREG(mode):
        raise BadInputError(f"{what} {path} is not a regular file (a device, FIFO or socket); refused")
    return path


def check_writable(path: str | Path, force: bool = False) -> Path:
    """Fail early (before any long computation) if ``path`` cannot be written."""
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise BadInputError(f"{path} cannot be written ({exc.strerror or exc})")
    if mode is not None:
        if stat.S_ISDIR(mode):
            raise BadInputError(f"{path} is a folder; give a file name")
        if stat.S_ISLNK(mode):
            raise BadInputError(f"{path} is a symbolic link; npukit writes regular files only (remove it or choose another name)")
        if not stat.S_ISREG(mode):
            raise BadInputError(f"{path} is not a regular file (a device, FIFO or socket); npukit writes regular files only")
        if not force:
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
    """Write ``data`` to ``path`` through a temporary file in the same folder.

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
        interrupt.check()  # a Ctrl-C that a library swallowed still publishes nothing
        if force:
            check_writable(path, force=True)  # still absent or a regular file
            os.replace(tmp, path)
        else:
            _publish_new(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return path


def _publish_new(tmp: str, path: Path) -> None:
    """Give ``tmp`` the name ``path``, failing if ``path`` exists at that moment."""
    try:
        os.link(tmp, path)  # atomic, and never replaces
        return
    except FileExistsError:
        raise BadInputError(f"{path} exists; pass force=True to overwrite it")
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS, errno.EXDEV):
            raise
    # no hard links on this file system: reserve the name, then rename over the reservation
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise BadInputError(f"{path} exists; pass force=True to overwrite it")
    os.replace(tmp, path)


@contextlib.contextmanager
def private_tempdir(prefix: str = "npukit-"):
    """Point ``tempfile`` (and TMPDIR, for native code) at a new folder while the block runs;
    the folder and everything in it is removed however the block ends (Ctrl-C included)."""
    folder = tempfile.mkdtemp(prefix=prefix)
    saved_tempdir, saved_env = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir = folder
    os.environ["TMPDIR"] = folder
    try:
        yield Path(folder)
    finally:
        tempfile.tempdir = saved_tempdir
        if saved_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_env
        shutil.rmtree(folder, ignore_errors=True)


def parse_json(text: str | bytes, what: str) -> Any:
    """Parse JSON text; invalid text or nesting deeper than ``MAX_JSON_DEPTH`` raises
    BadInputError naming ``what``."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise BadInputError(f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError, as are 10^5-digit numbers
        raise BadInputError(f"{what} is not valid JSON ({' '.join(str(exc).split())[:200]})")
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise BadInputError(f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return value


def read_json(path: str | Path, what: str) -> Any:
    """Parse the JSON file ``path``; a missing, unreadable, oversized or invalid file raises
    BadInputError naming ``what`` (e.g. "energy table")."""
    path = Path(path)
    if path.is_dir():
        raise BadInputError(f"{what} {path} is a folder, not a JSON file")
    check_regular_file(path, what)
    size = path.stat().st_size
    if size > MAX_JSON_BYTES:
        raise BadInputError(f"{what} {path} holds {size:,} bytes (limit {MAX_JSON_BYTES:,})")
    try:
        return parse_json(path.read_bytes(), f"{what} {path}")
    except OSError as exc:
        raise BadInputError(f"{what} {path} cannot be read ({exc.strerror or exc})")


#: class names: at most this many, each of 1..MAX_CLASS_NAME_CHARS printable characters
MAX_CLASS_NAMES = 65_536
MAX_CLASS_NAME_CHARS = 256


def check_class_names(names, source: str) -> list[str]:
    """``names`` (a list or tuple of str, or a numpy array of dtype str) as a list of str, if
    they are 1..MAX_CLASS_NAMES strings of 1..MAX_CLASS_NAME_CHARS printable characters
    (``str.isprintable``: no line or paragraph separators, control or format characters, which
    would break ``labels.txt``'s one name per line); else a BadInputError naming ``source``.
    Numbers and bytes are refused, not turned into strings. The one check of class names: data
    files (``npukit.data``, ``npukit.events``), N-MNIST class folders, ``npukit bundle`` when it
    writes and ``read_bundle``."""
    dtype = getattr(names, "dtype", None)
    if dtype is not None and hasattr(names, "reshape"):  # a numpy array
        if dtype.kind != "U":
            raise BadInputError(f"{source}: class names must be strings. Received: an array of dtype {names.dtype}, shape {names.shape}")
        values = names.reshape(-1)
    elif isinstance(names, (list, tuple)):
        values = names
    else:
        raise BadInputError(f"{source}: class names must be a list of strings. Received: {type(names).__name__}")
    if len(values) > MAX_CLASS_NAMES:
        raise BadInputError(f"{source}: {len(values):,} class names (limit {MAX_CLASS_NAMES:,})")
    if not len(values):
        raise BadInputError(f"{source}: an empty list of class names")
    out = []
    for k, name in enumerate(values):
        if not isinstance(name, str):
            raise BadInputError(f"{source}: class names must be strings; name {k} is {type(name).__name__} {show(name)[:40]}")
        name = str(name)
        if not 1 <= len(name) <= MAX_CLASS_NAME_CHARS:
            raise BadInputError(f"{source}: class name {k} has {len(name):,} characters; names take 1..{MAX_CLASS_NAME_CHARS} characters")
        if not name.isprintable():
            raise BadInputError(
                f"{source}: class name {k} ({name[:40]!r}) holds a character that is not printable (a line or paragraph "
                f"separator, a control or format character); labels.txt holds one name per line"
            )
        out.append(name)
    return out
