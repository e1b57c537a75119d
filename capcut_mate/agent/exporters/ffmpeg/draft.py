"""draft_content.json, the CapCut/JianYing draft format, read into plain typed values.

What is kept is what the ffmpeg exporter renders: the canvas, video tracks (video and photo
segments), audio tracks and text segments. Times stay in microseconds, as the draft writes
them. Everything else a draft uses (transitions, effects, filters, masks, keyframes,
animations, stickers, …) is counted in `Draft.unrendered` by kind, so the exporter can name
it in the job's history instead of dropping it silently.

The format has no published schema; pyJianYingDraft and capcut-mate, which write it, are
the references. A segment's `clip.transform` is its centre's offset from the canvas centre
in half canvas sizes, y upwards; `clip.rotation` is in degrees, clockwise. Tracks stack in
the order the draft lists them, the first at the bottom.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

DEFAULT_TEXT_SIZE = 15.0  # JianYing's default font size
MAX_CANVAS_SIDE = 8192

# How the job's history names what is not rendered, by kind (a material list, a track type,
# or one of the few features recognised on segments themselves): in Chinese, in English.
_LABELS = {
    "transitions": ("转场", "transitions"),
    "video_effects": ("特效", "effects"),
    "effect": ("特效", "effects"),
    "filter": ("滤镜", "filters"),
    "masks": ("蒙版", "masks"),
    "keyframes": ("关键帧", "keyframes"),
    "material_animations": ("动画", "animations"),
    "sticker": ("贴纸", "stickers"),
    "stickers": ("贴纸", "stickers"),
    "adjust": ("调节", "adjustments"),
    "mix_mode": ("混合模式", "blend modes"),
    "canvases": ("背景填充", "background fills"),
    "crop": ("裁剪", "crops"),
    "reverse": ("倒放", "reversed clips"),
    "curve_speed": ("曲线变速", "speed curves"),
    "audio_fades": ("淡入淡出", "audio fades"),
    "audio_effects": ("音频特效", "audio effects"),
    "text_effect": ("花字", "text effects"),
    "text_shape": ("文字气泡", "text bubbles"),
    "text_templates": ("文字模板", "text templates"),
    "text_style": ("文字样式", "fonts, shadows, bold/italic, vertical or rotated text"),
}
# Materials JianYing has every segment reference, which change nothing in the picture or sound.
_NEUTRAL_REFERENCES = frozenset(
    {"placeholders", "placeholder_infos", "sound_channel_mappings", "material_colors", "vocal_separations", "beats"}
)
_UNCROPPED = {"upper_left_x": 0.0, "upper_left_y": 0.0, "upper_right_x": 1.0, "upper_right_y": 0.0,
              "lower_left_x": 0.0, "lower_left_y": 1.0, "lower_right_x": 1.0, "lower_right_y": 1.0}
_LEGACY_TAG = re.compile(r"<[^>]*>")


class DraftError(ValueError):
    """draft_content.json cannot be read as a draft; the message says why."""


def describe_unrendered(unrendered: dict[str, int]) -> str:
    """E.g. "转场 ×2 (transitions), 滤镜 ×1 (filters)"; a kind without a name is shown as the draft names it."""
    parts = []
    for kind, count in sorted(unrendered.items()):
        chinese, english = _LABELS.get(kind, (kind, ""))
        parts.append(f"{chinese} ×{count}" + (f" ({english})" if english else ""))
    return ", ".join(parts)


@dataclass(frozen=True)
class TimeRange:
    start: int  # microseconds
    duration: int

    @property
    def end(self) -> int:
        return self.start + self.duration


@dataclass(frozen=True)
class Placement:
    """Where a visual sits on the canvas: a segment's `clip`."""

    x: float = 0.0  # the centre's offset, in half canvas widths, rightwards
    y: float = 0.0  # in half canvas heights, upwards
    scale_x: float = 1.0
    scale_y: float = 1.0
    rotation: float = 0.0  # degrees, clockwise
    alpha: float = 1.0
    flip_horizontal: bool = False
    flip_vertical: bool = False


@dataclass(frozen=True)
class Material:
    id: str
    kind: str  # "video", "photo" or "audio"
    path: str  # as the draft has it: often an absolute path on the machine that made the draft
    name: str


@dataclass(frozen=True)
class MediaSegment:
    material: Material
    target: TimeRange  # where it plays on the timeline
    source_start: int  # where in the material it starts
    speed: float
    volume: float  # 1.0 is the material's own level; 0 for muted tracks
    placement: Placement


@dataclass(frozen=True)
class TextSegment:
    text: str
    target: TimeRange
    size: float  # the draft's font size, JianYing's unit
    color: str  # "#rrggbb"
    alpha: float
    placement: Placement
    stroke_color: str | None = None
    stroke_width: float = 0.0  # relative to the font size
    background_color: str | None = None
    background_alpha: float = 1.0


@dataclass(frozen=True)
class Draft:
    width: int
    height: int
    fps: float
    video_tracks: tuple[tuple[MediaSegment, ...], ...]  # bottom first
    audio_segments: tuple[MediaSegment, ...]
    texts: tuple[TextSegment, ...]
    unrendered: dict[str, int]  # kind → how many times the draft uses it

    @property
    def visual_segments(self) -> list[MediaSegment]:
        return [segment for track in self.video_tracks for segment in track]

    @property
    def duration(self) -> int:
        ends = [s.target.end for s in self.visual_segments + list(self.audio_segments)]
        return max(ends + [t.target.end for t in self.texts], default=0)

    @property
    def materials(self) -> list[Material]:
        """Every material a rendered segment uses, once each, in order of first use."""
        seen: dict[str, Material] = {}
        for segment in self.visual_segments + list(self.audio_segments):
            seen.setdefault(segment.material.id, segment.material)
        return list(seen.values())


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 reads as infinity
        raise ValueError(f"{text} is out of range")
    return value


def _no_constants(name: str) -> float:
    raise ValueError(f"{name} is not a number a draft may hold")


def _loads(raw: str | bytes) -> Any:
    """JSON as a draft may hold it: no NaN, Infinity or numbers out of a float's range."""
    return json.loads(raw, parse_float=_finite, parse_constant=_no_constants)


def parse_draft(raw: str | bytes) -> Draft:
    """Read draft_content.json; DraftError says what is wrong with a file that is not a draft."""
    try:
        content = _loads(raw)
    except (UnicodeDecodeError, ValueError) as error:  # JSONDecodeError is a ValueError
        raise DraftError(f"不是有效的 JSON，剪映 6 及以上版本加密的草稿也读不了 ({error})") from None
    if not isinstance(content, dict) or not isinstance(content.get("tracks"), list):
        raise DraftError("没有 tracks 列表，不是剪映草稿")
    try:
        return _Reader(content).read()
    except DraftError:
        raise
    except (TypeError, ValueError, OverflowError) as error:  # a field of the wrong type, form or size
        raise DraftError(f"字段格式不对 ({error})") from None


class _Reader:
    def __init__(self, content: dict[str, Any]):
        self.content = content
        self.unrendered: Counter[str] = Counter()
        self.materials: dict[str, tuple[str, dict[str, Any]]] = {}  # id → (its list's name, entry)
        for list_name, entries in _dict(content.get("materials")).items():
            for entry in entries if isinstance(entries, list) else ():
                if isinstance(entry, dict) and entry.get("id"):
                    self.materials[str(entry["id"])] = (list_name, entry)

    def read(self) -> Draft:
        canvas = _dict(self.content.get("canvas_config"))
        width, height = _canvas_side(canvas.get("width")), _canvas_side(canvas.get("height"))
        fps = float(self.content.get("fps") or 30)
        if not 1 <= fps <= 240:
            raise DraftError(f"帧率 {fps} 不合理")
        video_tracks, audio, texts = [], [], []
        for track in self.content["tracks"]:
            track = _dict(track)
            kind = track.get("type")
            segments = [s for s in map(_dict, _list(track.get("segments"))) if _shown(s)]
            muted = bool(int(track.get("attribute") or 0) & 1)  # bit 0 of a track's attribute mutes it
            if kind == "video":
                video_tracks.append(tuple(self._media(s, "videos", muted) for s in segments))
            elif kind == "audio":
                audio.extend(self._media(s, "audios", muted) for s in segments)
            elif kind == "text":
                texts.extend(text for s in segments if (text := self._text(s)) is not None)
            elif segments:
                self.unrendered[str(kind)] += len(segments)
        return Draft(width, height, fps, tuple(video_tracks), tuple(audio), tuple(texts), dict(self.unrendered))

    def _media(self, segment: dict[str, Any], list_name: str, muted: bool) -> MediaSegment:
        entry = self._material(segment, list_name)
        kind = "audio" if list_name == "audios" else ("photo" if entry.get("type") == "photo" else "video")
        path = entry.get("path") or entry.get("media_path")
        if not path:
            raise DraftError(f"素材 {entry['id']} 没有文件路径")
        name = str(entry.get("material_name") or entry.get("name") or "")
        material = Material(str(entry["id"]), kind, str(path), name)
        if _is_cropped(entry):
            self.unrendered["crop"] += 1
        if segment.get("reverse"):
            self.unrendered["reverse"] += 1
        self._count_segment_features(segment)
        speed = float(segment.get("speed") or 1.0)
        if speed <= 0:
            raise DraftError(f"片段速度 {speed} 不合理")
        source = segment.get("source_timerange")
        return MediaSegment(
            material=material,
            target=_range(segment, "target_timerange"),
            source_start=_range(segment, "source_timerange").start if source else 0,
            speed=speed,
            volume=0.0 if muted else float(segment.get("volume", 1.0)),
            placement=_placement(segment.get("clip")),
        )

    def _text(self, segment: dict[str, Any]) -> TextSegment | None:
        list_name, entry = self.materials.get(str(segment.get("material_id")), (None, {}))
        if list_name != "texts":
            if list_name is None:
                raise DraftError(f"片段引用了不存在的素材 {segment.get('material_id')}")
            self.unrendered[list_name] += 1  # e.g. a text template on a text track
            return None
        self._count_segment_features(segment)
        text, style = _text_content(entry.get("content"))
        placement = _placement(segment.get("clip"))
        if _has_unrendered_style(entry, style, placement):
            self.unrendered["text_style"] += 1
        fill = _dict(_dict(_dict(style.get("fill")).get("content")).get("solid"))
        strokes = _list(style.get("strokes"))
        stroke = _dict(strokes[0]) if strokes else {}
        stroke_solid = _dict(_dict(stroke.get("content")).get("solid"))
        background = entry.get("background_color") or None
        return TextSegment(
            text=text,
            target=_range(segment, "target_timerange"),
            size=float(style.get("size") or entry.get("font_size") or DEFAULT_TEXT_SIZE),
            color=_hex(fill.get("color")) or _hex(entry.get("text_color")) or "#ffffff",
            alpha=float(entry.get("global_alpha", 1.0)) * float(fill.get("alpha", 1.0)),
            placement=placement,
            stroke_color=_hex(stroke_solid.get("color")) if stroke else None,
            stroke_width=float(stroke.get("width", 0.0)) if stroke else 0.0,
            background_color=_hex(background) if background else None,
            background_alpha=float(entry.get("background_alpha", 1.0)),
        )

    def _material(self, segment: dict[str, Any], list_name: str) -> dict[str, Any]:
        material_id = str(segment.get("material_id"))
        if material_id not in self.materials:
            raise DraftError(f"片段引用了不存在的素材 {material_id}")
        found_in, entry = self.materials[material_id]
        if found_in != list_name:
            raise DraftError(f"素材 {material_id} 在 {found_in} 里，这条轨道要的是 {list_name}")
        return entry

    def _count_segment_features(self, segment: dict[str, Any]) -> None:
        if _list(segment.get("common_keyframes")):
            self.unrendered["keyframes"] += 1
        for reference in _list(segment.get("extra_material_refs")):
            if str(reference) in self.materials:
                list_name, entry = self.materials[str(reference)]
                if kind := _referenced_feature(list_name, entry):
                    self.unrendered[kind] += 1


def _referenced_feature(list_name: str, entry: dict[str, Any]) -> str | None:
    """The unrendered feature a segment's reference to a material brings, if any."""
    if list_name == "speeds":
        return "curve_speed" if entry.get("curve_speed") or entry.get("mode") not in (None, 0) else None
    if list_name == "canvases":  # the canvas behind a clip: black is what the exporter draws
        coloured = entry.get("type", "canvas_color") == "canvas_color"
        return None if coloured and (entry.get("color") or "#000000")[:7] == "#000000" else "canvases"
    if list_name == "material_animations":
        return "material_animations" if _list(entry.get("animations")) else None
    if list_name in _NEUTRAL_REFERENCES:
        return None
    if list_name == "effects":  # filters, blend modes and text styles share this list
        kind = str(entry.get("type") or "")
        return kind if kind in ("filter", "mix_mode", "text_effect", "text_shape") else "video_effects"
    return list_name


def _text_content(raw: Any) -> tuple[str, dict[str, Any]]:
    """A text material's words and its first style. Newer drafts keep JSON here; older ones
    keep markup like `<font …><size=15>[words]</size></font>`."""
    raw = "" if raw is None else str(raw)
    try:
        content = _loads(raw)
    except ValueError:
        content = None
    if isinstance(content, dict):
        styles = [_dict(s) for s in _list(content.get("styles"))]
        style = dict(styles[0]) if styles else {}
        style["multiple"] = len(styles) > 1
        return str(content.get("text") or ""), style
    text = _LEGACY_TAG.sub("", raw)
    return (text[1:-1] if text.startswith("[") and text.endswith("]") else text), {}


def _shown(segment: dict[str, Any]) -> bool:
    return segment.get("visible", True) is not False and _range(segment, "target_timerange").duration > 0


def _is_cropped(material: dict[str, Any]) -> bool:
    crop = _dict(material.get("crop"))
    return any(abs(float(crop.get(corner, default)) - default) > 1e-6 for corner, default in _UNCROPPED.items())


def _has_unrendered_style(entry: dict[str, Any], style: dict[str, Any], placement: Placement) -> bool:
    return bool(
        style.get("multiple") or style.get("bold") or style.get("italic") or style.get("underline")
        or _list(style.get("shadows")) or _dict(style.get("font")).get("id")
        or int(entry.get("typesetting") or 0) != 0 or placement.rotation % 360
    )


def _placement(clip: Any) -> Placement:
    clip = _dict(clip)
    scale, transform, flip = _dict(clip.get("scale")), _dict(clip.get("transform")), _dict(clip.get("flip"))
    return Placement(
        x=float(transform.get("x", 0.0)),
        y=float(transform.get("y", 0.0)),
        scale_x=float(scale.get("x", 1.0)),
        scale_y=float(scale.get("y", 1.0)),
        rotation=float(clip.get("rotation", 0.0)),
        alpha=float(clip.get("alpha", 1.0)),
        flip_horizontal=bool(flip.get("horizontal")),
        flip_vertical=bool(flip.get("vertical")),
    )


def _range(segment: dict[str, Any], key: str) -> TimeRange:
    value = _dict(segment.get(key))
    start, duration = int(value.get("start", 0)), int(value.get("duration", 0))
    if start < 0 or duration < 0:
        raise DraftError(f"{key} 不能是负数")
    return TimeRange(start, duration)


def _canvas_side(value: Any) -> int:
    side = int(value or 0)
    if not 16 <= side <= MAX_CANVAS_SIDE:
        raise DraftError(f"画布尺寸 {value} 不合理")
    return side - side % 2  # H.264 in yuv420p needs even sides


def _hex(color: Any) -> str | None:
    """'#rrggbb' from a draft colour: [r, g, b] in 0–1, or '#rrggbb' text."""
    if isinstance(color, list) and len(color) >= 3:
        return "#" + "".join(f"{round(min(max(float(c), 0.0), 1.0) * 255):02x}" for c in color[:3])
    if isinstance(color, str) and re.fullmatch(r"#[0-9a-fA-F]{6}", color):
        return color.lower()
    return None


def _dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DraftError(f"应为对象，却是 {type(value).__name__}")
    return value


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise DraftError(f"应为列表，却是 {type(value).__name__}")
    return value
