"""The command exporter (AGENT_PROTOCOL.md, "The command exporter"): one process per job.

`{draft_url}` and `{output}` in the command are replaced by the shell-quoted values, so a
draft URL can never inject shell syntax; the same values are in the environment. The
process reports through its stdout (`progress <10-90> [stage words]`, `video_url <url>`),
and its exit code decides the outcome: 0 complete, 75 retryable, anything else failed with
the last non-empty stderr line. It runs in a process group of its own, so stopping it
(SIGTERM, then SIGKILL after the grace period) stops its children too.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shlex
import subprocess
import sys

from capcut_mate.agent.exporters import Exporter, ExportFailed, ExportJob, ExportResult, Progress
from capcut_mate.processes import LINE_LIMIT, read_lines, stop_process_group
from capcut_mate.protocol.jobs import MAX_RUNNING_PROGRESS, MIN_RUNNING_PROGRESS

log = logging.getLogger("capcut_mate.agent.command")

RETRYABLE_EXIT = 75  # EX_TEMPFAIL
MAX_ERROR_LENGTH = 500
_PROGRESS_LINE = re.compile(r"^progress\s+(\d{1,3})(?:\s+(.+?))?\s*$")
_VIDEO_URL_LINE = re.compile(r"^video_url\s+(\S+)\s*$")


def _quote(value: str) -> str:
    return subprocess.list2cmdline([value]) if sys.platform == "win32" else shlex.quote(value)


def render_command(template: str, job: ExportJob) -> str:
    return template.replace("{draft_url}", _quote(job.draft_url)).replace("{output}", _quote(str(job.output_path)))


def command_exporter(template: str, *, kill_grace_seconds: float = 10.0) -> Exporter:
    async def export(job: ExportJob, progress: Progress) -> ExportResult:
        env = {
            **os.environ,
            "CAPCUT_MATE_DRAFT_URL": job.draft_url,
            "CAPCUT_MATE_JOB_ID": str(job.id),
            "CAPCUT_MATE_ATTEMPT": str(job.attempt),
            "CAPCUT_MATE_OUTPUT": str(job.output_path),
        }
        process = await asyncio.create_subprocess_shell(
            render_command(template, job),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=job.work_dir,
            env=env,
            limit=LINE_LIMIT,
            start_new_session=True,  # its own process group: we can stop it and its children
        )
        published: list[str] = []
        last_error: list[str] = []

        async def read_stdout() -> None:
            async for line in read_lines(process.stdout):
                if match := _PROGRESS_LINE.match(line):
                    value, stage = int(match.group(1)), match.group(2)
                    if MIN_RUNNING_PROGRESS <= value <= MAX_RUNNING_PROGRESS:
                        await progress(value, stage[:64] if stage else None)
                    else:
                        log.warning("job %s: ignoring progress %s outside 10-90", job.id, value)
                elif match := _VIDEO_URL_LINE.match(line):
                    published.append(match.group(1))

        async def read_stderr() -> None:
            async for line in read_lines(process.stderr):
                if line.strip():
                    last_error[:] = [line.strip()[:MAX_ERROR_LENGTH]]
                log.debug("job %s stderr: %s", job.id, line)

        try:
            await asyncio.gather(read_stdout(), read_stderr())
            returncode = await process.wait()
        except asyncio.CancelledError:
            await stop_process_group(process, kill_grace_seconds)
            raise

        if returncode == 0:
            if published:
                return ExportResult(video_url=published[-1])
            if job.output_path.is_file() and job.output_path.stat().st_size > 0:
                return ExportResult(video_path=job.output_path)
            raise ExportFailed("导出草稿失败: 导出命令已结束，但没有生成视频文件")
        message = last_error[0] if last_error else f"导出草稿失败: 导出命令以退出码 {returncode} 结束"
        raise ExportFailed(message, retryable=returncode == RETRYABLE_EXIT)

    return export
