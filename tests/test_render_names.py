"""What the renderer names, and three things it now draws: the history's notes name what is
left out as the draft names it (bounded in length however many names a draft has); unknown
loop animations are a gentle fade pulse, named; 打字机 shows whole characters one at a time,
line by line; cool and warm looks move the whole picture's colour temperature."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

import pytest
from PIL import Image

from capcut_mate.agent.exporters import ExporterOptions, ExportJob, load_exporter
from capcut_mate.protocol.agent import MAX_MESSAGE_LENGTH, storable_text
from capcut_mate.render.draft import parse_draft
from capcut_mate.render.draft.segments import AudioSegment, VisualSegment
from capcut_mate.render.environment import bundled_font
from capcut_mate.render.media import MediaFile
from capcut_mate.render.text.fonts import FontBook
from capcut_mate.render.text.raster import TextRaster
from capcut_mate.render.timeline import build_timeline
from capcut_mate.render.timeline.animations import PULSE_ALPHA
from capcut_mate.render.timeline.features import MAX_WARNING_LENGTH, Notes
from capcut_mate.render.timeline.layers import TextLayer, VisualLayer
from support.drafts import DraftBuilder, drawn_photo, photo, tone
from support.processes import command_env, run_command
from support.text_drafts import bands, box_of, caption, points, text_animation
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


# --- 打字机 ---------------------------------------------------------------------------------------

TYPED = "右对齐\n第二行更长些"  # right-aligned: the lines' right edges line up
TYPED_STEPS = len(TYPED) - 1  # every character but the line break is a step
TYPING = (0.0, 1.8)  # 打字机 from, to: a step every 0.2 s


@pytest.fixture(scope="module")
def typed(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("typewriter")
    draft = DraftBuilder(root / "typed", width=640, height=360)
    draft.video(draft.track("video"), photo(draft.asset("assets/navy.png"), "0x102040", (640, 360)),
                start=0, duration=2.2)
    words = caption(draft, draft.track("text"), TYPED, start=0, duration=2.2, alignment=2)
    text_animation(draft, words, "打字机", "in", TYPING[0], TYPING[1] - TYPING[0])
    video, messages = export(draft, root / "work")
    assert not [m for m in messages if m.startswith("warning:")], "plain 打字机 is drawn as it is"
    return video


def _characters(video: Path, seconds: float) -> list[list[tuple[int, int]]]:
    """The white ink at `seconds`, line by line (top to bottom), each line's ink split into
    characters by the columns between them."""
    ink = points(_frame(video, seconds), lambda p: min(p) > 150)
    return [[box for box in bands(line, axis=0, gap=3)] for line in bands(ink, axis=1, gap=4)]


def test_the_typewriter_shows_whole_characters_one_at_a_time_line_by_line(typed):
    whole = _characters(typed, 2.1)
    assert [len(line) for line in whole] == [3, 6], "the fixture's two lines, as split here"
    boxes = [box_of(character) for line in whole for character in line]
    sizes = [len(character) for line in whole for character in line]
    step = (TYPING[1] - TYPING[0]) / TYPED_STEPS
    for shown in range(TYPED_STEPS + 1):
        t = TYPING[0] + (shown + 0.5) * step if shown < TYPED_STEPS else 2.1
        ink = set(points(_frame(typed, t), lambda p: min(p) > 150))
        seen = [len([p for p in ink if box.left <= p[0] <= box.right and box.top <= p[1] <= box.bottom])
                for box in boxes]
        expected = min(shown, TYPED_STEPS)
        full = [n >= 0.9 * size for n, size in zip(seen, sizes)]
        empty = [n == 0 for n in seen]
        assert full == [i < expected for i in range(len(boxes))], f"{t:.2f} s: {seen} of {sizes}"
        assert all(f or e for f, e in zip(full, empty)), f"{t:.2f} s: a character half drawn: {seen} of {sizes}"
    assert not points(_frame(typed, 0.05), lambda p: min(p) > 150), "nothing before the first step"


def test_the_order_picture_numbers_characters_in_reading_order(tmp_path):
    """A centred two-line caption: the second line's numbers follow the first's, left to
    right, each character's cell one number."""
    draft = DraftBuilder(tmp_path / "order")
    caption(draft, draft.track("text"), "一二\n三四五", start=0, duration=1)
    draft.write()
    parsed = parse_draft((draft.folder / "draft_content.json").read_bytes())
    [segment] = [s for track in parsed.tracks for s in track.segments]
    raster = TextRaster(W, H, FontBook(bundled_font(), {}))
    image = raster.draw(segment.material, tmp_path / "text.png", order=tmp_path / "order.png")
    assert image.order == tmp_path / "order.png" and image.steps == 5
    numbers = Image.open(image.order).getchannel("A")
    assert numbers.size == (image.width, image.height)
    top, bottom = image.height // 4, image.height * 3 // 4
    row = lambda y: [numbers.getpixel((x, y)) for x in range(image.width)]  # noqa: E731
    assert _runs(row(top)) == [1, 2] and _runs(row(bottom)) == [3, 4, 5]
    assert {n for n, count in enumerate(numbers.histogram()) if count} == {1, 2, 3, 4, 5}


def test_a_typewriter_off_the_frame_grid_still_shows_its_last_character(tmp_path):
    """Captions timed to speech start between frames: a 10-character caption from 0.51 s,
    typed over 0.5 s, is as wide once typing is over as the same caption untyped below it."""
    draft = DraftBuilder(tmp_path / "off-grid", width=640, height=360)
    draft.video(draft.track("video"), photo(draft.asset("assets/navy.png"), "0x102040", (640, 360)),
                start=0, duration=2.5)
    words = caption(draft, draft.track("text"), "一二三四五六七八九十", start=0.51, duration=1.99, y=0.3)
    text_animation(draft, words, "打字机", "in", 0, 0.5)
    caption(draft, draft.track("text"), "一二三四五六七八九十", start=0.51, duration=1.99, y=-0.3)
    video, _ = export(draft, tmp_path / "work")
    typed, plain = (box_of(line) for line in bands(points(_frame(video, 2.2), lambda p: min(p) > 150), axis=1, gap=4))
    assert abs(typed.right - plain.right) <= 1 and abs(typed.left - plain.left) <= 1, (typed, plain)


def test_with_negative_letter_spacing_the_reveal_keeps_reading_order(tmp_path):
    """"il.i一二" squeezed by the tightest spacing a draft may ask (−0.5 font sizes): the
    numbers along a row never go down, so no character appears before one it follows."""
    draft = DraftBuilder(tmp_path / "tight")
    caption(draft, draft.track("text"), "il.i一二", start=0, duration=1, letter_spacing=-0.5)
    draft.write()
    parsed = parse_draft((draft.folder / "draft_content.json").read_bytes())
    [segment] = [s for track in parsed.tracks for s in track.segments]
    image = TextRaster(W, H, FontBook(bundled_font(), {})).draw(segment.material, tmp_path / "text.png",
                                                                 order=tmp_path / "order.png")
    numbers = Image.open(image.order).getchannel("A")
    runs = _runs([numbers.getpixel((x, image.height // 2)) for x in range(image.width)])
    assert runs == sorted(runs) and runs[-1] == 6, runs


def _runs(values: list[int]) -> list[int]:
    return [v for n, v in enumerate(values) if n == 0 or values[n - 1] != v]


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
