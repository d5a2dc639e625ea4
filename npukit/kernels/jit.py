"""numba, imported and used so that nothing from the working folder or a shared folder runs.

numba's on-disk cache is a pickle: it unpickles a function's index (``.nbi``) before it checks
anything, so whoever can write to the cache folder can run code in the process that reads it.
numba chooses that folder from its configuration, which it reads from the environment
(``NUMBA_CACHE_DIR``) and, at import and again before every compilation, from a file
``.numba_config.yaml`` in the *current working folder* (when PyYAML is installed). A working
folder holding such a file, or a ``NUMBA_CACHE_DIR`` that names a world-writable or relative
folder, would hand the cache to someone else. So npukit:

* imports numba with PyYAML hidden (``import_numba``), then points numba's configuration file
  name at ``os.devnull`` (not a regular file, so it is never read), so no ``.numba_config.yaml``
  is read, at import or later;
* never uses numba's own cache locators (``NUMBA_CACHE_DIR``, ``NUMBA_CACHE_LOCATOR_CLASSES``,
  the folder beside the source): ``njit`` gives each kernel a cache in one private folder of the
  user's (``private_cache_dir``: ``$XDG_CACHE_HOME/npukit/numba``, else ``~/.cache/npukit/numba``,
  created with mode 0700 and used only when it is a real folder, not a link, owned by this user
  and closed to group and others, as is the ``npukit`` folder above it);
* compiles in memory, each process anew, when no such folder can be had (a read-only home, a
  folder with the wrong owner or mode) or when ``NPUKIT_JIT_CACHE=0``. The first simulation in a
  process then pays the compilation: about 1.4 s more for the event kernels on this project's
  2-core test machine (docs/robustness.md, "Libraries' configuration and caches").
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
import warnings
from pathlib import Path

from npukit.user_cache import is_private, private_folder

#: set to 0 to compile in memory in every process (no on-disk cache at all)
CACHE_ENV = "NPUKIT_JIT_CACHE"
_MISSING = object()


def import_numba():
    """numba, imported without reading any configuration file (module docstring)."""
    if "numba" not in sys.modules:
        saved = sys.modules.get("yaml", _MISSING)
        sys.modules["yaml"] = None  # numba's `import yaml` fails: no .numba_config.yaml is parsed
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "a Numba config file is found but ... pyyaml"
                import numba
        finally:
            if saved is _MISSING:
                sys.modules.pop("yaml", None)
            else:
                sys.modules["yaml"] = saved
    import numba
    import numba.core.config

    numba.core.config._config_fname = os.devnull  # re-read before every compilation otherwise
    return numba


def private_cache_dir() -> Path | None:
    """The private folder the compiled kernels are cached in (``npukit.user_cache``: ``numba``),
    or None (compile in memory): with ``NPUKIT_JIT_CACHE=0``, or where there can be none."""
    if os.environ.get(CACHE_ENV, "").strip() == "0":
        return None
    return private_folder("numba")


@functools.lru_cache(maxsize=1)
def _cache_class():
    """A numba FunctionCache subclass that stores in ``private_cache_dir()`` only, or None."""
    folder = private_cache_dir()
    if folder is None:
        return None
    import_numba()
    try:
        from numba.core import caching
    except ImportError:
        return None
    needed = ("FunctionCache", "CompileResultCacheImpl", "_CacheLocator", "_SourceFileBackedLocatorMixin")
    if not all(hasattr(caching, n) for n in needed):
        return None  # a numba whose cache internals differ: compile in memory

    class PrivateLocator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
        """numba's source stamp (the file's hash) and name disambiguator; npukit's folder."""

        def __init__(self, py_func, py_file):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            self._cache_path = str(folder / self.get_suitable_cache_subpath(py_file))

        def get_cache_path(self):
            return self._cache_path

        def ensure_cache_path(self):
            if not is_private(Path(self._cache_path)):
                raise OSError(f"{self._cache_path} is not a private folder")

    class PrivateImpl(caching.CompileResultCacheImpl):
        def __init__(self, py_func):  # CacheImpl's, without the locators numba's config chooses
            self._lineno = py_func.__code__.co_firstlineno
            source = inspect.getfile(py_func)
            self._locator = PrivateLocator(py_func, source)
            self._locator.ensure_cache_path()
            modname = os.path.splitext(os.path.basename(source))[0]
            fullname = f"{modname}.{py_func.__qualname__}"
            self._filename_base = self.get_filename_base(fullname, getattr(sys, "abiflags", ""))

    class PrivateCache(caching.FunctionCache):
        _impl_class = PrivateImpl

    return PrivateCache


def njit(fn):
    """``numba.njit(nogil=True)(fn)``, cached in the private folder when there is one (module
    docstring), else compiled in memory in each process."""
    numba = import_numba()
    dispatcher = numba.njit(nogil=True)(fn)
    cache_class = _cache_class()
    if cache_class is not None:
        try:
            dispatcher._cache = cache_class(fn)
        except OSError:
            pass  # the folder changed under us: keep the in-memory NullCache
    return dispatcher
