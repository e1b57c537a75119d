"""What rendering needs from this machine: an ffmpeg, and a font for the draft's text.

ffmpeg: $CAPCUT_MATE_FFMPEG, else the one on PATH, else the one in the imageio-ffmpeg wheel
(a dependency of capcut-mate, so `pip install` alone gives a working ffmpeg). It must have
the libx264 encoder; the drawtext filter is needed only for drafts with text.

The font: the configured one (--font-file or $CAPCUT_MATE_FONT_FILE), else one that covers
Chinese (fontconfig's list, then well-known files on Linux, macOS and Windows), else any
font to be found; the exporter warns when Chinese text meets a font without Chinese.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from capcut_mate.processes import ToolTimedOut, run_tool

FFMPEG_ENV = "CAPCUT_MATE_FFMPEG"
FONT_ENV = "CAPCUT_MATE_FONT_FILE"
_TOOL_TIMEOUT_SECONDS = 30

_CHINESE_FONT_FILES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/Hiragino Sans GB.ttc",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/simhei.ttf",
)
_ANY_FONT_FILES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/System/Library/Fonts/Helvetica.ttc",
    "C:/Windows/Fonts/arial.ttf",
)
_ERROR_PREFIX = re.compile(r"^\[[^\]]+ @ 0x[0-9a-f]+\]\s*")


class EnvironmentProblem(Exception):
    """This machine cannot render: no usable ffmpeg, or a configured font that is missing."""


@dataclass(frozen=True)
class Ffmpeg:
    path: str
    major_version: int | None  # None for builds from git, which name no release
    has_drawtext: bool

    @property
    def graph_file_option(self) -> str:
        """The option that reads the filter graph from a file: "-/filter_complex" since ffmpeg 7."""
        old = self.major_version is not None and self.major_version < 7
        return "-filter_complex_script" if old else "-/filter_complex"


@dataclass(frozen=True)
class Font:
    path: Path
    covers_chinese: bool


async def find_ffmpeg() -> Ffmpeg:
    path = os.environ.get(FFMPEG_ENV) or shutil.which("ffmpeg") or _bundled_ffmpeg()
    if not path:
        raise EnvironmentProblem("找不到 ffmpeg: 请安装 ffmpeg，或 pip install imageio-ffmpeg")
    version, encoders, filters = [await _output(path, "-hide_banner", flag)
                                  for flag in ("-version", "-encoders", "-filters")]
    if not re.search(r"\slibx264\s", encoders):
        raise EnvironmentProblem(f"{path} 没有 libx264 编码器")
    release = re.match(r"ffmpeg version n?(\d+)\.", version)
    return Ffmpeg(path, int(release.group(1)) if release else None, bool(re.search(r"\sdrawtext\s", filters)))


async def find_font(configured: Path | None) -> Font | None:
    if configured:
        if not configured.is_file():
            raise EnvironmentProblem(f"配置的字体文件不存在: {configured}")
        return Font(configured, covers_chinese=True)  # the operator's choice is taken as fit
    if chinese := _first_file(await _fontconfig("fc-list", ":lang=zh", "file") + _CHINESE_FONT_FILES):
        return Font(chinese, covers_chinese=True)
    if any_font := _first_file(await _fontconfig("fc-match", "-f", "%{file}\n", "sans-serif") + _ANY_FONT_FILES):
        return Font(any_font, covers_chinese=False)
    return None


def ffmpeg_error(stderr_lines: list[str]) -> str:
    """The cause of an ffmpeg failure: its first error line (the later ones summarise it)."""
    for line in stderr_lines:
        if line.strip():
            return _ERROR_PREFIX.sub("", line.strip())[:500]
    return "ffmpeg 没有说明原因"


def _bundled_ffmpeg() -> str | None:
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return None


async def _output(*command: str) -> str:
    """A tool's stdout and stderr together; EnvironmentProblem if it cannot be run."""
    try:
        return (await run_tool(*command, timeout=_TOOL_TIMEOUT_SECONDS))[1]
    except OSError as error:
        raise EnvironmentProblem(f"无法运行 {command[0]}: {error}") from None
    except ToolTimedOut as error:
        raise EnvironmentProblem(str(error)) from None


async def _fontconfig(*command: str) -> tuple[str, ...]:
    """Font files fontconfig lists; none where fontconfig is not installed."""
    if not shutil.which(command[0]):
        return ()
    try:
        output = await _output(*command)
    except EnvironmentProblem:
        return ()
    files = [line.strip().rstrip(":").strip() for line in output.splitlines() if line.strip()]
    # Regular sans faces first: captions are usually set in them.
    return tuple(sorted(files, key=lambda f: ("sans" not in f.lower(), "bold" in f.lower(), f)))


def _first_file(candidates: tuple[str, ...]) -> Path | None:
    return next((Path(c) for c in candidates if Path(c).is_file()), None)
