"""Drafts in the CapCut/JianYing format for tests: generated media and a draft_content.json.

Media come from ffmpeg's lavfi sources, so a test knows every pixel: clips of solid
colours (one colour after another, to see trims and speed), sine tones, a photo. The draft
is written the way JianYing and capcut-mate write it (pyJianYingDraft is the reference):
times in microseconds, materials saved under absolute paths of the machine that made it.
`draft_server` serves a folder of drafts the way capcut-mate's get_draft does.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import imageio_ffmpeg
from aiohttp import web

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
WINDOWS_DRAFTS = "C:\\Users\\editor\\AppData\\Local\\JianyingPro\\User Data\\Projects\\com.lveditor.draft"
# Upstream's `is_overlap` per transition name, and each mask name's `resource_type` (DRAFT_FEATURES.md).
OVERLAPPING_TRANSITIONS = frozenset({"叠化", "向下擦除", "向上擦除", "滑动"})
MASK_TYPES = {"线性": "line", "镜面": "mirror", "圆形": "circle", "矩形": "rectangle", "爱心": "geometric_shape",
              "星形": "geometric_shape"}


def ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args], check=True)


def colour_clip(path: Path, colours: list[tuple[str, float]], *, size: tuple[int, int] = (320, 180),
                fps: int = 25, tone_hz: int | None = None) -> Path:
    """A clip of solid colours one after another, e.g. [("0x00ff00", 1), ("0xff0000", 2)]."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sources = [arg for colour, seconds in colours
               for arg in ("-f", "lavfi", "-i", f"color=c={colour}:s={size[0]}x{size[1]}:r={fps}:d={seconds}")]
    joined = "".join(f"[{n}:v]" for n in range(len(colours))) + f"concat=n={len(colours)}:v=1:a=0[v]"
    total = sum(seconds for _, seconds in colours)
    tone_input = ["-f", "lavfi", "-i", f"sine=f={tone_hz}:d={total}"] if tone_hz else []
    tone_output = ["-map", f"{len(colours)}:a", "-c:a", "aac"] if tone_hz else []
    ffmpeg(*sources, *tone_input, "-filter_complex", joined, "-map", "[v]", *tone_output,
           "-c:v", "libx264", "-preset", "ultrafast", "-g", str(fps), "-pix_fmt", "yuv420p", str(path))
    return path


def tone(path: Path, hz: int, seconds: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg("-f", "lavfi", "-i", f"sine=f={hz}:d={seconds}", "-c:a", "aac", str(path))
    return path


def photo(path: Path, colour: str, size: tuple[int, int] = (320, 180)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg("-f", "lavfi", "-i", f"color=c={colour}:s={size[0]}x{size[1]}", "-frames:v", "1", "-update", "1", str(path))
    return path


def drawn_photo(path: Path, colour: str, size: tuple[int, int] = (320, 180),
                boxes: list[tuple[int, int, int, int, str]] = ()) -> Path:
    """A photo of one colour with solid boxes (x, y, width, height, colour) drawn on it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    drawn = "".join(f",drawbox=x={x}:y={y}:w={w}:h={h}:color={c}:t=fill" for x, y, w, h, c in boxes)
    ffmpeg("-f", "lavfi", "-i", f"color=c={colour}:s={size[0]}x{size[1]}{drawn}", "-frames:v", "1", "-update", "1",
           str(path))
    return path


def microseconds(seconds: float) -> int:
    return round(seconds * 1_000_000)


class DraftBuilder:
    """A draft folder (named by its draft id): media under assets/, and its draft_content.json."""

    def __init__(self, folder: Path, *, width: int = 320, height: int = 180, fps: float = 30.0,
                 saved_under: str = WINDOWS_DRAFTS):
        self.folder = folder
        self.saved_under = saved_under  # where the draft's author kept it
        folder.mkdir(parents=True, exist_ok=True)
        self.content: dict[str, Any] = {
            "id": str(uuid.uuid4()).upper(),
            "canvas_config": {"width": width, "height": height, "ratio": "original"},
            "fps": fps,
            "duration": 0,
            "version": 360000,
            "platform": {"app_source": "lv", "app_version": "5.9.0", "os": "windows"},
            "materials": {name: [] for name in (
                "videos", "audios", "texts", "speeds", "transitions", "effects", "video_effects",
                "material_animations", "canvases", "masks", "audio_fades", "stickers")},
            "tracks": [],
        }

    @property
    def draft_id(self) -> str:
        return self.folder.name

    def asset(self, relative: str) -> Path:
        """Where a medium of this draft goes: assets/… under the folder."""
        path = self.folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def track(self, kind: str) -> dict[str, Any]:
        track = {"id": uuid.uuid4().hex, "type": kind, "attribute": 0, "flag": 0, "segments": []}
        self.content["tracks"].append(track)
        return track

    def video(self, track: dict[str, Any], asset: Path, *, start: float, duration: float, source_start: float = 0.0,
              speed: float = 1.0, volume: float = 1.0, scale: float = 1.0, x: float = 0.0, y: float = 0.0,
              alpha: float = 1.0, rotation: float = 0.0) -> dict[str, Any]:
        kind = "photo" if asset.suffix.lower() in (".png", ".jpg", ".jpeg") else "video"
        material_id = self.material("videos", {"type": kind, "path": self.saved_path(asset),
                                               "material_name": asset.name, "width": 0, "height": 0})
        segment = self._segment(track, material_id, start, duration, _clip(scale, x, y, alpha, rotation))
        return self._media(segment, source_start, duration * speed, speed, volume)

    def audio(self, track: dict[str, Any], asset: Path, *, start: float, duration: float, source_start: float = 0.0,
              speed: float = 1.0, volume: float = 1.0) -> dict[str, Any]:
        material_id = self.material("audios", {"type": "extract_music", "path": self.saved_path(asset),
                                               "name": asset.name})
        segment = self._segment(track, material_id, start, duration, None)
        return self._media(segment, source_start, duration * speed, speed, volume)

    def text(self, track: dict[str, Any], words: str, *, start: float, duration: float, size: float = 8.0,
             colour: tuple[float, float, float] = (1.0, 1.0, 1.0), y: float = -0.7) -> dict[str, Any]:
        fill = {"alpha": 1.0, "content": {"render_type": "solid", "solid": {"alpha": 1.0, "color": list(colour)}}}
        style = {"fill": fill, "range": [0, len(words)], "size": size, "bold": False, "italic": False,
                 "underline": False, "strokes": []}
        content = json.dumps({"styles": [style], "text": words}, ensure_ascii=False)
        material_id = self.material("texts", {"type": "text", "content": content, "global_alpha": 1.0,
                                              "alignment": 1, "typesetting": 0})
        return self._segment(track, material_id, start, duration, _clip(1.0, 0.0, y, 1.0, 0.0))

    def material(self, list_name: str, entry: dict[str, Any], used_by: dict[str, Any] | None = None) -> str:
        """Add a material; `used_by` a segment, as one of its extra material references."""
        material_id = uuid.uuid4().hex
        self.content["materials"].setdefault(list_name, []).append({"id": material_id, **entry})
        if used_by is not None:
            used_by["extra_material_refs"].append(material_id)
        return material_id

    def saved_path(self, asset: Path) -> str:
        relative = asset.relative_to(self.folder).as_posix()
        separator = "\\" if "\\" in self.saved_under else "/"
        return separator.join([self.saved_under, self.draft_id, *relative.split("/")])


    # --- features, in the shape upstream capcut-mate (pyJianYingDraft) writes them -----------------

    def keyframes(self, segment: dict[str, Any], prop: str, points: list[tuple]) -> dict[str, Any]:
        """`add_keyframes`: one property's list, `points` (seconds from the segment's start, value).
        UNIFORM_SCALE is written as KFTypeScaleX with `uniform_scale.on`; KFTypeScaleX/Y turn it off.
        A point may also carry Bezier handles, (offset, value, left, right), as JianYing's editor
        writes an eased keyframe (upstream writes none): `curveType` "FreeCurveInOut", each handle
        (seconds, value) from its own keyframe, written as (microseconds, value)."""
        if prop == "UNIFORM_SCALE":
            prop, uniform = "KFTypeScaleX", True
        elif prop in ("KFTypeScaleX", "KFTypeScaleY"):
            uniform = False
        else:
            uniform = None
        if uniform is not None:
            segment["uniform_scale"] = {"on": uniform, "value": 1.0}
        def handle(control: tuple[float, float]) -> dict[str, float]:
            return {"x": float(microseconds(control[0])), "y": float(control[1])}

        keyframes = []
        for offset, value, *controls in points:
            left, right = controls or ((0.0, 0.0), (0.0, 0.0))
            keyframes.append({"curveType": "FreeCurveInOut" if controls else "Line", "graphID": "",
                              "id": uuid.uuid4().hex, "time_offset": microseconds(offset), "values": [value],
                              "left_control": handle(left), "right_control": handle(right)})
        entry = {"id": uuid.uuid4().hex, "material_id": "", "property_type": prop, "keyframe_list": keyframes}
        segment["common_keyframes"].append(entry)
        return entry

    def transition(self, segment: dict[str, Any], name: str, duration: float) -> str:
        """`transition` / `transition_duration` of add_videos / add_images: on the earlier segment."""
        return self.material("transitions", {
            "name": name, "effect_id": "0", "resource_id": "0", "duration": microseconds(duration),
            "is_overlap": name in OVERLAPPING_TRANSITIONS, "type": "transition", "category_id": "",
            "category_name": "", "platform": "all"}, used_by=segment)

    def animation(self, segment: dict[str, Any], name: str, kind: str, start: float, duration: float) -> None:
        """An in / out / group animation (start: seconds from the segment's start); a segment's
        animations share its one `material_animations` entry."""
        item = {"anim_adjust_params": None, "platform": "all", "panel": "video", "material_type": "video",
                "name": name, "id": "0", "type": kind, "resource_id": "0",
                "start": microseconds(start), "duration": microseconds(duration)}
        animations = {m["id"]: m for m in self.content["materials"]["material_animations"]}
        for reference in segment["extra_material_refs"]:
            if reference in animations:
                animations[reference]["animations"].append(item)
                return
        self.material("material_animations", {"type": "sticker_animation", "multi_language_current": "none",
                                              "animations": [item]}, used_by=segment)

    def mask(self, segment: dict[str, Any], name: str, **config: float | bool) -> str:
        """`add_masks`: `config` in the draft's own keys (centerX, centerY, width, height, rotation,
        feather, invert, roundCorner, aspectRatio), sizes relative to the material."""
        full = {"aspectRatio": 1.0, "centerX": 0.0, "centerY": 0.0, "feather": 0.0, "height": 1.0, "invert": False,
                "rotation": 0.0, "roundCorner": 0.0, "width": 1.0, **config}
        return self.material("masks", {"name": name, "resource_type": MASK_TYPES[name], "resource_id": "0",
                                       "type": "mask", "platform": "all", "position_info": "", "config": full},
                             used_by=segment)

    def canvas(self, segment: dict[str, Any], kind: str = "canvas_blur", *, blur: float = 0.375,
               color: str = "") -> str:
        """Background fill (pyJianYingDraft's `background_filling`): "canvas_blur" or "canvas_color"
        (color '#rrggbbaa')."""
        return self.material("canvases", {"type": kind, "blur": blur, "color": color, "image": "",
                                          "album_image": "", "image_id": "", "image_name": "",
                                          "source_platform": 0, "team_id": ""}, used_by=segment)

    def crop(self, segment: dict[str, Any], left: float, top: float, right: float, bottom: float) -> None:
        """The crop of a segment's material: the part shown, fractions of the file from its top left."""
        material = next(m for m in self.content["materials"]["videos"] if m["id"] == segment["material_id"])
        material["crop"] = {"upper_left_x": left, "upper_left_y": top, "upper_right_x": right, "upper_right_y": top,
                            "lower_left_x": left, "lower_left_y": bottom, "lower_right_x": right,
                            "lower_right_y": bottom}

    def reverse(self, segment: dict[str, Any]) -> None:
        segment["reverse"] = True

    def render_index(self, segment: dict[str, Any], index: int) -> None:
        segment["render_index"] = index

    def filter(self, track: dict[str, Any], name: str, *, start: float, duration: float, intensity: float = 1.0,
               render_index: int = 11000) -> dict[str, Any]:
        """A segment of a `filter` track (`add_filters`): no clip, no extra references."""
        material_id = self.material("effects", {
            "type": "filter", "name": name, "effect_id": "0", "resource_id": "0", "value": intensity,
            "adjust_params": [], "apply_target_type": 0, "sub_type": "none", "source_platform": 1, "platform": "all"})
        return self._over_layers(track, material_id, start, duration, render_index)

    def effect(self, track: dict[str, Any], name: str, *, start: float, duration: float, intensity: float = 1.0,
               render_index: int = 11000) -> dict[str, Any]:
        """A segment of an `effect` track (`add_effects`): a video effect over everything below it,
        its strength in `adjust_params` (effects_adjust_texture, as upstream writes 暗角)."""
        material_id = self.material("video_effects", {
            "type": "video_effect", "name": name, "effect_id": "0", "resource_id": "0", "value": 1.0,
            "adjust_params": [{"name": "effects_adjust_texture", "value": intensity, "default_value": 1.0,
                               "min_value": 0.0, "max_value": 1.0}],
            "apply_target_type": 2, "render_index": render_index, "source_platform": 0, "platform": "all"})
        return self._over_layers(track, material_id, start, duration, render_index)

    @staticmethod
    def _over_layers(track: dict[str, Any], material_id: str, start: float, duration: float,
                     render_index: int) -> dict[str, Any]:
        """A segment that applies to the layers below it: no clip, no extra references."""
        segment = {"id": uuid.uuid4().hex, "material_id": material_id, "visible": True, "reverse": False,
                   "target_timerange": {"start": microseconds(start), "duration": microseconds(duration)},
                   "common_keyframes": [], "keyframe_refs": [], "render_index": render_index}
        track["segments"].append(segment)
        return segment

    def sticker(self, track: dict[str, Any], resource_id: str, *, start: float, duration: float, scale: float = 1.0,
                x: float = 0.0, y: float = 0.0) -> dict[str, Any]:
        """A segment of a `sticker` track (`add_sticker`): a JianYing cloud picture named by id."""
        material_id = self.material("stickers", {"resource_id": resource_id, "sticker_id": resource_id,
                                                 "source_platform": 1, "type": "sticker"})
        segment = self._segment(track, material_id, start, duration, _clip(scale, x, y, 1.0, 0.0))
        segment.update({"source_timerange": None, "speed": 1.0, "volume": 1.0, "render_index": 14000,
                        "uniform_scale": {"on": True, "value": 1.0}})
        return segment

    def write(self) -> Path:
        ends = [s["target_timerange"]["start"] + s["target_timerange"]["duration"]
                for track in self.content["tracks"] for s in track["segments"]]
        self.content["duration"] = max(ends, default=0)
        (self.folder / "draft_content.json").write_text(json.dumps(self.content, ensure_ascii=False, indent=2),
                                                       encoding="utf-8")
        meta = {"draft_id": self.content["id"], "draft_name": self.draft_id, "tm_duration": self.content["duration"]}
        (self.folder / "draft_meta_info.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        return self.folder

    def _segment(self, track: dict[str, Any], material_id: str, start: float, duration: float,
                 clip: dict[str, Any] | None) -> dict[str, Any]:
        segment = {
            "id": uuid.uuid4().hex, "material_id": material_id, "visible": True, "clip": clip,
            "target_timerange": {"start": microseconds(start), "duration": microseconds(duration)},
            "source_timerange": None, "extra_material_refs": [], "common_keyframes": [],
        }
        track["segments"].append(segment)
        return segment

    def _media(self, segment: dict[str, Any], source_start: float, source_duration: float, speed: float,
               volume: float) -> dict[str, Any]:
        """A video or audio segment's own fields: the part of its material, speed and volume."""
        self.material("speeds", {"type": "speed", "mode": 0, "speed": speed, "curve_speed": None}, used_by=segment)
        segment.update({
            "source_timerange": {"start": microseconds(source_start), "duration": microseconds(source_duration)},
            "speed": speed, "volume": volume, "reverse": False,
        })
        return segment


def _clip(scale: float, x: float, y: float, alpha: float, rotation: float) -> dict[str, Any]:
    """A segment's `clip`: its placement on the canvas."""
    return {"alpha": alpha, "flip": {"horizontal": False, "vertical": False}, "rotation": rotation,
            "scale": {"x": scale, "y": scale}, "transform": {"x": x, "y": y}}


def draft_server(root: Path) -> web.Application:
    """capcut-mate's get_draft over the draft folders in `root`: GET /get_draft?draft_id=…
    answers {"code": 0, "files": [URL, …]}, the files served under /output/draft/<draft id>/."""

    async def get_draft(request: web.Request) -> web.Response:
        folder = root / request.query.get("draft_id", "")
        if not request.query.get("draft_id") or not folder.is_dir():
            return web.json_response({"code": 2001, "message": "无效的草稿URL"}, status=404)
        base = f"{request.url.origin()}/output/draft/{folder.name}/"
        files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        return web.json_response({"code": 0, "message": "成功", "files": [base + f for f in files]})

    app = web.Application()
    app.router.add_get("/get_draft", get_draft)
    app.router.add_static("/output/draft/", root)
    return app
