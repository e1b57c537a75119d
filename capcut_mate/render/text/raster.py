"""A text material drawn to a transparent PNG with Pillow, as JianYing lays it out.

What is drawn, per character, from the style ranges that cover it (later styles win):
font size, fill colour and alpha, stroke, shadow, bold (a stroke of the fill's own colour,
for fonts with no bold face), italic (a 12° slant), underline. Per text: alignment of each
line within the block (left, centre, right), letter and line spacing, wrapping at
`line_max_width` of the canvas width (CJK between any two characters, other scripts at
spaces), vertical typesetting (columns top to bottom, right to left) and the background box
(colour, alpha, round corners).

Units: JianYing's font size × `PIXELS_PER_SIZE` × (canvas short side / 1080) is the pixel
size (size 15, the default, is 60 px on a 1080-pixel short side; JianYing publishes no
conversion). Shadow distance is 2 pixels per unit on a 1080-pixel short side; its diffuse
(0..1) is a blur of up to one font size. A shadow's angle is degrees counter-clockwise from the right,
so JianYing's default −45 falls to the lower right.

The image's centre is the text block's centre: the layer's position.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from capcut_mate.render.draft.fields import DraftError
from capcut_mate.render.draft.text import Shadow, TextMaterial, TextStyle
from capcut_mate.render.text.fonts import FaceChoice, FontBook

PIXELS_PER_SIZE = 4.0
MAX_PICTURE_PIXELS = 4096 * 4096  # a caption's picture larger than this is refused
ITALIC_SLANT = math.tan(math.radians(12))
_CJK = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\u3000-\u303f]")


@dataclass(frozen=True)
class TextImage:
    path: Path
    width: int
    height: int
    order: Path | None = None  # the typewriter's order picture (TextRaster.draw), the same size
    steps: int = 0  # the character numbers it holds, 1..steps


@dataclass(frozen=True)
class _Glyph:
    char: str
    style: TextStyle
    size: int  # pixels
    face: FaceChoice | None  # None: no face here has this character, so it is not drawn
    x: float = 0.0  # left of its advance, within the block
    baseline: float = 0.0
    advance: float = 0.0
    line: int = 0  # its line (vertical text: column), in reading order
    box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # its cell in the block: left, top, right, bottom


class TextRaster:
    """Draws text materials for one canvas; fonts are loaded once per face and size."""

    def __init__(self, canvas_width: int, canvas_height: int, fonts: FontBook):
        self.canvas_width = canvas_width
        self.unit = PIXELS_PER_SIZE * min(canvas_width, canvas_height) / 1080  # pixels per JianYing size
        self.fonts = fonts
        self._loaded: dict[tuple[FaceChoice, int], ImageFont.FreeTypeFont] = {}

    def font(self, face: FaceChoice | None, size: int) -> ImageFont.FreeTypeFont:
        """`face` (the default face for None) at `size` pixels."""
        key = (face or self.fonts.default, size)
        if key not in self._loaded:
            self._loaded[key] = ImageFont.truetype(str(key[0].path), size, index=key[0].index)
        return self._loaded[key]

    def draw(self, material: TextMaterial, output: Path, *, effect: TextStyle | None = None,
             bubble: bool = False, order: Path | None = None) -> TextImage:
        """Draw `material` (or, for 花字, its words in `effect`'s look) into `output`; a bubble
        resource, which the draft only names, as a dark rounded box behind the text. With
        `order`, also the picture a typewriter reveal needs there (`reveal_order`)."""
        styles = material.styles if effect is None else (replace(effect, start=0, end=len(material.text)),)
        if bubble and not material.background_color:
            material = replace(material, background_color="#000000", background_alpha=0.6, background_round=0.6)
        glyphs, block_w, block_h = self._layout(material, styles)
        base_px = max(g.size for g in glyphs) if glyphs else round(material.base.size * self.unit)
        margin = self._margin(styles, base_px)
        width, height = math.ceil(block_w + 2 * margin), math.ceil(block_h + 2 * margin)
        if width * height > MAX_PICTURE_PIXELS:
            raise DraftError(f"文字画面 {width}×{height} 过大")
        image = Image.new("RGBA", (max(width, 2), max(height, 2)), (0, 0, 0, 0))
        if material.background_color and material.background_alpha > 0:
            self._background(image, material, margin, block_w, block_h, base_px)
        for shadow in dict.fromkeys(s.shadow for s in styles if s.shadow):  # in the draft's order, every run
            self._shadow(image, [g for g in glyphs if g.style.shadow == shadow], shadow, margin)
        self._glyphs(image, glyphs, margin)
        image.save(output)
        if order is None:
            return TextImage(output, image.width, image.height)
        numbers, steps = reveal_order(glyphs, image.size, margin, material.vertical)
        numbers.save(order)
        return TextImage(output, image.width, image.height, order, steps)

    # --- layout ---------------------------------------------------------------------------

    def _layout(self, material: TextMaterial, styles: tuple[TextStyle, ...]) -> tuple[list[_Glyph], float, float]:
        text = material.text
        per_char = [styles[0]] * len(text)
        for style in styles:
            for index in range(style.start, style.end):
                per_char[index] = style
        spacing = material.letter_spacing * material.base.size * self.unit
        glyphs = []
        for char, style in zip(text, per_char):
            size = max(1, round(style.size * self.unit))
            face = self.fonts.face_for(style, char)
            advance = self.font(face, size).getlength(char) if char != "\n" and face else 0.0
            glyphs.append(_Glyph(char, style, size, face, advance=advance + (spacing if char != "\n" else 0.0)))
        if material.vertical:
            return self._columns(glyphs, material)
        lines = self._wrap(glyphs, material.line_max_width * self.canvas_width)
        return self._place_lines(lines, material)

    def _wrap(self, glyphs: list[_Glyph], max_width: float) -> list[list[_Glyph]]:
        lines: list[list[_Glyph]] = []
        for paragraph in _split(glyphs, "\n"):
            line: list[_Glyph] = []
            width = 0.0
            for word in _words(paragraph):
                advance = sum(g.advance for g in word)
                if line and width + advance > max_width:
                    lines.append(_trim(line))
                    line = [g for g in word if not g.char.isspace()]  # a new line starts with no space
                    width = sum(g.advance for g in line)
                else:
                    line += word
                    width += advance
            lines.append(_trim(line))
        return lines

    def _place_lines(self, lines: list[list[_Glyph]], material: TextMaterial) -> tuple[list[_Glyph], float, float]:
        placed, y, widths, metrics = [], 0.0, [], []
        for line in lines:
            ascent = max((self.font(g.face, g.size).getmetrics()[0] for g in line), default=self._ascent(material))
            descent = max((self.font(g.face, g.size).getmetrics()[1] for g in line), default=0)
            widths.append(sum(g.advance for g in line) - (self._spacing(material) if line else 0.0))
            metrics.append((ascent, descent))
        block_w = max(widths, default=0.0)
        gap = material.line_spacing * material.base.size * self.unit
        for number, (line, width, (ascent, descent)) in enumerate(zip(lines, widths, metrics)):
            offset = {0: 0.0, 2: block_w - width}.get(material.alignment, (block_w - width) / 2)
            x = offset
            for glyph in line:
                placed.append(replace(glyph, x=x, baseline=y + ascent, line=number,
                                      box=(x, y, x + glyph.advance, y + ascent + descent)))
                x += glyph.advance
            y += ascent + descent + gap
        return placed, max(block_w, 1.0), max(y - gap, 1.0)

    def _columns(self, glyphs: list[_Glyph], material: TextMaterial) -> tuple[list[_Glyph], float, float]:
        """Vertical text: each paragraph a column, read top to bottom, columns right to left."""
        columns = list(_split(glyphs, "\n"))
        column_w = max((g.size for g in glyphs), default=1) * 1.1
        gap = material.line_spacing * material.base.size * self.unit
        spacing = self._spacing(material)
        heights = [sum(g.size + spacing for g in column) - spacing for column in columns]
        block_h = max(heights, default=1.0)
        block_w = len(columns) * column_w + (len(columns) - 1) * gap
        placed = []
        for number, (column, height) in enumerate(zip(columns, heights)):
            left = block_w - (number + 1) * column_w - number * gap
            top = {3: 0.0, 5: block_h - height}.get(material.alignment, (block_h - height) / 2)
            for glyph in column:
                ascent = self.font(glyph.face, glyph.size).getmetrics()[0]
                advance = self.font(glyph.face, glyph.size).getlength(glyph.char) if glyph.face else 0.0
                placed.append(replace(glyph, x=left + (column_w - advance) / 2, baseline=top + ascent * 0.88,
                                      line=number, box=(left, top, left + column_w, top + glyph.size)))
                top += glyph.size + spacing
        return placed, max(block_w, 1.0), max(block_h, 1.0)

    def _ascent(self, material: TextMaterial) -> int:
        return self.font(None, max(1, round(material.base.size * self.unit))).getmetrics()[0]

    def _spacing(self, material: TextMaterial) -> float:
        return material.letter_spacing * material.base.size * self.unit

    def _margin(self, styles: tuple[TextStyle, ...], base_px: int) -> float:
        """Room around the block for strokes, slants and shadows."""
        margin = base_px * 0.3
        for style in styles:
            margin = max(margin, style.stroke_width * base_px * 1.5 + 2)
            if style.shadow:
                margin = max(margin, self._shadow_distance(style.shadow) + self._shadow_blur(style.shadow, base_px) * 3)
        return math.ceil(margin)

    # --- drawing --------------------------------------------------------------------------

    def _glyphs(self, image: Image.Image, glyphs: list[_Glyph], margin: float) -> None:
        draw = ImageDraw.Draw(image)
        for glyph in glyphs:  # strokes first, so that no stroke covers a neighbour's fill
            if glyph.style.stroke_color and glyph.style.stroke_width > 0 and not glyph.char.isspace():
                width = max(1, round(glyph.style.stroke_width * glyph.size))
                # The stroke's own opacity: outlined (hollow) text has a clear fill and a solid stroke.
                colour = _rgba(glyph.style.stroke_color, glyph.style.stroke_alpha)
                self._char(image, draw, glyph, margin, colour, stroke=width, stroke_colour=colour)
        for glyph in glyphs:
            if glyph.char.isspace() and not glyph.style.underline:
                continue
            colour = _rgba(glyph.style.color, glyph.style.alpha)
            bold = max(1, round(glyph.size / 28)) if glyph.style.bold else 0
            self._char(image, draw, glyph, margin, colour, stroke=bold, stroke_colour=colour)
            if glyph.style.underline:
                y = margin + glyph.baseline + glyph.size * 0.12
                draw.line([(margin + glyph.x, y), (margin + glyph.x + glyph.advance, y)], fill=colour,
                          width=max(1, round(glyph.size / 16)))

    def _char(self, image: Image.Image, draw: ImageDraw.ImageDraw, glyph: _Glyph, margin: float,
              colour: tuple[int, int, int, int], *, stroke: int = 0, stroke_colour=None) -> None:
        if glyph.face is None:
            return
        font = self.font(glyph.face, glyph.size)
        position = (margin + glyph.x, margin + glyph.baseline)
        if not glyph.style.italic:
            draw.text(position, glyph.char, font=font, fill=colour, anchor="ls", stroke_width=stroke,
                      stroke_fill=stroke_colour)
            return
        # A slanted character: drawn upright on its own, then sheared about its baseline.
        pad = glyph.size
        tile = Image.new("RGBA", (max(1, math.ceil(glyph.advance + 2 * pad)), glyph.size * 2 + 2 * pad), (0, 0, 0, 0))
        baseline = glyph.size * 1.5 + pad
        ImageDraw.Draw(tile).text((pad, baseline), glyph.char, font=font, fill=colour, anchor="ls",
                                  stroke_width=stroke, stroke_fill=stroke_colour)
        tile = tile.transform(tile.size, Image.Transform.AFFINE, (1, ITALIC_SLANT, -ITALIC_SLANT * baseline, 0, 1, 0),
                              resample=Image.Resampling.BICUBIC)
        image.alpha_composite(tile, (round(position[0] - pad), round(position[1] - baseline)))

    def _shadow(self, image: Image.Image, glyphs: list[_Glyph], shadow: Shadow, margin: float) -> None:
        layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(layer)
        colour = _rgba(shadow.color, 1.0)
        for glyph in glyphs:
            if not glyph.char.isspace():
                width = max(1, round(glyph.style.stroke_width * glyph.size)) if glyph.style.stroke_color else 0
                self._char(layer, draw, glyph, margin, colour, stroke=width, stroke_colour=colour)
        base_px = max((g.size for g in glyphs), default=1)
        if blur := self._shadow_blur(shadow, base_px):
            layer = layer.filter(ImageFilter.GaussianBlur(blur))
        alpha = layer.getchannel("A").point(lambda a: round(a * shadow.alpha))
        layer.putalpha(alpha)
        distance, angle = self._shadow_distance(shadow), math.radians(shadow.angle)
        shifted = Image.new("RGBA", image.size, (0, 0, 0, 0))
        shifted.paste(layer, (round(distance * math.cos(angle)), round(-distance * math.sin(angle))))
        image.alpha_composite(shifted)

    def _shadow_distance(self, shadow: Shadow) -> float:
        return shadow.distance * self.unit / PIXELS_PER_SIZE * 2

    def _shadow_blur(self, shadow: Shadow, base_px: int) -> float:
        return shadow.diffuse * base_px

    def _background(self, image: Image.Image, material: TextMaterial, margin: float, block_w: float,
                    block_h: float, base_px: int) -> None:
        pad = base_px * 0.2
        box = [margin - pad, margin - pad, margin + block_w + pad, margin + block_h + pad]
        radius = material.background_round * min(box[2] - box[0], box[3] - box[1]) / 2
        ImageDraw.Draw(image).rounded_rectangle(box, radius=radius,
                                                fill=_rgba(material.background_color, material.background_alpha))


def reveal_order(glyphs: list[_Glyph], size: tuple[int, int], margin: float,
                 vertical: bool) -> tuple[Image.Image, int]:
    """The picture a typewriter reveal thresholds: white, each pixel's alpha the number
    (1..steps) of the character whose cell it is in, in reading order; and `steps`. A cell is
    its line's band (to halfway to the next line; the outer ones to the picture's edges) from
    halfway to the previous character to halfway to the next, so a character's stroke and
    shadow appear with it, except what spills into a neighbour's cell. Over 255 characters,
    neighbours share a number."""
    steps = max(1, min(len(glyphs), 255))
    picture = Image.new("RGBA", size, (255, 255, 255, steps))
    draw = ImageDraw.Draw(picture)
    # Box coordinates: horizontal lines are bands across y (box[1], box[3]) whose characters
    # follow each other along x (box[0], box[2]); vertical columns the other way round.
    across, along = (0, 1) if vertical else (1, 0)
    lines: dict[int, list[int]] = {}
    for index, glyph in enumerate(glyphs):
        lines.setdefault(glyph.line, []).append(index)
    bands = sorted(lines.values(), key=lambda line: glyphs[line[0]].box[across])
    band_spans = [(min(glyphs[i].box[across] for i in line), max(glyphs[i].box[across + 2] for i in line))
                  for line in bands]
    for (band_low, band_high), line in zip(_cells(band_spans, size[across], margin), bands):
        # In reading order, not by coordinate: with negative letter spacing a narrow character's
        # advance can end before it starts, and sorting would reorder the reveal.
        spans = [(glyphs[i].box[along], glyphs[i].box[along + 2]) for i in line]
        for index, (low, high) in zip(line, _cells(spans, size[along], margin)):
            cell = (band_low, low, band_high, high) if vertical else (low, band_low, high, band_high)
            if cell[2] > cell[0] and cell[3] > cell[1]:
                number = index * steps // len(glyphs) + 1
                draw.rectangle((cell[0], cell[1], cell[2] - 1, cell[3] - 1), fill=(255, 255, 255, number))
    return picture, steps


def _cells(spans: list[tuple[float, float]], side: int, margin: float) -> list[tuple[int, int]]:
    """Back-to-back whole-pixel intervals covering a picture side, one per span of the block
    (in order, block coordinates), cut halfway between neighbours; a span squeezed under its
    neighbours (overlapping characters) gets an empty interval rather than one out of order."""
    cuts, last = [], 0
    for n in range(len(spans) - 1):
        last = min(max(last, round(margin + (spans[n][1] + spans[n + 1][0]) / 2)), side)
        cuts.append(last)
    return list(zip([0, *cuts], [*cuts, side]))


def _rgba(colour: str, alpha: float) -> tuple[int, int, int, int]:
    return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16), round(min(max(alpha, 0), 1) * 255))


def _split(glyphs: list[_Glyph], separator: str) -> list[list[_Glyph]]:
    parts: list[list[_Glyph]] = [[]]
    for glyph in glyphs:
        if glyph.char == separator:
            parts.append([])
        else:
            parts[-1].append(glyph)
    return parts


def _words(glyphs: list[_Glyph]) -> list[list[_Glyph]]:
    """Pieces a line may break between: each CJK character alone, other runs with the spaces before them."""
    words: list[list[_Glyph]] = []
    for glyph in glyphs:
        alone = bool(_CJK.match(glyph.char)) or unicodedata.category(glyph.char).startswith("P")
        if not words or alone or glyph.char.isspace() or (words[-1] and (
                _CJK.match(words[-1][-1].char) or unicodedata.category(words[-1][-1].char).startswith("P"))):
            words.append([glyph])
        else:
            words[-1].append(glyph)
    return words


def _trim(line: list[_Glyph]) -> list[_Glyph]:
    while line and line[-1].char.isspace():
        line = line[:-1]
    return line
