"""Captions as a user sees them in the rendered video: keyword colours, alignment of each line,
shadows, background boxes, a fade-in, vertical text, and Chinese drawn with real glyphs on a
machine with no fonts at all. Also: JianYing's own caption drafts (../shared/drafts/text_*)
leave nothing about text unrendered."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from capcut_mate.agent.exporters import ExporterOptions, ExportJob, load_exporter
from capcut_mate.agent.exporters.ffmpeg.export import plan_export
from support.drafts import DraftBuilder, photo
from support.processes import command_env
from support.text_drafts import Box, bands, block_font, box_of, caption, points, shadow, style, text_animation
from support.videos import RED, frame_at, looks_like, video_info

WIDTH, HEIGHT = 640, 360
NAVY = (0x10, 0x20, 0x40)
AMBER = (0xff, 0xb0, 0x00)
SHARED_DRAFTS = Path(__file__).resolve().parents[2] / "shared" / "drafts"

# One caption (or two) per second of the fixture draft; probed in the middle of its second.
KEYWORDS, RIGHT, CENTRED, SHADOWS, BACKGROUND, FADE, VERTICAL = range(7)


def build_captions(folder: Path) -> DraftBuilder:
    """7 s on a 640x360 navy photo, one caption feature a second (size 24: 32 px glyphs):

    0 s "红红白白绿绿" with two keyword ranges, red [0, 2) and green [4, 6); 1 s a right-aligned and
    2 s a centred caption of a short line over a long one; 3 s two shadowed captions, red shadows
    at −45° (lower right, top caption) and 135° (upper left, bottom caption); 4 s an amber
    background box at alpha 0.6; 5 s 渐显 over the first 0.5 s; 6 s vertical text.
    """
    draft = DraftBuilder(folder, width=WIDTH, height=HEIGHT)
    draft.video(draft.track("video"), photo(draft.asset("assets/image/navy.png"), "0x102040", (WIDTH, HEIGHT)),
                start=0, duration=7)
    track = draft.track("text")
    caption(draft, track, "红红白白绿绿", start=KEYWORDS, duration=1,
            styles=[style(0, 2, "#ff2020"), style(4, 6, "#20e020")])
    caption(draft, track, "右对齐\n第二行更长一些", start=RIGHT, duration=1, alignment=2)
    caption(draft, track, "居中\n第二行更长一些", start=CENTRED, duration=1, alignment=1)
    lower_right = shadow("#ff0000", angle=-45, distance=15, alpha=1.0)
    upper_left = shadow("#ff0000", angle=135, distance=15, alpha=1.0)
    caption(draft, track, "右下投影", start=SHADOWS, duration=1, y=0.4, styles=[style(0, 4, shadow=lower_right)])
    caption(draft, track, "左上投影", start=SHADOWS, duration=1, y=-0.4, styles=[style(0, 4, shadow=upper_left)])
    caption(draft, track, "背景框", start=BACKGROUND, duration=1, background_color="#ffb000", background_alpha=0.6)
    fading = caption(draft, track, "渐显文字", start=FADE, duration=1)
    text_animation(draft, fading, "渐显", "in", 0, 0.5)
    caption(draft, track, "竖排文字", start=VERTICAL, duration=1, typesetting=1)
    draft.write()
    return draft


class Recorder:
    def __init__(self):
        self.messages: list[str] = []

    async def __call__(self, progress: int, stage: str | None = None, message: str | None = None) -> None:
        if message:
            self.messages.append(message)


def export(folder: Path, work: Path) -> tuple[Path, list[str]]:
    """The draft in `folder` rendered by the ffmpeg exporter: the video, and its warnings."""
    work.mkdir(parents=True)
    job = ExportJob(1, 1, folder.as_uri(), folder.name, work, work / "output.mp4")
    progress = Recorder()
    result = asyncio.run(load_exporter("ffmpeg", ExporterOptions(allow_local_drafts=True))(job, progress))
    return result.video_path, progress.messages


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("captions")
    draft = build_captions(root / "captions")
    return export(draft.folder, root / "work")


@pytest.fixture(scope="module")
def video(rendered) -> Path:
    return rendered[0]


def white(pixel: tuple[int, int, int]) -> bool:
    return min(pixel) > 170


def ink(pixel: tuple[int, int, int]) -> bool:
    """Anything drawn over the navy background."""
    return sum(abs(a - b) for a, b in zip(pixel, NAVY)) > 120


def lines_of(video: Path, second: float) -> list[Box]:
    """The white ink of the frame at `second`, line by line (top to bottom)."""
    return [box_of(line) for line in bands(points(frame_at(video, second), white), axis=1, gap=2)]


# --- The fixture ---------------------------------------------------------------------------------


def test_the_captions_render_at_the_canvas_size_with_no_warning(rendered):
    video, warnings = rendered
    info = video_info(video)
    assert (info.width, info.height) == (WIDTH, HEIGHT) and abs(info.duration - 7) < 0.1
    assert warnings == [], "every caption feature here is rendered, none approximated"


def test_two_keyword_colours_sit_in_one_line_in_their_order(video):
    frame = frame_at(video, KEYWORDS + 0.5)
    reds = points(frame, lambda p: p[0] > 180 and p[1] < 100 and p[2] < 100)
    greens = points(frame, lambda p: p[1] > 160 and p[0] < 120 and p[2] < 120)
    whites = points(frame, white)
    assert len(reds) > 40 and len(greens) > 40 and len(whites) > 40, (len(reds), len(greens), len(whites))
    red, green, plain = box_of(reds), box_of(greens), box_of(whites)
    rows = [(b.top, b.bottom) for b in (red, green, plain)]
    assert max(top for top, _ in rows) < min(bottom for _, bottom in rows), f"one line: {rows}"
    assert red.right < plain.left and plain.right < green.left, ("红红 then 白白 then 绿绿", red, plain, green)


def test_a_right_aligned_caption_lines_up_its_right_edges(video):
    first, second = lines_of(video, RIGHT + 0.5)
    assert second.width > first.width + 60, "the second line is the longer"
    assert abs(first.right - second.right) <= 3, (first, second)


def test_a_centred_caption_lines_up_its_centres(video):
    first, second = lines_of(video, CENTRED + 0.5)
    assert second.width > first.width + 60, "the second line is the longer"
    assert abs(first.centre_x - second.centre_x) <= 3, (first, second)
    assert second.right - first.right > 30, "not flush right"


@pytest.mark.parametrize("half, way", [("top", (1, 1)), ("bottom", (-1, -1))],
                         ids=["angle -45 falls to the lower right", "angle 135 to the upper left"])
def test_a_shadow_has_its_colour_and_falls_the_way_its_angle_says(video, half, way):
    frame = frame_at(video, SHADOWS + 0.5)
    region = (0, 0, WIDTH, HEIGHT // 2) if half == "top" else (0, HEIGHT // 2, WIDTH, HEIGHT)
    text = box_of(points(frame, white, region))
    shadow_pixels = points(frame, lambda p: looks_like(p, RED, 70), region)
    assert len(shadow_pixels) > 40, "the shadow shows in its own colour"
    shade = box_of(shadow_pixels)
    # The shadow is the text again, moved: it sticks out beyond the text on the side it falls to.
    dx = shade.right - text.right if way[0] > 0 else text.left - shade.left
    dy = shade.bottom - text.bottom if way[1] > 0 else text.top - shade.top
    assert 3 <= dx <= 14 and 3 <= dy <= 14, (text, shade)
    assert abs(dx - dy) <= 3, f"at 45° the shadow moves as far across as down: {dx}, {dy}"
    opposite_x = text.left - shade.left if way[0] > 0 else shade.right - text.right
    opposite_y = text.top - shade.top if way[1] > 0 else shade.bottom - text.bottom
    assert opposite_x < 2 and opposite_y < 2, "nothing of it on the other side"


def test_a_background_box_of_its_colour_and_alpha_surrounds_the_text(video):
    frame = frame_at(video, BACKGROUND + 0.5)
    expected = tuple(round(0.6 * a + 0.4 * n) for a, n in zip(AMBER, NAVY))
    box_pixels = points(frame, lambda p: looks_like(p, expected, 30))
    box, text = box_of(box_pixels), box_of(points(frame, white))
    assert box.left < text.left - 2 and box.right > text.right + 2, (box, text)
    assert box.top < text.top - 2 and box.bottom > text.bottom + 2, (box, text)
    assert len(box_pixels) > 0.6 * box.width * box.height, "a filled box, not an outline"
    for x, y in ((box.left - 8, text.top), (box.right + 8, text.bottom), (text.left, box.top - 8)):
        assert looks_like(frame.pixel(x, y), NAVY, 20), f"the box ends: ({x}, {y}) is {frame.pixel(x, y)}"


def test_a_fade_in_starts_invisible_and_ends_opaque(video):
    def opacity(second: float) -> float:
        frame = frame_at(video, second)
        brightest = max(min(frame.pixel(x, y)) for x in range(200, 440) for y in range(150, 210))
        return (brightest - min(NAVY)) / (255 - min(NAVY))

    start, halfway, after = opacity(FADE), opacity(FADE + 0.25), opacity(FADE + 0.7)
    assert start < 0.1, f"opacity {start:.2f} at the start of 渐显"
    assert 0.3 < halfway < 0.75, f"opacity {halfway:.2f} halfway through the 0.5 s fade"
    assert after > 0.9, f"opacity {after:.2f} after it"


def test_vertical_text_stacks_its_characters_in_a_column(video):
    found = points(frame_at(video, VERTICAL + 0.5), white)
    column = box_of(found)
    assert column.height > 3 * column.width, column
    characters = [box_of(c) for c in bands(found, axis=1, gap=2)]
    assert len(characters) == 4, f"竖排文字: four characters one above the other, {characters}"
    assert all(abs(c.centre_x - column.centre_x) <= 4 for c in characters), characters


# --- Chinese with no font on the machine ---------------------------------------------------------


EMPTY_FONTCONFIG = """<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">
<fontconfig>
  <cachedir>{cache}</cachedir>
</fontconfig>
"""


def test_chinese_is_drawn_in_real_glyphs_on_a_machine_with_no_fonts(tmp_path):
    config = tmp_path / "fonts.conf"
    config.write_text(EMPTY_FONTCONFIG.format(cache=tmp_path / "fc-cache"), encoding="utf-8")
    env = {**command_env(), "FONTCONFIG_FILE": str(config)}
    env.pop("FONTCONFIG_PATH", None)
    listed = subprocess.run(["fc-list"], env=env, capture_output=True, text=True) if _has_fc_list() else None
    assert listed is None or listed.stdout.strip() == "", "fontconfig sees no font at all"

    draft = DraftBuilder(tmp_path / "cjk", width=WIDTH, height=HEIGHT)
    draft.video(draft.track("video"), photo(draft.asset("assets/image/navy.png"), "0x102040", (WIDTH, HEIGHT)),
                start=0, duration=1)
    caption(draft, draft.track("text"), "永乐", start=0, duration=1, size=60)
    draft.write()
    out = tmp_path / "cjk.mp4"
    result = subprocess.run([sys.executable, "-m", "capcut_mate", "render", str(draft.folder), "-o", str(out)],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert not [line for line in result.stderr.splitlines()
                if "warning:" in line and ("字体" in line or "font" in line.lower())], result.stderr

    frame = frame_at(out, 0.5)
    found = points(frame, white)
    glyphs = bands(found, axis=0, gap=3)
    assert len(glyphs) == 2, f"two characters side by side, {[box_of(g) for g in glyphs]}"
    cells = [box_of(g) for g in glyphs]
    assert all(c.width > 40 and c.height > 40 for c in cells), f"60-size glyphs are about 80 px: {cells}"
    # The same cell (the wider and taller of the two) around each glyph's centre: tofu boxes would match.
    size_x, size_y = max(c.width for c in cells), max(c.height for c in cells)
    masks = []
    for cell in cells:
        left, top = round(cell.centre_x - size_x / 2), round((cell.top + cell.bottom) / 2 - size_y / 2)
        masks.append({(x - left, y - top) for x, y in found
                      if left <= x < left + size_x and top <= y < top + size_y})
    first, second = masks
    differing = len(first ^ second) / len(first | second)
    assert differing > 0.35, f"永 and 乐 look alike: {differing:.2f} of their ink differs"
    assert min(len(m) for m in masks) > 0.1 * size_x * size_y, "each has ink of its own"


def _has_fc_list() -> bool:
    return shutil.which("fc-list") is not None


# --- JianYing's own caption drafts ------------------------------------------------------------


def _shared_caption_drafts() -> list[Path]:
    if not SHARED_DRAFTS.is_dir():
        return []
    return sorted(p for p in SHARED_DRAFTS.glob("text_*") if (p / "draft_content.json").is_file())


@pytest.mark.skipif(not _shared_caption_drafts(), reason=f"no upstream caption drafts in {SHARED_DRAFTS}")
@pytest.mark.parametrize("folder", _shared_caption_drafts(), ids=lambda p: p.name)
def test_upstream_caption_drafts_leave_nothing_about_text_unrendered(folder, tmp_path, caplog):
    """Each draft as the exporter prepares it, up to ffmpeg: fetched, read, every caption drawn
    and the ffmpeg graph planned, with the warnings a job gets. (ffmpeg itself would take a
    minute on busy cores for the six 1080p drafts; text_shadow is rendered whole below.)"""
    job = ExportJob(1, 1, folder.as_uri(), folder.name, tmp_path, tmp_path / "output.mp4")
    with caplog.at_level(logging.WARNING, logger="capcut_mate.agent.ffmpeg"):
        _, plan = asyncio.run(plan_export(job, ExporterOptions(allow_local_drafts=True)))
    warnings = [r.getMessage().split(": ", 1)[1] for r in caplog.records if r.name == "capcut_mate.agent.ffmpeg"]
    left_out = [w for w in warnings if "未渲染" in w]
    assert not [w for w in left_out if any(word in w for word in ("文字", "花字", "字体", "text", "font"))], left_out

    content = json.loads((folder / "draft_content.json").read_text(encoding="utf-8"))
    captions = sorted(p for p in (tmp_path / "texts").glob("*.png") if not p.name.endswith(".order.png"))
    segments = sum(len(t["segments"]) for t in content["tracks"] if t.get("type") == "text")
    assert len(captions) == segments > 0, "every caption drawn"
    assert all(str(p) in plan.args or str(p) in plan.graph for p in captions), "and placed in the video"
    for picture in captions:
        with Image.open(picture) as image:
            assert image.getchannel("A").getextrema()[1] == 255, f"{picture.name} has opaque ink"


@pytest.mark.skipif(not (SHARED_DRAFTS / "text_shadow").is_dir(), reason="no upstream text_shadow draft")
def test_upstream_text_shadow_renders_its_pink_shadow_to_the_upper_right(tmp_path):
    """text_shadow (1080x1920): "投影 Shadow", white, centred at y ≈ 710, shadow #ff2d55 at
    angle 45 (upper right), distance 12, a little blur."""
    video, warnings = export(SHARED_DRAFTS / "text_shadow", tmp_path / "work")
    assert not [w for w in warnings if "未渲染" in w], warnings
    info = video_info(video)
    assert (info.width, info.height) == (1080, 1920) and abs(info.duration - 4.0) < 0.1, info
    frame = frame_at(video, 2.0)
    region = (0, 600, 1080, 820)
    text = box_of(points(frame, lambda p: min(p) > 200, region))
    pinks = points(frame, lambda p: p[0] > 100 and p[0] > p[1] + 60 and p[0] > p[2] + 30, region)
    assert len(pinks) > 300, "the pink-red shadow shows"
    shade = box_of(pinks)
    assert shade.top < text.top - 3 and shade.right > text.right + 3, ("up and to the right", text, shade)
    assert shade.left > text.left + 10 and shade.bottom < text.bottom - 10, ("not down or left", text, shade)


def test_a_bubble_is_drawn_as_a_box_behind_the_text_and_named(tmp_path):
    from capcut_mate.render.draft import parse_draft
    from capcut_mate.render.environment import bundled_font
    from capcut_mate.render.text.fonts import FontBook
    from capcut_mate.render.text.raster import TextRaster
    from capcut_mate.render.timeline import build_timeline

    draft = DraftBuilder(tmp_path / "bubble", width=640, height=360)
    segment = draft.text(draft.track("text"), "气泡 bubble", start=0, duration=1, size=12, y=0.0)
    draft.material("effects", {"type": "text_shape", "resource_id": "7100000000000000001"}, used_by=segment)
    draft.write()
    timeline = build_timeline(parse_draft((draft.folder / "draft_content.json").read_bytes()), {})
    assert timeline.warnings == ("近似: 文字气泡 7100000000000000001 (text bubbles)",)
    (layer,) = timeline.layers
    raster = TextRaster(640, 360, FontBook(bundled_font(), {}))
    plain = Image.open(raster.draw(layer.segment.material, tmp_path / "plain.png").path)
    bubbled = Image.open(raster.draw(layer.segment.material, tmp_path / "bubble.png", bubble=layer.bubble).path)
    corner = (plain.width // 2, 4)  # above the words, inside the box
    assert plain.getpixel(corner)[3] == 0, "no box without a bubble"
    assert bubbled.getpixel(corner)[3] > 100 and max(bubbled.getpixel(corner)[:3]) < 40, "a dark box behind"


def test_captions_sharing_a_text_effect_keep_their_own_words(tmp_path):
    """A draft that gives every caption the same 花字 (the usual case) shows each caption's
    own words, drawn in the look that 花字 stands for, named once as approximated."""
    draft = DraftBuilder(tmp_path / "huazi", width=WIDTH, height=HEIGHT)
    draft.video(draft.track("video"), photo(draft.asset("assets/image/navy.png"), "0x102040", (WIDTH, HEIGHT)),
                start=0, duration=2)
    track = draft.track("text")
    for n, words in enumerate(["第一句", "第二句话"]):
        segment = caption(draft, track, words, start=n, duration=1)
        draft.material("effects", {"type": "text_effect", "resource_id": "7405565480678739200"}, used_by=segment)
    draft.write()
    video, warnings = export(draft.folder, tmp_path / "work")
    assert [w for w in warnings if "花字" in w] == ["warning: 近似: 花字 黄色发光字 ×2 (text effects)"], warnings
    first, second = (box_of(points(frame_at(video, t), ink)) for t in (0.5, 1.5))
    assert second.width > first.width * 1.2, ("four characters after three", first, second)
    yellow = points(frame_at(video, 0.5), lambda p: p[0] > 200 and p[1] > 180 and p[2] < 140)
    assert len(yellow) > 100, "drawn in the 花字's yellow"


# --- Fonts ---------------------------------------------------------------------------------------


def _glyph_cells(picture: Path) -> list[tuple[Box, float]]:
    """Each character's ink in a caption picture, left to right: its box and the share of
    the box the ink fills."""
    with Image.open(picture) as image:
        alpha = image.getchannel("A")
        inked = [(x, y) for y in range(image.height) for x in range(image.width) if alpha.getpixel((x, y)) > 128]
    cells = []
    for glyph in bands(inked, axis=0, gap=2):
        cell = box_of(glyph)
        cells.append((cell, len(glyph) / ((cell.width + 1) * (cell.height + 1))))
    return cells


@pytest.mark.parametrize("how", ["named by the draft", "configured as the default"])
def test_a_font_without_chinese_draws_its_letters_and_chinese_falls_back_to_real_glyphs(tmp_path, how):
    from capcut_mate.render.draft.text import TextMaterial, TextStyle
    from capcut_mate.render.environment import bundled_font
    from capcut_mate.render.text.fonts import FaceChoice, FontBook
    from capcut_mate.render.text.raster import TextRaster

    blocks = FaceChoice(block_font(tmp_path / "CapcutTestBlocks.ttf"))
    bundled = bundled_font()
    if how == "named by the draft":
        book = FontBook(bundled, {"capcuttestblocks": blocks}, fallbacks=[bundled])
        font_path = r"C:\JianyingPro\Resources\Font\CapcutTestBlocks.ttf"  # as JianYing writes it
    else:
        book, font_path = FontBook(blocks, {}, fallbacks=[bundled]), ""
    material = TextMaterial("AA永乐", (TextStyle(0, 4, 24, "#ffffff", 1.0, font_path=font_path),))
    picture = TextRaster(640, 360, book).draw(material, tmp_path / "mixed.png")

    cells = _glyph_cells(picture.path)
    assert len(cells) == 4, cells
    assert all(fill > 0.8 for _, fill in cells[:2]), f"the As are the named font's blocks: {cells}"
    assert all(fill < 0.5 for _, fill in cells[2:]), f"永 and 乐 are real glyphs, not .notdef blocks: {cells}"
    assert not book.missing_fonts and not book.missing_chars


def test_a_character_no_font_has_is_named_and_not_drawn_as_a_box(tmp_path):
    draft = DraftBuilder(tmp_path / "emoji", width=WIDTH, height=HEIGHT)
    draft.video(draft.track("video"), photo(draft.asset("assets/image/navy.png"), "0x102040", (WIDTH, HEIGHT)),
                start=0, duration=1)
    caption(draft, draft.track("text"), "好😀", start=0, duration=1, size=40)
    draft.write()
    video, warnings = export(draft.folder, tmp_path / "work")
    assert "warning: 未渲染: 字符 😀 (characters no font on this machine has)" in warnings, warnings
    glyphs = bands(points(frame_at(video, 0.5), white), axis=0, gap=3)
    assert len(glyphs) == 1, f"好 alone, no box beside it: {[box_of(g) for g in glyphs]}"


def test_a_family_name_means_its_regular_face_and_a_file_name_that_file(monkeypatch):
    from capcut_mate.render import environment

    listing = (  # fc-list's order is the file system's: the regular face is not first
        "DejaVu Sans,DejaVu Sans Light\tExtraLight\t/fonts/DejaVuSans-ExtraLight.ttf\t0",
        "DejaVu Sans\tBold Oblique\t/fonts/DejaVuSans-BoldOblique.ttf\t0",
        "DejaVu Sans\tBold\t/fonts/DejaVuSans-Bold.ttf\t0",
        "DejaVu Sans\tBook\t/fonts/DejaVuSans.ttf\t0",
        "Noto Serif CJK SC,Noto Serif CJK SC SemiBold\tSemiBold,Regular\t/fonts/NotoSerifCJK.ttc\t2",
    )

    async def fontconfig(*command: str) -> tuple[str, ...]:
        return listing

    monkeypatch.setattr(environment, "_fontconfig", fontconfig)
    faces = asyncio.run(environment.machine_faces())
    assert faces["dejavu sans"] == environment.FaceChoice(Path("/fonts/DejaVuSans.ttf"))
    assert faces["dejavusans-bold"] == environment.FaceChoice(Path("/fonts/DejaVuSans-Bold.ttf"))
    assert faces["dejavu sans light"].path.name == "DejaVuSans-ExtraLight.ttf"
    assert faces["noto serif cjk sc"] == environment.FaceChoice(Path("/fonts/NotoSerifCJK.ttc"), 2)


def test_a_strokes_own_alpha_is_applied(tmp_path):
    import json as json_module

    from capcut_mate.render.draft.text import read_text_material
    from capcut_mate.render.environment import bundled_font
    from capcut_mate.render.text.fonts import FontBook
    from capcut_mate.render.text.raster import TextRaster

    half_red = style(0, 4, "#ffffff", size=30, stroke=("#ff0000", 0.2))
    half_red["strokes"][0]["content"]["solid"]["alpha"] = 0.5
    material = read_text_material({"content": json_module.dumps({"text": "描边", "styles": [half_red]})})
    assert material.base.stroke_alpha == 0.5
    picture = TextRaster(640, 360, FontBook(bundled_font(), {})).draw(material, tmp_path / "stroke.png")
    with Image.open(picture.path) as image:
        pixels = image.convert("RGBA").load()
        reds = sorted(pixels[x, y][3] for y in range(image.height) for x in range(image.width)
                      if pixels[x, y][3] > 0 and pixels[x, y][0] > 200 and max(pixels[x, y][1:3]) < 40)
    typical = reds[len(reds) // 2] if reds else None  # the median: edges are fainter, overlaps denser
    assert typical in range(118, 139), f"the stroke at half opacity: {typical}"


def test_hollow_text_a_clear_fill_with_a_solid_stroke_keeps_its_stroke(tmp_path):
    import json as json_module

    from capcut_mate.render.draft.text import read_text_material
    from capcut_mate.render.environment import bundled_font
    from capcut_mate.render.text.fonts import FontBook
    from capcut_mate.render.text.raster import TextRaster

    hollow = style(0, 4, "#ffffff", size=30, alpha=0.0, stroke=("#ff0000", 0.2))
    material = read_text_material({"content": json_module.dumps({"text": "空心", "styles": [hollow]})})
    picture = TextRaster(640, 360, FontBook(bundled_font(), {})).draw(material, tmp_path / "hollow.png")
    with Image.open(picture.path) as image:
        pixels = image.convert("RGBA").load()
        opaque_red = sum(1 for y in range(image.height) for x in range(image.width)
                         if pixels[x, y][3] > 200 and pixels[x, y][0] > 200 and max(pixels[x, y][1:3]) < 40)
        white = sum(1 for y in range(image.height) for x in range(image.width)
                    if pixels[x, y][3] > 200 and min(pixels[x, y][:3]) > 200)
    assert opaque_red > 200 and white == 0, (opaque_red, white)
