"""The reference drafts upstream capcut-mate built (../shared/drafts, README.md there) render
through the exporter, and none of the features the renderer computes is reported as left out.

They are 4–36 s at 1080p; at that size the twenty take minutes. The draft's geometry is all
relative to the canvas (positions in half canvas sizes, scales of the fitted size, text sizes
of the short side), so each is rendered from a copy whose canvas is SHRINK times smaller:
the same layers, transitions, masks and warnings, a fraction of the pixels. Two at a time.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from capcut_mate.agent.exporters import ExporterOptions, ExportFailed, ExportJob, load_exporter
from support.videos import video_info

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
    kinds = {part.split(" ")[0] for line in unrendered for part in line.split(", ")}  # "滤镜 梦幻 (filters)"
    assert not kinds & COMPUTED, f"{name}: {unrendered}"
