"""Giving memory the service freed back to the operating system.

glibc's malloc keeps freed memory for reuse and, by itself, returns only the top of its
heap. A long-running service's resident size then creeps up with nothing leaked (in the
soak, Python's heap stayed flat while the resident size rose, and one malloc_trim(0) gave
the difference back: benchmarks/RESULTS.md, "Figures behind the code"). So every
TRIM_INTERVAL_SECONDS the service asks malloc to return what it holds free: what the operating system, a container's
memory limit and a dashboard see stays what the service uses. Where there is no
malloc_trim (musl, macOS, Windows), this does nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import sys
from collections.abc import Callable

log = logging.getLogger("capcut_mate.server.freed_memory")

TRIM_INTERVAL_SECONDS = 60.0


def malloc_trim() -> Callable[[], bool] | None:
    """glibc's malloc_trim(0), or None where the C library has none. True when memory
    was given back."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library the process already runs on
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: bool(trim(0))


async def give_back_freed_memory(interval: float = TRIM_INTERVAL_SECONDS) -> None:
    trim = malloc_trim()
    if trim is None:
        log.debug("no malloc_trim in this C library; freed memory stays with malloc")
        return
    while True:
        await asyncio.sleep(interval)
        # In a thread, with the GIL let go (ctypes): a trim walks malloc's free pages (its
        # time: benchmarks/RESULTS.md), and the event loop runs on meanwhile, waiting only
        # if it needs malloc's arena while the trim holds it.
        await asyncio.to_thread(trim)
