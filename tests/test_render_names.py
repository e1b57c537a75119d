"""Names and looks the renderer draws: cool and warm looks move the whole picture's colour
temperature."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

import pytest

from capcut_mate.agent.exporters import ExporterOptions, ExportJob, load_exporter
from capcut_mate.render.draft import parse_draft
from capcut_mate.render.draft.segments import AudioSegment, VisualSegment
from capcut_mate.render.media import MediaFile
from capcut_mate.render.timeline import build_timeline
from support.drafts import DraftBuilder, drawn_photo
from support.videos import frame_at

W, H = 320, 180


def timeline_of(draft: DraftBuilder):
    """The draft's timeline, with every material a 320x180 file of 10 s that has sound."""
    draft.write()
    parsed = parse_draft((draft.folder / "draft_content.json").read_bytes())
    media = {s.material.id: MediaFile(Path("/media") / s.material.id, has_video=True, has_audio=True, width=W,
                                      height=H, duration=10.0)
             for s in parsed.segments(VisualSegment) + parsed.segments(AudioSegment)}
    return build_timeline(parsed, media)


def export(draft: DraftBuilder, work: Path) -> tuple[Path, list[str]]:
    """The draft rendered by the ffmpeg exporter: the video, and the job's messages."""
    draft.write()
    work.mkdir(parents=True)
    messages: list[str] = []

    async def progress(value: int, stage: str | None = None, message: str | None = None) -> None:
        if message:
            messages.append(message)

    job = ExportJob(1, 1, draft.folder.as_uri(), draft.draft_id, work, work / "output.mp4")
    result = asyncio.run(load_exporter("ffmpeg", ExporterOptions(allow_local_drafts=True))(job, progress))
    return result.video_path, messages


@functools.cache
def _frame(video: Path, seconds: float):
    return frame_at(video, seconds)


# --- Cool and warm looks --------------------------------------------------------------------------

PATCHES = {"black": (40, 90), "grey": (160, 90), "white": (280, 90)}  # centres of three 100-pixel-wide patches


@pytest.fixture(scope="module")
def looks(tmp_path_factory) -> Path:
    """Black, grey and white patches; 冷蓝 over 0–1 s, 暖黄 over 1–2 s, nothing over 2–3 s."""
    root = tmp_path_factory.mktemp("looks")
    draft = DraftBuilder(root / "looks")
    patches = drawn_photo(draft.asset("assets/patches.png"), "0x000000", (W, H),
                          [(107, 0, 106, H, "0x808080"), (213, 0, 107, H, "0xffffff")])
    draft.video(draft.track("video"), patches, start=0, duration=3)
    filters = draft.track("filter")
    draft.filter(filters, "冷蓝", start=0, duration=1)
    draft.filter(filters, "暖黄", start=1, duration=1)
    return export(draft, root / "work")[0]


def test_cool_and_warm_looks_move_grey_and_white_leaving_black_black(looks):
    plain = {name: _frame(looks, 2.5).pixel(*xy) for name, xy in PATCHES.items()}
    assert max(plain["black"]) < 20 and min(plain["white"]) > 235, plain
    for seconds, look in ((0.5, "cool"), (1.5, "warm")):
        for name, xy in PATCHES.items():
            r, g, b = _frame(looks, seconds).pixel(*xy)
            if name == "black":
                assert max(r, g, b) < 30 and abs(r - b) < 15, f"{look} {name}: {(r, g, b)}, black tinted"
            elif look == "cool":
                assert b - r > 25 and b >= g >= r, f"{look} {name}: {(r, g, b)}, not bluer"
            else:
                assert r - b > 25 and r >= g >= b, f"{look} {name}: {(r, g, b)}, not warmer"
