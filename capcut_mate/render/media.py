"""What a material file holds, read from `ffmpeg -i` (ffprobe is not always installed).

The filter graph must know whether a video has sound: asking for a stream that is not there
fails the whole render.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from capcut_mate.processes import ToolTimedOut, run_tool
from capcut_mate.render.environment import ffmpeg_error

_STREAM = re.compile(r"^\s*Stream #0:\d+.*?: (Video|Audio): (.*)$", re.MULTILINE)
_SIZE = re.compile(r"[ ,](\d{1,5})x(\d{1,5})[ ,\[]")
_DURATION = re.compile(r"Duration: (\d+):(\d+):([\d.]+)")
_ROTATED = re.compile(r"rotation of -?90\.00 degrees|rotate\s*:\s*-?(90|270)\b")
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
    width: int = 0  # the picture's, as displayed (0: no picture)
    height: int = 0
    duration: float = 0.0  # seconds; 0 where the container does not say (a still image)


async def probe(ffmpeg: str, path: Path) -> MediaFile:
    try:
        _, text = await run_tool(ffmpeg, "-hide_banner", "-nostdin", *INPUT_WHITELIST, "-i", str(path),
                                 timeout=PROBE_SECONDS)
    except ToolTimedOut:
        raise MediaUnreadable(f"读取超过 {PROBE_SECONDS:.0f} 秒") from None
    streams = _STREAM.findall(text)
    if "Input #0" not in text or not streams:
        raise MediaUnreadable(ffmpeg_error(text.splitlines()))
    pictures = [rest for kind, rest in streams if kind == "Video" and "(attached pic)" not in rest]
    width, height = _size(pictures[0]) if pictures else (0, 0)
    if pictures and _ROTATED.search(text):  # a phone video shot upright: shown turned
        width, height = height, width
    duration = _DURATION.search(text)
    seconds = (int(duration[1]) * 3600 + int(duration[2]) * 60 + float(duration[3])) if duration else 0.0
    return MediaFile(path, has_video=bool(pictures), has_audio=any(kind == "Audio" for kind, _ in streams),
                     width=width, height=height, duration=seconds)


def _size(stream: str) -> tuple[int, int]:
    found = _SIZE.search(stream)
    return (int(found[1]), int(found[2])) if found else (0, 0)
