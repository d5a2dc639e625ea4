"""Running element-wise kernels on batch shards in worker threads.

numpy releases the GIL inside its element-wise loops, so on a multi-core machine independent
shards of a batch run concurrently. Every sample's arithmetic is unchanged, so results are
bit-identical to a single call.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

#: arrays with fewer elements than this are processed in one call (threads cost more)
MIN_PARALLEL_ELEMENTS = 1 << 18


def workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


@functools.lru_cache(maxsize=1)
def pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=workers(), thread_name_prefix="npukit")


def shards(batch: int, elements: int, per_worker: int = 1) -> list[tuple[int, int]]:
    """Contiguous [lo, hi) ranges of the batch axis, ``per_worker`` per worker (one range if
    small). Several per worker balance the load when a core is busy with other work: an idle
    worker takes the next range instead of waiting for the slowest one."""
    if workers() < 2 or elements < MIN_PARALLEL_ELEMENTS:
        return [(0, batch)]
    count = min(workers() * per_worker, batch)
    if count < 2:
        return [(0, batch)]
    edges = np.linspace(0, batch, count + 1).astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def run_shards(fn: Callable[[int, int], None], batch: int, elements: int, per_worker: int = 1) -> None:
    """Call fn(lo, hi) for each shard, concurrently when there are several."""
    ranges = shards(batch, elements, per_worker)
    if len(ranges) == 1:
        fn(*ranges[0])
    else:
        for future in [pool().submit(fn, lo, hi) for lo, hi in ranges]:
            future.result()
