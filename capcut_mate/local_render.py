"""`capcut-mate render SOURCE -o OUT.mp4`: one draft rendered on this machine, no service needed.

SOURCE is a draft folder, its draft_content.json (or draft_info.json, JianYing's other name
for it), or a get_draft URL. It runs the ffmpeg exporter exactly as an agent would (the same
stages, warnings and errors), with a progress bar on a terminal (the stage, and ffmpeg's
position while encoding) and a plain line per stage otherwise. On failure it prints the one
line a job would record and exits 1; OUT is written only when the render succeeded (through a
temporary name), so a failed or interrupted render leaves no partial file.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from capcut_mate.protocol.jobs import MIN_RUNNING_PROGRESS, UndecodableDraftId, draft_key, stage_for


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="a draft folder, its draft_content.json or draft_info.json, or a get_draft URL")
    parser.add_argument("-o", "--output", required=True, type=Path, help="the MP4 to write")
    parser.add_argument("--font-file", type=Path, help="the font for text (default: a CJK font found or bundled)")


def run(args: argparse.Namespace) -> int:
    # The exporter logs each retry and warning for an agent's log; this command says what
    # matters itself, once: warnings as lines, a failure as its one error line.
    if logging.getLogger().level > logging.DEBUG:
        logging.getLogger("capcut_mate").setLevel(logging.ERROR)
    try:
        return asyncio.run(render_source(args.source, args.output, font_file=args.font_file))
    except KeyboardInterrupt:
        print("capcut-mate render: interrupted; no video written", file=sys.stderr)
        return 130


async def render_source(source: str, output: Path, *, font_file: Path | None = None,
                        stream: TextIO | None = None) -> int:
    from capcut_mate.agent.exporters import ExporterOptions, ExportFailed, ExportJob
    from capcut_mate.agent.exporters.ffmpeg import ffmpeg_exporter

    stream = stream or sys.stderr
    url = _draft_url(source)
    try:
        key = draft_key(url)
    except UndecodableDraftId as error:  # the service refuses this URL too
        print(f"capcut-mate render: {error}", file=stream)
        return 2
    with tempfile.TemporaryDirectory(prefix="capcut-mate-render-") as work:
        job = ExportJob(0, 1, url, key, Path(work), Path(work) / "output.mp4")
        progress = _Progress(stream)
        try:
            exporter = ffmpeg_exporter(ExporterOptions(allow_local_drafts=True, font_file=font_file),
                                       position=progress.position)
            result = await exporter(job, progress)
        except ExportFailed as failure:
            progress.finish()
            print(f"capcut-mate render: {failure.message}", file=stream)
            return 1
        except Exception as error:  # the exporter's own bug: still one line, as a job would record it
            progress.finish()
            print(f"capcut-mate render: 导出草稿失败: {error or type(error).__name__}", file=stream)
            return 1
        produced = result.video_path or job.output_path
        partial = output.with_name(output.name + ".part")
        output.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(produced, partial)
        partial.replace(output)
    await progress(100)
    progress.finish()
    print(f"capcut-mate render: wrote {output}", file=stream)
    return 0


def _draft_url(source: str) -> str:
    """What the exporter fetches: a URL as given, a path as a file:// URL (the exporter reads
    a folder, or a draft file in its folder, and words what is wrong with either)."""
    return source if "://" in source else Path(source).expanduser().resolve().as_uri()


class _Progress:
    """The exporter's progress: on a terminal, a bar redrawn in place with the stage and,
    while encoding, ffmpeg's position in the video; elsewhere a plain line per stage."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.bar = stream.isatty() and os.environ.get("TERM") != "dumb"
        self.value = 0
        self.stage: str | None = None
        self.where = ""  # ffmpeg's position, while encoding
        self.open = False  # a bar on the line, with no newline after it yet

    async def __call__(self, progress: int, stage: str | None = None, message: str | None = None) -> None:
        if message:
            self._line(message)
        stage = stage or stage_for(progress)
        if stage != self.stage:
            self.where = ""
            # 开始处理 is no news: a draft that cannot even be fetched says only its error.
            if not self.bar and progress > MIN_RUNNING_PROGRESS:
                print(f"progress {progress} {stage}", file=self.stream)
        self.value, self.stage = progress, stage
        self._draw()

    async def position(self, made_us: int, total_us: int) -> None:
        self.where = f" {made_us / 1e6:.1f} s / {total_us / 1e6:.1f} s"
        self._draw()

    def _draw(self) -> None:
        if self.bar:
            filled = self.value * 30 // 100
            bar = "#" * filled + "." * (30 - filled)
            self.stream.write(f"\r[{bar}] {self.value:3d}% {self.stage}{self.where}\x1b[K")  # K: clear the rest
            self.stream.flush()
            self.open = True

    def _line(self, text: str) -> None:
        self.finish()
        print(text, file=self.stream)

    def finish(self) -> None:
        if self.open:
            self.stream.write("\n")
            self.open = False
