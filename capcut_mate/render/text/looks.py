"""花字 (text effects) the renderer knows: JianYing resources drawn as the fill, stroke and glow
their names describe. The draft holds only the resource id; a 花字 not listed here is drawn
white with a dark outline. Every 花字 is named in the history as approximated."""

from __future__ import annotations

from capcut_mate.render.draft.text import Shadow, TextStyle

# resource id → (name, fill, stroke, stroke width, glow colour)
TEXT_EFFECTS: dict[str, tuple[str, str, str, float, str | None]] = {
    "7405565480678739200": ("黄色发光字", "#ffe14d", "#ff9500", 0.06, "#ffb300"),
    "6926827744189795591": ("潮酷蓝色霓虹灯发光花字", "#e8f8ff", "#0a84ff", 0.05, "#00a8ff"),
}
_UNKNOWN = ("{id}", "#ffffff", "#1a1a1a", 0.08, None)


def text_effect_style(resource_id: str, base: TextStyle) -> tuple[str, TextStyle]:
    """The effect's name (an unknown one by its resource id), and the style its words are
    drawn in (the base style's size)."""
    name, fill, stroke, width, glow = TEXT_EFFECTS.get(resource_id, _UNKNOWN)
    name = name.format(id=resource_id)
    shadow = Shadow(glow, 0.9, 0.0, 0.0, 0.15) if glow else None
    return name, TextStyle(0, 0, base.size, fill, 1.0, bold=base.bold, italic=base.italic,
                           stroke_color=stroke, stroke_width=width, shadow=shadow,
                           font_name=base.font_name, font_path=base.font_path)
