"""parse_draft: draft_content.json → Draft.

The format has no published schema; pyJianYingDraft and capcut-mate, which write it, are
the references; each module of this package states the units and encodings it relies on.
"""

from __future__ import annotations

from typing import Any

from capcut_mate.render.draft.fields import DraftError, as_dict, as_list, loads, number
from capcut_mate.render.draft.keyframes import read_keyframes
from capcut_mate.render.draft.materials import (
    Material,
    read_animations,
    read_audio_fade,
    read_canvas,
    read_crop,
    read_effect,
    read_mask,
    read_transition,
)
from capcut_mate.render.draft.segments import (
    AudioSegment,
    EffectSegment,
    Extras,
    OtherSegment,
    StickerSegment,
    TextSegment,
    VisualSegment,
    read_clip,
)
from capcut_mate.render.draft.text import read_text_material
from capcut_mate.render.draft.timing import TimeRange, read_range
from capcut_mate.render.draft.tracks import Draft, Track

MAX_CANVAS_SIDE = 8192
MAX_SEGMENTS = 5000  # a draft with more is refused: each one is an ffmpeg input
MAX_DURATION = 4 * 3600 * 1_000_000  # microseconds: a draft that ends later is refused
SPEEDS = (0.05, 100.0)  # JianYing's range is 0.1–100
# Materials JianYing has every segment reference, which change nothing in the picture or sound.
_NEUTRAL_REFERENCES = frozenset({
    "placeholders", "placeholder_infos", "sound_channel_mappings", "material_colors", "vocal_separations", "beats",
})


def parse_draft(raw: str | bytes) -> Draft:
    """Read draft_content.json; DraftError says what is wrong with a file that is not a draft."""
    try:
        content = loads(raw)
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
        self.materials: dict[str, tuple[str, dict[str, Any]]] = {}  # id → (its list's name, entry)
        for list_name, entries in as_dict(content.get("materials")).items():
            for entry in entries if isinstance(entries, list) else ():
                if isinstance(entry, dict) and entry.get("id"):
                    self.materials[str(entry["id"])] = (list_name, entry)

    def read(self) -> Draft:
        canvas = as_dict(self.content.get("canvas_config"))
        width, height = _canvas_side(canvas.get("width")), _canvas_side(canvas.get("height"))
        fps = number(self.content.get("fps"), 30.0) or 30.0
        if not 1 <= fps <= 240:
            raise DraftError(f"帧率 {fps} 不合理")
        tracks, count = [], 0
        for index, raw_track in enumerate(map(as_dict, self.content["tracks"])):
            kind = str(raw_track.get("type") or "")
            muted = bool(int(number(raw_track.get("attribute"), 0)) & 1)  # bit 0 of a track's attribute mutes it
            raw_segments = [s for s in map(as_dict, as_list(raw_track.get("segments"))) if _shown(s)]
            count += len(raw_segments)
            if count > MAX_SEGMENTS:
                raise DraftError(f"片段超过 {MAX_SEGMENTS} 个")
            segments = tuple(self._segment(kind, s) for s in raw_segments)
            if any(s.target.end > MAX_DURATION for s in segments):
                raise DraftError(f"草稿长于 {MAX_DURATION // 3_600_000_000} 小时")
            tracks.append(Track(kind, index, muted, segments))
        return Draft(width, height, fps, tuple(tracks))

    def _segment(self, kind: str, segment: dict[str, Any]):
        target = read_range(segment.get("target_timerange"), "target_timerange")
        render_index = int(number(segment.get("render_index"), 0))
        if kind == "video":
            return self._visual(segment, target, render_index)
        if kind == "audio":
            return self._audio(segment, target)
        list_name, entry = self.materials.get(str(segment.get("material_id")), (None, {}))
        if kind == "text" and list_name == "texts":
            return TextSegment(
                id=str(segment.get("id") or ""), material=read_text_material(entry), target=target,
                clip=read_clip(segment.get("clip")), uniform_scale=_uniform(segment),
                keyframes=read_keyframes(segment.get("common_keyframes"), target.duration),
                extras=self._extras(segment), render_index=render_index,
            )
        if kind in ("filter", "effect") and list_name in ("effects", "video_effects"):
            effect_kind = "filter" if str(entry.get("type")) == "filter" else "video_effect"
            return EffectSegment(read_effect(entry, effect_kind), target, render_index)
        if kind == "sticker":
            return StickerSegment(str(entry.get("resource_id") or entry.get("sticker_id") or ""), target,
                                  read_clip(segment.get("clip")), render_index, name=str(entry.get("name") or ""))
        return OtherSegment(list_name if kind == "text" and list_name else kind, target, render_index,
                            name=str(entry.get("name") or ""))

    def _visual(self, segment: dict[str, Any], target: TimeRange, render_index: int) -> VisualSegment:
        entry = self._material(segment, "videos")
        kind = "photo" if entry.get("type") == "photo" else "video"
        speed = _speed(segment)
        return VisualSegment(
            id=str(segment.get("id") or ""), material=self._media_material(entry, kind),
            target=target, source=self._source(segment, target, speed, kind), speed=speed,
            volume=max(number(segment.get("volume"), 1.0), 0.0),
            clip=read_clip(segment.get("clip")), uniform_scale=_uniform(segment),
            keyframes=read_keyframes(segment.get("common_keyframes"), target.duration),
            extras=self._extras(segment), render_index=render_index, reverse=bool(segment.get("reverse")),
        )

    def _audio(self, segment: dict[str, Any], target: TimeRange) -> AudioSegment:
        entry = self._material(segment, "audios")
        speed = _speed(segment)
        return AudioSegment(
            id=str(segment.get("id") or ""), material=self._media_material(entry, "audio"),
            target=target, source=self._source(segment, target, speed, "audio"), speed=speed,
            volume=max(number(segment.get("volume"), 1.0), 0.0),
            keyframes=read_keyframes(segment.get("common_keyframes"), target.duration),
            extras=self._extras(segment),
        )

    @staticmethod
    def _source(segment: dict[str, Any], target: TimeRange, speed: float, kind: str) -> TimeRange:
        source = segment.get("source_timerange")
        start = read_range(source, "source_timerange").start if source and kind != "photo" else 0
        return TimeRange(start, round(target.duration * speed))

    @staticmethod
    def _media_material(entry: dict[str, Any], kind: str) -> Material:
        path = entry.get("path") or entry.get("media_path")
        if not path:
            raise DraftError(f"素材 {entry['id']} 没有文件路径")
        return Material(
            id=str(entry["id"]), kind=kind, path=str(path),
            name=str(entry.get("material_name") or entry.get("name") or ""),
            width=max(int(number(entry.get("width"), 0)), 0), height=max(int(number(entry.get("height"), 0)), 0),
            crop=read_crop(entry) if kind != "audio" else read_crop({}),
        )

    def _material(self, segment: dict[str, Any], list_name: str) -> dict[str, Any]:
        material_id = str(segment.get("material_id"))
        if material_id not in self.materials:
            raise DraftError(f"片段引用了不存在的素材 {material_id}")
        found_in, entry = self.materials[material_id]
        if found_in != list_name:
            raise DraftError(f"素材 {material_id} 在 {found_in} 里，这条轨道要的是 {list_name}")
        return entry

    def _extras(self, segment: dict[str, Any]) -> Extras:
        fields: dict[str, Any] = {"animations": [], "effects": [], "audio_effects": [], "other": []}
        for reference in as_list(segment.get("extra_material_refs")):
            list_name, entry = self.materials.get(str(reference), (None, None))
            if entry is None or list_name in _NEUTRAL_REFERENCES:
                continue
            if list_name == "speeds":
                if entry.get("curve_speed") or entry.get("mode") not in (None, 0):
                    fields["other"].append(_named("curve_speed", as_dict(entry.get("curve_speed"))))
            elif list_name == "transitions":
                fields["transition"] = read_transition(entry)
            elif list_name == "material_animations":
                fields["animations"] += read_animations(entry)
            elif list_name == "masks":
                fields["mask"] = read_mask(entry)
            elif list_name == "canvases":
                fields["canvas"] = read_canvas(entry)
            elif list_name == "audio_fades":
                fields["audio_fade"] = read_audio_fade(entry)
            elif list_name == "audio_effects":
                fields["audio_effects"].append(str(entry.get("name") or ""))
            elif list_name == "video_effects":
                fields["effects"].append(read_effect(entry, "video_effect"))
            elif list_name == "effects":  # filters, blend modes and text styles share this list
                kind = str(entry.get("type") or "")
                if kind == "filter":
                    fields["effects"].append(read_effect(entry, "filter"))
                elif kind == "text_effect":
                    fields["text_effect"] = str(entry.get("resource_id") or entry.get("effect_id") or "花字")
                elif kind == "text_shape":
                    fields["bubble"] = str(entry.get("resource_id") or "bubble")
                else:
                    fields["other"].append(_named(kind or "effects", entry))
            else:
                fields["other"].append(_named(str(list_name), entry))
        return Extras(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})


def _named(kind: str, entry: dict[str, Any]) -> str:
    """"kind:name" for an entry with a name, else "kind" (Extras.other)."""
    return f"{kind}:{entry['name']}" if entry.get("name") else kind


def _speed(segment: dict[str, Any]) -> float:
    speed = number(segment.get("speed"), 1.0) or 1.0
    if not SPEEDS[0] <= speed <= SPEEDS[1]:
        raise DraftError(f"片段速度 {speed} 不合理")
    return speed


def _uniform(segment: dict[str, Any]) -> bool:
    uniform = segment.get("uniform_scale")
    return True if uniform is None else bool(as_dict(uniform).get("on", True))


def _shown(segment: dict[str, Any]) -> bool:
    return segment.get("visible", True) is not False and read_range(
        segment.get("target_timerange"), "target_timerange").duration > 0


def _canvas_side(value: Any) -> int:
    side = int(number(value, 0))
    if not 16 <= side <= MAX_CANVAS_SIDE:
        raise DraftError(f"画布尺寸 {value} 不合理")
    return side - side % 2  # H.264 in yuv420p needs even sides
