"""Long drafts rendered in windows (issue 15), checked against what a single run draws.

A draft over WINDOW_SECONDS × 1.5 is cut into windows (`compose.plan_windows`), each
rendered by an ffmpeg of its own, joined without re-encoding and muxed with a soundtrack
rendered once. Checked here, through the real exporter from file:// folders on small
canvases:

- the frames at and around every join are the frames a one-window render of the same draft
  draws (decoded pixels within H.264's rounding: the windows are encoded as GOPs of their
  own), with zoom keyframes, captions and a dissolve crossing a join; both videos have the
  same frame count and length;
- every frame of the windowed render shows the photo the timeline has there, zooming from
  each frame to the next and covering the canvas to its edges;
- picture and sound stay in sync across joins: a white flash frame and a beep every second;
- cancelling a multi-window render stops every ffmpeg and leaves no video, whole or partial;
- a window that fails fails the job with ffmpeg's own message.

The joins are found by running `plan_windows` on the draft's own timeline, so the fixtures
know where each one falls.
"""

from __future__ import annotations

import array
import asyncio
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

import capcut_mate.agent.exporters.ffmpeg.export as export_module
from capcut_mate.agent.exporters import ExporterOptions, ExportFailed, ExportJob, load_exporter
from capcut_mate.render.draft import parse_draft
from capcut_mate.render.draft.segments import AudioSegment, VisualSegment
from capcut_mate.render.ffmpeg.compose import plan_windows
from capcut_mate.render.media import MediaFile
from capcut_mate.render.timeline import Timeline, build_timeline
from capcut_mate.render.timeline.layers import VisualLayer
from support.drafts import FFMPEG, DraftBuilder, drawn_photo, ffmpeg, photo
from support.processes import processes_mentioning
from support.videos import looks_like, video_info

W, H, FPS = 320, 180, 30
SEGMENTS, SEGMENT_SECONDS = 60, 0.5  # 30 s: three windows of 10 s
DISSOLVE_SECONDS = 0.3  # 9 frames: the layers' ends fall on half frames, rounded to whole ones
# Background and centre box of each photo, cycled: neighbours always differ.
PHOTOS = [("0xff0000", "0xffffff"), ("0x00ff00", "0x000000"), ("0x0000ff", "0xffff00"),
          ("0xffff00", "0x0000ff"), ("0xff00ff", "0x00ff00"), ("0x00ffff", "0xff0000")]
CORNER, CENTRE = (12, 12), (160, 90)  # on the photo's background / on its box, at any zoom ≥ 1
Colour = tuple[int, int, int]


def _rgb(hex_colour: str) -> Colour:
    value = int(hex_colour, 16)
    return (value >> 16) & 255, (value >> 8) & 255, value & 255


# --- Rendering --------------------------------------------------------------------------------


def job_in(work: Path, draft: DraftBuilder) -> ExportJob:
    work.mkdir(parents=True, exist_ok=True)
    return ExportJob(1, 1, draft.folder.as_uri(), draft.draft_id, work, work / "output.mp4")


async def _progress(progress: int, stage: str | None = None, message: str | None = None) -> None:
    pass


def exporter(**options):
    return load_exporter("ffmpeg", ExporterOptions(allow_local_drafts=True, **options))


def timeline_of(draft: DraftBuilder) -> Timeline:
    """The draft's timeline as the exporter lays it out (files described, not probed: photos
    at the canvas's size, sounds 0.1 s long)."""
    parsed = parse_draft((draft.folder / "draft_content.json").read_bytes())
    media = {s.material.id: MediaFile(Path("/unused"), True, False, W, H) for s in parsed.segments(VisualSegment)}
    media |= {s.material.id: MediaFile(Path("/unused"), False, True, duration=0.1)
              for s in parsed.segments(AudioSegment)}
    return build_timeline(parsed, media)


def joins_of(draft: DraftBuilder) -> list[int]:
    """The frames where a window starts, bar the first."""
    windows = plan_windows(timeline_of(draft), export_module.WINDOW_SECONDS)
    return [first for first, _ in windows[1:]]


@dataclass
class Rendered:
    video: Path
    windows: int  # how many windows the exporter rendered (1: one run)


async def render(draft: DraftBuilder, work: Path, *, windowed: bool) -> Rendered:
    """The draft through the exporter, in windows or (WINDOW_SECONDS made huge) in one run."""
    seen: list[int] = []
    real = export_module.render_windows

    async def counted(ffmpeg_path, windows, *args, **kwargs):
        seen.append(len(windows))
        return await real(ffmpeg_path, windows, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(export_module, "render_windows", counted)
        if not windowed:
            patch.setattr(export_module, "WINDOW_SECONDS", 1e9)
        result = await exporter(render_jobs=2)(job_in(work, draft), _progress)
    return Rendered(result.video_path, seen[0] if seen else 1)


# --- Reading the videos -----------------------------------------------------------------------


def frames(video: Path, numbers: list[int]) -> dict[int, bytes]:
    """Decoded RGB frames by their index in the video (one decode for all of them)."""
    wanted = sorted(set(numbers))
    select = "+".join(f"eq(n\\,{n})" for n in wanted)
    raw = subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(video), "-map", "0:v",
                          "-vf", f"select={select}", "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24",
                          "-"], capture_output=True, check=True).stdout
    size = W * H * 3
    assert len(raw) == size * len(wanted), f"frames {wanted} not all in {video.name}"
    return {n: raw[i * size:(i + 1) * size] for i, n in enumerate(wanted)}


def packets(video: Path) -> list[tuple[int, int]]:
    """The video stream's packets as stored: (dts, pts) in the stream's time base, from framecrc."""
    text = subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(video), "-map", "0:v",
                           "-c", "copy", "-f", "framecrc", "-"], capture_output=True, text=True, check=True).stdout
    rows = [line.split(",") for line in text.splitlines() if line and not line.startswith("#")]
    return [(int(row[1]), int(row[2])) for row in rows]


def pixel(frame: bytes, x: int, y: int) -> Colour:
    offset = (y * W + x) * 3
    return tuple(frame[offset:offset + 3])


def mean_differences(a: bytes, b: bytes) -> tuple[float, float, float]:
    """Mean absolute difference of each channel, R, G, B."""
    return tuple(sum(abs(p - q) for p, q in zip(a[c::3], b[c::3])) / (W * H) for c in range(3))


def worst_line(a: bytes, b: bytes) -> tuple[str, float]:
    """The pixel row or column whose mean absolute difference is largest, and that mean: an
    edge moved by a pixel or two shows as a line, where H.264's rounding is spread thin."""
    worst = ("", 0.0)
    for y in range(H):
        row = slice(y * W * 3, (y + 1) * W * 3)
        worst = max(worst, (f"row {y}", sum(abs(p - q) for p, q in zip(a[row], b[row])) / (W * 3)), key=_second)
    for x in range(W):
        column = [(y * W + x) * 3 + c for y in range(H) for c in range(3)]
        worst = max(worst, (f"column {x}", sum(abs(a[i] - b[i]) for i in column) / (H * 3)), key=_second)
    return worst


def _second(item: tuple[str, float]) -> float:
    return item[1]


def lines(video: Path, rows: tuple[int, ...]) -> list[list[bytes]]:
    """Every frame's pixel rows `rows` (RGB), frame by frame: cheap to read for a whole video."""
    crops = [f"format=rgb24,crop={W}:1:0:{y}" for y in rows]
    if len(rows) == 1:
        graph = f"[0:v]{crops[0]}[out]"
    else:
        graph = f"[0:v]split={len(rows)}{''.join(f'[in{i}]' for i in range(len(rows)))};"
        graph += "".join(f"[in{i}]{crop}[row{i}];" for i, crop in enumerate(crops))
        graph += "".join(f"[row{i}]" for i in range(len(rows))) + f"vstack={len(rows)}[out]"
    raw = subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(video),
                          "-filter_complex", graph, "-map", "[out]", "-fps_mode", "passthrough", "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    line, size = W * 3, W * 3 * len(rows)
    return [[raw[at + i * line:at + (i + 1) * line] for i in range(len(rows))] for at in range(0, len(raw), size)]


def expected_colour(timeline: Timeline, frame: int, colours: dict[str, Colour]) -> Colour:
    """What a pixel shows at a frame, worked out from the timeline: the photo layers over it
    (each a known solid colour there, by its segment's id, the end of its layer's name),
    blended by their alpha in order. Layers start and end on whole frames (rounded as the
    renderer rounds)."""
    seconds = frame / FPS
    shown = (0.0, 0.0, 0.0)
    for layer in timeline.layers:
        if not isinstance(layer, VisualLayer) or _segment_id(layer) not in colours:
            continue
        if not round(layer.start * FPS) <= frame < round(layer.end * FPS):
            continue
        alpha = min(max(layer.alpha.at(seconds), 0.0), 1.0)
        shown = tuple(alpha * c + (1 - alpha) * s for c, s in zip(colours[_segment_id(layer)], shown))
    return tuple(round(c) for c in shown)


# --- The 60-segment draft: zooms, captions, a dissolve across a join --------------------------


def build_segments(folder: Path, dissolve_after: int | None) -> DraftBuilder:
    """60 photos of 0.5 s, each zooming 1.0 → 1.5, a caption every 4 photos (2 s), and a 叠化
    from photo `dissolve_after` − 1 to the next (None: no transition)."""
    draft = DraftBuilder(folder, width=W, height=H, fps=FPS)
    pictures = [drawn_photo(draft.asset(f"assets/photo-{n}.png"), background, (W, H), [(80, 45, 160, 90, box)])
                for n, (background, box) in enumerate(PHOTOS)]
    track, captions = draft.track("video"), draft.track("text")
    segments = []
    for index in range(SEGMENTS):
        segment = draft.video(track, pictures[index % len(pictures)], start=index * SEGMENT_SECONDS,
                              duration=SEGMENT_SECONDS)
        draft.keyframes(segment, "UNIFORM_SCALE", [(0, 1.0), (SEGMENT_SECONDS, 1.5)])
        segments.append(segment)
    for index in range(SEGMENTS // 4):
        draft.text(captions, f"第{index + 1}段 字幕", start=index * 4 * SEGMENT_SECONDS, duration=4 * SEGMENT_SECONDS,
                   size=10, y=-0.7)
    if dissolve_after is not None:
        draft.transition(segments[dissolve_after - 1], "叠化", DISSOLVE_SECONDS)
    draft.write()
    return draft


def _segment_at(frame: int) -> int:
    return frame // round(SEGMENT_SECONDS * FPS)


@pytest.fixture(scope="module")
def segments_draft(tmp_path_factory) -> DraftBuilder:
    """The draft, its dissolve placed across the first join: the joins are found without it,
    and the dissolve centred on the cut there (its layers then overlap the join)."""
    root = tmp_path_factory.mktemp("windows")
    plain = build_segments(root / "plain", None)
    first_join = joins_of(plain)[0]
    assert first_join % round(SEGMENT_SECONDS * FPS) == 0, "the join falls on a cut between photos"
    return build_segments(root / "segments", _segment_at(first_join))


@pytest.fixture(scope="module")
def segment_renders(segments_draft, tmp_path_factory) -> dict[str, Rendered]:
    work = tmp_path_factory.mktemp("segment-renders")
    return {
        "windowed": asyncio.run(render(segments_draft, work / "windowed", windowed=True)),
        "single": asyncio.run(render(segments_draft, work / "single", windowed=False)),
    }


def test_the_dissolve_crosses_a_join(segments_draft):
    timeline = timeline_of(segments_draft)
    joins = joins_of(segments_draft)
    assert len(joins) >= 2, f"windows joined at {joins}"
    fading = _dissolve_frames(timeline)
    assert any(fading.start < join < fading.stop for join in joins), f"dissolve over frames {fading}, joins {joins}"


def _dissolve_frames(timeline: Timeline) -> range:
    (incoming,) = [layer for layer in timeline.layers
                   if isinstance(layer, VisualLayer) and layer.alpha.constant is None]
    return range(round(incoming.start * FPS), _first_frame_after_fade(incoming))


def _first_frame_after_fade(layer: VisualLayer) -> int:
    frame = round(layer.start * FPS)
    while layer.alpha.at(frame / FPS) < 0.999:
        frame += 1
    return frame


def test_a_windowed_render_draws_the_frames_of_a_single_one_at_every_join(segments_draft, segment_renders):
    windowed, single = segment_renders["windowed"], segment_renders["single"]
    joins = joins_of(segments_draft)
    assert windowed.windows == len(joins) + 1 and single.windows == 1
    numbers = [n for join in joins for n in (join - 1, join, join + 1)]
    ours, theirs = frames(windowed.video, numbers), frames(single.video, numbers)

    timeline = timeline_of(segments_draft)
    (track,) = (t for t in segments_draft.content["tracks"] if t["type"] == "video")
    order = {segment["id"]: index for index, segment in enumerate(track["segments"])}  # a layer's name: its segment
    assert {_segment_id(layer) for layer in timeline.layers if isinstance(layer, VisualLayer)} == set(order)
    backgrounds = {name: _rgb(PHOTOS[index % len(PHOTOS)][0]) for name, index in order.items()}
    boxes = {name: _rgb(PHOTOS[index % len(PHOTOS)][1]) for name, index in order.items()}
    wrong = []
    for n in numbers:
        differences = mean_differences(ours[n], theirs[n])
        if max(differences) >= 3:
            wrong.append(f"frame {n}: mean difference per channel {[round(d, 2) for d in differences]}")
        where, difference = worst_line(ours[n], theirs[n])
        if difference >= 12:
            wrong.append(f"frame {n}: {where} differs by {difference:.0f} on average")
        for point, colours in ((CORNER, backgrounds), (CENTRE, boxes)):
            expected = expected_colour(timeline, n, colours)
            for name, video in (("windowed", ours), ("single", theirs)):
                seen = pixel(video[n], *point)
                if not looks_like(seen, expected):
                    wrong.append(f"frame {n} {point} in the {name} render: {seen}, expected {expected}")
    assert not wrong, "\n".join(wrong)


def test_a_windowed_render_has_the_frames_and_length_of_a_single_one(segment_renders):
    windowed, single = segment_renders["windowed"].video, segment_renders["single"].video
    ours, theirs = packets(windowed), packets(single)
    assert len(ours) == len(theirs) == SEGMENTS * SEGMENT_SECONDS * FPS
    assert sorted(pts for _, pts in ours) == sorted(pts for _, pts in theirs), "every frame at the same time"
    a, b = video_info(windowed), video_info(single)
    assert (a.duration, a.fps, a.has_audio) == (b.duration, b.fps, b.has_audio)
    assert abs(a.duration - SEGMENTS * SEGMENT_SECONDS) < 0.05


def test_every_photo_shows_on_its_own_frames_and_zooms_every_frame(segments_draft, segment_renders):
    """All 900 frames of the windowed render: the background beside the box is the photo the
    timeline has on that frame (so each photo starts and ends on its own frames), and the box
    in the middle row grows from each frame to the next while a photo zooms."""
    timeline = timeline_of(segments_draft)
    (track,) = (t for t in segments_draft.content["tracks"] if t["type"] == "video")
    backgrounds = {segment["id"]: _rgb(PHOTOS[index % len(PHOTOS)][0])
                   for index, segment in enumerate(track["segments"])}
    middle = [rows[0] for rows in lines(segment_renders["windowed"].video, (CENTRE[1],))]
    assert len(middle) == SEGMENTS * SEGMENT_SECONDS * FPS
    dissolve, per_photo = _dissolve_frames(timeline), round(SEGMENT_SECONDS * FPS)
    wrong, widths = [], []
    for n, row in enumerate(middle):
        seen, expected = tuple(row[CORNER[0] * 3:CORNER[0] * 3 + 3]), expected_colour(timeline, n, backgrounds)
        if not looks_like(seen, expected):
            wrong.append(f"frame {n} (photo {n // per_photo}): background {seen}, expected {expected}")
        widths.append(_box_width(row))
    for n in range(1, len(middle)):
        same_photo = n // per_photo == (n - 1) // per_photo
        if same_photo and n not in dissolve and n - 1 not in dissolve and widths[n] <= widths[n - 1]:
            wrong.append(f"frame {n} (photo {n // per_photo}): box {widths[n]} px wide, the frame before "
                         f"{widths[n - 1]} px")
    assert not wrong, f"{len(wrong)} wrong:\n" + "\n".join(wrong[:30])


def _box_width(row: bytes) -> int:
    """Pixels of a row that are far from the colour at its left end (the photo's background)."""
    background = row[0:3]
    return sum(1 for x in range(W) if max(abs(p - q) for p, q in zip(row[x * 3:x * 3 + 3], background)) > 100)


def test_a_photo_zoomed_from_full_size_covers_the_canvas_to_its_edges(segment_renders):
    """Every photo fills the canvas at scale 1 and zooms in from there: its top and bottom
    rows are the photo's background on every frame, never the black canvas below it."""
    wrong = []
    for n, (top, bottom) in enumerate(lines(segment_renders["windowed"].video, (0, H - 1))):
        for name, row in (("top", top), ("bottom", bottom)):
            inside = tuple(row[CENTRE[0] * 3:CENTRE[0] * 3 + 3])
            if max(inside) < 128:  # every photo's background has a channel at 255
                wrong.append(f"frame {n}: {name} row at x {CENTRE[0]} is {inside}")
    assert not wrong, f"{len(wrong)} frames show the canvas:\n" + "\n".join(wrong[:30])


# --- A/V sync: a white flash and a beep every second ------------------------------------------

FLASH_SECONDS = 30  # three windows


def build_flashes(folder: Path) -> DraftBuilder:
    """Black all along; a white frame at every whole second from 1 s, and a 0.1 s beep
    (1 kHz, from a WAV) starting at the same moments."""
    draft = DraftBuilder(folder, width=W, height=H, fps=FPS)
    black = photo(draft.asset("assets/black.png"), "0x000000")
    white = photo(draft.asset("assets/white.png"), "0xffffff")
    beep = draft.asset("assets/beep.wav")
    ffmpeg("-f", "lavfi", "-i", "sine=f=1000:d=0.1:sample_rate=48000", "-ac", "1", str(beep))
    draft.video(draft.track("video"), black, start=0, duration=FLASH_SECONDS)
    flashes, sound = draft.track("video"), draft.track("audio")
    for second in range(1, FLASH_SECONDS):
        draft.video(flashes, white, start=second, duration=1 / FPS)
        draft.audio(sound, beep, start=second, duration=0.1)
    draft.write()
    return draft


def flashes_and_beeps(video: Path) -> tuple[list[float], list[float], int]:
    """The times of white frames, of beep onsets, and the number of frames, read in one
    ffmpeg run (so both are on the same clock)."""
    graph = ("[0:v]signalstats,metadata=print:key=lavfi.signalstats.YAVG[v];"
             "[0:a]aformat=sample_fmts=s16:channel_layouts=mono,silencedetect=n=-30dB:d=0.3[a]")
    text = subprocess.run([FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "info", "-i", str(video),
                           "-filter_complex", graph, "-map", "[v]", "-map", "[a]", "-f", "null", "-"],
                          capture_output=True, text=True, check=True).stderr
    shown, at = [], None  # (time, mean luma) of each frame; other filters' lines come between
    for line in text.splitlines():
        if (time := re.search(r"pts_time:([\d.]+)", line)) and "frame:" in line:
            at = float(time[1])
        elif (luma := re.search(r"lavfi\.signalstats\.YAVG=([\d.]+)", line)) and at is not None:
            shown.append((at, float(luma[1])))
            at = None
    flashes = [t for t, luma in shown if luma > 128]
    ends = [float(t) for t in re.findall(r"silence_end: ([\d.]+)", text)]
    beeps = [t for t in ends if t < FLASH_SECONDS - 0.05]  # silencedetect ends a silence at the end of the stream
    return flashes, beeps, len(shown)


def beep_onsets(video: Path) -> list[float]:
    """Beep onsets from the decoded samples themselves: the first sample above a third of the
    beep's level after at least 0.3 s below it."""
    raw = subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(video), "-map", "0:a",
                          "-ac", "1", "-ar", "48000", "-f", "s16le", "-"], capture_output=True, check=True).stdout
    samples = array.array("h", raw)
    level = max(abs(s) for s in samples) / 3
    onsets, quiet_since = [], -48000
    for index, sample in enumerate(samples):
        if abs(sample) > level:
            if index - quiet_since > 0.3 * 48000:
                onsets.append(index / 48000)
            quiet_since = index
    return onsets


async def test_picture_and_sound_stay_in_sync_across_joins(tmp_path):
    draft = build_flashes(tmp_path / "flashes")
    joins = joins_of(draft)
    assert len(joins) >= 2, f"windows joined at {joins}"
    video = (await render(draft, tmp_path / "work", windowed=True)).video
    flashes, beeps, frame_total = flashes_and_beeps(video)
    assert frame_total == FLASH_SECONDS * FPS, "no frame dropped or repeated"
    seconds = list(range(1, FLASH_SECONDS))
    assert len(flashes) == len(seconds), f"one white frame a second: {flashes}"
    assert len(beeps) == len(seconds), f"one beep a second: {beeps}"
    one_frame = 1 / FPS
    for second, flash, beep in zip(seconds, flashes, beeps):
        assert abs(flash - second) < one_frame / 2, f"the flash of {second} s is at {flash} s"
        assert abs(beep - flash) < one_frame, f"the beep of {second} s is {beep - flash:+.4f} s off its flash"
    for join in joins:  # each join is followed by a checked flash within the next second
        assert any(0 <= flash * FPS - join < FPS for flash in flashes), f"join at frame {join}"
    samples = beep_onsets(video)
    assert len(samples) == len(seconds)
    assert all(abs(onset - second) < one_frame for onset, second in zip(samples, seconds)), samples


# --- Cancel and failure -----------------------------------------------------------------------


def build_long(folder: Path, seconds: int = 40) -> DraftBuilder:
    """Photos of 2 s at 640x360, each zooming: four windows, each a few seconds' work."""
    draft = DraftBuilder(folder, width=640, height=360, fps=FPS)
    pictures = [drawn_photo(draft.asset(f"assets/photo-{n}.png"), background, (640, 360),
                            [(160, 90, 320, 180, box)]) for n, (background, box) in enumerate(PHOTOS)]
    track = draft.track("video")
    for index in range(seconds // 2):
        segment = draft.video(track, pictures[index % len(pictures)], start=index * 2, duration=2)
        draft.keyframes(segment, "UNIFORM_SCALE", [(0, 1.0), (2, 1.3)])
    draft.write()
    return draft


def leftovers(job: ExportJob) -> list[str]:
    """Files that could pass for a video, whole or partial: the output, its .part, windows."""
    found = [p.name for p in job.work_dir.glob("output*")]
    return found + [f"windows/{p.name}" for p in (job.work_dir / "windows").glob("*") if p.suffix in (".mp4", ".m4a")]


class Progress:
    """The exporter's progress callback: the highest figure told so far."""

    def __init__(self):
        self.highest = 0

    async def __call__(self, progress: int, stage: str | None = None, message: str | None = None) -> None:
        self.highest = max(self.highest, progress)


async def test_cancelling_a_windowed_render_stops_every_ffmpeg_and_leaves_nothing(tmp_path):
    """Cancelled once two windows' ffmpegs are running and the render has made progress."""
    draft = build_long(tmp_path / "long")
    job = job_in(tmp_path / "work", draft)
    windows, progress = str(job.work_dir.resolve() / "windows"), Progress()
    export = asyncio.create_task(exporter(kill_grace_seconds=2, render_jobs=2)(job, progress))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60  # a busy machine may be slow to start them
    while (len(processes_mentioning(windows)) < 2 or progress.highest <= 70) and loop.time() < deadline:
        if export.done():
            break
        await asyncio.sleep(0.02)
    assert processes_mentioning(windows) and progress.highest > 70, "ffmpeg was rendering windows"
    await asyncio.sleep(0.2)  # both windows' ffmpegs started, not starting
    export.cancel()
    with pytest.raises(asyncio.CancelledError):
        await export
    left = [_described(pid) for pid in processes_mentioning(str(job.work_dir.resolve()))]
    assert not left, "ffmpeg still there after the cancelled export returned:\n" + "\n".join(left)
    assert not leftovers(job), "no video, whole or partial"


async def test_cancelling_while_window_ffmpegs_start_leaves_none_running(tmp_path, monkeypatch):
    """The cancel arrives while the windows' ffmpegs are being started (asyncio's
    create_subprocess_exec has forked them but not returned): once the cancelled export
    returns, none may still be there. A race: tried three times."""
    import capcut_mate.render.ffmpeg.run as run_module

    real = run_module.asyncio.create_subprocess_exec
    cancel_next: list[asyncio.Task] = []

    async def starting(*args, **kwargs):
        if cancel_next and any("/windows/" in str(arg) for arg in args):
            asyncio.get_running_loop().call_soon(cancel_next.pop().cancel)
        return await real(*args, **kwargs)

    monkeypatch.setattr(run_module.asyncio, "create_subprocess_exec", starting)
    draft = build_long(tmp_path / "long")
    left = []
    for attempt in range(3):
        job = job_in(tmp_path / f"work-{attempt}", draft)
        export = asyncio.create_task(exporter(kill_grace_seconds=2, render_jobs=2)(job, _progress))
        cancel_next.append(export)
        with pytest.raises(asyncio.CancelledError):
            await export
        left += [_described(pid) for pid in processes_mentioning(str(job.work_dir.resolve()))]
        assert not leftovers(job), "no video, whole or partial"
    assert not left, "ffmpeg still there after the cancelled export returned:\n" + "\n".join(left)


def _described(pid: int) -> str:
    try:
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return f"{pid} (gone since)"
    state = next((line.split(":", 1)[1].strip() for line in status if line.startswith("State:")), "?")
    pending = next((line.split(":", 1)[1].strip() for line in status if line.startswith("ShdPnd:")), "?")
    output = arguments[-2].decode(errors="replace") if len(arguments) > 1 else "?"
    return f"{pid} state {state}, signals pending {pending}, writing {output}"


async def test_a_failed_window_fails_the_job_with_ffmpegs_message(tmp_path, monkeypatch):
    """A photo of a later window only, spoilt after it was probed (as if the disk failed)."""
    draft = build_long(tmp_path / "long", seconds=24)
    spoilt = drawn_photo(draft.asset("assets/late.png"), "0x808080", (640, 360))
    draft.video(draft.track("video"), spoilt, start=20, duration=2, scale=0.5)
    draft.write()
    assert len(joins_of(draft)) >= 1 and joins_of(draft)[0] <= 20 * FPS, "the photo is not in the first window"
    real_probe = export_module.probe

    async def probe_then_spoil(ffmpeg_path, path):
        probed = await real_probe(ffmpeg_path, path)
        if path.name == "late.png":
            path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)  # a PNG signature, then nothing
        return probed

    monkeypatch.setattr(export_module, "probe", probe_then_spoil)
    job = job_in(tmp_path / "work", draft)
    with pytest.raises(ExportFailed) as failure:
        await exporter(kill_grace_seconds=2, render_jobs=2)(job, _progress)
    message = failure.value.message
    assert message.startswith("导出草稿失败: ") and not failure.value.retryable, message
    assert "没有生成视频文件" not in message and "没有说明原因" not in message, f"ffmpeg's own reason: {message}"
    assert not processes_mentioning(str(job.work_dir.resolve())), "no ffmpeg left running"
    assert not leftovers(job)


def _segment_id(layer: VisualLayer) -> str:
    """A layer's name is `track.place:segment id`."""
    return layer.name.split(":", 1)[1]
