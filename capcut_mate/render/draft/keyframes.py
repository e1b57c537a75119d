"""Keyframes: `segment.common_keyframes`, one list per animated property.

A keyframe's `time_offset` is microseconds from its segment's start; `values[0]` is the
property's value there, in the property's own unit:

| property_type | unit |
|---|---|
| KFTypePositionX / Y | half canvas width / height from the centre, +y up |
| KFTypeScaleX / Y | 1.0 = the fitted size; KFTypeScaleX with `uniform_scale.on` scales both axes |
| KFTypeRotation | degrees, clockwise |
| KFTypeAlpha | 0..1 |
| KFTypeVolume | linear gain, 1.0 = the material's own level |
| KFTypeBrightness / Contrast / Saturation | −1..1, 0 = unchanged |

Upstream converts its "pixel" position arguments (abs > 1) to half-canvas units before it
writes them, so a draft's position values are always half-canvas units (1.5 is off-canvas).

Between two keyframes the value moves linearly (`curveType` "Line", all upstream writes:
pyJianYingDraft writes linear keyframes only). Another curve type (JianYing's editor writes
"FreeCurveInOut" for an eased keyframe) with non-zero `right_control` / `left_control` is a
cubic Bezier: the interval's inner control points are the start's right handle and the end's
left handle, each an offset from its own keyframe in microseconds (x; a left handle's is
negative) and in the property's unit (y), e.g. 缓出 over an interval T and a change Δ is
right (0.32·T, 0.94·Δ), left (−0.4·T, 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from capcut_mate.render.draft.fields import DraftError, as_dict, as_list, number

POSITION_X, POSITION_Y = "KFTypePositionX", "KFTypePositionY"
SCALE_X, SCALE_Y = "KFTypeScaleX", "KFTypeScaleY"
UNIFORM_SCALE = "UNIFORM_SCALE"  # pyJianYingDraft's name; drafts store it as KFTypeScaleX + uniform_scale.on
ROTATION, ALPHA, VOLUME = "KFTypeRotation", "KFTypeAlpha", "KFTypeVolume"
BRIGHTNESS, CONTRAST, SATURATION = "KFTypeBrightness", "KFTypeContrast", "KFTypeSaturation"
PICTURE = frozenset({POSITION_X, POSITION_Y, SCALE_X, SCALE_Y, UNIFORM_SCALE, ROTATION, ALPHA,
                     BRIGHTNESS, CONTRAST, SATURATION})  # what a video, photo or text segment can animate
MAX_KEYFRAMES = 10_000  # per property: a draft with more is refused rather than compiled


@dataclass(frozen=True)
class Keyframe:
    offset: int  # microseconds from the segment's start
    value: float
    bezier: tuple[float, float, float, float] | None = None  # handles to the next: right x, y, its left x, y


@dataclass(frozen=True)
class KeyframeList:
    property: str  # a KFType… name
    keyframes: tuple[Keyframe, ...]  # by offset


def read_keyframes(raw: Any, segment_duration: int) -> dict[str, KeyframeList]:
    """A segment's keyframe lists by property; offsets are clamped to the segment, as
    upstream clamps them."""
    lists: dict[str, KeyframeList] = {}
    for entry in map(as_dict, as_list(raw)):
        prop = str(entry.get("property_type") or "")
        points = [as_dict(k) for k in as_list(entry.get("keyframe_list"))]
        if len(points) > MAX_KEYFRAMES:
            raise DraftError(f"关键帧 {prop} 有 {len(points)} 个，超过 {MAX_KEYFRAMES}")
        keyframes = []
        for point in points:
            values = as_list(point.get("values"))
            if not values:
                continue
            offset = min(max(int(point.get("time_offset") or 0), 0), segment_duration)
            keyframes.append((offset, number(values[0], 0.0), _bezier(point)))
        keyframes.sort(key=lambda k: k[0])
        if prop and keyframes:
            # The Bezier of an interval is the start's right control and the end's left one; a
            # zero handle (缓入 leaves the end's at its keyframe) is a control point on its keyframe.
            built = []
            for index, (offset, value, (right, _)) in enumerate(keyframes):
                last = index + 1 == len(keyframes)
                left = None if last else keyframes[index + 1][2][1]
                controls = None if last or not (right or left) else (*(right or (0.0, 0.0)), *(left or (0.0, 0.0)))
                built.append(Keyframe(offset, value, controls))
            lists[prop] = KeyframeList(prop, tuple(built))
    return lists


def _bezier(point: dict[str, Any]) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    if str(point.get("curveType") or "Line") == "Line":
        return None, None
    right, left = as_dict(point.get("right_control")), as_dict(point.get("left_control"))
    pair = [(number(c.get("x"), 0.0), number(c.get("y"), 0.0)) for c in (right, left)]
    return tuple(p if any(p) else None for p in pair)
