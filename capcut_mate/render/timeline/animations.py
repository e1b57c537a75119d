"""In, out and loop animations by name, as property curves of their segment.

The draft holds each animation's name, kind and timing (`start` from the segment's start,
`duration`); the motion is a JianYing resource. Names that say what they do are drawn so
(the curve is assumed: ease-out for ins, ease-in for outs); a few more are drawn by what
their name suggests and named as approximated; any other in or out is a fade, and any other
loop or group a gentle fade out and back in (a pulse), named too. A loop's `duration` is one
cycle, repeated until the out animation (or the segment's end); a group plays once.

| name | in | out |
|---|---|---|
| 渐显 / 渐隐 | alpha 0 → 1 | alpha 1 → 0 |
| 放大 | grows from 0.5× and fades in | grows to 1.5× and fades out |
| 缩小 | shrinks from 1.5× and fades in | shrinks to 0.3× and fades out |
| 向左/向右/向上/向下滑动 | slides in that way from a canvas width (height) off | slides out that way |
| 轻微放大 (approximated) | grows from 0.9× and fades in | grows to 1.1× and fades out |
| 旋转 (approximated) | turns from −180° and fades in | turns to 180° and fades out |
| loops, groups with 拉镜 / 推镜 (approximated) | pulls out 1.15× → 1× / pushes in 1× → 1.15×, panning by 左/右 | |
| other loops and groups (approximated) | alpha 1 → 0.6 → 1 over each cycle, easing in and out | |
"""

from __future__ import annotations

from capcut_mate.render.draft.materials import Animation
from capcut_mate.render.timeline.curves import Curve, Piece, ramp
from capcut_mate.render.timeline.features import Notes
from capcut_mate.render.timeline.layers import Reveal
from capcut_mate.render.timeline.motion import Motion

_SLIDES = {"向左滑动": (-1, 0), "向右滑动": (1, 0), "向上滑动": (0, -1), "向下滑动": (0, 1)}  # the way it moves, y down
PULSE_ALPHA = 0.6  # the alpha an unknown loop fades to halfway through each cycle
MAX_CYCLES = 1000  # of a loop: each is two pieces of its curve


def apply_animations(animations: tuple[Animation, ...], segment_start: float, segment_end: float, width: int,
                     height: int, motion: Motion, notes: Notes) -> None:
    """A video or photo segment's animations (times: timeline seconds)."""
    loops_until = _loops_until(animations, segment_start, segment_end)
    for animation in animations:
        apply_animation(animation, segment_start, segment_end, width, height, motion, notes, loops_until=loops_until)


def apply_animation(animation: Animation, segment_start: float, segment_end: float, width: int, height: int,
                    motion: Motion, notes: Notes, feature: str = "animations",
                    loops_until: float | None = None) -> None:
    """Add one animation's curves to `motion`; `feature` names it in the notes; a loop repeats
    until `loops_until` (default: the segment's end). Times: timeline seconds."""
    start = segment_start + animation.start / 1e6
    end = min(start + animation.duration / 1e6, segment_end)
    name, kind = animation.name, animation.kind
    entering = kind == "in"
    if kind in ("loop", "group"):
        if "拉镜" in name or "推镜" in name:
            _camera(name, start, end, width, motion)
        else:
            # An unknown loop moves the picture in some way once per cycle: drawn as the fade
            # that stands for unknown ins and outs, gentle and coming back, so that the
            # picture is never gone and the cycle still shows.
            until = end if kind == "group" else segment_end if loops_until is None else loops_until
            _cycles(start, animation.duration / 1e6, until, 1.0, PULSE_ALPHA, ("in_out", "in_out"), motion.alpha)
        notes.approximate(feature, name)
        return
    if kind not in ("in", "out"):
        notes.leave_out(feature, name)
        return

    def between(v_in: float, v_rest: float, easing: str) -> object:
        return ramp(start, end, v_in, v_rest, easing) if entering else ramp(start, end, v_rest, v_in, easing)

    easing = "out" if entering else "in"
    fade = between(0.0, 1.0, "linear")
    if name in ("渐显", "渐隐"):
        motion.alpha.append(fade)
    elif name in ("放大", "缩小", "轻微放大"):
        small, large = {"放大": (0.5, 1.5), "缩小": (1.5, 0.3), "轻微放大": (0.9, 1.1)}[name]
        motion.scale.append(between(small if entering else large, 1.0, easing))
        motion.alpha.append(fade)
        if name == "轻微放大":
            notes.approximate(feature, name)
    elif name in _SLIDES:
        sx, sy = _SLIDES[name]
        # In: from one canvas off, against the way it moves; out: the same way on.
        offset_x, offset_y = (-sx * width, -sy * height) if entering else (sx * width, sy * height)
        motion.dx.append(between(offset_x, 0.0, easing))
        motion.dy.append(between(offset_y, 0.0, easing))
    elif name == "旋转":
        motion.rotation.append(between(-180.0 if entering else 180.0, 0.0, easing))
        motion.alpha.append(fade)
        notes.approximate(feature, name)
    else:
        motion.alpha.append(fade)
        notes.approximate(feature, name)


def _camera(name: str, start: float, end: float, width: int, motion: Motion) -> None:
    pulling = "拉镜" in name
    motion.scale.append(ramp(start, end, 1.15, 1.0, "in_out") if pulling else ramp(start, end, 1.0, 1.15, "in_out"))
    pan = -1 if "左" in name else 1 if "右" in name else 0
    if pan:
        motion.dx.append(ramp(start, end, 0.0, pan * 0.05 * width, "in_out"))


def _cycles(start: float, cycle: float, until: float, rest: float, peak: float, easing: tuple[str, str],
            curves: list) -> None:
    """A value going `rest` → `peak` → `rest` (easing there, and back) in every whole cycle
    (seconds) from `start` that ends by `until` (at least one, up to MAX_CYCLES), added to `curves`."""
    pieces, t = [], start
    while cycle > 0 and (not pieces or t + cycle <= until + 1e-6) and len(pieces) < 2 * MAX_CYCLES:
        middle = t + cycle / 2
        pieces += [Piece(t, middle, rest, peak, easing[0]), Piece(middle, t + cycle, peak, rest, easing[1])]
        t += cycle
    if pieces:
        curves.append(Curve(tuple(pieces)))


def _loops_until(animations: tuple[Animation, ...], segment_start: float, segment_end: float) -> float:
    """Where loops stop: at the out animation, else at the segment's end."""
    return min((segment_start + a.start / 1e6 for a in animations if a.kind == "out"), default=segment_end)


def apply_text_animations(animations: tuple[Animation, ...], segment_start: float, segment_end: float, width: int,
                          height: int, motion: Motion, notes: Notes) -> None:
    """A caption's animations. Besides the names above: 打字机 (an in) shows the characters
    one at a time in reading order, line by line (other 打字机… names so too, approximated);
    弹入 grows in (approximated); …溶解 fades out drifting its way (approximated); the loop 跳动
    hops by 4 % of the canvas height once per cycle (approximated)."""
    loops_until = _loops_until(animations, segment_start, segment_end)
    for animation in animations:
        start = segment_start + animation.start / 1e6
        end = min(start + animation.duration / 1e6, segment_end)
        name = animation.name
        if animation.kind == "in" and name.startswith("打字机"):
            motion.reveal = Reveal(start, end)
            if name != "打字机":
                notes.approximate("text_animations", name)
        elif animation.kind == "in" and name == "弹入":
            motion.scale.append(ramp(start, end, 0.5, 1.0, "out"))
            motion.alpha.append(ramp(start, end, 0.0, 1.0))
            notes.approximate("text_animations", name)
        elif animation.kind == "out" and name.endswith("溶解"):
            motion.alpha.append(ramp(start, end, 1.0, 0.0))
            sx, sy = _SLIDES.get(name.replace("溶解", "滑动"), (0, 0))
            motion.dx.append(ramp(start, end, 0.0, sx * 0.05 * width, "in"))
            motion.dy.append(ramp(start, end, 0.0, sy * 0.05 * height, "in"))
            notes.approximate("text_animations", name)
        elif animation.kind == "loop" and name == "跳动":
            _cycles(start, animation.duration / 1e6, loops_until, 0.0, -0.04 * height, ("out", "in"), motion.dy)
            notes.approximate("text_animations", name)
        else:
            apply_animation(animation, segment_start, segment_end, width, height, motion, notes,
                            feature="text_animations", loops_until=loops_until)
