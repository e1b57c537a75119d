"""Captions, text animations, volume keyframes and audio fades for DraftBuilder drafts, in the
shape upstream capcut-mate (pyJianYingDraft) writes them (../shared/spec/DRAFT_FEATURES.md,
"Captions" and "Audio").

A caption's `content` is a JSON string of its text and style ranges; the first style's range is
written, as upstream writes it, in UTF-16LE bytes, later (keyword) styles in characters.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support.drafts import FFMPEG, DraftBuilder, microseconds
from support.videos import Frame


def rgb(colour: str) -> list[float]:
    """'#rrggbb' as the draft's [r, g, b] in 0–1."""
    return [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]


def style(start: int, end: int, colour: str = "#ffffff", *, size: float = 24.0, alpha: float = 1.0,
          shadow: dict[str, Any] | None = None, stroke: tuple[str, float] | None = None) -> dict[str, Any]:
    """One style range: characters [start, end) in `colour`, JianYing font `size`."""
    fill = {"alpha": 1.0, "content": {"render_type": "solid", "solid": {"alpha": alpha, "color": rgb(colour)}}}
    entry = {"fill": fill, "range": [start, end], "size": size, "bold": False, "italic": False, "underline": False,
             "strokes": []}
    if stroke:
        entry["strokes"] = [{"content": {"solid": {"alpha": 1.0, "color": rgb(stroke[0])}}, "width": stroke[1]}]
    if shadow:
        entry["shadows"] = [shadow]
    return entry


def shadow(colour: str, *, angle: float = -45.0, distance: float = 5.0, alpha: float = 0.9,
           diffuse: float = 0.0) -> dict[str, Any]:
    """A style's shadow: angle in degrees (JianYing's default −45), distance in its font-size unit."""
    return {"diffuse": diffuse, "alpha": alpha, "distance": distance, "angle": angle,
            "content": {"solid": {"color": rgb(colour)}}}


def caption(draft: DraftBuilder, track: dict[str, Any], words: str, *, start: float, duration: float,
            styles: list[dict[str, Any]] | None = None, colour: str = "#ffffff", size: float = 24.0,
            x: float = 0.0, y: float = 0.0, **fields: Any) -> dict[str, Any]:
    """A text segment (`add_captions`): `styles` beyond the base one (white, `size`), and the
    material's own `fields` (alignment, typesetting, background_color, background_alpha, …)."""
    base = style(0, len(words.encode("utf-16-le")), colour, size=size)
    content = json.dumps({"styles": [base, *(styles or [])], "text": words}, ensure_ascii=False)
    material = {"type": "subtitle", "content": content, "typesetting": 0, "alignment": 1, "letter_spacing": 0.0,
                "line_spacing": 0.02, "line_max_width": 0.82, "global_alpha": 1.0, "check_flag": 7, **fields}
    material_id = draft.material("texts", material)
    segment = {
        "id": uuid.uuid4().hex, "material_id": material_id, "visible": True, "render_index": 15000,
        "clip": {"alpha": 1.0, "flip": {"horizontal": False, "vertical": False}, "rotation": 0.0,
                 "scale": {"x": 1.0, "y": 1.0}, "transform": {"x": x, "y": y}},
        "uniform_scale": {"on": True, "value": 1.0},
        "target_timerange": {"start": microseconds(start), "duration": microseconds(duration)},
        "source_timerange": None, "extra_material_refs": [], "common_keyframes": [], "keyframe_refs": [],
        "speed": 1.0, "volume": 1.0,
    }
    track["segments"].append(segment)
    return segment


def text_animation(draft: DraftBuilder, segment: dict[str, Any], name: str, kind: str, start: float,
                   duration: float) -> None:
    """A caption's in / out / loop animation (start: seconds from the segment's start), as
    add_captions writes it: panel "", material_type "sticker", one entry per segment."""
    item = {"anim_adjust_params": None, "platform": "all", "panel": "", "material_type": "sticker", "name": name,
            "id": "0", "type": kind, "resource_id": "0", "start": microseconds(start),
            "duration": microseconds(duration)}
    draft.material("material_animations", {"type": "sticker_animation", "multi_language_current": "none",
                                           "animations": [item]}, used_by=segment)


def volume_keyframes(segment: dict[str, Any], points: list[tuple[float, float]]) -> None:
    """KFTypeVolume keyframes: (seconds from the segment's start, linear gain), linear between."""
    segment["common_keyframes"].append({
        "id": uuid.uuid4().hex, "material_id": "", "property_type": "KFTypeVolume", "keyframe_list": [
            {"curveType": "Line", "graphID": "", "id": uuid.uuid4().hex, "time_offset": microseconds(offset),
             "values": [value], "left_control": {"x": 0.0, "y": 0.0}, "right_control": {"x": 0.0, "y": 0.0}}
            for offset, value in points]})


def audio_fade(draft: DraftBuilder, segment: dict[str, Any], *, fade_in: float = 0.0, fade_out: float = 0.0) -> str:
    """pyJianYingDraft's `materials.audio_fades` entry (lengths in µs), referenced from the segment."""
    return draft.material("audio_fades", {"type": "audio_fade", "fade_type": 0,
                                          "fade_in_duration": microseconds(fade_in),
                                          "fade_out_duration": microseconds(fade_out)}, used_by=segment)


def audio_effect(draft: DraftBuilder, segment: dict[str, Any], name: str) -> str:
    """`audio_effect` of add_audios: a `materials.audio_effects` resource (回音 …), referenced from the segment."""
    return draft.material("audio_effects", {"type": "audio_effect", "name": name, "resource_id": "7018011608408396325",
                                            "audio_adjust_params": [{"name": "change_voice_param_quantity",
                                                                     "value": 0.8}]}, used_by=segment)


# --- Reading what a rendered video holds ------------------------------------------------------


@dataclass(frozen=True)
class Box:
    left: int
    top: int
    right: int  # inclusive
    bottom: int  # inclusive

    @property
    def width(self) -> int:
        return self.right - self.left + 1

    @property
    def height(self) -> int:
        return self.bottom - self.top + 1

    @property
    def centre_x(self) -> float:
        return (self.left + self.right) / 2


def volume_db(path: Path, start: float, seconds: float = 0.2) -> float:
    """The mean volume (RMS, dBFS) of `seconds` of sound from `start`; -91 for digital silence."""
    text = subprocess.run([FFMPEG, "-hide_banner", "-nostdin", "-ss", str(start), "-t", str(seconds), "-i", str(path),
                           "-map", "0:a", "-af", "volumedetect", "-f", "null", "-"],
                          capture_output=True, text=True).stderr
    found = re.search(r"mean_volume: (-?[\d.]+|-inf) dB", text)
    assert found, f"no sound measured at {start} s: {text[-500:]}"
    return -91.0 if found.group(1) == "-inf" else float(found.group(1))


def points(frame: Frame, keep: Callable[[tuple[int, int, int]], bool],
           region: tuple[int, int, int, int] | None = None) -> list[tuple[int, int]]:
    """The (x, y) of every pixel of `frame` (in `region`: left, top, right, bottom, exclusive) that `keep` keeps."""
    left, top, right, bottom = region or (0, 0, frame.width, frame.height)
    rgb, width = frame.rgb, frame.width
    found = []
    for y in range(top, bottom):
        row = y * width * 3
        for x in range(left, right):
            offset = row + x * 3
            if keep((rgb[offset], rgb[offset + 1], rgb[offset + 2])):
                found.append((x, y))
    return found


def box_of(found: list[tuple[int, int]]) -> Box:
    assert found, "nothing found"
    xs, ys = [x for x, _ in found], [y for _, y in found]
    return Box(min(xs), min(ys), max(xs), max(ys))


def bands(found: list[tuple[int, int]], axis: int = 1, gap: int = 1) -> list[list[tuple[int, int]]]:
    """`found` split into runs along rows (axis 1) or columns (axis 0) with `gap` or more empty ones
    between them: the lines of a caption, or the characters of a column."""
    groups: list[list[tuple[int, int]]] = []
    last = None
    for point in sorted(found, key=lambda p: p[axis]):
        if last is None or point[axis] - last > gap:
            groups.append([])
        groups[-1].append(point)
        last = point[axis]
    return groups


def block_font(path: Path, family: str = "Capcut Test Blocks") -> Path:
    """A TrueType font with one glyph, "A", a solid block 0.4 em wide and 0.7 em high; its
    .notdef (what a missing character would be drawn as) is a solid block too. Ink that
    fills its box is this font's; a real Chinese glyph never does."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    def block(left: int, right: int):
        pen = TTGlyphPen(None)
        pen.moveTo((left, 0))
        pen.lineTo((left, 700))
        pen.lineTo((right, 700))
        pen.lineTo((right, 0))
        pen.closePath()
        return pen.glyph()

    font = FontBuilder(1000, isTTF=True)
    font.setupGlyphOrder([".notdef", "space", "A"])
    font.setupCharacterMap({ord(" "): "space", ord("A"): "A"})
    font.setupGlyf({".notdef": block(50, 450), "space": TTGlyphPen(None).glyph(), "A": block(100, 500)})
    font.setupHorizontalMetrics({".notdef": (500, 50), "space": (300, 0), "A": (600, 100)})
    font.setupHorizontalHeader(ascent=800, descent=-200)
    font.setupNameTable({"familyName": family, "styleName": "Regular"})
    font.setupOS2(sTypoAscender=800, sTypoDescender=-200, usWinAscent=800, usWinDescent=200)
    font.setupPost()
    font.save(str(path))
    return path
