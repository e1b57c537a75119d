"""Filters and video effects by name: JianYing resources (LUTs, shaders) with no maths in the
draft, drawn as the nearest look (every one of them named as approximated in the history).

`LOOKS` maps a name to a look kind; the ffmpeg backend draws each kind at the filter's
intensity (0..1). A name not in the table is not rendered, and named.
"""

from __future__ import annotations

from capcut_mate.render.timeline.layers import Look

LOOKS: dict[str, str] = {
    # filters
    "黑白": "greyscale", "高清黑白": "greyscale", "黑白电影": "greyscale", "默片": "greyscale",
    "褪色": "faded", "复古": "sepia", "怀旧": "sepia", "胶片": "sepia",
    "冷蓝": "cool", "冷白": "cool", "清冷": "cool", "蓝调": "cool",
    "暖黄": "warm", "暖阳": "warm", "暖色": "warm", "日落": "warm",
    "鲜亮": "vivid", "鲜艳": "vivid", "浓郁": "vivid",
    "清晰": "sharpen", "锐化": "sharpen",
    "亮白": "brighten", "暗调": "darken",
    # video effects
    "变黑白": "greyscale", "模糊": "blur", "虚化": "blur", "暗角": "vignette",
}


def look_for(name: str, intensity: float) -> Look | None:
    kind = LOOKS.get(name)
    return Look(kind, min(max(intensity, 0.0), 1.0)) if kind else None
