"""What a rendered video holds, read with ffmpeg itself: no ffprobe, no image libraries."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from support.drafts import FFMPEG

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
YELLOW, MAGENTA, CYAN = (255, 255, 0), (255, 0, 255), (0, 255, 255)


@dataclass(frozen=True)
class VideoInfo:
    duration: float
    width: int
    height: int
    fps: float
    has_audio: bool


@dataclass(frozen=True)
class Frame:
    width: int
    height: int
    rgb: bytes

    def pixel(self, x: int, y: int) -> tuple[int, int, int]:
        offset = (y * self.width + x) * 3
        return tuple(self.rgb[offset:offset + 3])

    def pixels(self, left: int, top: int, right: int, bottom: int) -> list[tuple[int, int, int]]:
        return [self.pixel(x, y) for y in range(top, bottom) for x in range(left, right)]


def video_info(path: Path) -> VideoInfo:
    text = _ffmpeg_stderr("-i", str(path))
    hours, minutes, seconds = re.search(r"Duration: (\d+):(\d+):([\d.]+)", text).groups()
    video = re.search(r"Stream #0:\d+.*?: Video: .*?, (\d+)x(\d+).*?, ([\d.]+) fps", text)
    return VideoInfo(
        duration=int(hours) * 3600 + int(minutes) * 60 + float(seconds),
        width=int(video.group(1)),
        height=int(video.group(2)),
        fps=float(video.group(3)),
        has_audio=re.search(r"Stream #0:\d+.*?: Audio: ", text) is not None,
    )


def frame_at(path: Path, seconds: float) -> Frame:
    info = video_info(path)
    rgb = subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-ss", str(seconds), "-i", str(path), "-frames:v", "1",
         "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True, check=True,
    ).stdout
    assert len(rgb) == info.width * info.height * 3, f"no frame at {seconds} s"
    return Frame(info.width, info.height, rgb)


def mean_volume_db(path: Path) -> float:
    text = _ffmpeg_stderr("-i", str(path), "-map", "0:a", "-af", "volumedetect", "-f", "null", "-")
    return float(re.search(r"mean_volume: (-?[\d.]+) dB", text).group(1))


def looks_like(actual: tuple[int, int, int], expected: tuple[int, int, int], tolerance: int = 40) -> bool:
    """Colours after H.264's rounding: each channel within `tolerance`."""
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected))


def _ffmpeg_stderr(*args: str) -> str:
    return subprocess.run([FFMPEG, "-hide_banner", "-nostdin", *args], capture_output=True, text=True).stderr
