"""Transitions by name, as property curves of the two segments around a cut.

A transition is stored on the earlier segment; the two stay back to back in the draft. The
draft says neither where the transition sits around the cut nor its easing: it is centred
on the cut here, spanning `duration`, and both segments are drawn over that span (the
earlier one past its end, the later one before its start; a video that has no frames
there holds its last or first frame).

| name | how |
|---|---|
| 叠化 (and any unknown name, named as approximated) | the later fades in over the earlier |
| 闪黑 / 闪白 | the picture dips to black / white and back: a colour layer fades in to the cut and out after it |
| 向下擦除, 向上擦除, 向左擦除, 向右擦除 | the later is revealed behind an edge travelling that way |
| 向左, 向右, 向上, 向下 | a push: both move that way by a canvas width (height) |
| 滑动, 向左滑动 … | a slide: the later slides in over the earlier (leftwards unless named) |
| 推近 / 拉远 | the earlier zooms in (out) while the later fades in |
"""

from __future__ import annotations

from dataclasses import dataclass

from capcut_mate.render.draft.segments import VisualSegment
from capcut_mate.render.timeline.curves import const, points, ramp
from capcut_mate.render.timeline.features import Notes
from capcut_mate.render.timeline.layers import Colour, VisualLayer, Wipe
from capcut_mate.render.timeline.motion import Motion

_DIRECTIONS = {"左": "left", "右": "right", "上": "up", "下": "down"}
CUT_TOLERANCE = 0.05  # seconds between two segments that still count as back to back


@dataclass(frozen=True)
class TransitionKind:
    kind: str  # dissolve, dip, wipe, push, slide, zoom_in, zoom_out
    direction: str = ""  # left/right/up/down; for dips the colour
    exact: bool = True  # False: drawn as the nearest kind, named as approximated


def transition_kind(name: str) -> TransitionKind:
    direction = next((d for word, d in _DIRECTIONS.items() if f"向{word}" in name), "")
    if name == "叠化":
        return TransitionKind("dissolve")
    if name in ("闪黑", "闪白"):
        return TransitionKind("dip", "#000000" if name == "闪黑" else "#ffffff")
    if name.endswith("擦除"):
        return TransitionKind("wipe", direction or "right")
    if name in ("向左", "向右", "向上", "向下"):
        return TransitionKind("push", direction)
    if "滑动" in name:
        return TransitionKind("slide", direction or "left")
    if name == "推近":
        return TransitionKind("zoom_in")
    if name == "拉远":
        return TransitionKind("zoom_out")
    return TransitionKind("dissolve", exact=False)


def plan_transitions(segments: list[VisualSegment], width: int, height: int, notes: Notes,
                     motions: dict[int, Motion], extra_layers: dict[int, list[VisualLayer]]) -> None:
    """Fill `motions` (by index in `segments`, sorted by start) with each transition's curves,
    and `extra_layers` with the colour layers of dips, drawn after the segment they follow."""
    if segments and (last := segments[-1].extras.transition):
        notes.leave_out("transitions", last.name)  # on the last segment: there is no next one to go to
    for index, (before, after) in enumerate(zip(segments, segments[1:])):
        transition = before.extras.transition
        if transition is None or transition.duration <= 0:
            continue
        cut = before.target.end / 1e6
        if abs(after.target.start / 1e6 - cut) > CUT_TOLERANCE:
            notes.leave_out("transitions", transition.name)  # not back to back: nothing to transition between
            continue
        kind = transition_kind(transition.name)
        if not kind.exact:
            notes.approximate("transitions", transition.name)
        half = min(transition.duration / 1e6, before.target.duration / 1e6, after.target.duration / 1e6) / 2
        start, end = cut - half, cut + half
        out, into = motions.setdefault(index, Motion()), motions.setdefault(index + 1, Motion())
        if kind.kind == "dip":
            colour_alpha = points([(start, 0.0), (cut, 1.0), (end, 0.0)])
            extra_layers.setdefault(index + 1, []).append(VisualLayer(
                f"{transition.name}@{cut:g}", start, end, Colour(kind.direction), width, height,
                const(width / 2), const(height / 2), alpha=colour_alpha))
            continue
        out.end_later, into.start_earlier = max(out.end_later, half), max(into.start_earlier, half)
        if kind.kind in ("dissolve", "zoom_in", "zoom_out"):
            into.alpha.append(ramp(start, end, 0.0, 1.0))
            if kind.kind != "dissolve":
                out.scale.append(ramp(start, end, 1.0, 1.6 if kind.kind == "zoom_in" else 0.6, "in"))
        elif kind.kind == "wipe":
            into.wipe = Wipe(kind.direction, start, end)
        else:  # push or slide
            dx, dy = {"left": (-width, 0), "right": (width, 0), "up": (0, -height), "down": (0, height)}[kind.direction]
            if kind.kind == "push":
                out.dx.append(ramp(start, end, 0.0, dx, "in_out"))
                out.dy.append(ramp(start, end, 0.0, dy, "in_out"))
            into.dx.append(ramp(start, end, -dx, 0.0, "in_out"))
            into.dy.append(ramp(start, end, -dy, 0.0, "in_out"))
