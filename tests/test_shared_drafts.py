"""The reference drafts upstream capcut-mate built (../shared/drafts, README.md there) render
through the exporter, and none of the features the renderer computes is reported as left out.

They are 4–36 s at 1080p; at that size the twenty take minutes. The draft's geometry is all
relative to the canvas (positions in half canvas sizes, scales of the fitted size, text sizes
of the short side), so each is rendered from a copy whose canvas is SHRINK times smaller:
the same layers, transitions, masks and warnings, a fraction of the pixels. Two at a time.

A few of them are also looked at where the README there says what they show (probes at
fractions of the canvas, so they hold at any SHRINK).
"""

from __future__ import annotations

import asyncio
import functools
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from capcut_mate.agent.exporters import ExporterOptions, ExportFailed, ExportJob, load_exporter
from support.videos import Frame, frame_at, looks_like, video_info

SHARED = Path(__file__).resolve().parents[2] / "shared" / "drafts"
if not SHARED.is_dir():
    pytest.skip(f"no shared reference drafts at {SHARED}", allow_module_level=True)

DRAFTS = sorted(p.name for p in SHARED.iterdir() if (p / "draft_content.json").is_file())
SHRINK = 8
AT_ONCE = 2
# What the renderer computes: none of it may be reported as not rendered (`未渲染: …`).
COMPUTED = {"转场", "关键帧", "动画", "蒙版", "背景填充", "裁剪", "倒放", "滤镜", "特效"}


@dataclass(frozen=True)
class Outcome:
    video: Path | None
    failure: str | None
    warnings: list[str]
    duration: float  # the draft's, seconds
    canvas: tuple[int, int]  # the copy's


def shrunk_copy(name: str, into: Path) -> tuple[Path, float, tuple[int, int]]:
    """The draft folder copied, its canvas SHRINK times smaller (even sides)."""
    folder = into / name
    shutil.copytree(SHARED / name, folder)
    canvas = (0, 0)
    duration = 0.0
    for file_name in ("draft_content.json", "draft_info.json"):
        path = folder / file_name
        if not path.is_file():
            continue
        content = json.loads(path.read_text(encoding="utf-8"))
        config = content["canvas_config"]
        canvas = tuple(max(16, round(config[side] / SHRINK / 2) * 2) for side in ("width", "height"))
        config["width"], config["height"] = canvas
        duration = content.get("duration", 0) / 1e6
        path.write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")
    return folder, duration, canvas


async def export(name: str, root: Path, slots: asyncio.Semaphore) -> Outcome:
    async with slots:
        folder, duration, canvas = shrunk_copy(name, root / "drafts")
        work = root / "work" / name
        work.mkdir(parents=True)
        messages: list[str] = []

        async def progress(value: int, stage: str | None = None, message: str | None = None) -> None:
            if message:
                messages.append(message)

        job = ExportJob(1, 1, folder.as_uri(), name, work, work / "output.mp4")
        video, failure = None, None
        try:
            video = (await load_exporter("ffmpeg", ExporterOptions(allow_local_drafts=True))(job, progress)).video_path
        except ExportFailed as failed:
            failure = failed.message
        warnings = [m.removeprefix("warning: ") for m in messages if m.startswith("warning: ")]
        return Outcome(video, failure, warnings, duration, canvas)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, Outcome]:
    root = tmp_path_factory.mktemp("shared")

    async def all_of_them() -> list[Outcome]:
        slots = asyncio.Semaphore(AT_ONCE)
        return await asyncio.gather(*(export(name, root, slots) for name in DRAFTS))

    return dict(zip(DRAFTS, asyncio.run(all_of_them())))


def test_the_shared_drafts_are_there():
    assert len(DRAFTS) >= 20, DRAFTS


@pytest.mark.parametrize("name", DRAFTS)
def test_a_reference_draft_renders_to_its_length(outcomes, name):
    outcome = outcomes[name]
    assert outcome.failure is None, f"{name}: the job failed: {outcome.failure}"
    info = video_info(outcome.video)
    assert (info.width, info.height) == outcome.canvas
    assert abs(info.duration - outcome.duration) < 0.2, f"{name}: {info.duration} s, the draft is {outcome.duration} s"


@pytest.mark.parametrize("name", DRAFTS)
def test_nothing_the_renderer_computes_is_left_out(outcomes, name):
    unrendered = [w.removeprefix("未渲染: ") for w in outcomes[name].warnings if w.startswith("未渲染: ")]
    # Each part is a kind, then a count or names: "贴纸 ×1 (stickers)", "音频特效 回音 (audio effects)".
    kinds = {part.split(" ")[0] for line in unrendered for part in line.split(", ")}
    assert not kinds & COMPUTED, f"{name}: {unrendered}"


# --- What some of them look like (../shared/drafts/README.md) ----------------------------------------

Colour = tuple[int, int, int]
BLACK, WHITE = (0, 0, 0), (255, 255, 255)
CARD_PURPLE, CARD_YELLOW = (120, 59, 205), (250, 211, 0)  # kf_zoom's grid card and its top-right cell
SLATE, CORAL = (28, 38, 56), (254, 87, 75)  # mask_shapes' background and square


@functools.cache
def _frame(video: Path, seconds: float) -> Frame:
    return frame_at(video, seconds)


def at(outcomes: dict[str, Outcome], name: str, seconds: float, fx: float, fy: float) -> Colour:
    """The colour at fractions (fx, fy) of the canvas, at `seconds`, in the render of `name`."""
    outcome = outcomes[name]
    assert outcome.failure is None, outcome.failure
    width, height = outcome.canvas
    return _frame(outcome.video, seconds).pixel(min(round(fx * width), width - 1), min(round(fy * height), height - 1))


def assert_looks(outcomes: dict[str, Outcome], name: str, probes: list[tuple[float, float, float, Colour, str]],
                 tolerance: int = 40) -> None:
    """Every (time, fx, fy, colour, why); all failures at once."""
    wrong = [f"{why}: at {t} s ({fx}, {fy}) is {at(outcomes, name, t, fx, fy)}, expected about {colour}"
             for t, fx, fy, colour, why in probes if not looks_like(at(outcomes, name, t, fx, fy), colour, tolerance)]
    assert not wrong, f"{name}:\n" + "\n".join(wrong)


def test_kf_zoom_is_the_size_its_keyframes_say(outcomes):
    # The 9:16 card fills the 9:16 canvas at scale 1. At 1.25 s it is 1.25×: its yellow corner
    # cell (the card's x 0.875..1, y 0..0.125) is at the canvas's x 0.97..1.1, y -0.125..0.03.
    # At 3.75 s it is 0.8×: x and y 0.1..0.9 of the canvas, the cell at x 0.8..0.9, y 0.1..0.2.
    assert_looks(outcomes, "kf_zoom", [
        (1.25, 0.92, 0.06, CARD_PURPLE, "the zoomed card's corner cell is pushed past the canvas's corner"),
        (1.25, 0.995, 0.01, CARD_YELLOW, "only its edge shows in the corner"),
        (3.75, 0.05, 0.45, BLACK, "left of the shrunk card"),
        (3.75, 0.15, 0.45, CARD_PURPLE, "just inside its left edge"),
        (3.75, 0.5, 0.05, BLACK, "above it"),
        (3.75, 0.85, 0.15, CARD_YELLOW, "its corner cell moved in with it"),
    ])


def test_trans_video_blends_wipes_pushes_and_dips_at_its_cuts(outcomes):
    # Each clip is one colour (a white bar grows along the bottom, the number is in the middle);
    # the colours are taken where each clip shows alone.
    red, green = at(outcomes, "trans_video", 1.0, 0.125, 0.3), at(outcomes, "trans_video", 3.5, 0.125, 0.3)
    blue, amber = at(outcomes, "trans_video", 6.25, 0.125, 0.15), at(outcomes, "trans_video", 8.75, 0.75, 0.11)
    half = tuple(round((a + b) / 2) for a, b in zip(red, green))
    assert_looks(outcomes, "trans_video", [
        (2.5, 0.125, 0.3, half, "叠化 0.8 s: half red, half green at the cut"),
        (5.0, 0.125, 0.15, blue, "向下擦除 0.6 s: at the cut the next clip shows in the top half"),
        (5.0, 0.125, 0.74, green, "the earlier one in the bottom half"),
        (7.5, 0.25, 0.11, blue, "向左 0.5 s: at the cut the earlier clip is pushed into the left half"),
        (7.5, 0.75, 0.11, amber, "the next one has come into the right half"),
        (10.0, 0.5, 0.45, WHITE, "闪白 1 s: white at the cut"),
    ], tolerance=25)


def test_mask_shapes_keep_the_square_only_where_each_mask_does(outcomes):
    # The 1:1 square spans the 9:16 canvas's width, centred: (sx, sy) of it is canvas (sx, 0.22 + 0.56 sy).
    def square(t: float, sx: float, sy: float, colour: Colour, why: str):
        return t, sx, (1 - 9 / 16) / 2 + sy * 9 / 16, colour, why

    assert_looks(outcomes, "mask_shapes", [
        square(0.75, 0.07, 0.06, CORAL, "线性 keeps the top-left corner, above its line"),
        square(0.75, 0.07, 0.94, SLATE, "and cuts the bottom-left one"),
        square(2.25, 0.43, 0.2, CORAL, "镜面 keeps its upright band"),
        square(2.25, 0.03, 0.03, SLATE, "and cuts the corners"),
        square(2.25, 0.97, 0.97, SLATE, "both of them"),
        square(3.75, 0.32, 0.36, CORAL, "圆形: the circle up and left of the centre"),
        square(3.75, 0.97, 0.97, SLATE, "and nothing of the corners"),
        square(5.25, 0.4, 0.39, CORAL, "矩形: the rectangle about the centre"),
        square(5.25, 0.03, 0.03, SLATE, "and nothing of the corners"),
        square(6.75, 0.03, 0.03, CORAL, "爱心, inverted: the corners are kept"),
        square(6.75, 0.42, 0.45, SLATE, "and the heart cut out of the middle"),
        square(6.75, 0.345, 0.695, CORAL, "but not beside its point (an inverted circle cuts there)"),
        square(8.25, 0.59, 0.35, CORAL, "星形: the star right of the centre"),
        square(8.25, 0.5925, 0.69, SLATE, "not the notch between its lower points (a circle keeps it)"),
        square(8.25, 0.97, 0.97, SLATE, "and nothing of the corners"),
    ])
