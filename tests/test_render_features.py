"""Draft features rendered by the ffmpeg exporter, each checked where a user would look.

One small draft per feature (320x180 or a few segments, 1–3 s), built in the encoding
upstream capcut-mate writes (../shared/spec/DRAFT_FEATURES.md), rendered once per module
through the real exporter from a file:// folder, and probed at known times. Every check
names a pixel where the feature puts a colour that the unfeatured draft would not have there,
or a stretch of the soundtrack and how loud (RMS) the feature makes it.

The conventions checked: positions and mask centres are +y up, rotations clockwise;
transitions are centred on the cut and span their duration; ins ease out, outs ease in;
a mask's geometry is relative to its material.
"""

from __future__ import annotations

import asyncio
import functools
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from capcut_mate.agent.exporters import ExporterOptions, ExportJob, load_exporter
from support.drafts import DraftBuilder, colour_clip, drawn_photo, photo, tone
from support.text_drafts import audio_effect, volume_db, volume_keyframes
from support.videos import BLUE, CYAN, GREEN, MAGENTA, RED, YELLOW, frame_at, looks_like

W, H = 320, 180
BLACK, WHITE = (0, 0, 0), (255, 255, 255)
Colour = tuple[int, int, int]


def _square(draft: DraftBuilder, name: str, colour: str) -> Path:
    """A 180x180 photo: fitted to the 320x180 canvas it is 180x180 at x 70..250."""
    return photo(draft.asset(f"assets/{name}.png"), colour, size=(180, 180))


def _full(draft: DraftBuilder, name: str, colour: str) -> Path:
    return photo(draft.asset(f"assets/{name}.png"), colour)


def _banded(draft: DraftBuilder, name: str, colour: str, edge: str) -> Path:
    """A canvas-filling photo of one colour with a yellow 20 px band along one edge, to see it move."""
    band = {"left": (0, 0, 20, H), "right": (W - 20, 0, 20, H), "top": (0, 0, W, 20), "bottom": (0, H - 20, W, 20)}
    return drawn_photo(draft.asset(f"assets/{name}-{edge}.png"), colour, (W, H), [(*band[edge], "0xffff00")])


def _split(draft: DraftBuilder) -> Path:
    """Red on the left half, green on the right: a sharp edge at x 160."""
    return drawn_photo(draft.asset("assets/split.png"), "0xff0000", (W, H), [(160, 0, 160, H, "0x00ff00")])


def _sequence(draft: DraftBuilder, photos: list[Path], transitions: list[str]) -> None:
    """Photos 1.5 s each, back to back (cuts at 1.5, 3, 4.5 …); transition n, 1 s, on photo n."""
    track = draft.track("video")
    segments = [draft.video(track, picture, start=n * 1.5, duration=1.5) for n, picture in enumerate(photos)]
    for segment, name in zip(segments, transitions):
        draft.transition(segment, name, 1.0)


# --- The fixture drafts ---------------------------------------------------------------------------


def zoom_keyframes(draft: DraftBuilder) -> None:
    """A red photo filling the canvas, UNIFORM_SCALE 1.0 (0 s) → 0.5 (2 s)."""
    segment = draft.video(draft.track("video"), _full(draft, "red", "0xff0000"), start=0, duration=2)
    draft.keyframes(segment, "UNIFORM_SCALE", [(0, 1.0), (2, 0.5)])


def stretch_keyframes(draft: DraftBuilder) -> None:
    """KFTypeScaleX 1.0 → 0.5 over 2 s, KFTypeScaleY 0.5 all along."""
    segment = draft.video(draft.track("video"), _full(draft, "red", "0xff0000"), start=0, duration=2)
    draft.keyframes(segment, "KFTypeScaleX", [(0, 1.0), (2, 0.5)])
    draft.keyframes(segment, "KFTypeScaleY", [(0, 0.5), (2, 0.5)])


def move_keyframes(draft: DraftBuilder) -> None:
    """A green photo at scale 0.25 (80x45) moving from (-0.5, 0.5) to (0.5, -0.5) over 2 s."""
    segment = draft.video(draft.track("video"), _full(draft, "green", "0x00ff00"), start=0, duration=2, scale=0.25)
    draft.keyframes(segment, "KFTypePositionX", [(0, -0.5), (2, 0.5)])
    draft.keyframes(segment, "KFTypePositionY", [(0, 0.5), (2, -0.5)])


def rotation_keyframes(draft: DraftBuilder) -> None:
    """A blue 180x180 square with a red 40x40 marker in its top-left corner, turning 0 → 90° over
    0–1 s and holding 90° to 2 s."""
    square = drawn_photo(draft.asset("assets/marked.png"), "0x0000ff", (180, 180), [(0, 0, 40, 40, "0xff0000")])
    segment = draft.video(draft.track("video"), square, start=0, duration=2)
    draft.keyframes(segment, "KFTypeRotation", [(0, 0.0), (1, 90.0)])


def bezier_keyframes(draft: DraftBuilder) -> None:
    """The green 80x45 photo moving x -0.5 → 0.5 over 2 s, eased out with the handles JianYing's
    editor writes for 缓出 (the first keyframe's right handle 0.32 of the interval on and 0.94 of
    the change up, the last one's left handle 0.4 of the interval back, level)."""
    segment = draft.video(draft.track("video"), _full(draft, "green", "0x00ff00"), start=0, duration=2, scale=0.25)
    draft.keyframes(segment, "KFTypePositionX", [(0, -0.5, (0.0, 0.0), (0.64, 0.94)),
                                                 (2, 0.5, (-0.8, 0.0), (0.0, 0.0))])


def alpha_keyframes(draft: DraftBuilder) -> None:
    """A red photo over a blue one, KFTypeAlpha 1 → 0 over 2 s."""
    draft.video(draft.track("video"), _full(draft, "blue", "0x0000ff"), start=0, duration=2)
    segment = draft.video(draft.track("video"), _full(draft, "red", "0xff0000"), start=0, duration=2)
    draft.keyframes(segment, "KFTypeAlpha", [(0, 1.0), (2, 0.0)])


def _red_then_green(draft: DraftBuilder, name: str, duration: float) -> None:
    """Two videos, red 0–1.5 s then green 1.5–3 s (files 2 s long), the transition on the red."""
    track = draft.track("video")
    red = colour_clip(draft.asset("assets/red.mp4"), [("0xff0000", 2)], fps=30)
    green = colour_clip(draft.asset("assets/green.mp4"), [("0x00ff00", 2)], fps=30)
    first = draft.video(track, red, start=0, duration=1.5)
    draft.video(track, green, start=1.5, duration=1.5)
    draft.transition(first, name, duration)


def dissolve(draft: DraftBuilder) -> None:
    _red_then_green(draft, "叠化", 1.0)


def wipe_down(draft: DraftBuilder) -> None:
    _red_then_green(draft, "向下擦除", 1.0)


def dip_to_white(draft: DraftBuilder) -> None:
    _red_then_green(draft, "闪白", 1.0)


def push_left(draft: DraftBuilder) -> None:
    """Photos: red with a yellow band at its right edge (x 300..320), then green; 向左 1 s."""
    track = draft.track("video")
    red = drawn_photo(draft.asset("assets/red.png"), "0xff0000", (W, H), [(300, 0, 20, H, "0xffff00")])
    first = draft.video(track, red, start=0, duration=1.5)
    draft.video(track, _full(draft, "green", "0x00ff00"), start=1.5, duration=1.5)
    draft.transition(first, "向左", 1.0)


def pushes_and_slide(draft: DraftBuilder) -> None:
    """Red (band left) 向右 green (band bottom) 向上 blue (band top) 向下 magenta (band left) 滑动 cyan;
    cuts at 1.5, 3, 4.5, 6 s."""
    _sequence(draft, [_banded(draft, "red", "0xff0000", "left"), _banded(draft, "green", "0x00ff00", "bottom"),
                      _banded(draft, "blue", "0x0000ff", "top"), _banded(draft, "magenta", "0xff00ff", "left"),
                      _full(draft, "cyan", "0x00ffff")], ["向右", "向上", "向下", "滑动"])


def more_transitions(draft: DraftBuilder) -> None:
    """Red 闪黑 green (band right) 推近 blue (band left) 拉远 red 向左擦除 green 故障 (a name the renderer
    does not know) blue; cuts at 1.5, 3, 4.5, 6, 7.5 s."""
    _sequence(draft, [_full(draft, "red", "0xff0000"), _banded(draft, "green", "0x00ff00", "right"),
                      _banded(draft, "blue", "0x0000ff", "left"), _full(draft, "red", "0xff0000"),
                      _full(draft, "green", "0x00ff00"), _full(draft, "blue", "0x0000ff")],
              ["闪黑", "推近", "拉远", "向左擦除", "故障"])


def fade_in(draft: DraftBuilder) -> None:
    segment = draft.video(draft.track("video"), _full(draft, "red", "0xff0000"), start=0, duration=2)
    draft.animation(segment, "渐显", "in", 0, 1.0)


def zoom_in(draft: DraftBuilder) -> None:
    segment = draft.video(draft.track("video"), _full(draft, "red", "0xff0000"), start=0, duration=2)
    draft.animation(segment, "放大", "in", 0, 1.0)


def slides(draft: DraftBuilder) -> None:
    """In 向右滑动 0–1 s, out 向上滑动 1.5–2 s."""
    segment = draft.video(draft.track("video"), _full(draft, "red", "0xff0000"), start=0, duration=2)
    draft.animation(segment, "向右滑动", "in", 0, 1.0)
    draft.animation(segment, "向上滑动", "out", 1.5, 0.5)


def more_animations(draft: DraftBuilder) -> None:
    """Four 2 s segments: a red 180x180 square with 缩小 in (0–1 s) and 缩小 out (1–2 s); a red photo
    with 渐隐 out (3–4 s); a red photo with in and out animations the renderer does not know (雨刷
    4–5 s, 折叠闭幕 5.5–6 s); the red square with the loop 左拉镜 (a 组合 over all of 6–8 s)."""
    track = draft.track("video")
    square = _square(draft, "red-square", "0xff0000")
    shrink = draft.video(track, square, start=0, duration=2)
    draft.animation(shrink, "缩小", "in", 0, 1.0)
    draft.animation(shrink, "缩小", "out", 1.0, 1.0)
    draft.animation(draft.video(track, _full(draft, "red", "0xff0000"), start=2, duration=2), "渐隐", "out", 1.0, 1.0)
    unknown = draft.video(track, _full(draft, "red", "0xff0000"), start=4, duration=2)
    draft.animation(unknown, "雨刷", "in", 0, 1.0)
    draft.animation(unknown, "折叠闭幕", "out", 1.5, 0.5)
    draft.animation(draft.video(track, square, start=6, duration=2), "左拉镜", "group", 0, 2.0)


MASKS = ["circle", "feathered", "line", "mirror", "rectangle", "inverted"]  # 0.5 s each, in this order


def masks(draft: DraftBuilder) -> None:
    """A blue canvas-filling photo 0–3 s; above it a red 180x180 square (x 70..250) in six
    0.5 s segments, one mask each (MASKS)."""
    draft.video(draft.track("video"), _full(draft, "blue", "0x0000ff"), start=0, duration=3)
    track = draft.track("video")
    square = _square(draft, "red", "0xff0000")
    segments = [draft.video(track, square, start=index * 0.5, duration=0.5) for index in range(len(MASKS))]
    circle, feathered, line, mirror, rectangle, inverted = segments
    draft.mask(circle, "圆形", centerX=0.5, centerY=0.5, width=0.4, height=0.4)
    draft.mask(feathered, "圆形", width=0.6, height=0.6, feather=0.4)
    draft.mask(line, "线性", rotation=30.0)
    draft.mask(mirror, "镜面", height=0.3, rotation=90.0)
    draft.mask(rectangle, "矩形", width=0.8, height=0.6, roundCorner=0.5)
    draft.mask(inverted, "圆形", width=0.5, height=0.5, invert=True)


def shaped_masks(draft: DraftBuilder) -> None:
    """The blue photo 0–1.5 s; above it the red 180x180 square (x 70..250) in three 0.5 s segments:
    爱心 filling the square, 星形 filling it, 矩形 0.8 × 0.25 turned 30°."""
    draft.video(draft.track("video"), _full(draft, "blue", "0x0000ff"), start=0, duration=1.5)
    track = draft.track("video")
    square = _square(draft, "red", "0xff0000")
    heart, star, rectangle = (draft.video(track, square, start=n * 0.5, duration=0.5) for n in range(3))
    draft.mask(heart, "爱心")
    draft.mask(star, "星形")
    draft.mask(rectangle, "矩形", width=0.8, height=0.25, rotation=30.0)


def canvases(draft: DraftBuilder) -> None:
    """A 180x180 square, green above red, with a blurred background fill (0–1 s); a red square
    with a blue colour fill (1–2 s)."""
    track = draft.track("video")
    two_tone = drawn_photo(draft.asset("assets/two-tone.png"), "0x00ff00", (180, 180), [(0, 90, 180, 90, "0xff0000")])
    draft.canvas(draft.video(track, two_tone, start=0, duration=1), "canvas_blur", blur=0.375)
    draft.canvas(draft.video(track, _square(draft, "red", "0xff0000"), start=1, duration=1), "canvas_color",
                 color="#0000ffff")


def filled_transitions(draft: DraftBuilder) -> None:
    """Four letterboxed squares with colour fills: red on blue 0–1.5 s, 向下擦除 1 s, green on
    yellow 1.5–3 s, 向左 1 s, white on magenta 3–4.5 s, 叠化 1 s, blue on green 4.5–6 s."""
    track = draft.track("video")
    squares = [(_square(draft, name, colour), fill) for name, colour, fill in (
        ("red", "0xff0000", "#0000ffff"), ("green", "0x00ff00", "#ffff00ff"), ("white", "0xffffff", "#ff00ffff"),
        ("blue", "0x0000ff", "#00ff00ff"))]
    segments = [draft.video(track, square, start=n * 1.5, duration=1.5) for n, (square, _) in enumerate(squares)]
    for segment, (_, fill) in zip(segments, squares):
        draft.canvas(segment, "canvas_color", color=fill)
    for segment, name in zip(segments, ("向下擦除", "向左", "叠化")):
        draft.transition(segment, name, 1.0)


def crop(draft: DraftBuilder) -> None:
    """A 320x180 photo in quadrants (red, green / blue, yellow) cropped to x 0.375..0.875 and the
    top half: 160x90 of it, shown fitted (×2) over the whole canvas."""
    quadrants = drawn_photo(draft.asset("assets/quadrants.png"), "0xff0000", (W, H), [
        (160, 0, 160, 90, "0x00ff00"), (0, 90, 160, 90, "0x0000ff"), (160, 90, 160, 90, "0xffff00")])
    segment = draft.video(draft.track("video"), quadrants, start=0, duration=1)
    draft.crop(segment, 0.375, 0.0, 0.875, 0.5)


def reversed_clip(draft: DraftBuilder) -> None:
    clip = colour_clip(draft.asset("assets/red-green.mp4"), [("0xff0000", 1), ("0x00ff00", 1)], fps=30)
    draft.reverse(draft.video(draft.track("video"), clip, start=0, duration=2))


def greyscale_filter(draft: DraftBuilder) -> None:
    """A red photo 0–3 s, 黑白 on a filter track 1–2 s."""
    draft.video(draft.track("video"), _full(draft, "red", "0xff0000"), start=0, duration=3)
    draft.filter(draft.track("filter"), "黑白", start=1, duration=1, intensity=1.0)


def effects(draft: DraftBuilder) -> None:
    """On an effect track: 暗角 (vignette) over a light grey photo 0–1 s, 模糊 (blur) over the
    red | green photo 1–2 s; the grey photo again 2–3 s with no effect."""
    track = draft.track("video")
    grey = _full(draft, "grey", "0xc0c0c0")
    draft.video(track, grey, start=0, duration=1)
    draft.video(track, _split(draft), start=1, duration=1)
    draft.video(track, grey, start=2, duration=1)
    effect_track = draft.track("effect")
    draft.effect(effect_track, "暗角", start=0, duration=1, intensity=1.0)
    draft.effect(effect_track, "模糊", start=1, duration=1, intensity=1.0)


def render_order(draft: DraftBuilder) -> None:
    """Tracks in the draft's order: a text (render_index 6), a half-size green photo (5), a red
    photo filling the canvas (2). By render_index the red is at the bottom."""
    text = draft.text(draft.track("text"), "\u2588\u2588\u2588", start=0, duration=1, size=40, y=-0.6)
    green = draft.video(draft.track("video"), _full(draft, "green", "0x00ff00"), start=0, duration=1, scale=0.5)
    red = draft.video(draft.track("video"), _full(draft, "red", "0xff0000"), start=0, duration=1)
    for segment, index in ((text, 6), (green, 5), (red, 2)):
        draft.render_index(segment, index)


def brightness_keyframes(draft: DraftBuilder) -> None:
    """A grey photo, KFTypeBrightness 0 → 0.5 over 1 s (pyJianYingDraft's unit, -1..1)."""
    segment = draft.video(draft.track("video"), _full(draft, "grey", "0x808080"), start=0, duration=1)
    draft.keyframes(segment, "KFTypeBrightness", [(0, 0.0), (1, 0.5)])


def left_out_and_approximated(draft: DraftBuilder) -> None:
    """A sticker (not rendered), a transition and an animation known only by name (approximated)."""
    track = draft.track("video")
    first = draft.video(track, _full(draft, "red", "0xff0000"), start=0, duration=1)
    second = draft.video(track, _full(draft, "green", "0x00ff00"), start=1, duration=1)
    draft.transition(first, "故障", 0.4)
    draft.animation(second, "轻微放大", "in", 0, 0.5)
    draft.sticker(draft.track("sticker"), "7521200021564427545", start=0, duration=2, scale=0.5)


def sounds(draft: DraftBuilder) -> None:
    """One sound at a time, 5 s: 0–1 s a 440 Hz tone on a muted audio track (attribute bit 0), in
    two segments, the second with volume keyframes at 0.75; 1–2 s a clip with a 440 Hz sound on a
    muted video track, volume keyframes at 1; 2–3 s a clip with `volume` 0 and volume keyframes
    0 → 1 over its second; 3–5 s a 660 Hz tone, volume keyframes 1 → 0 over its 2 s, with 回音."""
    muted = draft.track("audio")
    muted["attribute"] = 1
    beep = tone(draft.asset("assets/tone440.m4a"), 440, 1)
    draft.audio(muted, beep, start=0, duration=0.5)
    volume_keyframes(draft.audio(muted, beep, start=0.5, duration=0.5, source_start=0.5), [(0, 0.75), (0.5, 0.75)])
    muted_pictures = draft.track("video")
    muted_pictures["attribute"] = 1
    clip = colour_clip(draft.asset("assets/red440.mp4"), [("0xff0000", 1)], tone_hz=440)
    volume_keyframes(draft.video(muted_pictures, clip, start=1, duration=1), [(0, 1.0), (1, 1.0)])
    rising = draft.video(draft.track("video"), clip, start=2, duration=1, volume=0.0)
    volume_keyframes(rising, [(0, 0.0), (1, 1.0)])
    falling = draft.audio(draft.track("audio"), tone(draft.asset("assets/tone660.m4a"), 660, 2), start=3, duration=2)
    volume_keyframes(falling, [(0, 1.0), (2, 0.0)])
    audio_effect(draft, falling, "回音")


FIXTURES: dict[str, Callable[[DraftBuilder], None]] = {f.__name__: f for f in (
    zoom_keyframes, stretch_keyframes, move_keyframes, rotation_keyframes, alpha_keyframes, brightness_keyframes,
    bezier_keyframes, dissolve, wipe_down, dip_to_white, push_left, pushes_and_slide, more_transitions,
    filled_transitions, fade_in, zoom_in, slides, more_animations, masks, shaped_masks, canvases, crop,
    reversed_clip, greyscale_filter, effects, render_order, left_out_and_approximated, sounds)}


# --- Rendering them -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    video: Path
    warnings: list[str]  # the job's `warning: …` messages, without the prefix

    def pixel(self, seconds: float, x: int, y: int) -> Colour:
        return _frame(self.video, seconds).pixel(x, y)


@functools.cache
def _frame(video: Path, seconds: float):
    return frame_at(video, seconds)


class Renders:
    """Each fixture draft built and rendered through the exporter the first time a test asks."""

    def __init__(self, root: Path):
        self.root = root
        self.done: dict[str, Rendered | Exception] = {}

    def __call__(self, name: str) -> Rendered:
        if name not in self.done:
            try:
                self.done[name] = asyncio.run(self._render(name))
            except Exception as failure:  # every test of this draft fails with it, rendered once
                self.done[name] = failure
        if isinstance(self.done[name], Exception):
            raise self.done[name]
        return self.done[name]

    async def _render(self, name: str) -> Rendered:
        draft = DraftBuilder(self.root / "drafts" / name, width=W, height=H)
        FIXTURES[name](draft)
        draft.write()
        work = self.root / "work" / name
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        messages: list[str] = []

        async def progress(value: int, stage: str | None = None, message: str | None = None) -> None:
            if message:
                messages.append(message)

        job = ExportJob(1, 1, draft.folder.as_uri(), name, work, work / "output.mp4")
        result = await load_exporter("ffmpeg", ExporterOptions(allow_local_drafts=True))(job, progress)
        return Rendered(result.video_path,
                        [m.removeprefix("warning: ") for m in messages if m.startswith("warning: ")])


@pytest.fixture(scope="module")
def render(tmp_path_factory) -> Renders:
    return Renders(tmp_path_factory.mktemp("features"))


def near(actual: Colour, expected: Colour, tolerance: int = 40) -> bool:
    return looks_like(actual, expected, tolerance)


def blend(top: Colour, bottom: Colour, alpha: float) -> Colour:
    return tuple(round(t * alpha + b * (1 - alpha)) for t, b in zip(top, bottom))


def assert_colours(rendered: Rendered, probes: list[tuple[float, tuple[int, int], Colour, str]],
                   tolerance: int = 40) -> None:
    """Every (time, pixel, colour, why); all failures at once."""
    wrong = [f"{why}: at {t} s {xy} is {rendered.pixel(t, *xy)}, expected about {colour}"
             for t, xy, colour, why in probes if not near(rendered.pixel(t, *xy), colour, tolerance)]
    assert not wrong, "\n".join(wrong)


# --- Keyframes ------------------------------------------------------------------------------------


def test_a_uniform_zoom_keyframe_sets_the_size_at_each_moment(render):
    video = render("zoom_keyframes")
    # At 1 s the scale is 0.75: 240x135 centred, edges at x 40/280 and y 22.5/157.5.
    assert_colours(video, [
        (1.0, (30, 90), BLACK, "left of the shrunken picture (unzoomed: red)"),
        (1.0, (50, 90), RED, "just inside its left edge (at the end scale 0.5 it is black here)"),
        (1.0, (290, 90), BLACK, "right of it"),
        (1.0, (160, 15), BLACK, "above it: both axes shrink"),
        (1.0, (160, 30), RED, "just inside its top edge"),
        (1.9, (60, 90), BLACK, "nearly half size (x 83..237) near the end"),
        (0.0, (5, 5), RED, "full size at the start"),
    ])


def test_separate_x_and_y_scale_keyframes_stretch_each_axis(render):
    video = render("stretch_keyframes")
    # At 1 s: x scale 0.75 (240 wide, x 40..280), y scale 0.5 (90 high, y 45..135).
    assert_colours(video, [
        (1.0, (30, 90), BLACK, "left of the picture, x scale 0.75"),
        (1.0, (50, 90), RED, "inside its left edge"),
        (1.0, (160, 35), BLACK, "above it: y is 0.5, not x's 0.75 (uniform) nor 1 (unfeatured)"),
        (1.0, (160, 55), RED, "inside its top edge"),
        (1.0, (160, 145), BLACK, "below it"),
    ])


def test_position_keyframes_move_the_clip_in_half_canvas_units_with_y_up(render):
    video = render("move_keyframes")
    # At 0.25 s: x -0.375, y +0.375 → centre (160 - 60, 90 - 33.75) = (100, 56); 80x45.
    # At 1.75 s: x +0.375, y -0.375 → centre (220, 124).
    assert_colours(video, [
        (0.25, (100, 56), GREEN, "up and left of centre early on"),
        (0.25, (160, 90), BLACK, "not yet at the centre (unmoved: green)"),
        (0.25, (100, 124), BLACK, "not below the centre: +y is up"),
        (1.0, (160, 90), GREEN, "through the centre halfway"),
        (1.75, (220, 124), GREEN, "down and right of centre late on"),
        (1.75, (220, 56), BLACK, "not above it"),
    ])


def test_a_rotation_keyframe_turns_the_clip_clockwise(render):
    video = render("rotation_keyframes")
    # The square spans x 70..250; turned 90° clockwise its top-left marker is at the top right.
    assert_colours(video, [
        (0.0, (85, 15), RED, "the marker starts at the top left"),
        (1.5, (235, 15), RED, "after 90° clockwise it is at the top right"),
        (1.5, (85, 15), BLUE, "and no longer at the top left"),
        (1.5, (85, 165), BLUE, "nor at the bottom left, where counter-clockwise would put it"),
    ])
    # Halfway (45°) the square stands on a corner: its corners are off the canvas's
    # top and bottom, and the canvas corners next to it are black.
    frame = _frame(video.video, 0.5)
    assert near(frame.pixel(160, 90), BLUE) and near(frame.pixel(72, 5), BLACK), "a diamond at 45°"


def test_bezier_handles_ease_a_keyframe_move(render):
    video = render("bezier_keyframes")
    # Eased out, the clip covers most of its way early: its centre is at x 173 at 0.5 s and x 220
    # at 1 s, where a linear move has it at 120 and 160 (the 80 px wide clip at 80..160, 120..200).
    assert_colours(video, [
        (0.5, (200, 90), GREEN, "well past the linear position at 0.5 s"),
        (0.5, (100, 90), BLACK, "not where a linear move has it"),
        (1.0, (240, 90), GREEN, "three quarters of the way at half time"),
        (1.0, (150, 90), BLACK, "not at the centre, where a linear move has it"),
        (0.0, (60, 90), GREEN, "at its first keyframe at the start (x 40..120)"),
        (1.95, (260, 90), GREEN, "and at its last one at the end (x 200..280)"),
    ])


def test_an_alpha_ramp_blends_with_what_is_below(render):
    video = render("alpha_keyframes")
    assert_colours(video, [
        (0.0, (160, 90), RED, "opaque at the start"),
        (0.5, (160, 90), blend(RED, BLUE, 0.75), "three quarters at 0.5 s"),
        (1.0, (160, 90), blend(RED, BLUE, 0.5), "half way: half red, half blue"),
        (1.5, (160, 90), blend(RED, BLUE, 0.25), "a quarter at 1.5 s"),
    ], tolerance=25)


def test_a_colour_keyframe_is_rendered_or_named_as_left_out(render):
    video = render("brightness_keyframes")
    start, end = video.pixel(0.0, 160, 90), video.pixel(0.95, 160, 90)
    brightened = end[0] > start[0] + 30
    named = any(w.startswith("未渲染: ") and "关键帧" in w for w in video.warnings)
    assert brightened or named, (f"KFTypeBrightness neither drawn ({start} → {end}) nor named: {video.warnings}; "
                                 "a render names what it leaves out")


# --- Transitions ----------------------------------------------------------------------------------


def test_a_dissolve_is_centred_on_the_cut(render):
    video = render("dissolve")
    # 1 s centred on the cut at 1.5 s: from 1.0 s to 2.0 s the green fades in linearly.
    assert_colours(video, [
        (0.9, (160, 90), RED, "before the transition"),
        (1.25, (160, 90), blend(GREEN, RED, 0.25), "a quarter in, before the cut"),
        (1.5, (160, 90), blend(GREEN, RED, 0.5), "half and half at the cut"),
        (1.75, (160, 90), blend(GREEN, RED, 0.75), "three quarters after the cut"),
        (2.1, (160, 90), GREEN, "after the transition"),
    ], tolerance=25)


def test_a_downward_wipe_reveals_the_next_clip_from_the_top(render):
    video = render("wipe_down")
    # The edge travels from the top (1.0 s) to the bottom (2.0 s): y = 180 × progress.
    assert_colours(video, [
        (1.4, (160, 60), GREEN, "above the edge at 0.4 (y 72), before the cut"),
        (1.4, (160, 90), RED, "below it"),
        (1.6, (160, 95), GREEN, "above the edge at 0.6 (y 108), after the cut"),
        (1.6, (160, 125), RED, "below it, the earlier clip still shows"),
        (1.6, (20, 125), RED, "the edge is straight across"),
    ])


def test_a_push_left_moves_both_clips_by_the_canvas_width(render):
    video = render("push_left")
    # Eased in and out over 1.0–2.0 s; at the cut both have moved half the canvas to the left:
    # the red's right-edge yellow band (300..320) is at 140..160, the green starts at 160.
    assert_colours(video, [
        (1.5, (150, 90), YELLOW, "the earlier clip's right edge moved to the centre"),
        (1.5, (80, 90), RED, "the earlier clip on the left"),
        (1.5, (240, 90), GREEN, "the later clip on the right"),
        (0.9, (310, 90), YELLOW, "before the transition nothing moves"),
    ])


def test_a_push_right_moves_both_clips_to_the_right(render):
    video = render("pushes_and_slide")
    # At the cut (1.5 s) both have moved half the canvas to the right: the red's left-edge band
    # (x 0..20) is at 160..180, the green came in from the left and fills x 0..160.
    assert_colours(video, [
        (1.5, (80, 60), GREEN, "the later clip on the left, come in from the left"),
        (1.5, (170, 60), YELLOW, "the earlier clip's left edge moved to the centre"),
        (1.5, (240, 60), RED, "the earlier clip on the right"),
    ])


def test_pushes_up_and_down_move_both_clips_that_way(render):
    video = render("pushes_and_slide")
    # 向上 at 3 s: the green moved half the canvas up (its bottom band at y 70..90), the blue
    # came from below (its top band at y 90..110). 向下 at 4.5 s: the blue moved half down (its
    # top band at y 90..110), the magenta came from above.
    assert_colours(video, [
        (3.0, (160, 40), GREEN, "向上: the earlier clip in the top half"),
        (3.0, (160, 80), YELLOW, "its bottom edge moved up to the middle"),
        (3.0, (160, 100), YELLOW, "the later clip's top edge just below the middle"),
        (3.0, (160, 140), BLUE, "the later clip in the bottom half"),
        (4.5, (160, 45), MAGENTA, "向下: the later clip in the top half, come from above"),
        (4.5, (160, 100), YELLOW, "the earlier clip's top edge moved down to the middle"),
        (4.5, (160, 140), BLUE, "the earlier clip in the bottom half"),
    ])


def test_a_slide_moves_the_later_clip_in_over_the_earlier_one(render):
    video = render("pushes_and_slide")
    # 滑动 at 6 s: the cyan slides in from the right over the magenta, which stays where it is
    # (its left band at x 0..20); at the cut the cyan covers x 160..320, eased in and out.
    assert_colours(video, [
        (6.0, (240, 90), CYAN, "the later clip covers the right half, unblended"),
        (6.0, (100, 90), MAGENTA, "the earlier clip, unblended, on the left"),
        (6.0, (10, 90), YELLOW, "the earlier clip does not move (a push takes its left edge away)"),
        (5.75, (300, 90), CYAN, "an eighth of the way in a quarter of the time: at x 280"),
        (5.75, (250, 90), MAGENTA, "not yet further"),
    ])


def test_a_dip_to_black_is_black_at_the_cut(render):
    video = render("more_transitions")
    assert_colours(video, [
        (1.5, (160, 90), BLACK, "black at the cut (闪白: white)"),
        (1.25, (160, 90), blend(BLACK, RED, 0.5), "half way to black before the cut"),
        (1.75, (160, 90), blend(BLACK, GREEN, 0.5), "half way back after it"),
        (2.1, (160, 90), GREEN, "the later clip after the transition"),
    ], tolerance=30)


def test_zoom_transitions_zoom_the_earlier_clip_in_or_out_while_the_later_fades_in(render):
    video = render("more_transitions")
    # 推近 at 3 s: the green (band at x 300..320) has grown 1.15×, its band off the canvas, under
    # the blue half faded in. 拉远 at 4.5 s: the blue (band at x 0..20) has shrunk to 0.9×
    # (x 16..304, y 9..171, its band at 16..34), the red half faded in over it and the black.
    assert_colours(video, [
        (3.0, (310, 90), blend(BLUE, GREEN, 0.5), "推近: the earlier clip's edge band pushed off the canvas"),
        (3.0, (160, 90), blend(BLUE, GREEN, 0.5), "half of each at the centre"),
        (4.5, (25, 90), blend(RED, YELLOW, 0.5), "拉远: the earlier clip's edge band moved in"),
        (4.5, (8, 90), blend(RED, BLACK, 0.5), "outside the shrunk clip: the later one over black"),
        (4.5, (160, 3), blend(RED, BLACK, 0.5), "above it too"),
        (4.5, (160, 90), blend(RED, BLUE, 0.5), "half of each at the centre"),
    ], tolerance=30)


def test_a_leftward_wipe_reveals_the_next_clip_from_the_right(render):
    video = render("more_transitions")
    # 向左擦除 over 5.5–6.5 s: the edge travels from the right: at 5.9 s it is at x 192, at 6.1 s at 128.
    assert_colours(video, [
        (5.9, (250, 90), GREEN, "right of the edge: the later clip"),
        (5.9, (130, 90), RED, "left of it: the earlier one"),
        (6.1, (150, 90), GREEN, "the edge has moved on to the left"),
        (6.1, (100, 90), RED, "the earlier clip left of it"),
    ])


def test_a_transition_of_an_unknown_name_is_a_dissolve_named_as_approximated(render):
    video = render("more_transitions")
    assert_colours(video, [
        (7.25, (160, 90), blend(BLUE, GREEN, 0.25), "a quarter blended before the cut"),
        (7.5, (160, 90), blend(BLUE, GREEN, 0.5), "half and half at the cut"),
        (7.75, (160, 90), blend(BLUE, GREEN, 0.75), "three quarters after it"),
    ], tolerance=25)
    assert any(w.startswith("近似: ") and "转场 故障" in w for w in video.warnings), video.warnings


def test_a_dip_to_white_is_white_at_the_cut(render):
    video = render("dip_to_white")
    assert_colours(video, [
        (1.5, (160, 90), WHITE, "white at the cut"),
        (1.25, (160, 90), blend(WHITE, RED, 0.5), "half way to white before the cut"),
        (1.75, (160, 90), blend(WHITE, GREEN, 0.5), "half way back after it"),
        (2.1, (160, 90), GREEN, "the later clip after the transition"),
    ], tolerance=30)


# --- Animations -----------------------------------------------------------------------------------


def test_a_fade_in_starts_dark(render):
    video = render("fade_in")
    start, mid = video.pixel(0.0, 160, 90), video.pixel(0.5, 160, 90)
    assert max(start) < 40, f"black at its start, not {start}"
    assert near(mid, blend(RED, BLACK, 0.5), 30), f"half faded in at 0.5 s, not {mid}"
    assert near(video.pixel(1.5, 160, 90), RED), "fully shown after the animation"


def test_a_zoom_in_animation_grows_the_clip_easing_out(render):
    video = render("zoom_in")
    # 放大 in over 1 s: scale 0.5 → 1 easing out, fading in. At 0.5 s: 0.875 (280 wide, x 20..300),
    # half opaque (linear easing would give 0.75: x 40..280).
    assert_colours(video, [
        (0.5, (10, 90), BLACK, "outside the growing picture (unanimated: red)"),
        (0.5, (30, 90), blend(RED, BLACK, 0.5), "inside it: the scale eases out"),
        (0.5, (160, 5), BLACK, "above it (y 11..169)"),
        (1.5, (10, 90), RED, "full size after the animation"),
    ], tolerance=35)


def test_slide_animations_ease_out_in_and_ease_in_out(render):
    video = render("slides")
    # In 向右滑动 0–1 s from a canvas width to the left, easing out: at 0.5 s 1/4 of the way
    # left remains (x -80..240; linearly -160..160). Out 向上滑动 1.5–2 s, easing in: at 1.75 s
    # a quarter of the canvas height up (y -45..135; linearly -90..90).
    assert_colours(video, [
        (0.5, (200, 90), RED, "most of the way in at 0.5 s"),
        (0.5, (260, 90), BLACK, "the right edge still coming in"),
        (1.2, (310, 90), RED, "in place between the animations"),
        (1.75, (160, 100), RED, "only a little way up at 1.75 s"),
        (1.75, (160, 160), BLACK, "its bottom has left the canvas's bottom"),
    ])


def test_a_shrink_animation_comes_in_larger_and_goes_out_smaller(render):
    video = render("more_animations")
    # The 180x180 square (x 70..250). 缩小 in: from 1.5×, easing out: 1.125× at 0.5 s (x 59..261).
    # 缩小 out: to 0.3×, easing in: 0.825× at 1.5 s (x 86..234, y 16..164). Both half faded.
    assert_colours(video, [
        (0.5, (64, 90), blend(RED, BLACK, 0.5), "beyond the square's own edge: it comes in larger"),
        (0.5, (160, 90), blend(RED, BLACK, 0.5), "half faded in"),
        (1.5, (78, 90), BLACK, "inside the square's own edge: it goes out smaller"),
        (1.5, (160, 10), BLACK, "above it: both sides shrink"),
        (1.5, (95, 90), blend(RED, BLACK, 0.5), "half faded out"),
    ], tolerance=30)


def test_a_fade_out_ends_dark(render):
    video = render("more_animations")
    assert_colours(video, [
        (2.5, (160, 90), RED, "before the animation"),
        (3.5, (160, 90), blend(RED, BLACK, 0.5), "half faded out"),
        (3.9, (160, 90), blend(RED, BLACK, 0.1), "nearly gone at its end"),
    ], tolerance=25)


def test_in_and_out_animations_of_unknown_names_are_fades_named_as_approximated(render):
    video = render("more_animations")
    assert_colours(video, [
        (4.5, (160, 90), blend(RED, BLACK, 0.5), "雨刷 in: half faded in"),
        (5.2, (160, 90), RED, "shown between them"),
        (5.75, (160, 90), blend(RED, BLACK, 0.5), "折叠闭幕 out: half faded out"),
    ], tolerance=25)
    approximated = [w for w in video.warnings if w.startswith("近似: ")]
    assert any("雨刷" in w and "折叠闭幕" in w for w in approximated), video.warnings


def test_a_pull_loop_zooms_out_and_pans_over_its_segment(render):
    video = render("more_animations")
    # 左拉镜 over 6–8 s: from 1.15× (x 56..264) to 1×, panned 5 % of the canvas (16 px) left (x 54..234).
    assert_colours(video, [
        (6.05, (62, 90), RED, "larger than the square at the start"),
        (6.05, (258, 90), RED, "on both sides"),
        (7.9, (58, 90), RED, "moved left at the end"),
        (7.9, (240, 90), BLACK, "its right edge moved in with it"),
    ])
    assert any(w.startswith("近似: ") and "左拉镜" in w for w in video.warnings), video.warnings


# --- Masks ----------------------------------------------------------------------------------------


def _mask_time(name: str) -> float:
    return MASKS.index(name) * 0.5 + 0.25


def test_a_circle_mask_is_placed_and_sized_on_the_material_with_y_up(render):
    video, t = render("masks"), _mask_time("circle")
    # centre (0.5, 0.5) of the 180x180 square at x 70..250: (205, 45); diameter 0.4 × 180 = 72.
    assert_colours(video, [
        (t, (205, 45), RED, "inside the circle"),
        (t, (205, 75), RED, "inside, near its bottom"),
        (t, (160, 90), BLUE, "the square's centre is cut away (unmasked: red)"),
        (t, (205, 135), BLUE, "not below the centre: +y is up"),
        (t, (115, 45), BLUE, "not left of the centre"),
        (t, (246, 45), BLUE, "outside: its size is a share of the material, not of the canvas"),
    ])


def test_a_feathered_circle_mask_has_a_soft_edge(render):
    video, t = render("masks"), _mask_time("feathered")
    # Diameter 108 (edge at x 214 on the centre row), feather 0.4: a ramp ~22 px wide.
    edge = video.pixel(t, 217, 90)
    assert 50 < edge[0] < 205 and 50 < edge[2] < 205, f"red and blue mixed at the edge, not {edge}"
    assert_colours(video, [
        (t, (195, 90), RED, "well inside"),
        (t, (240, 90), BLUE, "well outside, still on the square"),
    ])


def test_a_linear_mask_keeps_the_side_above_its_line_turned_clockwise(render):
    video, t = render("masks"), _mask_time("line")
    # The line through the centre turned 30° clockwise falls to the right: y = 90 + (x - 160) tan 30°.
    assert_colours(video, [
        (t, (220, 110), RED, "above the line on the right (counter-clockwise or unturned: below)"),
        (t, (100, 70), BLUE, "below the line on the left (counter-clockwise or unturned: above)"),
        (t, (160, 20), RED, "the top is kept"),
        (t, (160, 165), BLUE, "the bottom is hidden (unmasked: red)"),
    ])


def test_a_mirror_mask_keeps_a_band_turned_upright(render):
    video, t = render("masks"), _mask_time("mirror")
    # A band 0.3 × 180 = 54 high, turned 90°: upright, x 133..187.
    assert_colours(video, [
        (t, (160, 160), RED, "in the band, near the bottom (unturned the band is across the middle)"),
        (t, (210, 90), BLUE, "beside the band (unmasked: red)"),
        (t, (110, 90), BLUE, "beside it on the other side"),
    ])


def test_a_rectangle_mask_has_round_corners(render):
    video, t = render("masks"), _mask_time("rectangle")
    # 0.8 × 0.6 of the square: 144x108 centred, x 88..232, y 36..144; corner radius 27.
    assert_colours(video, [
        (t, (95, 90), RED, "inside, near its left side"),
        (t, (80, 90), BLUE, "left of it, on the square (unmasked: red)"),
        (t, (160, 30), BLUE, "above it"),
        (t, (92, 40), BLUE, "its top-left corner is rounded off"),
        (t, (228, 140), BLUE, "and its bottom-right one"),
        (t, (110, 50), RED, "inside the rounding"),
    ])


def test_heart_and_star_masks_are_drawn_as_their_shapes(render):
    video = render("shaped_masks")
    # Each fills the 180x180 square (x 70..250, centre (160, 90)); where a circle would keep red,
    # the heart's cleft and point and the star's notches show the blue photo below.
    assert_colours(video, [
        (0.25, (160, 90), RED, "爱心: inside the heart"),
        (0.25, (205, 45), RED, "in its right lobe"),
        (0.25, (115, 45), RED, "in its left lobe"),
        (0.25, (160, 14), BLUE, "the cleft between the lobes"),
        (0.25, (205, 153), BLUE, "beside its point, at the bottom"),
        (0.25, (115, 153), BLUE, "on both sides"),
        (0.75, (160, 90), RED, "星形: inside the star"),
        (0.75, (160, 18), RED, "its top point"),
        (0.75, (228, 68), RED, "its right point"),
        (0.75, (160, 144), BLUE, "the notch between its lower points"),
        (0.75, (192, 46), BLUE, "the notch between its top and right points"),
    ])
    approximated = [w for w in video.warnings if w.startswith("近似: ")]
    assert any("爱心" in w and "星形" in w for w in approximated), video.warnings


def test_a_rectangle_mask_turns_clockwise(render):
    video, t = render("shaped_masks"), 1.25
    # 144x45 on the square's centre, turned 30° clockwise: its right end goes down.
    assert_colours(video, [
        (t, (160, 90), RED, "the centre"),
        (t, (215, 122), RED, "down to the right along its turned length (unturned: beyond its bottom)"),
        (t, (105, 58), RED, "up to the left"),
        (t, (220, 90), BLUE, "straight right of the centre (unturned: inside)"),
        (t, (215, 58), BLUE, "up to the right (turned counter-clockwise: inside)"),
    ])


def test_an_inverted_mask_keeps_the_outside(render):
    video, t = render("masks"), _mask_time("inverted")
    assert_colours(video, [
        (t, (160, 90), BLUE, "the circle is cut out (not inverted: red)"),
        (t, (80, 10), RED, "the square's corner is kept (not inverted: blue)"),
        (t, (40, 90), BLUE, "off the square: the canvas below"),
    ])


# --- Background fills, crops, reversed clips ------------------------------------------------------


def test_a_blurred_background_fill_surrounds_a_letterboxed_clip(render):
    video = render("canvases")
    left_top, left_bottom = video.pixel(0.5, 20, 20), video.pixel(0.5, 20, 160)
    assert left_top[1] > left_top[0] + 60, f"the clip's green, blurred and enlarged, beside its top: {left_top}"
    assert left_bottom[0] > left_bottom[1] + 60, f"its red beside its bottom: {left_bottom}"
    assert_colours(video, [(0.5, (160, 45), GREEN, "the clip itself, sharp, in the middle")])


def test_a_colour_background_fill_surrounds_a_letterboxed_clip(render):
    assert_colours(render("canvases"), [
        (1.5, (20, 90), BLUE, "the fill colour beside the clip (no fill: black)"),
        (1.5, (300, 90), BLUE, "on both sides"),
        (1.5, (160, 90), RED, "the clip above it"),
    ])


def test_a_background_fill_takes_part_in_the_transition(render):
    video = render("filled_transitions")
    # The wipe at 1.25 s has revealed the top quarter (y < 45); below it the earlier clip and
    # its fill are still there. The push at 2.75 s has moved both clips 40 px to the left
    # (eased): the green square is at x 30..210, its fill at x -40..280, the next fill beyond.
    # (A fill is part of its clip's frame: it is wiped, pushed and faded with it.)
    assert_colours(video, [
        (1.25, (160, 20), GREEN, "the later clip above the wipe's edge"),
        (1.25, (20, 20), YELLOW, "and its fill beside it"),
        (1.25, (160, 120), RED, "the earlier clip below the edge"),
        (1.25, (20, 120), BLUE, "with its own fill beside it, not the later clip's"),
        (2.75, (100, 90), GREEN, "the pushed clip, not hidden by the next clip's fill"),
        (2.75, (10, 90), YELLOW, "its fill moves with it"),
        (2.75, (300, 90), MAGENTA, "the next clip's fill coming in from the right"),
        # Half way through the dissolve each clip's frame, fill and all, is half of the picture.
        (4.5, (160, 90), blend(WHITE, BLUE, 0.5), "half the white square, half the blue one"),
        (4.5, (20, 90), blend(MAGENTA, GREEN, 0.5), "half of each fill"),
    ])


def test_a_crop_shows_only_the_cropped_part_fitted_to_the_canvas(render):
    video = render("crop")
    # Source x 120..280 × y 0..90, ×2: the red/green border (source x 160) lands at x 80.
    assert_colours(video, [
        (0.5, (60, 90), RED, "left of the border"),
        (0.5, (100, 90), GREEN, "right of it (uncropped: red)"),
        (0.5, (300, 170), GREEN, "the bottom quadrants are cut away (uncropped: yellow)"),
        (0.5, (20, 170), RED, "(uncropped: blue)"),
    ])


def test_a_reversed_clip_plays_its_colours_in_reverse_order(render):
    assert_colours(render("reversed_clip"), [
        (0.5, (160, 90), GREEN, "the clip's end first (forwards: red)"),
        (1.5, (160, 90), RED, "its start last (forwards: green)"),
    ])


# --- Filters, order, warnings ---------------------------------------------------------------------


def test_a_greyscale_filter_track_applies_only_within_its_time(render):
    video = render("greyscale_filter")
    grey = video.pixel(1.5, 160, 90)
    assert max(grey) - min(grey) < 20 and 40 < grey[0] < 140, f"red turned grey at 1.5 s, not {grey}"
    assert_colours(video, [
        (0.5, (160, 90), RED, "before the filter's segment"),
        (2.5, (160, 90), RED, "after it"),
    ])
    assert any(w.startswith("近似: ") and "黑白" in w for w in video.warnings), video.warnings


def test_a_vignette_effect_darkens_the_corners_within_its_time(render):
    video = render("effects")
    centre, corner, edge = video.pixel(0.5, 160, 90), video.pixel(0.5, 3, 3), video.pixel(0.5, 3, 90)
    assert near(centre, (192, 192, 192), 20), f"the grey photo's centre is untouched: {centre}"
    assert corner[0] < centre[0] - 80, f"暗角 darkens the corners: {corner} against {centre}"
    assert corner[0] < edge[0] < centre[0] - 40, f"less so at the middle of an edge: {edge}"
    assert near(video.pixel(2.5, 3, 3), (192, 192, 192), 20), "not after the effect's segment"


def test_a_blur_effect_softens_an_edge_within_its_time(render):
    video = render("effects")
    # The red | green edge at x 160, blurred (sigma 4.5 px on a 180 px short side).
    left, right = video.pixel(1.5, 155, 90), video.pixel(1.5, 165, 90)
    assert left[1] > 40 and right[0] > 40, f"each side of the edge takes some of the other: {left} | {right}"
    assert_colours(video, [
        (1.5, (80, 90), RED, "well left of the edge, still red"),
        (1.5, (240, 90), GREEN, "well right of it, still green"),
    ], tolerance=25)
    assert any(w.startswith("近似: ") and "暗角" in w and "模糊" in w for w in video.warnings), video.warnings


def test_render_index_orders_layers_across_tracks(render):
    video = render("render_order")
    assert_colours(video, [
        (0.5, (160, 90), GREEN, "the green photo's track comes first but its render_index is higher than the red's"),
        (0.5, (20, 20), RED, "the red photo around it"),
    ])
    frame = _frame(video.video, 0.5)
    caption = frame.pixels(150, 138, 171, 151)  # around the text's centre (160, 144)
    assert any(near(p, WHITE, 30) for p in caption), "the text (first track, render_index 6) is drawn on top"


def test_warnings_name_what_is_approximated_and_left_out(render):
    warnings = render("left_out_and_approximated").warnings
    unrendered = [w for w in warnings if w.startswith("未渲染: ")]
    approximated = [w for w in warnings if w.startswith("近似: ")]
    assert len(unrendered) == 1 and "贴纸" in unrendered[0], warnings
    assert len(approximated) == 1, warnings
    assert "转场 故障" in approximated[0] and "轻微放大" in approximated[0], warnings
    assert "转场" not in unrendered[0] and "动画" not in unrendered[0], "named once, as approximated"


# --- Sound ----------------------------------------------------------------------------------------

SILENT_DB = -60.0  # digital silence measures -91; a tone at full volume about -21


def test_a_muted_track_is_silent_whatever_its_volume_keyframes(render):
    video = render("sounds").video
    heard = {why: volume_db(video, start, 0.3) for start, why in (
        (0.1, "a muted audio segment"), (0.6, "a muted audio segment with volume keyframes at 0.75"),
        (1.35, "a muted video track's sound with volume keyframes at 1"))}
    assert all(db < SILENT_DB for db in heard.values()), heard


def test_volume_keyframes_win_over_a_static_volume_of_0(render):
    video = render("sounds").video
    first, last = volume_db(video, 2.0, 0.1), volume_db(video, 2.8, 0.15)
    assert last > -30, f"the clip's 440 Hz sound near full volume at the end of its 0 → 1 ramp ({last} dB)"
    assert first < last - 15, f"near silence at the ramp's start: {first} dB against {last} dB"


def test_an_audio_segments_volume_keyframes_ramp_its_tone_down(render):
    video = render("sounds").video
    start, halfway, end = volume_db(video, 3.0), volume_db(video, 3.9), volume_db(video, 4.75)
    assert start > -30, f"the 660 Hz tone at full volume first ({start} dB)"
    assert -9 < halfway - start < -3.5, f"gain about 0.5 halfway: {halfway - start:.1f} dB"
    assert end < start - 15, f"near silence at the end of the ramp: {start} → {end} dB"


def test_an_audio_effect_is_named_as_left_out(render):
    assert render("sounds").warnings == ["未渲染: 音频特效 回音 (audio effects)"]
