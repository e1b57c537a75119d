"""The timeline compiled to one ffmpeg run: inputs, one filter graph, the encoder settings.

Pictures: a black canvas at the draft's size, rate and length; every layer in order, each
overlaid at its centre's position over its [start, end) (a text layer is its picture, drawn
beforehand by `render.text`, placed like a photo; adjustments apply to everything below
them). A layer's own chain:

    footage (trimmed where it is read; a photo decoded once and looped)
      → crop → scale to its largest size → looks, blur → mask → flip → static alpha
      → [loop, for photos] → on the timeline (setpts) → alpha over time (sendcmd) → [typewriter]
      → rotation → scale over time → [wipe] → overlay at x(t), y(t)

Anything that does not change over time happens before a photo's loop, so a photo is
decoded, scaled and masked once. Sizes that change per frame are whole even pixels.

Sound: every sound trimmed where it is read, retimed, its volume over time, faded, delayed to
its start, and mixed without amix's normalising; padded with silence to the video's length.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from capcut_mate.render.ffmpeg.expressions import expression
from capcut_mate.render.ffmpeg.graph import Graph, Stream, number
from capcut_mate.render.ffmpeg.looks import apply_look
from capcut_mate.render.ffmpeg.masks import mask_alpha
from capcut_mate.render.media import INPUT_WHITELIST
from capcut_mate.render.text.raster import TextImage
from capcut_mate.render.timeline.curves import Expr
from capcut_mate.render.timeline.layers import (
    AdjustmentLayer,
    Colour,
    Footage,
    Reveal,
    Sound,
    TextLayer,
    Timeline,
    VisualLayer,
    Wipe,
)

VIDEO_ENCODING = ("-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p")
AUDIO_ENCODING = ("-c:a", "aac", "-b:a", "192k", "-ar", "48000", "-ac", "2")
MAX_LAYER_SIDE = 4096  # the largest a layer is scaled to before it shrinks over time
ALPHA_FORMAT = "yuva420p"


@dataclass(frozen=True)
class RenderPlan:
    args: list[str]  # ffmpeg's arguments, its path not included
    graph: str  # the filter graph, for the file `args` names
    duration_us: int


def build_plan(timeline: Timeline, files: Mapping[str, Path], texts: Mapping[str, TextImage], *,
               graph_file: Path, graph_file_option: str, output: Path) -> RenderPlan:
    """The whole timeline in one ffmpeg run, picture and sound. `files`: each material's local
    file by material id; `texts`: each text layer's picture by layer name (a text layer
    without one is not drawn)."""
    graph = Graph()
    composer = _Composer(graph, timeline, _with_texts(files, texts), (0, _frame(timeline.duration, timeline.fps)))
    picture = composer.pictures(texts)
    inputs, text = graph.compile({"video": picture, "audio": composer.soundtrack()})
    args = [
        *_RUN_OPTIONS, *inputs, graph_file_option, str(graph_file), "-map", "[video]", "-map", "[audio]",
        *VIDEO_ENCODING, "-r", number(timeline.fps), *AUDIO_ENCODING,
        "-t", number(timeline.duration), "-movflags", "+faststart", "-f", "mp4", str(output),
    ]
    return RenderPlan(args, text, round(timeline.duration * 1e6))


def build_window_plan(timeline: Timeline, files: Mapping[str, Path], texts: Mapping[str, TextImage],
                      window: tuple[int, int], *, graph_file: Path, graph_file_option: str, output: Path,
                      threads: int = 0) -> RenderPlan:
    """The picture of frames [first, last) alone, with only the layers it shows: a window of a
    long render. Every window starts on a key frame, so windows join without re-encoding."""
    graph = Graph()
    composer = _Composer(graph, timeline, _with_texts(files, texts), window)
    inputs, text = graph.compile({"video": composer.pictures(texts).filter("setpts", "PTS-STARTPTS")})
    frames = window[1] - window[0]
    args = [
        *_RUN_OPTIONS, *inputs, graph_file_option, str(graph_file), "-map", "[video]",
        *VIDEO_ENCODING, *(("-threads", str(threads)) if threads else ()), "-r", number(timeline.fps),
        "-frames:v", str(frames), "-an", "-f", "mp4", str(output),
    ]
    return RenderPlan(args, text, round(frames / timeline.fps * 1e6))


def build_sound_plan(timeline: Timeline, files: Mapping[str, Path], *, graph_file: Path, graph_file_option: str,
                     output: Path) -> RenderPlan:
    """The whole soundtrack, once: windows of picture are muxed with it (no gaps at joins)."""
    graph = Graph()
    composer = _Composer(graph, timeline, files, (0, _frame(timeline.duration, timeline.fps)))
    inputs, text = graph.compile({"audio": composer.soundtrack()})
    args = [*_RUN_OPTIONS, *inputs, graph_file_option, str(graph_file), "-map", "[audio]", *AUDIO_ENCODING,
            "-t", number(timeline.duration), "-vn", "-f", "mp4", str(output)]
    return RenderPlan(args, text, round(timeline.duration * 1e6))


def build_join_plan(windows: list[Path], sound: Path, *, list_file: Path, duration: float, output: Path) -> RenderPlan:
    """The windows, joined as they are (no re-encoding), with the soundtrack. `list_file`'s
    text is the concat list to write beside the plan."""
    listing = "".join(f"file '{_concat_quote(path)}'\n" for path in windows)
    args = [*_RUN_OPTIONS, "-f", "concat", "-safe", "0", "-i", str(list_file), "-i", str(sound),
            "-map", "0:v", "-map", "1:a", "-c", "copy", "-t", number(duration), "-movflags", "+faststart",
            "-f", "mp4", str(output)]
    return RenderPlan(args, listing, round(duration * 1e6))


def plan_windows(timeline: Timeline, seconds: float) -> list[tuple[int, int]]:
    """Frame ranges of about `seconds` each that together cover the timeline. A cut goes to the
    nearest layer boundary within a third of a window when there is one (fewer layers are
    split), and never inside a reversed clip (its frames exist only as a whole)."""
    fps = timeline.fps
    total = _frame(timeline.duration, fps)
    size = max(1, round(seconds * fps))
    if total <= size * 1.5:
        return [(0, total)]
    boundaries = sorted({_frame(t, fps) for layer in timeline.layers for t in (layer.start, layer.end)})
    blocked = [(_frame(layer.start, fps), _frame(layer.end, fps)) for layer in timeline.layers
               if isinstance(layer, VisualLayer) and isinstance(layer.source, Footage) and layer.source.reverse]
    cuts, at = [], 0
    while total - at > size * 1.5:
        wanted = at + size
        near = [b for b in boundaries if abs(b - wanted) <= size / 3 and b > at]
        cut = min(near, key=lambda b: abs(b - wanted)) if near else wanted
        for first, last in blocked:
            if first < cut < last:
                cut = last
        if cut >= total:
            break
        cuts.append(cut)
        at = cut
    edges = [0, *cuts, total]
    return list(zip(edges, edges[1:]))


_RUN_OPTIONS = ("-hide_banner", "-nostdin", "-loglevel", "error", "-nostats", "-progress", "pipe:1", "-y")


class _Composer:
    def __init__(self, graph: Graph, timeline: Timeline, files: Mapping[str, Path], window: tuple[int, int]):
        self.graph = graph
        self.timeline = timeline
        self.files = files
        self.fps = timeline.fps
        self.window = window  # the frames drawn, [first, last)

    # --- pictures -------------------------------------------------------------------------

    def pictures(self, texts: Mapping[str, TextImage]) -> Stream:
        """The window's picture: a black canvas and every layer that shows in it, in order.
        Timestamps stay timeline time, so every expression of `t` holds in any window."""
        timeline, (first, last) = self.timeline, self.window
        picture = self.graph.source("color", c="black", s=f"{timeline.width}x{timeline.height}", r=number(self.fps),
                                    d=number((last - first) / self.fps))
        if first:
            picture = picture.filter("setpts", f"PTS-STARTPTS+{number(first / self.fps)}/TB")
        for layer in timeline.layers:
            if isinstance(layer, TextLayer) and layer.name in texts:
                layer = _text_as_picture(layer, texts[layer.name])
            if isinstance(layer, VisualLayer):
                picture = self.overlay(picture, layer)
            elif isinstance(layer, AdjustmentLayer) and layer.end > first / self.fps and layer.start < last / self.fps:
                picture = apply_look(picture, layer.look, enable=_between(layer.start, layer.end),
                                     short_side=min(timeline.width, timeline.height))
        return picture.filter("format", "yuv420p")

    def overlay(self, picture: Stream, layer: VisualLayer) -> Stream:
        whole = _on_frames(layer, self.fps, (0, _frame(self.timeline.duration, self.fps) + 1))
        layer = _on_frames(layer, self.fps, self.window)
        if layer is None:
            return picture
        stream = self.layer(layer, whole or layer)
        if layer.wipe is not None:
            stream = self.wiped(stream, layer, layer.wipe)
            x, y = "0", "0"
        else:
            x, y = f"{expression(layer.x)}-w/2", f"{expression(layer.y)}-h/2"
        # The picture is opaque from its black canvas on, so it needs no alpha of its own: with
        # yuv420 it stays yuv420p (auto would make it yuva420p and blend an alpha plane for every
        # layer on every frame). The same pixels: over an opaque picture both blend alike.
        return self.graph.filter("overlay", picture, stream, x=x, y=y, eof_action="pass", format="yuv420")

    def layer(self, layer: VisualLayer, whole: VisualLayer) -> Stream:
        """The layer's frames in this window; `whole` is all of it (its largest size is taken
        over all its frames, so every window draws it at the same sizes)."""
        frames = max(1, round((layer.end - layer.start) * self.fps))
        sample = _frame_times(layer.start, frames, self.fps)
        every = _frame_times(whole.start, max(1, round((whole.end - whole.start) * self.fps)), self.fps)
        scale_x, scale_y = _extent(layer.scale_x, every), _extent(layer.scale_y, every)
        static_scale = layer.scale_x.constant is not None and layer.scale_y.constant is not None
        # The largest size the layer reaches, with one factor on both sides if it must be capped.
        cap = min(1.0, MAX_LAYER_SIDE / max(layer.width * scale_x, 1), MAX_LAYER_SIDE / max(layer.height * scale_y, 1))
        width, height = _even(layer.width * scale_x * cap), _even(layer.height * scale_y * cap)
        stream, photo = self.source(layer, frames)
        stream = stream.filter("scale", w=width, h=height, out_range="tv")  # JPEGs are full range; video is not
        rotation = layer.rotation
        turned = rotation.constant is None or bool(rotation.constant % 360)
        needs_alpha = (layer.mask is not None or layer.alpha.constant != 1.0 or turned
                       or layer.wipe is not None or layer.reveal is not None or getattr(layer.source, "alpha", False))
        # One concrete format from here on: overlay then takes the frames as they are, with no
        # conversion per frame (a JPEG's yuvj420p would get one for every frame it is shown).
        stream = stream.filter("format", ALPHA_FORMAT if needs_alpha else "yuv420p")
        for look in layer.looks:
            stream = apply_look(stream, look, short_side=min(width, height))
        if layer.blur:
            stream = stream.filter("gblur", sigma=number(2 + layer.blur * min(width, height) / 30))
        if layer.mask is not None:
            stream = self.masked(stream, layer, width, height, frames if not photo else 1)
        if layer.flip_horizontal:
            stream = stream.filter("hflip")
        if layer.flip_vertical:
            stream = stream.filter("vflip")
        alpha = layer.alpha.constant
        if alpha is not None and alpha < 1:  # lut keeps the frame in YUV (colorchannelmixer would make it RGB)
            stream = stream.filter("lut", a=f"val*{number(max(alpha, 0.0))}")
        if turned and static_scale and rotation.constant is not None:
            stream = self.rotated(stream, rotation, width, height)  # a photo is turned once, before its loop
        if photo:
            stream = stream.filter("loop", loop=frames - 1, size=1, start=0)
        # Microsecond timestamps: a photo's own time base (1/25) would round them off the frame grid.
        stream = stream.filter("settb", "AVTB").filter("setpts", f"N/({number(self.fps)}*TB)+{number(layer.start)}/TB")
        if alpha is None:
            stream = self.alpha_over_time(stream, layer.alpha, sample)
        if any(v.constant != 0.0 for v in (layer.brightness, layer.contrast, layer.saturation)):
            stream = stream.filter("eq", brightness=f"0.5*({expression(layer.brightness)})",
                                   contrast=f"1+{expression(layer.contrast)}",
                                   saturation=f"1+{expression(layer.saturation)}", eval="frame")
        if layer.reveal is not None and layer.reveal.end > layer.start:
            stream = self.typed(stream, layer, layer.reveal, width, height)
        if not static_scale:
            # Scale relative to the largest size the layer reaches, whole even pixels per frame.
            # Each frame's size from the layer's own (not the even-rounded largest): scale 1 covers exactly.
            fx = f"{number(layer.width * cap)}*abs({expression(layer.scale_x)})"
            fy = f"{number(layer.height * cap)}*abs({expression(layer.scale_y)})"
            stream = stream.filter("scale", w=f"max(2,round({fx}/2)*2)", h=f"max(2,round({fy}/2)*2)",
                                   eval="frame", flags="bilinear")  # shrinking by at most the zoom: bilinear is enough
            if turned:  # turned after it is stretched, in a box of fixed size (rotate needs one)
                stream = stream.filter("pad", w=width, h=height, x="(ow-iw)/2", y="(oh-ih)/2", color="black@0",
                                       eval="frame")
        if turned and not (static_scale and rotation.constant is not None):
            stream = self.rotated(stream, rotation, width, height)
        return stream

    def rotated(self, stream: Stream, rotation: Expr, width: int, height: int) -> Stream:
        """Turned clockwise by `rotation` degrees, on a transparent box that holds every angle
        it takes (a fixed angle: just that angle's bounding box)."""
        angle = f"({expression(rotation)})*PI/180"
        if rotation.constant is not None:
            return stream.filter("rotate", a=angle, ow=f"rotw({angle})", oh=f"roth({angle})", c="black@0")
        side = _even(math.hypot(width, height))
        return stream.filter("rotate", a=angle, ow=side, oh=side, c="black@0")

    def source(self, layer: VisualLayer, frames: int) -> tuple[Stream, bool]:
        """The layer's frames before anything is done to them; True for a single frame to loop."""
        source = layer.source
        if isinstance(source, Colour):
            return self.graph.source("color", c="0x" + source.colour.lstrip("#"), s="16x16", r=number(self.fps),
                                     d=number(1 / self.fps)), True
        path = str(self.files[source.material_id])
        crop = source.crop
        if source.kind == "photo":
            stream = self.graph.input(path, *INPUT_WHITELIST).video
            stream = _cropped(stream, crop)
            return stream, True
        read = (layer.end - layer.start - source.hold_start - source.hold_end) * source.speed
        seek = ["-ss", number(source.source_start)] if source.source_start else []
        stream = self.graph.input(path, *INPUT_WHITELIST, *seek, "-t", number(max(read, 1 / self.fps))).video
        retimed = "PTS-STARTPTS" if source.speed == 1 else f"(PTS-STARTPTS)/{number(source.speed)}"
        stream = stream.filter("setpts", retimed)
        if source.reverse:
            stream = stream.filter("reverse")
        stream = stream.filter("fps", number(self.fps))
        if source.hold_start or source.hold_end:
            stream = stream.filter("tpad", start_mode="clone", start_duration=number(source.hold_start),
                                   stop_mode="clone", stop_duration=number(source.hold_end))
        stream = stream.filter("trim", end_frame=frames)
        return _cropped(stream, crop), False

    def masked(self, stream: Stream, layer: VisualLayer, width: int, height: int, frames: int) -> Stream:
        """The layer's alpha times the mask's (a mask frame made once and repeated)."""
        mask = self.graph.source("color", c="white", s=f"{width}x{height}", r=number(self.fps), d=number(1 / self.fps))
        mask = mask.filter("format", ALPHA_FORMAT).filter("geq", lum="255", cb="128", cr="128",
                                                         a=mask_alpha(layer.mask, width, height))
        if frames > 1:
            mask = mask.filter("loop", loop=frames - 1, size=1, start=0)
        return self.graph.filter("blend", stream, mask, c0_mode="normal", c1_mode="normal", c2_mode="normal",
                                 c3_mode="multiply", shortest=1)

    def alpha_over_time(self, stream: Stream, alpha: Expr, times: list[float]) -> Stream:
        """Alpha that changes: colorchannelmixer's `aa`, set before each frame by sendcmd.
        colorchannelmixer works in RGB, so such a layer is converted for each frame it fades
        (ffmpeg has no YUV filter whose alpha factor takes commands or expressions of t)."""
        target = self.graph.instance_name("alpha")
        stream = stream.filter("format", ALPHA_FORMAT)
        commands, last = [], None
        for t in times:
            value = number(min(max(alpha.at(t), 0.0), 1.0))
            if value != last:
                commands.append(f"{number(max(t - 0.25 / self.fps, 0.0))} colorchannelmixer@{target} aa {value}")
                last = value
        stream = stream.filter("sendcmd", c=";".join(commands) + ";")
        return _named(stream, "colorchannelmixer", target, aa=number(min(max(alpha.at(times[0]), 0.0), 1.0)))

    def typed(self, stream: Stream, layer: VisualLayer, reveal: Reveal, width: int, height: int) -> Stream:
        """The layer's alpha times a typewriter's: a pixel shows once the step its character's
        number (the order picture's alpha, scaled without blending numbers) is reached. Mask
        frames run until the first frame at or after the last step (the reveal's times are not on
        the frame grid as the layer's are); blend repeats that one (everything shown) after it."""
        frames = max(1, math.ceil((min(reveal.end, layer.end) - layer.start) * self.fps - 1e-6) + 1)
        span = number(max(reveal.end - reveal.start, 1e-3))
        reached = f"floor({reveal.steps}*clip((T-{number(reveal.start)})/{span},0,1)+1e-6)"
        order = self.graph.input(str(self.files[reveal.order]), *INPUT_WHITELIST).video
        order = (order.filter("scale", w=width, h=height, flags="neighbor")
                 .filter("loop", loop=frames - 1, size=1, start=0).filter("settb", "AVTB")
                 .filter("setpts", f"N/({number(self.fps)}*TB)+{number(layer.start)}/TB")
                 .filter("format", "gbrap")
                 .filter("geq", r="255", g="255", b="255", a=f"255*lte(alpha(X,Y),{reached})")
                 .filter("format", ALPHA_FORMAT))
        return self.graph.filter("blend", stream, order, c0_mode="normal", c1_mode="normal", c2_mode="normal",
                                 c3_mode="multiply")

    def reveal(self, layer: VisualLayer, wipe: Wipe, width: int, height: int) -> Stream:
        """A width × height alpha mask over the layer's time: opaque behind the wipe's travelling edge."""
        span = number(max(wipe.end - wipe.start, 1e-3))
        progress = f"clip((t-{number(wipe.start)})/{span},0,1)"
        edge_x = {"right": f"-W+W*{progress}", "left": f"W-W*{progress}"}.get(wipe.direction, "0")
        edge_y = {"down": f"-H+H*{progress}", "up": f"H-H*{progress}"}.get(wipe.direction, "0")
        hidden, shown = (self.graph.source("color", c=colour, s=f"{width}x{height}", r=number(self.fps),
                                           d=number(layer.end - layer.start))
                         .filter("format", ALPHA_FORMAT)
                         .filter("setpts", f"PTS-STARTPTS+{number(layer.start)}/TB")
                         for colour in ("black@0", "white"))
        return self.graph.filter("overlay", hidden, shown, x=edge_x, y=edge_y, format="auto")

    def wiped(self, stream: Stream, layer: VisualLayer, wipe: Wipe) -> Stream:
        """The layer placed on a transparent canvas, its alpha times a reveal edge that travels across it."""
        width, height = self.timeline.width, self.timeline.height
        d = layer.end - layer.start
        clear = self.graph.source("color", c="black@0", s=f"{width}x{height}", r=number(self.fps), d=number(d))
        clear = clear.filter("format", ALPHA_FORMAT).filter("setpts", f"PTS-STARTPTS+{number(layer.start)}/TB")
        placed = self.graph.filter("overlay", clear, stream, x=f"{expression(layer.x)}-w/2",
                                   y=f"{expression(layer.y)}-h/2", format="auto", eof_action="pass")
        return self.graph.filter("blend", placed, self.reveal(layer, wipe, width, height), c0_mode="normal",
                                 c1_mode="normal", c2_mode="normal", c3_mode="multiply")

    # --- sound ----------------------------------------------------------------------------

    def soundtrack(self) -> Stream:
        """The soundtrack, exactly as long as the video. Silence is always bounded: an endless
        apad or anullsrc can leave ffmpeg generating silence forever instead of finishing."""
        end = number(self.timeline.duration)
        sounds = [self.sound(s) for s in self.timeline.sounds]
        if not sounds:
            return self.graph.source("anullsrc", r=48000, cl="stereo", d=end, kind="a")
        mixed = self.graph.filter("amix", *sounds, inputs=len(sounds), duration="longest", dropout_transition=0,
                                  normalize=0)
        return mixed.filter("apad", whole_dur=end).filter("atrim", 0, end)

    def sound(self, sound: Sound) -> Stream:
        read = sound.duration * sound.speed
        seek = ["-ss", number(sound.source_start)] if sound.source_start else []
        stream = self.graph.input(str(self.files[sound.material_id]), *INPUT_WHITELIST, *seek,
                                  "-t", number(read)).audio
        stream = stream.filter("asetpts", "PTS-STARTPTS")
        if sound.reverse:
            stream = stream.filter("areverse")
        for tempo in _tempo(sound.speed):
            stream = stream.filter("atempo", number(tempo))
        volume = sound.volume
        if volume.constant is None:
            stream = stream.filter("volume", volume=expression(volume), eval="frame")
        elif volume.constant != 1:
            stream = stream.filter("volume", number(volume.constant))
        if sound.fade_in > 0:
            stream = stream.filter("afade", t="in", st=0, d=number(min(sound.fade_in, sound.duration)))
        if sound.fade_out > 0:
            fade = min(sound.fade_out, sound.duration)
            stream = stream.filter("afade", t="out", st=number(sound.duration - fade), d=number(fade))
        return stream.filter("adelay", f"{round(sound.start * 1000)}", all=1)


def _frame(seconds: float, fps: float) -> int:
    return round(seconds * fps)


def _with_texts(files: Mapping[str, Path], texts: Mapping[str, TextImage]) -> dict[str, Path]:
    orders = {_order_id(name): text.order for name, text in texts.items() if text.order}
    return {**files, **{_text_id(name): text.path for name, text in texts.items()}, **orders}


def _concat_quote(path: Path) -> str:
    return str(path).replace("'", "'\\''")


def _on_frames(layer: VisualLayer, fps: float, window: tuple[int, int]) -> VisualLayer | None:
    """The layer on the canvas's frame grid and cut to the window's frames (None: not in it).
    Layers start and end on whole frames, so a windowed render draws what a single one does."""
    first, last = _frame(layer.start, fps), _frame(layer.end, fps)
    start, end = max(first, window[0]), min(last, window[1])
    if end <= start:
        return None
    source = layer.source
    if isinstance(source, Footage) and source.kind == "video" and (start, end) != (first, last):
        source = _footage_between(source, (last - first) / fps, (start - first) / fps, (end - start) / fps, fps)
    return replace(layer, start=start / fps, end=end / fps, source=source)


def _footage_between(footage: Footage, length: float, offset: float, span: float, fps: float) -> Footage:
    """A video's frames for [offset, offset + span) of a layer `length` seconds long, which
    holds its first frame `hold_start` seconds, plays, and holds its last `hold_end` seconds."""
    playing = max(length - footage.hold_start - footage.hold_end, 0.0)
    hold_start = min(max(footage.hold_start - offset, 0.0), span)
    play_from, play_to = max(offset, footage.hold_start), min(offset + span, footage.hold_start + playing)
    played = max(play_to - play_from, 0.0)
    source_start = footage.source_start + max(play_from - footage.hold_start, 0.0) * footage.speed
    if played < 1 / fps:  # only held frames here: read the one frame that is held
        played = 1 / fps
        if play_from >= footage.hold_start + playing:
            source_start = footage.source_start + max(playing - 1 / fps, 0.0) * footage.speed
        hold_start = min(hold_start, span - played)
    hold_end = max(span - hold_start - played, 0.0)
    return replace(footage, source_start=round(source_start, 6), hold_start=round(hold_start, 6),
                   hold_end=round(hold_end, 6))


def _text_id(name: str) -> str:
    return f"text:{name}"


def _order_id(name: str) -> str:
    return f"order:{name}"


def _text_as_picture(layer: TextLayer, image: TextImage) -> VisualLayer:
    """A text layer as the photo of its drawn picture, at scale 1 its own size."""
    return VisualLayer(
        name=layer.name, start=layer.start, end=layer.end,
        source=Footage(_text_id(layer.name), "photo", image.width, image.height, alpha=True),
        width=image.width, height=image.height, x=layer.x, y=layer.y, scale_x=layer.scale_x, scale_y=layer.scale_y,
        rotation=layer.rotation, alpha=layer.alpha,
        reveal=replace(layer.reveal, order=_order_id(layer.name), steps=image.steps) if layer.reveal and image.order
        else None,
    )


def _named(stream: Stream, name: str, instance: str, **options: object) -> Stream:
    """A filter under an instance name chosen beforehand (sendcmd's commands name it)."""
    node_stream = stream.filter(name, **options)
    node_stream.node.instance = instance
    return node_stream


def _cropped(stream: Stream, crop) -> Stream:
    if crop.is_identity:
        return stream
    return stream.filter("crop", w=f"iw*{number(crop.right - crop.left)}", h=f"ih*{number(crop.bottom - crop.top)}",
                         x=f"iw*{number(crop.left)}", y=f"ih*{number(crop.top)}")


def _frame_times(start: float, frames: int, fps: float) -> list[float]:
    return [start + n / fps for n in range(frames)]


def _extent(value: Expr, times: list[float]) -> float:
    """The largest size factor a value reaches over the layer's frames."""
    if value.constant is not None:
        return max(abs(value.constant), 1e-3)
    return max(max(abs(value.at(t)) for t in times), 1e-3)


def _even(pixels: float) -> int:
    """Whole even pixels, halves rounded up as ffmpeg's round() does (Python's rounds to even)."""
    return max(2, math.floor(pixels / 2 + 0.5) * 2)


def _between(start: float, end: float) -> str:
    return f"between(t,{number(start)},{number(end - 1e-6)})"


def _tempo(speed: float) -> list[float]:
    """atempo factors for a speed; each takes 0.5–2 on every ffmpeg version."""
    factors = []
    while speed > 2.0:
        factors.append(2.0)
        speed /= 2.0
    while speed < 0.5:
        factors.append(0.5)
        speed /= 0.5
    if abs(speed - 1.0) > 1e-9:
        factors.append(speed)
    return factors

