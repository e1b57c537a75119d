"""The service gives memory it freed back to the operating system (capcut_mate/server/freed_memory.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from capcut_mate.server.freed_memory import malloc_trim


def anonymous_resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no RssAnon in /proc/self/status")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim and /proc are Linux's")
def test_freed_memory_goes_back_to_the_operating_system():
    trim = malloc_trim()
    assert trim is not None, "this Linux's C library has no malloc_trim"
    # Free 200 MB of small objects but keep one in fifty: the heap is full of holes that
    # malloc keeps for itself, as a long-running service's is.
    chunks = [bytes(1000) for _ in range(200_000)]
    kept = chunks[::50]
    del chunks
    held = anonymous_resident_mb()
    assert trim()
    assert anonymous_resident_mb() < held - 50
    del kept
