"""What the renderer names, and how it draws some of it: the history's notes name what is
left out as the draft names it (bounded in length however many names a draft has); unknown
loop animations are a gentle fade pulse, named; cool and warm looks move the whole
picture's colour temperature."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

import pytest

from capcut_mate.agent.exporters import ExporterOptions, ExportJob, load_exporter
from capcut_mate.protocol.agent import MAX_MESSAGE_LENGTH, storable_text
from capcut_mate.render.draft import parse_draft
from capcut_mate.render.draft.segments import AudioSegment, VisualSegment
from capcut_mate.render.media import MediaFile
from capcut_mate.render.timeline import build_timeline
from capcut_mate.render.timeline.animations import PULSE_ALPHA
from capcut_mate.render.timeline.features import MAX_WARNING_LENGTH, Notes
from capcut_mate.render.timeline.layers import TextLayer, VisualLayer
from support.drafts import DraftBuilder, drawn_photo, photo, tone
from support.processes import command_env, run_command
from support.text_drafts import caption, text_animation
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


# --- Names in the notes ---------------------------------------------------------------------------


def test_what_is_left_out_is_named_as_the_draft_names_it(tmp_path):
    """The issue's draft: an unknown filter 梦幻 (on two clips), the loop 心跳 and a sticker;
    and a sound with the audio effect 回音."""
    draft = DraftBuilder(tmp_path / "named")
    track = draft.track("video")
    clips = [draft.video(track, photo(draft.asset(f"assets/{n}.png"), "0xff0000"), start=n, duration=1)
             for n in range(2)]
    for clip in clips:
        draft.material("effects", {"type": "filter", "name": "梦幻", "value": 1.0}, used_by=clip)
    draft.animation(clips[0], "心跳", "loop", 0, 0.5)
    draft.sticker(draft.track("sticker"), "7521200021564427545", start=0, duration=1)
    sound = draft.audio(draft.track("audio"), tone(draft.asset("assets/tone.m4a"), 440, 1), start=0, duration=1)
    draft.material("audio_effects", {"type": "audio_effect", "name": "回音", "resource_id": "7018011608408396325"},
                   used_by=sound)
    assert timeline_of(draft).warnings == (
        "未渲染: 音频特效 回音 (audio effects), 滤镜 梦幻 ×2 (filters), 贴纸 7521200021564427545 (stickers)",
        "近似: 动画 心跳 (animations)",
    )


def test_things_without_a_name_are_counted_and_names_are_cut_to_length():
    notes = Notes()
    notes.leave_out("adjust")
    notes.leave_out("adjust")
    notes.leave_out("transitions", "魔法")
    notes.leave_out("transitions")
    notes.leave_out("stickers", "贴" * 100)
    assert notes.warnings() == [
        f"未渲染: 调节 ×2 (adjustments), 贴纸 {'贴' * 39}… (stickers), 转场 ?、魔法 (transitions)"]


def test_hundreds_of_names_make_lines_of_bounded_length_that_name_every_kind():
    notes = Notes()
    for n in range(500):
        notes.leave_out("filter", f"滤镜{n:03}")
        notes.leave_out("stickers", str(7521200021564427545 + n))
        notes.approximate("animations", f"动画{n:03}")
    notes.leave_out("filter", "滤镜000")
    notes.leave_out("adjust")
    unrendered, approximated = notes.warnings()
    assert len(unrendered) <= MAX_WARNING_LENGTH and len(approximated) <= MAX_WARNING_LENGTH
    assert len(unrendered) > MAX_WARNING_LENGTH * 0.8, "the room there is, is used"
    assert unrendered.startswith("未渲染: 调节 ×1 (adjustments), 滤镜 滤镜000 ×2、滤镜001、"), unrendered
    assert "等 500 种 (filters)" in unrendered and "等 500 种 (stickers)" in unrendered, unrendered
    assert unrendered.count("、") > 20, "each kind lists the names that fit"
    assert approximated.startswith("近似: 动画 动画000、") and approximated.endswith("等 500 种 (animations)")


def test_the_job_and_the_render_command_report_the_whole_bounded_line(tmp_path):
    """300 unknown filters and 300 stickers: the job's message and `capcut-mate render`'s
    output carry the same line, short enough that the service stores it uncut."""
    draft = DraftBuilder(tmp_path / "many")
    draft.video(draft.track("video"), photo(draft.asset("assets/red.png"), "0xff0000"), start=0, duration=1)
    filters, stickers = draft.track("filter"), draft.track("sticker")
    for n in range(300):
        draft.filter(filters, f"未知滤镜{n}", start=0, duration=1)
        draft.sticker(stickers, f"75212000215644{n:05}", start=0, duration=1)
    _, messages = export(draft, tmp_path / "work")
    [line] = [m for m in messages if m.startswith("warning: 未渲染: ")]
    assert len(line) <= MAX_MESSAGE_LENGTH and storable_text(line, MAX_MESSAGE_LENGTH) == line
    assert "未知滤镜0、" in line and line.endswith("等 300 种 (stickers)"), line

    result = run_command("render", str(draft.folder), "-o", str(tmp_path / "out.mp4"), env=command_env())
    assert result.returncode == 0, result.stderr
    assert line in result.stderr.splitlines(), result.stderr


# --- Unknown loops --------------------------------------------------------------------------------


def test_an_unknown_loop_is_a_fade_pulse_each_cycle_until_the_out_animation(tmp_path):
    """心跳 from 0 s, 0.4 s a cycle, on a photo of 0–2 s with a 渐隐 out from 1.6 s: alpha
    1 → PULSE_ALPHA → 1 every 0.4 s, four cycles; a group plays once over its duration."""
    draft = DraftBuilder(tmp_path / "loops")
    track = draft.track("video")
    beating = draft.video(track, photo(draft.asset("assets/red.png"), "0xff0000"), start=0, duration=2)
    draft.animation(beating, "心跳", "loop", 0, 0.4)
    draft.animation(beating, "渐隐", "out", 1.6, 0.4)
    grouped = draft.video(track, photo(draft.asset("assets/green.png"), "0x00ff00"), start=2, duration=2)
    draft.animation(grouped, "旋转降落", "group", 0, 2.0)
    timeline = timeline_of(draft)
    first, second = [layer for layer in timeline.layers if isinstance(layer, VisualLayer)]
    for cycle in range(4):
        t = cycle * 0.4
        assert first.alpha.at(t) == pytest.approx(1.0) and first.alpha.at(t + 0.2) == pytest.approx(PULSE_ALPHA)
    assert first.alpha.at(1.6) == pytest.approx(1.0), "no cycle past the out animation's start"
    assert first.alpha.at(1.8) == pytest.approx(0.5), "the out animation alone: halfway through its fade"
    assert [second.alpha.at(t) for t in (2.0, 3.0, 3.999)] == pytest.approx([1.0, PULSE_ALPHA, 1.0], abs=0.01)
    assert timeline.warnings == ("近似: 动画 心跳、旋转降落 (animations)",)


def test_an_unknown_text_loop_is_a_fade_pulse_named_as_approximated(tmp_path):
    draft = DraftBuilder(tmp_path / "blink")
    blinking = caption(draft, draft.track("text"), "闪烁", start=0, duration=2)
    text_animation(draft, blinking, "闪烁", "loop", 0, 1.0)
    timeline = timeline_of(draft)
    [text] = [layer for layer in timeline.layers if isinstance(layer, TextLayer)]
    assert [text.alpha.at(t) for t in (0.0, 0.5, 1.0, 1.5)] == pytest.approx([1.0, PULSE_ALPHA, 1.0, PULSE_ALPHA])
    assert timeline.warnings == ("近似: 文字动画 闪烁 (text animations)",)


def test_a_pulsing_clip_shows_what_is_below_halfway_through_a_cycle(tmp_path):
    """A red photo over blue, pulsing with 心跳 (1 s a cycle): at 0.5 s it is PULSE_ALPHA red."""
    draft = DraftBuilder(tmp_path / "pulse")
    draft.video(draft.track("video"), photo(draft.asset("assets/blue.png"), "0x0000ff"), start=0, duration=1)
    red = draft.video(draft.track("video"), photo(draft.asset("assets/red.png"), "0xff0000"), start=0, duration=1)
    draft.animation(red, "心跳", "loop", 0, 1.0)
    video, _ = export(draft, tmp_path / "work")
    r, _, b = _frame(video, 0.5).pixel(160, 90)
    assert abs(r - 255 * PULSE_ALPHA) < 25 and abs(b - 255 * (1 - PULSE_ALPHA)) < 25, (r, b)
    assert _frame(video, 0.02).pixel(160, 90)[2] < 30, "the cycle starts with the clip whole"


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
