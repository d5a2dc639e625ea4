"""Progress reporting hooks: the library announces stages, a front end may draw them.

A reporter is called as ``reporter(stage, total)`` and returns ``advance(n)``, which the
library calls as work units (samples) complete. ``silent`` draws nothing.
"""

from __future__ import annotations

from typing import Callable

Advance = Callable[[int], None]
Reporter = Callable[[str, int], Advance]


def silent(stage: str, total: int) -> Advance:
    return lambda n: None
