"""Materials: the entries of `materials.*` that segments point at, by `material_id` (what the
segment shows) or from `extra_material_refs` (what is done to it).

Sizes on masks are fractions of the material (the file), not of the canvas; times are
microseconds; colours are '#rrggbb'.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from capcut_mate.render.draft.fields import as_dict, as_list, hex_colour, number


@dataclass(frozen=True)
class Crop:
    """The part of the material shown, as fractions of its width and height from the top left."""

    left: float = 0.0
    top: float = 0.0
    right: float = 1.0
    bottom: float = 1.0

    @property
    def is_identity(self) -> bool:
        return (self.left, self.top, self.right, self.bottom) == (0.0, 0.0, 1.0, 1.0)


@dataclass(frozen=True)
class Material:
    id: str
    kind: str  # "video", "photo" or "audio"
    path: str  # as the draft has it: often an absolute path on the machine that made the draft
    name: str
    width: int = 0  # the file's, as the draft records it (0: unknown; the probe is what counts)
    height: int = 0
    crop: Crop = Crop()


@dataclass(frozen=True)
class Mask:
    """`materials.masks[]`: a shape cut out of the segment, in the material's own frame."""

    name: str  # 线性, 镜面, 圆形, 矩形, 爱心, 星形
    shape: str  # resource_type: line, mirror, circle, rectangle, geometric_shape
    center_x: float = 0.0  # half material widths from its centre, rightwards
    center_y: float = 0.0  # half material heights, upwards
    width: float = 1.0  # fraction of the material's width
    height: float = 1.0  # fraction of the material's height
    rotation: float = 0.0  # degrees, clockwise
    feather: float = 0.0  # 0..1
    round_corner: float = 0.0  # 0..1, rectangles only
    invert: bool = False


@dataclass(frozen=True)
class Canvas:
    """`materials.canvases[]`: what fills the canvas behind a segment that does not cover it."""

    kind: str  # "canvas_color", "canvas_blur" or "canvas_image"
    color: str = "#000000"
    blur: float = 0.0  # 0..1; JianYing's four steps are 0.0625, 0.375, 0.75 and 1
    image_path: str = ""


@dataclass(frozen=True)
class Transition:
    """`materials.transitions[]`, referenced by the earlier of two segments: the cut to the next."""

    name: str
    duration: int  # microseconds
    is_overlap: bool = False


@dataclass(frozen=True)
class Animation:
    """One of a `materials.material_animations[]` entry's animations."""

    name: str
    kind: str  # "in", "out", "loop" or "group"
    start: int  # microseconds from the segment's start
    duration: int


@dataclass(frozen=True)
class Effect:
    """A filter (`materials.effects[]`, type "filter") or a video effect (`materials.video_effects[]`)."""

    name: str
    kind: str  # "filter" or "video_effect"
    intensity: float = 1.0  # 0..1: a filter's `value`, an effect's first adjust_params value
    resource_id: str = ""
    params: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class AudioFade:
    """`materials.audio_fades[]`: fade-in and fade-out lengths, microseconds."""

    fade_in: int = 0
    fade_out: int = 0


def read_crop(entry: dict[str, Any]) -> Crop:
    crop = as_dict(entry.get("crop"))
    if not crop:
        return Crop()
    xs = [number(crop.get(k), d) for k, d in (("upper_left_x", 0.0), ("lower_left_x", 0.0),
                                               ("upper_right_x", 1.0), ("lower_right_x", 1.0))]
    ys = [number(crop.get(k), d) for k, d in (("upper_left_y", 0.0), ("upper_right_y", 0.0),
                                               ("lower_left_y", 1.0), ("lower_right_y", 1.0))]
    left, right = max(0.0, min(xs[:2])), min(1.0, max(xs[2:]))
    top, bottom = max(0.0, min(ys[:2])), min(1.0, max(ys[2:]))
    if right - left < 1e-3 or bottom - top < 1e-3:
        return Crop()
    return Crop(round(left, 6), round(top, 6), round(right, 6), round(bottom, 6))


def read_mask(entry: dict[str, Any]) -> Mask:
    config = as_dict(entry.get("config"))
    return Mask(
        name=str(entry.get("name") or ""),
        shape=str(entry.get("resource_type") or ""),
        center_x=number(config.get("centerX"), 0.0),
        center_y=number(config.get("centerY"), 0.0),
        width=max(number(config.get("width"), 1.0), 0.0),
        height=max(number(config.get("height"), 1.0), 0.0),
        rotation=number(config.get("rotation"), 0.0),
        feather=min(max(number(config.get("feather"), 0.0), 0.0), 1.0),
        round_corner=min(max(number(config.get("roundCorner"), 0.0), 0.0), 1.0),
        invert=bool(config.get("invert")),
    )


def read_canvas(entry: dict[str, Any]) -> Canvas:
    return Canvas(
        kind=str(entry.get("type") or "canvas_color"),
        color=hex_colour(entry.get("color")) or "#000000",
        blur=min(max(number(entry.get("blur"), 0.0), 0.0), 1.0),
        image_path=str(entry.get("image") or ""),
    )


def read_transition(entry: dict[str, Any]) -> Transition:
    return Transition(str(entry.get("name") or ""), max(int(number(entry.get("duration"), 0)), 0),
                      bool(entry.get("is_overlap")))


def read_animations(entry: dict[str, Any]) -> list[Animation]:
    animations = []
    for item in map(as_dict, as_list(entry.get("animations"))):
        duration = max(int(number(item.get("duration"), 0)), 0)
        if duration:
            animations.append(Animation(str(item.get("name") or ""), str(item.get("type") or ""),
                                        max(int(number(item.get("start"), 0)), 0), duration))
    return animations


def read_effect(entry: dict[str, Any], kind: str) -> Effect:
    params = {str(p.get("name")): number(p.get("value"), 0.0) for p in map(as_dict, as_list(entry.get("adjust_params")))
              if p.get("name")}
    # A filter's strength is its `value`; an effect's is its intensity-like knob where it has
    # one (speed and the like are not strengths), else its `value`.
    strength = [v for k, v in params.items() if k.split("_")[-1] in ("intensity", "texture", "strength", "filter")]
    intensity = strength[0] if kind == "video_effect" and strength else number(entry.get("value"), 1.0)
    return Effect(str(entry.get("name") or ""), kind, min(max(intensity, 0.0), 1.0),
                  str(entry.get("resource_id") or entry.get("effect_id") or ""), params)


def read_audio_fade(entry: dict[str, Any]) -> AudioFade:
    return AudioFade(max(int(number(entry.get("fade_in_duration"), 0)), 0),
                     max(int(number(entry.get("fade_out_duration"), 0)), 0))
