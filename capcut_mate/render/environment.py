"""What rendering needs from this machine: an ffmpeg, and a font for the draft's text.

ffmpeg: $CAPCUT_MATE_FFMPEG, else the one on PATH, else the one in the imageio-ffmpeg wheel
(a dependency of capcut-mate, so `pip install` alone gives a working ffmpeg). It must have
the libx264 encoder and be FFmpeg 4.4 or newer (one on PATH that is not is passed over).

The font text is drawn in: the configured one (--font-file or $CAPCUT_MATE_FONT_FILE), else
one of this machine's that covers Chinese (fontconfig's list, then well-known files on Linux,
macOS and Windows), else Noto Sans CJK, which capcut-mate installs with it (the
noto-cjk-sans-otc wheel, SIL Open Font License): Chinese, Japanese and Korean are drawn with
real glyphs on any machine. In a font collection the Simplified Chinese face is used. A font
a draft names is looked up among this machine's by family (its regular face) and file name;
characters a face lacks fall back to the default, then to Noto Sans CJK (render/text/fonts.py).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from capcut_mate.processes import ToolTimedOut, run_tool
from capcut_mate.render.text.fonts import FaceChoice, FontBook

FFMPEG_ENV = "CAPCUT_MATE_FFMPEG"
FONT_ENV = "CAPCUT_MATE_FONT_FILE"
_TOOL_TIMEOUT_SECONDS = 30
# The renderer's newest filter (cool and warm looks), in FFmpeg since 4.4: an older ffmpeg
# would fail a draft that uses one, so it is passed over.
NEEDED_FILTERS = ("colortemperature",)

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
# The bundled font answers to these names too (lower case), where a draft asks for it.
_BUNDLED_NAMES = ("noto sans cjk sc", "noto sans cjk", "noto sans sc", "source han sans sc", "source han sans",
                  "思源黑体")
# fontconfig's style names of a family's upright, normal-weight face: the one a name means.
_REGULAR_STYLES = {"regular", "book", "normal", "roman", "standard"}
_ERROR_PREFIX = re.compile(r"^\[[^\]]+ @ 0x[0-9a-f]+\]\s*")


class EnvironmentProblem(Exception):
    """This machine cannot render: no usable ffmpeg, or a configured font that is missing."""


@dataclass(frozen=True)
class Ffmpeg:
    path: str
    major_version: int | None  # None for builds from git, which name no release

    @property
    def graph_file_option(self) -> str:
        """The option that reads the filter graph from a file: "-/filter_complex" since ffmpeg 7."""
        old = self.major_version is not None and self.major_version < 7
        return "-filter_complex_script" if old else "-/filter_complex"


def bundled_font() -> FaceChoice:
    """Noto Sans CJK SC, from the noto-cjk-sans-otc wheel capcut-mate depends on."""
    import noto_cjk_sans_otc

    path = Path(str(noto_cjk_sans_otc.FONT_PATH))
    return FaceChoice(path, simplified_chinese_face(path))


def simplified_chinese_face(path: Path) -> int:
    """The index of a collection's Simplified Chinese face (0 for a single font)."""
    if path.suffix.lower() not in (".ttc", ".otc"):
        return 0
    from PIL import ImageFont

    for index in range(16):
        try:
            family = ImageFont.truetype(str(path), 12, index=index).getname()[0] or ""
        except OSError:
            break
        if family.endswith((" SC", " GB", " CN")) or "Simplified" in family:
            return index
    return 0


async def find_ffmpeg() -> Ffmpeg:
    """The configured ffmpeg; else the one on PATH if it can do what the renderer asks (an
    old distribution's may not), else the bundled one."""
    configured = os.environ.get(FFMPEG_ENV)
    candidates = [configured] if configured else [p for p in (shutil.which("ffmpeg"), _bundled_ffmpeg()) if p]
    if not candidates:
        raise EnvironmentProblem("找不到 ffmpeg: 请安装 ffmpeg，或 pip install imageio-ffmpeg")
    problems = []
    for path in candidates:
        version, encoders, filters = [await _output(path, "-hide_banner", flag)
                                      for flag in ("-version", "-encoders", "-filters")]
        missing = [name for name in NEEDED_FILTERS if not re.search(rf"\s{name}\s", filters)]
        if not re.search(r"\slibx264\s", encoders):
            problems.append(f"{path} 没有 libx264 编码器")
        elif missing:
            problems.append(f"{path} 没有滤镜 {', '.join(missing)} (需要 FFmpeg 4.4 或更新)")
        else:
            release = re.match(r"ffmpeg version n?(\d+)\.", version)
            return Ffmpeg(path, int(release.group(1)) if release else None)
    raise EnvironmentProblem(problems[0])


async def find_fonts(configured: Path | None) -> FontBook:
    """The faces a draft's text is drawn in: the default (configured, else a Chinese one of
    this machine's, else the bundled one), this machine's by name, the bundled one last."""
    bundled = await asyncio.to_thread(bundled_font)
    named = {**dict.fromkeys(_BUNDLED_NAMES, bundled), **await machine_faces()}
    return FontBook(await _default_face(configured, bundled), named, fallbacks=[bundled])


async def _default_face(configured: Path | None, bundled: FaceChoice) -> FaceChoice:
    if configured:
        if not configured.is_file():
            raise EnvironmentProblem(f"配置的字体文件不存在: {configured}")
        return FaceChoice(configured, await asyncio.to_thread(simplified_chinese_face, configured))
    listed = [line.strip().rstrip(":").strip() for line in await _fontconfig("fc-list", ":lang=zh", "file")]
    # Regular sans faces first: captions are usually set in them.
    listed.sort(key=lambda f: ("sans" not in f.lower(), "bold" in f.lower(), f))
    if chinese := _first_file((*listed, *_CHINESE_FONT_FILES)):
        return FaceChoice(chinese, await asyncio.to_thread(simplified_chinese_face, chinese))
    return bundled


async def machine_faces() -> dict[str, FaceChoice]:
    """This machine's faces by file stem and by family name (lower case): a family's regular
    face where it has one, else its face with the shortest style name."""
    ranked: dict[str, tuple[tuple, FaceChoice]] = {}
    for line in await _fontconfig("fc-list", "--format", "%{family}\t%{style}\t%{file}\t%{index}\n"):
        families, styles, file, index = (line.split("\t") + ["", "", "", ""])[:4]
        if not file.strip():
            continue
        face = FaceChoice(Path(file.strip()), int(index) if index.strip().isdigit() else 0)
        style_names = [style.strip().lower() for style in styles.split(",")]
        rank = (not _REGULAR_STYLES & set(style_names), min(len(style) for style in style_names), file)
        for name in [face.path.stem, *families.split(",")]:
            key = name.strip().lower()
            if key and (key not in ranked or rank < ranked[key][0]):
                ranked[key] = (rank, face)
    return {name: face for name, (_rank, face) in ranked.items()}


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
    """What fontconfig lists, a line each; nothing where fontconfig is not installed."""
    if not shutil.which(command[0]):
        return ()
    try:
        output = await _output(*command)
    except EnvironmentProblem:
        return ()
    return tuple(line for line in output.splitlines() if line.strip())


def _first_file(candidates: tuple[str, ...]) -> Path | None:
    return next((Path(c) for c in candidates if Path(c).is_file()), None)
