"""Segments: what a track shows or plays over a stretch of the timeline, and what is done to it.

A segment's `clip` places it: `transform` is its centre's offset from the canvas centre in
half canvas sizes (+y up), `scale` multiplies the size it is fitted to, `rotation` is degrees
clockwise, `alpha` 0..1. Keyframes, when present, override those over time.
`render_index` orders visual segments across tracks (higher on top).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from capcut_mate.render.draft.fields import as_dict, number
from capcut_mate.render.draft.keyframes import KeyframeList
from capcut_mate.render.draft.materials import Animation, AudioFade, Canvas, Effect, Mask, Material, Transition
from capcut_mate.render.draft.text import TextMaterial
from capcut_mate.render.draft.timing import TimeRange


@dataclass(frozen=True)
class Clip:
    x: float = 0.0  # the centre's offset, in half canvas widths, rightwards
    y: float = 0.0  # in half canvas heights, upwards
    scale_x: float = 1.0
    scale_y: float = 1.0
    rotation: float = 0.0  # degrees, clockwise
    alpha: float = 1.0
    flip_horizontal: bool = False
    flip_vertical: bool = False


def read_clip(raw: Any) -> Clip:
    clip = as_dict(raw)
    scale, transform, flip = as_dict(clip.get("scale")), as_dict(clip.get("transform")), as_dict(clip.get("flip"))
    return Clip(
        x=number(transform.get("x"), 0.0), y=number(transform.get("y"), 0.0),
        scale_x=number(scale.get("x"), 1.0), scale_y=number(scale.get("y"), 1.0),
        rotation=number(clip.get("rotation"), 0.0),
        alpha=min(max(number(clip.get("alpha"), 1.0), 0.0), 1.0),
        flip_horizontal=bool(flip.get("horizontal")), flip_vertical=bool(flip.get("vertical")),
    )


@dataclass(frozen=True)
class Extras:
    """What a segment's `extra_material_refs` and own flags add, typed where the renderer knows the kind."""

    transition: Transition | None = None
    animations: tuple[Animation, ...] = ()
    mask: Mask | None = None
    canvas: Canvas | None = None
    effects: tuple[Effect, ...] = ()  # filters and effects applied to this segment alone
    audio_fade: AudioFade | None = None
    audio_effects: tuple[str, ...] = ()  # names ("" where the draft gives none)
    text_effect: str = ""  # 花字: its resource id (names are not in drafts)
    bubble: str = ""
    other: tuple[str, ...] = ()  # features without a type here, "kind" or "kind:name": "mix_mode:叠加", "curve_speed"…


@dataclass(frozen=True)
class VisualSegment:
    """A video or photo on a video track."""

    id: str
    material: Material
    target: TimeRange  # where it plays on the timeline
    source: TimeRange  # the part of the material it plays (photos: start 0)
    speed: float
    volume: float  # its sound's gain; 0 on a muted track
    clip: Clip
    uniform_scale: bool  # KFTypeScaleX keyframes scale both axes
    keyframes: dict[str, KeyframeList]
    extras: Extras
    render_index: int
    reverse: bool = False


@dataclass(frozen=True)
class AudioSegment:
    id: str
    material: Material
    target: TimeRange
    source: TimeRange
    speed: float
    volume: float
    keyframes: dict[str, KeyframeList]
    extras: Extras


@dataclass(frozen=True)
class TextSegment:
    id: str
    material: TextMaterial
    target: TimeRange
    clip: Clip
    uniform_scale: bool
    keyframes: dict[str, KeyframeList]
    extras: Extras
    render_index: int


@dataclass(frozen=True)
class EffectSegment:
    """A filter or video effect on a track of its own: it changes everything below it."""

    effect: Effect
    target: TimeRange
    render_index: int


@dataclass(frozen=True)
class StickerSegment:
    """A sticker: a JianYing cloud picture the draft names but does not hold."""

    resource_id: str
    target: TimeRange
    clip: Clip
    render_index: int
    name: str = ""  # where the draft has one (upstream's stickers have only the resource id)


@dataclass(frozen=True)
class OtherSegment:
    """A segment of a track kind the renderer has no type for (adjustment, text template, …)."""

    kind: str
    target: TimeRange
    render_index: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    name: str = ""  # its material's, where it has one
