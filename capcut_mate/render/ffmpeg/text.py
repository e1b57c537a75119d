"""Text layers drawn with drawtext: the words read from a file (no content needs escaping),
in the base style's size, colour, stroke and the material's background, centred on the
layer's position, with its alpha over time.

JianYing publishes no conversion from its font size to pixels: size 15 (its default) is
drawn about 60 px tall on a 1080-pixel short side (`TEXT_PIXELS_PER_SIZE`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from capcut_mate.render.ffmpeg.expressions import expression
from capcut_mate.render.ffmpeg.graph import Stream, number
from capcut_mate.render.timeline.layers import TextLayer, Timeline

TEXT_PIXELS_PER_SIZE = 4.0


@dataclass(frozen=True)
class Caption:
    """What drawing a text layer needs from the disk: its words in a file, and a font."""

    text_file: Path
    font_file: Path


def text_pixels(layer: TextLayer, timeline: Timeline) -> int:
    short_side = min(timeline.width, timeline.height)
    scale = abs(layer.scale.constant) if layer.scale.constant is not None else 1.0
    return max(1, round(layer.segment.material.base.size * TEXT_PIXELS_PER_SIZE * short_side / 1080 * scale))


def draw_text(picture: Stream, layer: TextLayer, caption: Caption, timeline: Timeline) -> Stream:
    material = layer.segment.material
    style = material.base
    pixels = text_pixels(layer, timeline)
    opacity = style.alpha * material.global_alpha
    alpha = expression(layer.alpha * opacity) if layer.alpha.constant is None else None
    steady = number(min(max((layer.alpha.constant or 0.0) * opacity, 0.0), 1.0))
    options: dict[str, object] = {
        "fontfile": caption.font_file, "textfile": caption.text_file, "expansion": "none",
        "fontsize": pixels, "fontcolor": f"{_colour(style.color)}@{steady if alpha is None else 1}",
        "x": f"{expression(layer.x)}-text_w/2", "y": f"{expression(layer.y)}-text_h/2",
        "enable": f"between(t,{number(layer.start)},{number(layer.end - 1e-6)})",
    }
    if alpha is not None:
        options["alpha"] = f"clip({alpha},0,1)"
    if style.stroke_color and style.stroke_width > 0:
        options["borderw"] = max(1, round(style.stroke_width * pixels))
        options["bordercolor"] = _colour(style.stroke_color)
    if material.background_color and material.background_alpha > 0:
        options.update(box=1, boxcolor=f"{_colour(material.background_color)}@{number(material.background_alpha)}",
                       boxborderw=max(1, round(pixels * 0.2)))
    return picture.filter("drawtext", **options)


def _colour(hex_colour: str) -> str:
    return "0x" + hex_colour.lstrip("#")
