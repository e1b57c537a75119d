"""The exporter plugin interface: an async function of the job and a progress callback.

An exporter turns one claimed job into a video. It reports progress through the callback
(10–90, the stages of CONTRACT.md), and answers with either a file for the agent to upload
or a URL where it published the video itself. It raises ExportFailed for a failure the job
should record (retryable or not). The agent cancels the exporter's task when the job is
cancelled, its lease is lost, or the agent drains; an exporter stops its work on
CancelledError (the command exporter terminates its process).

Exporters are made by factories (functions of ExporterOptions), found by name: the
built-in ones below, any installed package's entry point in the `capcut_mate.exporters`
group, or `package.module:function` (see docs/exporters.md).
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class ExportJob:
    id: int
    attempt: int
    draft_url: str
    draft_key: str
    work_dir: Path  # a fresh folder for this attempt, removed after the result is delivered
    output_path: Path  # where the video should be written (inside work_dir)


class Progress(Protocol):
    async def __call__(self, progress: int, stage: str | None = None, message: str | None = None) -> None: ...


@dataclass(frozen=True)
class ExportResult:
    video_path: Path | None = None  # a file the agent uploads to the service's video store
    video_url: str | None = None  # or where the exporter published the video itself

    def __post_init__(self) -> None:
        if (self.video_path is None) == (self.video_url is None):
            raise ValueError("an ExportResult has either a video_path or a video_url")


class ExportFailed(Exception):
    """The export failed; `message` becomes the job's error_message."""

    def __init__(self, message: str, *, retryable: bool = False):
        super().__init__(message)
        self.message = message
        self.retryable = retryable


Exporter = Callable[[ExportJob, Progress], Awaitable[ExportResult]]


@dataclass(frozen=True)
class ExporterOptions:
    """What `capcut-mate agent` passes to an exporter factory."""

    command: str | None = None
    kill_grace_seconds: float = 10.0
    allow_local_drafts: bool = False
    # The agent's --server(s): drafts from there are fetched even on a private address.
    server_urls: tuple[str, ...] = ()
    font_file: Path | None = None  # the ffmpeg exporter's font for text
    max_draft_bytes: int = 2 * 1024**3  # the ffmpeg exporter's cap on one draft's downloads
    render_jobs: int | None = None  # the ffmpeg exporter's windows rendered at once (None: by cores and memory)


ExporterFactory = Callable[[ExporterOptions], Exporter]
ENTRY_POINT_GROUP = "capcut_mate.exporters"


def _command(options: ExporterOptions) -> Exporter:
    from capcut_mate.agent.exporters.command import command_exporter

    if not options.command:
        raise ValueError("the command exporter needs --command '…'")
    return command_exporter(options.command, kill_grace_seconds=options.kill_grace_seconds)


def _ffmpeg(options: ExporterOptions) -> Exporter:
    from capcut_mate.agent.exporters.ffmpeg import ffmpeg_exporter

    return ffmpeg_exporter(options)


BUILT_IN: dict[str, ExporterFactory] = {"command": _command, "ffmpeg": _ffmpeg}


def load_exporter(name: str, options: ExporterOptions) -> Exporter:
    """The exporter a factory makes: a built-in one, an installed plugin's (entry point), or
    `module:function`'s. All three name a factory of ExporterOptions; it runs here, when
    the agent starts, so a bad name or option stops the agent before it claims anything."""
    factory = BUILT_IN.get(name)
    if factory is None:
        factory = next(
            (entry.load() for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP) if entry.name == name),
            None,
        )
    if factory is None:
        module_name, _, attribute = name.partition(":")
        if not attribute:
            known = ", ".join(sorted(BUILT_IN))
            raise ValueError(f"unknown exporter {name!r}: use one of {known}, a plugin, or module:function")
        factory = getattr(importlib.import_module(module_name), attribute)
    exporter = factory(options)
    if not callable(exporter):
        raise ValueError(f"{name!r} did not make an exporter: its factory returned {exporter!r}")
    return exporter
