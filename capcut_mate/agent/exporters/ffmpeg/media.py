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
PROBE_SECONDS = 60.0

# What ffmpeg may read a material as: plain media containers and images, from local files.
# Playlists and concat lists (hls, concat, …) may name other files on the agent's disk,
# so a draft could smuggle them into its video; they are not on the list.
INPUT_WHITELIST = [
    "-protocol_whitelist", "file",
    "-format_whitelist", "mov,mp4,matroska,webm,avi,flv,mpegts,mpeg,mp3,wav,aac,flac,ogg,"
                         "image2,png_pipe,jpeg_pipe,webp_pipe,bmp_pipe,gif,tiff_pipe",
]


class MediaUnreadable(Exception):
    pass


@dataclass(frozen=True)
class MediaFile:
    path: Path
    has_video: bool  # a picture stream; an MP3's cover art does not count
    has_audio: bool


async def probe(ffmpeg: str, path: Path) -> MediaFile:
    process = await asyncio.create_subprocess_exec(
        ffmpeg, "-hide_banner", "-nostdin", *INPUT_WHITELIST, "-i", str(path),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), PROBE_SECONDS)
    except TimeoutError:
        raise MediaUnreadable(f"读取超过 {PROBE_SECONDS:.0f} 秒") from None
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
