"""build_timeline: a parsed draft and what its media files hold → the layers to draw and the sounds to mix.

This is where JianYing's rules live: a material is fitted inside the canvas (scale 1 is the
largest size with its aspect ratio that fits, centred), then scaled, turned and moved by its
clip or its keyframes; keyframes set a property (they do not multiply the clip's value);
layers stack by `render_index`, then by track order; transitions and animations become
curves on the segments they touch.
"""

from __future__ import annotations

from collections.abc import Mapping

from capcut_mate.render.draft import keyframes as kf
from capcut_mate.render.draft.keyframes import KeyframeList
from capcut_mate.render.draft.materials import Mask
from capcut_mate.render.draft.segments import (
    AudioSegment,
    Clip,
    EffectSegment,
    Extras,
    OtherSegment,
    StickerSegment,
    TextSegment,
    VisualSegment,
)
from capcut_mate.render.draft.tracks import Draft
from capcut_mate.render.media import MediaFile
from capcut_mate.render.text.looks import text_effect_style
from capcut_mate.render.timeline.animations import apply_animations, apply_text_animations
from capcut_mate.render.timeline.curves import Expr, add, const, multiply, points
from capcut_mate.render.timeline.features import Notes
from capcut_mate.render.timeline.layers import (
    AdjustmentLayer,
    Colour,
    Footage,
    Layer,
    Sound,
    TextLayer,
    Timeline,
    VisualLayer,
)
from capcut_mate.render.timeline.looks import look_for
from capcut_mate.render.timeline.motion import Motion
from capcut_mate.render.timeline.transitions import plan_transitions

BEZIER_STEPS = 8  # linear pieces a Bezier keyframe interval is drawn with
MAX_REVERSED_SECONDS = 10.0  # reversing holds every frame of the clip in memory


def build_timeline(draft: Draft, media: Mapping[str, MediaFile]) -> Timeline:
    """`media`: what each visual and audio material's file holds, by material id."""
    return _Builder(draft, media).build()


class _Builder:
    def __init__(self, draft: Draft, media: Mapping[str, MediaFile]):
        self.draft = draft
        self.media = media
        self.notes = Notes()
        self.width, self.height = draft.width, draft.height
        self.ordered: list[tuple[tuple[int, int, int], Layer]] = []
        self.sounds: list[Sound] = []

    def build(self) -> Timeline:
        for track in self.draft.tracks:
            if track.kind == "video":
                self._video_track(track.index, track.muted,
                                  [s for s in track.segments if isinstance(s, VisualSegment)])
            for number, segment in enumerate(track.segments):
                key = (getattr(segment, "render_index", 0), track.index, number)
                if isinstance(segment, TextSegment):
                    self.ordered.append((key, self._text(segment, _layer_name(key, segment.id))))
                elif isinstance(segment, EffectSegment):
                    self._adjustment(key, segment)
                elif isinstance(segment, AudioSegment):
                    self._sound(segment, track.muted)
                elif isinstance(segment, StickerSegment):
                    self.notes.leave_out("stickers", segment.name or segment.resource_id)
                elif isinstance(segment, OtherSegment):
                    self.notes.leave_out(segment.kind, segment.name)
        self.ordered.sort(key=lambda item: item[0])
        return Timeline(
            self.width, self.height, self.draft.fps, self.draft.duration / 1e6,
            tuple(layer for _, layer in self.ordered), tuple(self.sounds), tuple(self.notes.warnings()),
        )

    # --- video tracks ---------------------------------------------------------------------

    def _video_track(self, track_index: int, muted: bool, segments: list[VisualSegment]) -> None:
        by_start = sorted(range(len(segments)), key=lambda i: segments[i].target.start)
        ordered = [segments[i] for i in by_start]
        motions: dict[int, Motion] = {}
        extra: dict[int, list[VisualLayer]] = {}
        plan_transitions(ordered, self.width, self.height, self.notes, motions, extra)
        for position, segment in enumerate(ordered):
            key = (segment.render_index, track_index, position)
            motion = motions.get(position, Motion())
            self._count_extras(segment.extras)
            apply_animations(segment.extras.animations, segment.target.start / 1e6, segment.target.end / 1e6,
                             self.width, self.height, motion, self.notes)
            layer = self._visual(segment, motion, _layer_name(key, segment.id))
            for fill in self._canvas(segment, layer, motion):
                self.ordered.append((key, fill))
            self.ordered.append((key, layer))
            for colour in extra.get(position, []):
                self.ordered.append((key, colour))
            if self.media[segment.material.id].has_audio:
                self._sound(segment, muted)

    def _visual(self, segment: VisualSegment, motion: Motion, name: str) -> VisualLayer:
        info = self.media[segment.material.id]
        crop = segment.material.crop
        shown_w = max(info.width * (crop.right - crop.left), 1.0)
        shown_h = max(info.height * (crop.bottom - crop.top), 1.0)
        fit = min(self.width / shown_w, self.height / shown_h)
        start = segment.target.start / 1e6 - motion.start_earlier
        end = segment.target.end / 1e6 + motion.end_later
        footage = self._footage(segment, info, motion)
        props = self._placement(segment.clip, segment.keyframes, segment.uniform_scale, segment.target.start / 1e6)
        mask = segment.extras.mask
        if mask is not None and not mask.is_exact:
            if mask.outline:
                self.notes.approximate("masks", mask.name)
            else:  # a shape this renderer has no outline for
                self.notes.leave_out("masks", mask.name)
                mask = None
        looks = []
        for effect in segment.extras.effects:
            look = look_for(effect.name, effect.intensity)
            if look is None:
                self.notes.leave_out("filter" if effect.kind == "filter" else "video_effects", effect.name)
            else:
                looks.append(look)
                self.notes.approximate("filter" if effect.kind == "filter" else "video_effects", effect.name)
        return VisualLayer(
            name=name, start=start, end=end, source=footage,
            width=shown_w * fit, height=shown_h * fit,
            x=add(props["x"], *motion.dx), y=add(props["y"], *motion.dy),
            scale_x=multiply(props["scale_x"], *motion.scale), scale_y=multiply(props["scale_y"], *motion.scale),
            rotation=add(props["rotation"], *motion.rotation), alpha=multiply(props["alpha"], *motion.alpha),
            flip_horizontal=segment.clip.flip_horizontal, flip_vertical=segment.clip.flip_vertical,
            mask=mask, wipe=motion.wipe, looks=tuple(looks),
            brightness=props["brightness"], contrast=props["contrast"], saturation=props["saturation"],
        )

    def _footage(self, segment: VisualSegment, info: MediaFile, motion: Motion) -> Footage:
        if segment.material.kind == "photo":
            return Footage(segment.material.id, "photo", info.width, info.height, segment.material.crop,
                           alpha=info.has_alpha)
        reverse = segment.reverse
        if reverse and segment.source.duration / 1e6 > MAX_REVERSED_SECONDS:
            self.notes.leave_out("reverse", segment.material.name)
            reverse = False
        speed = segment.speed
        source_start = segment.source.start / 1e6 - motion.start_earlier * speed
        hold_start = 0.0
        if source_start < 0 or reverse:  # no earlier frames: the first one is held
            hold_start, source_start = motion.start_earlier, segment.source.start / 1e6
        playing = (segment.target.duration / 1e6 + motion.end_later + motion.start_earlier - hold_start)
        available = (info.duration - source_start) / speed if info.duration else playing
        if reverse:
            playing, available = segment.target.duration / 1e6, min(available, segment.target.duration / 1e6)
        hold_end = max(playing - max(available, 0.0), 0.0) + (motion.end_later if reverse else 0.0)
        return Footage(segment.material.id, "video", info.width, info.height, segment.material.crop,
                       source_start=max(source_start, 0.0), speed=speed, reverse=reverse,
                       hold_start=hold_start, hold_end=round(hold_end, 6), alpha=info.has_alpha)

    def _canvas(self, segment: VisualSegment, layer: VisualLayer, motion: Motion) -> list[VisualLayer]:
        canvas = segment.extras.canvas
        if canvas is None:
            return []
        if canvas.kind == "canvas_image":
            self.notes.leave_out("canvases")
            return []
        # The fill is part of its clip's frame: it moves, wipes and fades with the clip's transitions.
        centre = (add(self.width / 2, *motion.dx), add(self.height / 2, *motion.dy))
        alpha = multiply(*motion.alpha)
        if canvas.kind == "canvas_blur":
            cover = max(self.width / layer.width, self.height / layer.height)
            size = (layer.width * cover, layer.height * cover)
            source = layer.source
        elif canvas.color.lower() == "#000000" and alpha.constant is not None:
            return []  # the canvas is black already
        else:
            size, source = (self.width, self.height), Colour(canvas.color)
        fill = VisualLayer(f"{layer.name}/canvas", layer.start, layer.end, source, *size, *centre, alpha=alpha,
                           blur=max(canvas.blur, 0.0625) if canvas.kind == "canvas_blur" else 0.0, wipe=motion.wipe,
                           mask=_hole(layer, size, (self.width, self.height)) if alpha.constant is None else None)
        return [fill]

    def _placement(self, clip: Clip, keyframes: dict[str, KeyframeList], uniform: bool,
                   start: float) -> dict[str, Expr]:
        def prop(name: str, static: float) -> Expr:
            return _curve(keyframes[name], start) if name in keyframes else const(static)

        scale_x = prop(kf.SCALE_X, clip.scale_x)
        if kf.SCALE_Y in keyframes:
            scale_y = prop(kf.SCALE_Y, clip.scale_y)
        elif kf.SCALE_X in keyframes and uniform:
            scale_y = scale_x
        else:
            scale_y = const(clip.scale_y)
        if kf.UNIFORM_SCALE in keyframes:
            scale_x = scale_y = prop(kf.UNIFORM_SCALE, clip.scale_x)
        half_w, half_h = self.width / 2, self.height / 2
        for unknown in set(keyframes) - kf.PICTURE - {kf.VOLUME}:
            self.notes.leave_out("keyframes", unknown)
        return {
            "x": add(half_w, multiply(half_w, prop(kf.POSITION_X, clip.x))),
            "y": add(half_h, multiply(-half_h, prop(kf.POSITION_Y, clip.y))),
            "scale_x": scale_x, "scale_y": scale_y,
            "rotation": prop(kf.ROTATION, clip.rotation),
            "alpha": prop(kf.ALPHA, clip.alpha),
            "brightness": prop(kf.BRIGHTNESS, 0.0), "contrast": prop(kf.CONTRAST, 0.0),
            "saturation": prop(kf.SATURATION, 0.0),
        }

    def _count_extras(self, extras: Extras) -> None:
        for other in extras.other:
            self.notes.leave_out(*other.split(":", 1))

    # --- text, effects, sound -----------------------------------------------------------------

    def _text(self, segment: TextSegment, name: str) -> TextLayer:
        self._count_extras(segment.extras)
        extras = segment.extras
        # What JianYing lets a caption have that is not drawn on one here.
        if extras.mask:
            self.notes.leave_out("masks", extras.mask.name)
        if extras.transition:
            self.notes.leave_out("transitions", extras.transition.name)
        for effect in extras.effects:
            self.notes.leave_out("filter" if effect.kind == "filter" else "video_effects", effect.name)
        if segment.clip.flip_horizontal or segment.clip.flip_vertical:
            self.notes.leave_out("text_flip")
        effect = None
        if segment.extras.text_effect:
            # Not the layer's name: captions sharing a 花字 keep their own pictures.
            effect_name, effect = text_effect_style(segment.extras.text_effect, segment.material.base)
            self.notes.approximate("text_effect", effect_name)
        if segment.extras.bubble:
            self.notes.approximate("text_shape", segment.extras.bubble)
        start, end = segment.target.start / 1e6, segment.target.end / 1e6
        motion = Motion()
        apply_text_animations(segment.extras.animations, start, end, self.width, self.height, motion, self.notes)
        props = self._placement(segment.clip, segment.keyframes, segment.uniform_scale, start)
        return TextLayer(
            name=name, start=start, end=end, segment=segment,
            x=add(props["x"], *motion.dx), y=add(props["y"], *motion.dy),
            scale_x=multiply(props["scale_x"], *motion.scale), scale_y=multiply(props["scale_y"], *motion.scale),
            alpha=multiply(props["alpha"], segment.material.global_alpha, *motion.alpha),
            rotation=add(props["rotation"], *motion.rotation),
            reveal=motion.reveal, effect=effect, bubble=bool(segment.extras.bubble),
        )

    def _adjustment(self, key: tuple[int, int, int], segment: EffectSegment) -> None:
        kind = "filter" if segment.effect.kind == "filter" else "video_effects"
        look = look_for(segment.effect.name, segment.effect.intensity)
        if look is None:
            self.notes.leave_out(kind, segment.effect.name)
            return
        self.notes.approximate(kind, segment.effect.name)
        self.ordered.append((key, AdjustmentLayer(segment.effect.name, segment.target.start / 1e6,
                                                  segment.target.end / 1e6, look)))

    def _sound(self, segment: VisualSegment | AudioSegment, muted: bool) -> None:
        """A segment's sound, unless its track is muted: volume keyframes set the gain (linear,
        1 = the file's own) over the static `volume`, even 0, as JianYing plays them."""
        if muted or (segment.volume <= 0 and kf.VOLUME not in segment.keyframes):
            return
        for effect in segment.extras.audio_effects:
            self.notes.leave_out("audio_effects", effect)
        volume = (_curve(segment.keyframes[kf.VOLUME], 0.0) if kf.VOLUME in segment.keyframes
                  else const(segment.volume))
        fade = segment.extras.audio_fade
        reverse = isinstance(segment, VisualSegment) and segment.reverse
        self.sounds.append(Sound(
            material_id=segment.material.id, start=segment.target.start / 1e6,
            duration=segment.target.duration / 1e6, source_start=segment.source.start / 1e6,
            speed=segment.speed, volume=volume,
            fade_in=fade.fade_in / 1e6 if fade else 0.0, fade_out=fade.fade_out / 1e6 if fade else 0.0,
            reverse=reverse,
        ))


def _layer_name(key: tuple[int, int, int], segment_id: str) -> str:
    """Unique in the timeline, whatever ids the draft's segments carry: render index, track, place."""
    return f"{key[1]}.{key[2]}:{segment_id}"


def _hole(clip: VisualLayer, fill_size: tuple[float, float], canvas: tuple[int, int]) -> Mask | None:
    """Where a fading clip sits, cut out of its fill: the two fade as one picture (the clip
    over its fill) instead of the fill showing through the half-faded clip. Only for a clip
    that stands still, unturned and unmasked; others keep the whole fill."""
    values = (clip.x, clip.y, clip.scale_x, clip.scale_y, clip.rotation)
    if any(v.constant is None for v in values) or clip.rotation.constant % 360 or clip.mask is not None:
        return None
    fill_w, fill_h = fill_size
    return Mask("hole", "rectangle", center_x=(clip.x.constant - canvas[0] / 2) / (fill_w / 2),
                center_y=-(clip.y.constant - canvas[1] / 2) / (fill_h / 2),
                width=clip.width * abs(clip.scale_x.constant) / fill_w,
                height=clip.height * abs(clip.scale_y.constant) / fill_h, invert=True)


def _curve(keyframes: KeyframeList, start: float) -> Expr:
    """A keyframe list as a curve of timeline seconds (`start`: its segment's start)."""
    pairs: list[tuple[float, float]] = []
    for frame, following in zip(keyframes.keyframes, keyframes.keyframes[1:] + (None,)):
        t0 = start + frame.offset / 1e6
        pairs.append((t0, frame.value))
        if following is not None and frame.bezier is not None:
            t1 = start + following.offset / 1e6
            dt = (following.offset - frame.offset) / 1e6
            rx, ry, lx, ly = frame.bezier
            # Handles in microseconds and the property's unit; kept inside the interval, so time only moves on.
            p1 = (t0 + min(max(rx / 1e6, 0.0), dt), frame.value + ry)
            p2 = (t1 - min(max(-lx / 1e6, 0.0), dt), following.value + ly)
            for step in range(1, BEZIER_STEPS):
                u = step / BEZIER_STEPS
                pairs.append(_bezier_point((t0, frame.value), p1, p2, (t1, following.value), u))
    return points(pairs)


def _bezier_point(p0, p1, p2, p3, u: float) -> tuple[float, float]:
    a, b, c, d = (1 - u) ** 3, 3 * u * (1 - u) ** 2, 3 * u * u * (1 - u), u ** 3
    return (a * p0[0] + b * p1[0] + c * p2[0] + d * p3[0], a * p0[1] + b * p1[1] + c * p2[1] + d * p3[1])
