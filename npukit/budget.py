"""The load budget: one limit, in bytes, on everything reading one input file may allocate.

A small hostile file can declare huge contents: a gzip-compressed HDF5 dataset of 8 GB, an .npy
header promising 10^11 samples, a zip member that inflates to a gigabyte, several ONNX tensors
pointing at the same external region. Every reader of npukit (``npukit.loading.load`` for
models, ``npukit.data.load_npz`` for data) opens one ``LoadBudget`` per file and charges it with
the *declared* size of each thing before it reads or allocates it: the first charge past the
limit raises a one-line BadInputError naming the file, the item, its size and the limit, and
nothing big has been allocated yet.

The limit is ``DEFAULT_LIMIT_BYTES`` (2 GiB: MobileNetV2 is 14 MB, a phone NPU runs nothing near
it) unless the environment variable ``NPUKIT_MAX_LOAD_BYTES`` (an integer, bytes) sets another.
"""

from __future__ import annotations

import os

from npukit.errors import BadInputError

DEFAULT_LIMIT_BYTES = 2 << 30
ENV_VAR = "NPUKIT_MAX_LOAD_BYTES"


def limit_bytes() -> int:
    """The load budget in bytes: ``NPUKIT_MAX_LOAD_BYTES`` when set, else 2 GiB."""
    text = os.environ.get(ENV_VAR, "").strip()
    if not text:
        return DEFAULT_LIMIT_BYTES
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise BadInputError(f"{ENV_VAR} must be a positive number of bytes. Received: {text[:40]!r}")
    return value


class LoadBudget:
    """Bytes charged so far while reading ``source``, against ``limit`` (default: ``limit_bytes()``)."""

    def __init__(self, source: str, limit: int | None = None):
        self.source = source
        self.limit = limit_bytes() if limit is None else int(limit)
        self.used = 0

    def charge(self, nbytes: int, what: str) -> None:
        """Count ``nbytes`` (a declared size) for ``what``; refuse when the total passes the limit."""
        nbytes = int(nbytes)
        if nbytes < 0:
            raise BadInputError(f"{self.source}: {what} declares a negative size ({nbytes})")
        if self.used + nbytes > self.limit:
            raise BadInputError(
                f"{self.source}: {what}: {nbytes:,} bytes, which takes this load past its budget of "
                f"{self.limit:,} bytes ({self.used:,} already counted; set {ENV_VAR} to raise it)"
            )
        self.used += nbytes

    def left(self) -> int:
        return self.limit - self.used
