"""Child processes: short tools run to completion with a time limit, and long ones (an export
command, an ffmpeg render) read by lines and stopped as a group.

A long process runs in a process group of its own (start_new_session=True), so stopping it
(SIGTERM, then SIGKILL after a grace period) stops whatever it started too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator

LINE_LIMIT = 1024 * 1024  # the StreamReader limit exporters give their child processes


ORPHAN_CHECK_SECONDS = 1.0


class ToolTimedOut(Exception):
    pass


async def run_tool(*command: str, timeout: float) -> tuple[int, str]:
    """Run a short tool to its end: its exit status and its stdout and stderr together.
    OSError if it cannot be started; ToolTimedOut (the tool killed) past `timeout` seconds.
    A cancelled call kills the tool too."""
    process = await asyncio.create_subprocess_exec(
        *command, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        raise ToolTimedOut(f"{command[0]} 在 {timeout:.0f} 秒内没有结束") from None
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return process.returncode, output.decode("utf-8", errors="replace")


async def read_lines(stream: asyncio.StreamReader) -> AsyncIterator[str]:
    """The stream's lines, decoded, without their line endings; an over-long line is skipped."""
    while True:
        try:
            raw = await stream.readline()
        except ValueError:  # a line over the limit: skip what was buffered
            await stream.read(LINE_LIMIT)
            continue
        if not raw:
            return
        yield raw.decode("utf-8", errors="replace").rstrip("\r\n")


async def stop_process_group(process: asyncio.subprocess.Process, grace_seconds: float) -> None:
    """SIGTERM the process group; SIGKILL it if it is still there after the grace period."""
    if process.returncode is not None:
        return
    _signal_group(process, signal.SIGTERM)
    try:
        await asyncio.wait_for(asyncio.shield(process.wait()), grace_seconds)
    except TimeoutError:
        _signal_group(process, signal.SIGKILL)
        await process.wait()


def _signal_group(process: asyncio.subprocess.Process, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        if sys.platform == "win32":
            process.terminate() if sig == signal.SIGTERM else process.kill()
        else:
            os.killpg(process.pid, sig)


async def wait_until_orphaned(parent_pid: int) -> None:
    """Return once the process that started this one is gone: a parent killed with SIGKILL
    cannot stop its children, so they watch for it (their parent pid changes)."""
    while os.getppid() == parent_pid:
        await asyncio.sleep(ORPHAN_CHECK_SECONDS)
