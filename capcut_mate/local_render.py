"""`capcut-mate render SOURCE -o OUT.mp4`: one draft rendered on this machine, no service needed.

SOURCE is a draft folder, its draft_content.json, or a get_draft URL. It runs the ffmpeg
exporter exactly as an agent would (the same stages, warnings and errors), with a progress
bar on a terminal and plain lines otherwise. On failure it prints the one line a job would
record and exits 1; OUT is written only when the render succeeded (through a temporary
name), so a failed or interrupted render leaves no partial file.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from capcut_mate.protocol.jobs import draft_key

CONTENT_FILE = "draft_content.json"
_STAGES = ((90, "done"), (70, "encoding"), (31, "materials"), (30, "environment ready"), (20, "draft read"),
           (10, "started"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="a draft folder, its draft_content.json, or a get_draft URL")
    parser.add_argument("-o", "--output", required=True, type=Path, help="the MP4 to write")
    parser.add_argument("--font-file", type=Path, help="the font for text (default: a CJK font found or bundled)")


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(render_source(args.source, args.output, font_file=args.font_file))
    except KeyboardInterrupt:
        print("capcut-mate render: interrupted; no video written", file=sys.stderr)
        return 130


async def render_source(source: str, output: Path, *, font_file: Path | None = None,
                        stream: TextIO | None = None) -> int:
    from capcut_mate.agent.exporters import ExporterOptions, ExportFailed, ExportJob, load_exporter

    stream = stream or sys.stderr
    with tempfile.TemporaryDirectory(prefix="capcut-mate-render-") as scratch:
        try:
            url = _draft_url(source, Path(scratch))
        except ValueError as problem:
            print(f"capcut-mate render: {problem}", file=stream)
            return 2
        work = Path(scratch) / "work"
        work.mkdir()
        job = ExportJob(0, 1, url, draft_key(url) if "://" in source else Path(url).name, work, work / "output.mp4")
        progress = _Progress(stream)
        try:
            exporter = load_exporter("ffmpeg", ExporterOptions(allow_local_drafts=True, font_file=font_file))
            result = await exporter(job, progress)
        except ExportFailed as failure:
            progress.finish()
            print(f"capcut-mate render: {failure.message}", file=stream)
            return 1
        progress.finish()
        produced = result.video_path or job.output_path
        partial = output.with_name(output.name + ".part")
        output.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(produced, partial)
        partial.replace(output)
    print(f"capcut-mate render: wrote {output}", file=stream)
    return 0


def _draft_url(source: str, scratch: Path) -> str:
    """What the exporter fetches: the URL as given, or the draft folder as a file:// URL."""
    if source.startswith(("http://", "https://")):
        return source
    path = Path(source).expanduser()
    if path.is_dir():
        if not (path / CONTENT_FILE).is_file():
            raise ValueError(f"{path} has no {CONTENT_FILE}: not a draft folder")
        return path.resolve().as_uri()
    if path.is_file():
        if path.name == CONTENT_FILE:
            return path.parent.resolve().as_uri()
        # Another name: a folder of links to the file's neighbours, with it as draft_content.json.
        folder = scratch / "draft"
        folder.mkdir()
        for entry in path.parent.iterdir():
            if entry != path:
                (folder / entry.name).symlink_to(entry.resolve())
        (folder / CONTENT_FILE).symlink_to(path.resolve())
        return folder.as_uri()
    raise ValueError(f"no such draft folder, file or URL: {source}")


class _Progress:
    """The exporter's progress, as a bar on a terminal or as plain lines elsewhere."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.bar = stream.isatty() and os.environ.get("TERM") != "dumb"
        self.last = -1
        self.open = False

    async def __call__(self, progress: int, stage: str | None = None, message: str | None = None) -> None:
        if message:
            self._line(message)
        if progress == self.last:
            return
        self.last = progress
        label = stage or next((name for floor, name in _STAGES if progress >= floor), "starting")
        if self.bar:
            filled = round(progress / 100 * 30)
            self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {progress:3d}% {label:<18}")
            self.stream.flush()
            self.open = True
        else:
            print(f"progress {progress} {label}", file=self.stream)

    def _line(self, text: str) -> None:
        if self.open:
            self.stream.write("\n")
            self.open = False
        print(text, file=self.stream)

    def finish(self) -> None:
        if self.open:
            self.stream.write("\n")
            self.open = False
