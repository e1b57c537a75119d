"""Running the render: ffmpeg with a plan's arguments (or several, for a long render in
windows), progress from its `-progress` output.

ffmpeg writes to a temporary name that is renamed to the output only once ffmpeg succeeded,
so a failed or cancelled render leaves nothing that could pass for a video. Encoding is
reported as 70–89 from ffmpeg's own clock (out_time_us against the draft's length) and,
for a display that shows more (`capcut-mate render`), as that clock itself.
Cancelling stops ffmpeg's process group: SIGTERM, then SIGKILL after the grace period.

ffmpeg can hang (a filter spinning, deaf to SIGTERM), and a hung render would hold its job
forever while the agent's heartbeats keep the lease alive. So a render whose position has
not moved for `stall_seconds` is stopped and fails as retryable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TypeVar

from capcut_mate.processes import LINE_LIMIT, read_lines, stop_process_group
from capcut_mate.render.environment import ffmpeg_error
from capcut_mate.render.ffmpeg.compose import RenderPlan

log = logging.getLogger("capcut_mate.render")
Progress = Callable[[int], Awaitable[None]]  # told 70..89 as ffmpeg's position advances
Position = Callable[[int, int], Awaitable[None]]  # told the microseconds of video made, and of all of it
T = TypeVar("T")

ENCODING_STARTED, ENCODING_ALMOST_DONE = 70, 89
STALL_SECONDS = 300.0
_KEPT_ERROR_LINES = 20


class RenderFailed(Exception):
    def __init__(self, message: str, *, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


def encoding_progress(out_time_us: int, duration_us: int) -> int:
    """70 at the start of the video, 89 at its end."""
    done = min(max(out_time_us / duration_us, 0.0), 1.0) if duration_us > 0 else 0.0
    return ENCODING_STARTED + int(done * (ENCODING_ALMOST_DONE - ENCODING_STARTED))


async def render(ffmpeg: str, plan: RenderPlan, *, work_dir: Path, temporary: Path, output: Path,
                 progress: Progress, kill_grace_seconds: float, stall_seconds: float = STALL_SECONDS,
                 position: Position | None = None) -> None:
    """Run the plan, whose output is `temporary`, and move the result to `output`."""
    await progress(ENCODING_STARTED)
    tracker = _Tracker(progress, plan.duration_us, position)
    try:
        await _run(ffmpeg, plan, work_dir, tracker.follow(0), kill_grace_seconds, stall_seconds)
        _check_made(temporary)
        temporary.replace(output)
    finally:
        temporary.unlink(missing_ok=True)


async def render_windows(ffmpeg: str, windows: list[tuple[RenderPlan, Path]], sound: tuple[RenderPlan, Path],
                         join: RenderPlan, *, jobs: int, work_dir: Path, temporary: Path, output: Path,
                         progress: Progress, kill_grace_seconds: float, stall_seconds: float = STALL_SECONDS,
                         position: Position | None = None) -> None:
    """A long render in windows: at most `jobs` ffmpeg runs at once (the soundtrack beside
    them), then the join, whose output is `temporary`, moved to `output`. Progress 70–89
    follows the frames of all windows together; the first failure stops every run."""
    await progress(ENCODING_STARTED)
    tracker = _Tracker(progress, sum(plan.duration_us for plan, _ in windows), position)
    slots = asyncio.Semaphore(max(1, jobs))

    async def run(plan: RenderPlan, made: Path, follow: Callable[[int], Awaitable[None]]) -> None:
        async with slots:
            await _run(ffmpeg, plan, work_dir, follow, kill_grace_seconds, stall_seconds)
        _check_made(made)

    parts = [made for _, made in windows] + [sound[1]]
    try:
        await together([run(plan, made, tracker.follow(index)) for index, (plan, made) in enumerate(windows)]
                       + [run(sound[0], sound[1], _ignore)])
        await _run(ffmpeg, join, work_dir, _ignore, kill_grace_seconds, stall_seconds)
        _check_made(temporary)
        temporary.replace(output)
    finally:
        temporary.unlink(missing_ok=True)
        for part in parts:
            part.unlink(missing_ok=True)


async def together(awaitables: Iterable[Awaitable[T]]) -> list[T]:
    """Await them at once; at the first failure, cancel the others and raise it."""
    tasks = [asyncio.ensure_future(awaitable) for awaitable in awaitables]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            if not task.done() and not task.cancelling():  # a second cancel would cut its clean-up short
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def _finish(task: asyncio.Future) -> None:
    """Wait for `task` to end even if cancelled again meanwhile (stopping ffmpeg must finish)."""
    while not task.done():
        with contextlib.suppress(asyncio.CancelledError, Exception):  # its own failure is the caller's to see
            await asyncio.shield(task)


async def _ignore(position_us: int) -> None:
    pass


def _check_made(path: Path) -> None:
    if not path.is_file() or path.stat().st_size == 0:
        raise RenderFailed("ffmpeg 结束了，但没有生成视频文件")


class _Tracker:
    """Positions of several runs (microseconds of video each has made) as one progress figure."""

    def __init__(self, progress: Progress, total_us: int, position: Position | None = None):
        self.progress = progress
        self.position = position
        self.total_us = total_us
        self.positions: dict[int, int] = {}
        self.reported = ENCODING_STARTED

    def follow(self, index: int) -> Callable[[int], Awaitable[None]]:
        async def moved(position_us: int) -> None:
            self.positions[index] = max(position_us, self.positions.get(index, 0))
            made = sum(self.positions.values())
            if self.position:
                await self.position(min(made, self.total_us), self.total_us)
            current = encoding_progress(made, self.total_us)
            if current > self.reported:
                self.reported = current
                await self.progress(current)

        return moved


async def _run(ffmpeg: str, plan: RenderPlan, work_dir: Path, follow: Callable[[int], Awaitable[None]],
               kill_grace_seconds: float, stall_seconds: float) -> None:
    """One ffmpeg run to its end; RenderFailed with ffmpeg's own reason if it fails or stalls."""
    spawn = asyncio.ensure_future(asyncio.create_subprocess_exec(
        ffmpeg, *plan.args,
        cwd=work_dir, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, limit=LINE_LIMIT,
        start_new_session=True,  # its own process group: stopping it stops all of it
    ))
    try:
        process = await asyncio.shield(spawn)
    except asyncio.CancelledError:  # cancelled while it was starting: it may have started all the same
        await _finish(spawn)
        if not spawn.exception():
            await _finish(asyncio.ensure_future(stop_process_group(spawn.result(), kill_grace_seconds)))
        raise
    run = _Run(process, follow)
    watchdog = asyncio.create_task(run.stop_if_stalled(stall_seconds, kill_grace_seconds))
    try:
        await asyncio.gather(run.follow_progress(), run.collect_errors())
        returncode = await process.wait()
    except BaseException:  # cancelled, or its output could not be followed: ffmpeg must not outlive the job
        await _finish(asyncio.ensure_future(stop_process_group(process, kill_grace_seconds)))
        raise
    finally:
        watchdog.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watchdog
    if run.stalled:
        raise RenderFailed(f"ffmpeg 在 {stall_seconds:.0f} 秒内没有进展，已停止", retryable=True)
    if returncode != 0:
        raise RenderFailed(ffmpeg_error(run.errors))


class _Run:
    """One ffmpeg process's output as it comes: its position, errors, and whether it moves."""

    def __init__(self, process: asyncio.subprocess.Process, follow: Callable[[int], Awaitable[None]]):
        self.process = process
        self.follow = follow
        self.errors: list[str] = []  # the first lines: the cause comes first, summaries after
        self.stalled = False
        self._position = -1
        self._moved_at = asyncio.get_running_loop().time()

    async def follow_progress(self) -> None:
        async for line in read_lines(self.process.stdout):
            key, _, value = line.partition("=")
            if key != "out_time_us" or not value.strip().lstrip("-").isdigit():
                continue
            if int(value) > self._position:
                self._position, self._moved_at = int(value), asyncio.get_running_loop().time()
                await self.follow(int(value))

    async def collect_errors(self) -> None:
        async for line in read_lines(self.process.stderr):
            if line.strip() and len(self.errors) < _KEPT_ERROR_LINES:
                self.errors.append(line)
            log.debug("ffmpeg: %s", line)

    async def stop_if_stalled(self, stall_seconds: float, kill_grace_seconds: float) -> None:
        loop = asyncio.get_running_loop()
        while loop.time() - self._moved_at < stall_seconds:
            await asyncio.sleep(min(stall_seconds / 4, 5.0))
        log.warning("ffmpeg made no progress for %.0f s; stopping it", stall_seconds)
        self.stalled = True
        await stop_process_group(self.process, kill_grace_seconds)
