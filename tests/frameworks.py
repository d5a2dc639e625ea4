"""Importing the SNN frameworks the cross-checks run against (torch, snnTorch, sinabs, Norse).

They are test-only, never npukit dependencies. Outside CI a missing one skips its tests with the
reason; CI (.ci/run) installs them and sets NPUKIT_REQUIRE_FRAMEWORKS=1, so there a missing one
is an import error, never a silent skip.
"""

from __future__ import annotations

import importlib
import os

import pytest

REQUIRED = bool(os.environ.get("NPUKIT_REQUIRE_FRAMEWORKS"))


def need(module: str, reason: str):
    """``module`` imported, or the test (module) skipped with ``reason`` (outside CI)."""
    if REQUIRED:
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=reason)
