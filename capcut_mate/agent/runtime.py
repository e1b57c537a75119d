"""The export agent: claims jobs, runs an exporter per job, reports, delivers results.

- Claims long-poll the service for as many jobs as it has free slots (`--concurrency`).
- Each running job heartbeats every lease/3 seconds, and sends each progress change as it
  happens. A `cancel` answer stops the exporter and reports the job failed; LEASE_LOST
  stops it and reports nothing (another agent may own the job now).
- Before a result is delivered, every progress report still queued reaches the service,
  so the job's history has each stage. A finished result (upload, complete, fail) is
  retried until the service answers, so an outage delays it but never drops it; a result
  the service refuses (other than LEASE_LOST) fails the job with the reason, rather than
  leave it to its lease.
- Each export runs on an event loop of its own, in a thread of its own: whatever one
  export does (CPU-heavy work on a hostile draft, a blocking call in a plugin), the
  agent's loop keeps every job's heartbeats flowing, and still hears SIGTERM.
- SIGTERM drains: no new claims; running jobs get `drain_seconds` to finish, then are
  handed back as retryable failures. A second SIGTERM (or Ctrl-C) hands them back at once;
  a third gives up on results not yet delivered.

This package imports the shared models (capcut_mate.protocol) and never the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from capcut_mate import __version__
from capcut_mate.agent.exporters import Exporter, ExportFailed, ExportJob, ExportResult
from capcut_mate.agent.service_client import ServiceClient, ServiceRefused, ServiceUnreachable
from capcut_mate.protocol.agent import (
    MAX_MESSAGE_LENGTH,
    MAX_STAGE_LENGTH,
    ClaimedJob,
    ClaimRequest,
    CompleteRequest,
    FailRequest,
    ProgressRequest,
    storable_text,
)
from capcut_mate.protocol.jobs import CANCELLED_MESSAGE, MAX_RUNNING_PROGRESS, MIN_RUNNING_PROGRESS, stage_for

log = logging.getLogger("capcut_mate.agent")

HANDED_BACK_MESSAGE = "导出代理停止，任务交回队列"
FLUSH_SECONDS = 15.0  # how long queued progress may take to reach the service before a result goes
STOP_WAIT_SECONDS = 15.0  # how long a stopped export may take to clean up before its job run moves on


@dataclass(frozen=True)
class AgentOptions:
    tags: tuple[str, ...] = ()
    concurrency: int = 1
    claim_wait_seconds: float = 20.0
    drain_seconds: float = 60.0
    work_root: Path = Path("capcut-mate-work")
    hostname: str = socket.gethostname()


@dataclass(frozen=True)
class _Update:
    progress: int
    stage: str | None
    message: str | None


class AgentRuntime:
    def __init__(self, client: ServiceClient, exporter: Exporter, options: AgentOptions):
        self.client = client
        self.exporter = exporter
        self.options = options
        self.token_rejected = False
        self._runs: set[asyncio.Task] = set()
        self._draining = asyncio.Event()
        self.hand_back_now = asyncio.Event()
        self.give_up = asyncio.Event()
        self._slot_freed = asyncio.Event()

    def keep_delivering(self) -> bool:
        return not self.give_up.is_set()

    def drain(self) -> None:
        """First call: stop claiming and let running jobs finish. Second: hand them back
        now. Third: stop retrying results the service has not taken yet."""
        if self.hand_back_now.is_set():
            log.warning("third stop signal: giving up on results not yet delivered")
            self.give_up.set()
            return
        if self._draining.is_set():
            log.info("second stop signal: handing running jobs back now")
            self.hand_back_now.set()
            return
        log.info("draining: no new claims; %d running job(s) get %.0f s to finish",
                 len(self._runs), self.options.drain_seconds)
        self._draining.set()
        asyncio.get_running_loop().call_later(self.options.drain_seconds, self.hand_back_now.set)

    async def run(self) -> int:
        self.options.work_root.mkdir(parents=True, exist_ok=True)
        log.info("agent started: concurrency %d, tags %s", self.options.concurrency,
                 ",".join(self.options.tags) or "(none)")
        try:
            await self._claim_loop()
        finally:
            if self._runs:
                await asyncio.gather(*self._runs, return_exceptions=True)
        log.info("agent stopped")
        return 2 if self.token_rejected else 0

    async def _claim_loop(self) -> None:
        while not self._draining.is_set():
            free = self.options.concurrency - len(self._runs)
            if free <= 0:
                self._slot_freed.clear()
                await _first_of(self._slot_freed.wait(), self._draining.wait())
                continue
            request = ClaimRequest(
                tags=list(self.options.tags),
                wait=self.options.claim_wait_seconds,
                max_jobs=free,
                version=__version__,
                hostname=self.options.hostname,
            )
            claiming = asyncio.ensure_future(
                self.client.claim(request, keep_trying=lambda: not self._draining.is_set())
            )
            await _first_of(claiming, self._draining.wait())
            if not claiming.done():
                claiming.cancel()  # the service sees the hang-up and claims nothing for us
                with contextlib.suppress(asyncio.CancelledError, ServiceUnreachable):
                    await claiming
                break
            try:
                response = claiming.result()
            except ServiceUnreachable:
                continue
            except ServiceRefused as refusal:
                if refusal.status == 401:
                    log.error("the service rejected this agent's token; stopping")
                    self.token_rejected = True
                    self._draining.set()
                    break
                log.error("claim refused: %s", refusal)
                await asyncio.sleep(5)
                continue
            for job in response.jobs:
                task = asyncio.create_task(JobRun(self, job).run(), name=f"job-{job.id}-{job.attempt}")
                self._runs.add(task)
                task.add_done_callback(self._run_finished)

    def _run_finished(self, task: asyncio.Task) -> None:
        self._runs.discard(task)
        self._slot_freed.set()
        if not task.cancelled() and task.exception():
            log.error("job run crashed", exc_info=task.exception())


class JobRun:
    """One attempt of one job on this agent."""

    def __init__(self, runtime: AgentRuntime, claimed: ClaimedJob):
        self.runtime = runtime
        self.client = runtime.client
        self.claimed = claimed
        self.name = f"job {claimed.id} attempt {claimed.attempt}"
        self.progress = MIN_RUNNING_PROGRESS
        self.stage: str | None = None
        self._updates: deque[_Update] = deque()
        self._updated = asyncio.Event()
        self._all_sent = asyncio.Event()
        self._all_sent.set()
        self.stop_reason: str | None = None  # "cancel" or "lease_lost"
        self._stopped = asyncio.Event()

    async def report(self, progress: int, stage: str | None = None, message: str | None = None) -> None:
        """The exporter's progress callback. Never blocks on the network."""
        self.take_report(progress, stage, message)

    def take_report(self, progress: int, stage: str | None = None, message: str | None = None) -> None:
        """Whatever an exporter passes is made fit for the protocol: progress held to 10-90,
        text cleaned and cut to length."""
        progress = min(max(int(progress), MIN_RUNNING_PROGRESS), MAX_RUNNING_PROGRESS)
        stage = storable_text(stage, MAX_STAGE_LENGTH) or None if stage else None
        message = storable_text(message, MAX_MESSAGE_LENGTH) or None if message else None
        if progress < self.progress:
            log.debug("%s: ignoring progress %s below %s", self.name, progress, self.progress)
            return
        stage = stage or (self.stage if progress == self.progress else stage_for(progress))
        if (progress, stage) != (self.progress, self.stage) or message:
            log.info("%s: %d%% %s%s", self.name, progress, stage, f" ({message})" if message else "")
        self.progress, self.stage = progress, stage
        update = _Update(progress, stage, message)
        last = self._updates[-1] if self._updates else None
        if last and last.message is None and message is None and last.stage == stage:
            self._updates[-1] = update  # progress within a stage coalesces; stages and messages each go
        else:
            self._updates.append(update)
        self._all_sent.clear()
        self._updated.set()

    async def run(self) -> None:
        job = self.claimed
        started = time.monotonic()
        log.info("%s: claimed %s", self.name, job.draft_url)
        work_dir = self.runtime.options.work_root / f"job-{job.id}-{job.attempt}"
        work_dir.mkdir(parents=True, exist_ok=True)
        export_job = ExportJob(job.id, job.attempt, job.draft_url, job.draft_key, work_dir, work_dir / "output.mp4")
        heartbeat = asyncio.create_task(self._heartbeat())
        exporting = ExportThread(self.runtime.exporter, export_job, self.take_report, self.name)
        try:
            await _first_of(exporting.finished, self._stopped.wait(), self.runtime.hand_back_now.wait())
            if not exporting.finished.done():
                exporting.cancel()  # the job is told at once; the export cleans up meanwhile
                if self.stop_reason == "lease_lost":
                    log.warning("%s: lease lost; abandoned", self.name)
                elif self.stop_reason == "cancel":
                    log.info("%s: cancelled; export stopped", self.name)
                    await self._deliver_failure(CANCELLED_MESSAGE, retryable=False)
                else:
                    log.info("%s: handing back to the queue", self.name)
                    await self._deliver_failure(HANDED_BACK_MESSAGE, retryable=True)
                await exporting.stopped()
                return
            await self._deliver(exporting, started)
        finally:
            await _cancel(heartbeat)
            await asyncio.to_thread(shutil.rmtree, work_dir, True)

    async def _deliver(self, exporting: ExportThread, started: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._all_sent.wait(), FLUSH_SECONDS)
        try:
            result: ExportResult = exporting.finished.result()
        except ExportFailed as failure:
            await self._deliver_failure(failure.message, retryable=failure.retryable)
            return
        except Exception as error:  # an exporter bug must still end the job, not strand it
            log.exception("%s: exporter crashed", self.name)
            await self._deliver_failure(f"导出草稿失败: {error}", retryable=False)
            return
        keep_trying = self.runtime.keep_delivering
        try:
            video_url = result.video_url
            if video_url is None:
                size = result.video_path.stat().st_size
                log.info("%s: uploading %.1f MB", self.name, size / 1e6)
                upload = await self.client.upload_video(self.claimed.id, self.claimed.attempt, result.video_path,
                                                        keep_trying=keep_trying)
                video_url = upload.video_url
            request = CompleteRequest(attempt=self.claimed.attempt, video_url=video_url)
            answer = await self.client.complete(self.claimed.id, request, keep_trying=keep_trying)
            log.info("%s: %s in %.1f s -> %s", self.name, answer.status, time.monotonic() - started, video_url)
        except ValidationError:
            await self._deliver_failure(f"导出草稿失败: 导出结果的视频地址无效: {video_url}", retryable=False)
        except ServiceRefused as refusal:
            if refusal.error_code == "LEASE_LOST":
                log.warning("%s: lease lost before the result was delivered; abandoned", self.name)
            elif refusal.error_code == "STORAGE_FAILED":  # the service's disk, not the export: later, maybe
                await self._deliver_failure(f"导出草稿失败: 服务无法保存视频 ({refusal})", retryable=True)
            else:
                await self._deliver_failure(f"导出草稿失败: 服务拒绝了导出结果 ({refusal})", retryable=False)
        except ServiceUnreachable as problem:
            log.error("%s: result not delivered, given up: %s", self.name, problem)

    async def _deliver_failure(self, message: str, *, retryable: bool) -> None:
        shown = without_local_paths(message, agent_folders(self.runtime.options.work_root))
        request = FailRequest(attempt=self.claimed.attempt, error_message=storable_text(shown, MAX_MESSAGE_LENGTH)
                              or "导出草稿失败", retryable=retryable)
        try:
            answer = await self.client.fail(self.claimed.id, request, keep_trying=self.runtime.keep_delivering)
            log.info("%s: failed (%s) -> %s", self.name, message, answer.status)  # the log keeps the paths
        except ServiceRefused as refusal:
            log.warning("%s: failure report refused (%s); abandoned", self.name, refusal)
        except ServiceUnreachable as problem:
            log.error("%s: failure not delivered, given up: %s", self.name, problem)

    async def _heartbeat(self) -> None:
        interval = max(self.claimed.lease_seconds / 3, 0.1)
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._updated.wait(), interval)
            self._updated.clear()
            update = self._updates.popleft() if self._updates else _Update(self.progress, self.stage, None)
            try:
                request = ProgressRequest(attempt=self.claimed.attempt, progress=update.progress,
                                          stage=update.stage, message=update.message)
                ack = await self.client.progress(self.claimed.id, request, timeout=interval)
            except ServiceRefused as refusal:
                if refusal.error_code == "LEASE_LOST":
                    self._stop("lease_lost")
                    return
                log.warning("%s: progress refused: %s", self.name, refusal)
                continue
            except Exception as problem:  # unreachable, or anything else: the next beat tries again
                log.warning("%s: heartbeat failed (%s); will retry", self.name, problem)
                if update.message is not None:
                    self._updates.appendleft(update)  # a message is sent, however late
                continue
            if self._updates:
                self._updated.set()
            else:
                self._all_sent.set()
            if ack.cancel:
                self._stop("cancel")
                return

    def _stop(self, reason: str) -> None:
        self.stop_reason = reason
        self._stopped.set()


def agent_folders(work_root: Path) -> list[Path]:
    """This machine's folders, whose paths clients never see: where exports work, the temp and
    home folders, the Python environment (the bundled ffmpeg and font), the folders tools run
    from (PATH), and those the CAPCUT_MATE_* settings name ($CAPCUT_MATE_FFMPEG, a font file).
    (A file:// draft never comes here: the service takes only http(s) draft URLs.)"""
    named = [value for key, value in os.environ.items() if key.startswith("CAPCUT_MATE_")]
    folders = [work_root, Path(tempfile.gettempdir()), Path(os.path.expanduser("~")), Path(sys.prefix),
               Path(sys.base_prefix), *map(Path, os.environ.get("PATH", "").split(os.pathsep)),
               *(Path(value).parent for value in named if os.path.isabs(value))]
    return [folder for folder in folders if folder.is_absolute() and len(folder.parts) > 1]


# Where a path begins: not inside a word, a URL (http://host/tmp/… is no path of ours) or another path.
_PATH_START = r"(?:(?<=file://)|(?<![A-Za-z0-9_.~%/\\\]-]))"


def without_local_paths(message: str, folders: list[Path]) -> str:
    """A failure as clients may see it: a path under one of the agent's folders (named in an
    exporter's, ffmpeg's or the OS's words) cut down to the path inside it, inside the job's
    folder for the work root; a folder itself, to its name. Paths the draft names stay."""
    spelled = {str(spelling): spelling.name for folder in folders for spelling in (folder.absolute(), folder.resolve())}
    for root in sorted(spelled, key=len, reverse=True):
        message = re.sub(_PATH_START + re.escape(root) + r"(?:[/\\]job-\d+-\d+)?[/\\]", "", message)
        message = re.sub(_PATH_START + re.escape(root) + r"(?![A-Za-z0-9_.~-])", spelled[root], message)
    return message


class ExportThread:
    """One export on an event loop of its own, in a daemon thread of its own. `finished`
    (a future of the agent's loop) holds its result or its exception. Progress crosses
    back to the agent's loop; a stop cancels the export's task on its own loop."""

    def __init__(self, exporter: Exporter, job: ExportJob, take_report, name: str):
        self._agent_loop = asyncio.get_running_loop()
        self.finished: asyncio.Future = self._agent_loop.create_future()
        self._take_report = take_report
        self._cancelled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._thread = threading.Thread(target=self._main, args=(exporter, job), name=f"export {name}", daemon=True)
        self._thread.start()

    async def _report(self, progress: int, stage: str | None = None, message: str | None = None) -> None:
        with contextlib.suppress(RuntimeError):  # the agent's loop is gone: nobody to tell
            self._agent_loop.call_soon_threadsafe(self._take_report, progress, stage, message)

    def _main(self, exporter: Exporter, job: ExportJob) -> None:
        async def export() -> ExportResult:
            self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
            if self._cancelled:  # stopped before it began
                raise asyncio.CancelledError
            return await exporter(job, self._report)

        try:
            outcome, failed = asyncio.run(export()), False
        except BaseException as error:  # CancelledError included: the stop it was asked for
            outcome, failed = error, True
        with contextlib.suppress(RuntimeError):
            self._agent_loop.call_soon_threadsafe(self._settle, outcome, failed)

    def _settle(self, outcome, failed: bool) -> None:
        if self.finished.done():
            return
        if failed:
            self.finished.set_exception(outcome if isinstance(outcome, Exception) else ExportFailed(str(outcome)))
        else:
            self.finished.set_result(outcome)

    def cancel(self) -> None:
        """Ask the export to stop (its task is cancelled on its own loop); returns at once."""
        self._cancelled = True
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # its loop already ended
                loop.call_soon_threadsafe(task.cancel)

    async def stopped(self, wait_seconds: float = STOP_WAIT_SECONDS) -> None:
        """Wait (at most `wait_seconds`) for a cancelled export to clean up after itself."""
        with contextlib.suppress(asyncio.TimeoutError, Exception):
            await asyncio.wait_for(asyncio.shield(self.finished), wait_seconds)
        if not self.finished.done():
            log.warning("%s still running %.0f s after it was stopped; left behind", self._thread.name, wait_seconds)


async def _first_of(*awaitables) -> None:
    """Wait until any of them finishes; cancel the waits this created, not the others."""
    tasks = [a if isinstance(a, asyncio.Future) else asyncio.ensure_future(a) for a in awaitables]
    created = [t for t, a in zip(tasks, awaitables) if t is not a]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in created:
            task.cancel()


async def _cancel(task: asyncio.Task) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
