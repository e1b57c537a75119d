"""Text materials (`materials.texts[]`): the words, their styles by range, and the layout.

`content` is a JSON string `{"text": …, "styles": [{"range": [a, b], "size", "fill",
"strokes", "shadows", "bold", …}]}` (older drafts keep markup like `<size=15>[words]</size>`).
Ranges here are character indices into `text`, end exclusive. Upstream writes the base
style's range in UTF-16LE bytes (12 characters → [0, 24]) and keyword styles in characters;
a range that only makes sense as bytes is read as bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from capcut_mate.render.draft.fields import DraftError, as_dict, as_list, hex_colour, loads, number

DEFAULT_TEXT_SIZE = 15.0  # JianYing's default font size
MAX_TEXT_CHARACTERS = 5000  # a caption longer than this is refused
MAX_TEXT_SIZE = 300.0  # JianYing's own slider stops at 300
_LEGACY_TAG = re.compile(r"<[^>]*>")


@dataclass(frozen=True)
class Shadow:
    color: str  # '#rrggbb'
    alpha: float  # 0..1
    angle: float  # degrees; JianYing's default is -45
    distance: float  # JianYing's unit: 2 pixels on a 1080-pixel short side (render.text.raster)
    diffuse: float  # blur, 0..1


@dataclass(frozen=True)
class TextStyle:
    start: int  # character index, inclusive
    end: int  # exclusive
    size: float  # JianYing's font size unit
    color: str
    alpha: float
    bold: bool = False
    italic: bool = False
    underline: bool = False
    stroke_color: str | None = None
    stroke_width: float = 0.0  # relative to the font size (0.08 is the editor's 40)
    stroke_alpha: float = 1.0
    shadow: Shadow | None = None
    font_name: str = ""
    font_path: str = ""


@dataclass(frozen=True)
class TextMaterial:
    text: str
    styles: tuple[TextStyle, ...]  # in the draft's order: later ones win where they overlap
    alignment: int = 1  # 0 left, 1 centre, 2 right
    vertical: bool = False  # typesetting 1
    letter_spacing: float = 0.0  # in font sizes (argument × 0.05)
    line_spacing: float = 0.02  # in font sizes, added to the line height
    line_max_width: float = 0.82  # share of the canvas width before wrapping
    global_alpha: float = 1.0
    background_color: str | None = None
    background_alpha: float = 1.0
    background_round: float = 0.0

    @property
    def base(self) -> TextStyle:
        return self.styles[0]


def read_text_material(entry: dict[str, Any]) -> TextMaterial:
    text, raw_styles = _content(entry.get("content"))
    if len(text) > MAX_TEXT_CHARACTERS:
        raise DraftError(f"文字超过 {MAX_TEXT_CHARACTERS} 个字符")
    fallback = {"size": entry.get("font_size"), "color": entry.get("text_color")}
    styles = [_style(as_dict(s), text, fallback) for s in raw_styles] or [_style({}, text, fallback)]
    background = hex_colour(entry.get("background_color")) if entry.get("background_color") else None
    return TextMaterial(
        text=text,
        styles=tuple(styles),
        alignment=int(number(entry.get("alignment"), 1)) if entry.get("alignment") in (0, 1, 2, 3, 4, 5) else 1,
        vertical=int(number(entry.get("typesetting"), 0)) == 1,
        letter_spacing=min(max(number(entry.get("letter_spacing"), 0.0), -0.5), 5.0),
        line_spacing=min(max(number(entry.get("line_spacing"), 0.02), -0.5), 5.0),
        line_max_width=min(max(number(entry.get("line_max_width"), 0.82), 0.05), 1.0),
        global_alpha=min(max(number(entry.get("global_alpha"), 1.0), 0.0), 1.0),
        background_color=background,
        background_alpha=min(max(number(entry.get("background_alpha"), 1.0), 0.0), 1.0),
        background_round=min(max(number(entry.get("background_round_radius"), 0.0), 0.0), 1.0),
    )


def _content(raw: Any) -> tuple[str, list[Any]]:
    raw = "" if raw is None else str(raw)
    try:
        content = loads(raw)
    except ValueError:
        content = None
    if isinstance(content, dict):
        return str(content.get("text") or ""), as_list(content.get("styles"))
    text = _LEGACY_TAG.sub("", raw)
    return (text[1:-1] if text.startswith("[") and text.endswith("]") else text), []


def _style(style: dict[str, Any], text: str, fallback: dict[str, Any]) -> TextStyle:
    fill = as_dict(style.get("fill"))
    solid = as_dict(as_dict(fill.get("content")).get("solid"))
    strokes = as_list(style.get("strokes"))
    stroke = as_dict(strokes[0]) if strokes else {}
    stroke_solid = as_dict(as_dict(stroke.get("content")).get("solid"))
    shadows = as_list(style.get("shadows"))
    font = as_dict(style.get("font"))
    start, end = _char_range(as_list(style.get("range")), text)
    return TextStyle(
        start=start, end=end,
        size=min(max(number(style.get("size"), number(fallback.get("size"), DEFAULT_TEXT_SIZE)), 0.1), MAX_TEXT_SIZE),
        color=hex_colour(solid.get("color")) or hex_colour(fallback.get("color")) or "#ffffff",
        alpha=min(max(number(fill.get("alpha"), 1.0) * number(solid.get("alpha"), 1.0), 0.0), 1.0),
        bold=bool(style.get("bold")), italic=bool(style.get("italic")), underline=bool(style.get("underline")),
        stroke_color=hex_colour(stroke_solid.get("color")) if stroke else None,
        stroke_width=min(max(number(stroke.get("width"), 0.0), 0.0), 1.0) if stroke else 0.0,
        stroke_alpha=min(max(number(stroke_solid.get("alpha"), 1.0), 0.0), 1.0),
        shadow=_shadow(as_dict(shadows[0])) if shadows else None,
        font_name=str(font.get("id") or font.get("name") or ""), font_path=str(font.get("path") or ""),
    )


def _shadow(shadow: dict[str, Any]) -> Shadow:
    solid = as_dict(as_dict(shadow.get("content")).get("solid"))
    return Shadow(
        color=hex_colour(solid.get("color")) or "#000000",
        alpha=min(max(number(shadow.get("alpha"), 0.9), 0.0), 1.0),
        angle=number(shadow.get("angle"), -45.0),
        distance=min(max(number(shadow.get("distance"), 5.0), 0.0), 100.0),
        diffuse=min(max(number(shadow.get("diffuse"), 0.0), 0.0), 1.0),
    )


def _char_range(raw: list[Any], text: str) -> tuple[int, int]:
    if len(raw) < 2:
        return 0, len(text)
    start, end = int(number(raw[0], 0)), int(number(raw[1], len(text)))
    utf16_bytes = len(text.encode("utf-16-le"))
    if end > len(text) and end <= utf16_bytes:  # upstream's base range: UTF-16LE bytes
        start, end = _utf16_to_index(text, start // 2), _utf16_to_index(text, end // 2)
    start = min(max(start, 0), len(text))
    return start, min(max(end, start), len(text))


def _utf16_to_index(text: str, units: int) -> int:
    count = 0
    for index, character in enumerate(text):
        if count >= units:
            return index
        count += 2 if ord(character) > 0xFFFF else 1
    return len(text)
