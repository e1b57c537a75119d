"""What a material file holds, read from `ffmpeg -i` (ffprobe is not always installed).

The filter graph must know whether a video has sound: asking for a stream that is not there
fails the whole render.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path

from capcut_mate.agent.exporters.ffmpeg.environment import ffmpeg_error

_STREAM = re.compile(r"^\s*Stream #0:\d+.*?: (Video|Audio): (.*)$", re.MULTILINE)


class MediaUnreadable(Exception):
    pass


@dataclass(frozen=True)
class MediaFile:
    path: Path
    has_video: bool  # a picture stream; an MP3's cover art does not count
    has_audio: bool


async def probe(ffmpeg: str, path: Path) -> MediaFile:
    process = await asyncio.create_subprocess_exec(
        ffmpeg, "-hide_banner", "-nostdin", "-i", str(path),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await process.communicate()
    finally:
        if process.returncode is None:  # cancelled while it ran
            process.kill()
            await process.wait()
    text = stderr.decode("utf-8", errors="replace")
    streams = _STREAM.findall(text)
    if "Input #0" not in text or not streams:
        raise MediaUnreadable(ffmpeg_error(text.splitlines()))
    return MediaFile(
        path,
        has_video=any(kind == "Video" and "(attached pic)" not in rest for kind, rest in streams),
        has_audio=any(kind == "Audio" for kind, _ in streams),
    )
