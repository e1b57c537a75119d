"""The ffmpeg command that renders a draft: one filter graph, built from the parsed draft.

- Every video or photo segment is an input of its own, trimmed where it is read (-ss/-t:
  ffmpeg seeks rather than decoding what is skipped), retimed by its speed and moved to its
  start, scaled as JianYing does (fitted inside the canvas, then by the clip's own scale),
  flipped, turned and faded as its clip says, and overlaid on a black canvas. Overlays
  follow track order, the first track at the bottom; a segment shows only while its input
  lasts (eof_action=pass).
- Sound: audio segments and the sound of video segments, each retimed, set to its volume,
  delayed to its start, and mixed without amix's normalising (which would quieten every
  input by their number), then padded with silence to the video's length.
- Text: one drawtext per text segment, its words read from a file so that no content needs
  escaping.

Pure functions: what they need comes in as arguments; nothing is read or run here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from capcut_mate.agent.exporters.ffmpeg.draft import Draft, MediaSegment, Placement, TextSegment
from capcut_mate.agent.exporters.ffmpeg.media import INPUT_WHITELIST, MediaFile

# A draft's font size in pixels on a canvas whose short side is 1080: JianYing's default
# size 15 comes out near 60 px. An approximation; JianYing publishes no conversion.
TEXT_PIXELS_PER_SIZE = 4.0
VIDEO_ENCODING = ("-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p")
AUDIO_ENCODING = ("-c:a", "aac", "-b:a", "192k", "-ar", "48000", "-ac", "2")


@dataclass(frozen=True)
class RenderPlan:
    args: list[str]  # ffmpeg's arguments, its path not included
    graph: str  # the filter graph, for the file `args` names
    duration_us: int


@dataclass(frozen=True)
class Caption:
    """A text segment as drawn: its words in a file, in a font."""

    segment: TextSegment
    text_file: Path
    font_file: Path


def build_plan(
    draft: Draft,
    media: dict[str, MediaFile],  # by material id
    captions: list[Caption],
    *,
    graph_file: Path,
    graph_file_option: str,
    output: Path,
) -> RenderPlan:
    inputs: list[str] = []
    canvas = f"color=c=black:s={draft.width}x{draft.height}:r={_number(draft.fps)}:d={_seconds(draft.duration)}"
    graph = [f"{canvas}[canvas]"]
    sounds: list[str] = []

    def add_sound(index: int, segment: MediaSegment) -> None:
        if media[segment.material.id].has_audio and segment.volume > 0:
            graph.append(f"[{index}:a]{','.join(_sound_filters(segment))}[a{index}]")
            sounds.append(f"a{index}")

    picture = "canvas"
    for index, segment in enumerate(draft.visual_segments):  # track order: bottom first
        inputs += _input(segment, media[segment.material.id], draft.fps)
        graph.append(f"[{index}:v]{','.join(_picture_filters(segment, draft))}[v{index}]")
        graph.append(f"[{picture}][v{index}]{_overlay(segment.placement, draft)}[o{index}]")
        picture = f"o{index}"
        add_sound(index, segment)
    for index, segment in enumerate(draft.audio_segments, start=len(draft.visual_segments)):
        inputs += _input(segment, media[segment.material.id], draft.fps)
        add_sound(index, segment)
    texts = [_drawtext(caption, draft) for caption in captions]
    graph.append(f"[{picture}]{','.join(texts + ['format=yuv420p'])}[video]")
    graph.append(_mix(sounds, draft.duration))
    args = [
        "-hide_banner", "-nostdin", "-loglevel", "error", "-nostats", "-progress", "pipe:1", "-y",
        *inputs,
        graph_file_option, str(graph_file),
        "-map", "[video]", "-map", "[audio]",
        *VIDEO_ENCODING, "-r", _number(draft.fps), *AUDIO_ENCODING,
        "-t", _seconds(draft.duration), "-movflags", "+faststart", "-f", "mp4", str(output),
    ]
    return RenderPlan(args, ";\n".join(graph) + "\n", draft.duration)


def _text_pixels(segment: TextSegment, draft: Draft) -> int:
    short_side = min(draft.width, draft.height)
    return max(1, round(segment.size * TEXT_PIXELS_PER_SIZE * short_side / 1080 * abs(segment.placement.scale_x)))


def _filter_value(value: str | Path) -> str:
    """A value escaped for a filter option inside a filter graph: both levels of ffmpeg's
    escaping, the option's (`\\ ' :`) and then the graph's (`\\ ' [ ] , ;`)."""
    option_level = "".join("\\" + c if c in "\\':" else c for c in str(value))
    return "".join("\\" + c if c in "\\'[],;" else c for c in option_level)


def _input(segment: MediaSegment, file: MediaFile, fps: float) -> list[str]:
    shown = _seconds(segment.target.duration)
    if segment.material.kind == "photo":
        return [*INPUT_WHITELIST, "-loop", "1", "-framerate", _number(fps), "-t", shown, "-i", str(file.path)]
    read = _seconds(round(segment.target.duration * segment.speed))
    seek = ["-ss", _seconds(segment.source_start)] if segment.source_start else []
    return [*INPUT_WHITELIST, *seek, "-t", read, "-i", str(file.path)]


def _picture_filters(segment: MediaSegment, draft: Draft) -> list[str]:
    placement = segment.placement
    fit = f"min({draft.width}/iw,{draft.height}/ih)"
    filters = [
        f"setpts={_retimed(segment)}",
        f"scale=w='max(1,iw*{fit}*{_number(abs(placement.scale_x))})'"
        f":h='max(1,ih*{fit}*{_number(abs(placement.scale_y))})'",
    ]
    if placement.flip_horizontal:
        filters.append("hflip")
    if placement.flip_vertical:
        filters.append("vflip")
    turned = placement.rotation % 360 != 0
    if turned or placement.alpha < 1:
        filters.append("format=rgba")
    if turned:
        angle = _number(math.radians(placement.rotation))  # ffmpeg turns clockwise for positive angles
        filters.append(f"rotate=a={angle}:ow=rotw({angle}):oh=roth({angle}):c=none")
    if placement.alpha < 1:
        filters.append(f"colorchannelmixer=aa={_number(max(placement.alpha, 0.0))}")
    return filters


def _overlay(placement: Placement, draft: Draft) -> str:
    x, y = _centre(placement, draft)
    return f"overlay=x='{_number(x)}-w/2':y='{_number(y)}-h/2':eof_action=pass"


def _sound_filters(segment: MediaSegment) -> list[str]:
    return [
        "asetpts=PTS-STARTPTS",
        *_tempo(segment.speed),
        f"volume={_number(segment.volume)}",
        f"adelay={round(segment.target.start / 1000)}:all=1",
    ]


def _tempo(speed: float) -> list[str]:
    """atempo filters for a speed; each takes 0.5–2 on every ffmpeg version."""
    filters = []
    while speed > 2.0:
        filters.append("atempo=2")
        speed /= 2.0
    while speed < 0.5:
        filters.append("atempo=0.5")
        speed /= 0.5
    if abs(speed - 1.0) > 1e-9:
        filters.append(f"atempo={_number(speed)}")
    return filters


def _mix(sounds: list[str], duration_us: int) -> str:
    """The soundtrack, exactly as long as the video. Silence is always bounded: an endless
    apad or anullsrc can leave ffmpeg generating silence forever instead of finishing."""
    end = _seconds(duration_us)
    if not sounds:
        return f"anullsrc=r=48000:cl=stereo:d={end}[audio]"
    inputs = "".join(f"[{label}]" for label in sounds)
    mixed = f"amix=inputs={len(sounds)}:duration=longest:dropout_transition=0:normalize=0"
    return f"{inputs}{mixed},apad=whole_dur={end},atrim=0:{end}[audio]"


def _drawtext(caption: Caption, draft: Draft) -> str:
    segment = caption.segment
    pixels = _text_pixels(segment, draft)
    x, y = _centre(segment.placement, draft)
    alpha = _number(min(max(segment.alpha * segment.placement.alpha, 0.0), 1.0))
    start, end = _seconds(segment.target.start), _seconds(segment.target.end)
    options = [
        f"fontfile={_filter_value(caption.font_file)}",
        f"textfile={_filter_value(caption.text_file)}",
        "expansion=none",
        f"fontsize={pixels}",
        f"fontcolor={_colour(segment.color)}@{alpha}",
        f"x={_number(x)}-text_w/2",
        f"y={_number(y)}-text_h/2",
        f"enable='gte(t,{start})*lt(t,{end})'",
    ]
    if segment.stroke_color and segment.stroke_width > 0:
        options += [f"borderw={max(1, round(segment.stroke_width * pixels))}",
                    f"bordercolor={_colour(segment.stroke_color)}@{alpha}"]
    if segment.background_color and segment.background_alpha > 0:
        options += ["box=1", f"boxcolor={_colour(segment.background_color)}@{_number(segment.background_alpha)}",
                    f"boxborderw={max(1, round(pixels * 0.2))}"]
    return "drawtext=" + ":".join(options)


def _centre(placement: Placement, draft: Draft) -> tuple[float, float]:
    """The canvas pixel a clip's centre goes to: transform is in half canvas sizes, y upwards."""
    return draft.width / 2 * (1 + placement.x), draft.height / 2 * (1 - placement.y)


def _retimed(segment: MediaSegment) -> str:
    start = f"{_seconds(segment.target.start)}/TB"
    if segment.material.kind == "photo" or segment.speed == 1:
        return f"PTS-STARTPTS+{start}"
    return f"(PTS-STARTPTS)/{_number(segment.speed)}+{start}"


def _colour(hex_colour: str) -> str:
    return "0x" + hex_colour.lstrip("#")


def _seconds(microseconds: int) -> str:
    return _number(microseconds / 1_000_000)


def _number(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text
