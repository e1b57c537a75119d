"""The ffmpeg exporter: real drafts in the CapCut format, rendered, and the video checked the
way a user would look at it: its length, size, frame rate, sound, and what is on screen when."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp import web

from capcut_mate.agent.exporters import ExporterOptions, ExportFailed, ExportJob, load_exporter
from capcut_mate.agent.exporters.ffmpeg.addresses import AddressPolicy, AddressRefused, GuardedResolver
from capcut_mate.agent.exporters.ffmpeg.fetch import Downloader, DownloadFailed, FetchLimits
from capcut_mate.agent.exporters.ffmpeg.paths import UnsafePath, folder_paths, locate, safe_relative_path
from capcut_mate.render import media
from capcut_mate.render.draft import DraftError, parse_draft
from capcut_mate.render.draft.segments import AudioSegment, TextSegment, VisualSegment
from capcut_mate.render.environment import find_ffmpeg
from capcut_mate.render.ffmpeg.compose import RenderPlan, build_plan
from capcut_mate.render.ffmpeg.run import RenderFailed, render
from capcut_mate.render.media import MediaFile
from capcut_mate.render.timeline import build_timeline
from capcut_mate.render.timeline.features import FEATURES
from support.drafts import DraftBuilder, colour_clip, draft_server, photo, tone
from support.farm import Farm
from support.processes import ServiceProcess, command_env, processes_mentioning
from support.videos import (
    BLUE,
    CYAN,
    MAGENTA,
    RED,
    YELLOW,
    frame_at,
    looks_like,
    mean_volume_db,
    video_info,
)

CENTRE, TOP_LEFT, BOTTOM_RIGHT = (160, 90), (80, 45), (240, 135)
CAPTION_BOX = (100, 132, 220, 156)  # around the caption's centre, (160, 144)
STAGES = [10, 20, 30, 50, 70, 90]


def build_showcase(folder: Path) -> DraftBuilder:
    """4 s on a 320x180 canvas, every kind of content the exporter renders:

    - bottom video track: a green-then-red clip with its green second trimmed away (0–2 s),
      then a blue photo (2–4 s);
    - top video track: a yellow clip at half size in the top-left quarter (1–3 s), then a
      magenta-then-cyan clip at double speed in the bottom-right quarter (3–4 s);
    - an audio track with a tone all along, and a white caption near the bottom (0.5–3.5 s).
    """
    draft = DraftBuilder(folder)
    bottom, top = draft.track("video"), draft.track("video")
    green_red = colour_clip(draft.asset("assets/video/green-red.mp4"), [("0x00ff00", 1), ("0xff0000", 2)], tone_hz=330)
    draft.video(bottom, green_red, start=0, duration=2, source_start=1)
    draft.video(bottom, photo(draft.asset("assets/image/blue.png"), "0x0000ff"), start=2, duration=2)
    yellow = colour_clip(draft.asset("assets/video/yellow.mp4"), [("0xffff00", 2)])
    draft.video(top, yellow, start=1, duration=2, scale=0.5, x=-0.5, y=0.5)
    magenta_cyan = colour_clip(draft.asset("assets/video/magenta-cyan.mp4"), [("0xff00ff", 1), ("0x00ffff", 1)])
    draft.video(top, magenta_cyan, start=3, duration=1, speed=2, scale=0.5, x=0.5, y=-0.5)
    draft.audio(draft.track("audio"), tone(draft.asset("assets/audio/tone.m4a"), 440, 4), start=0, duration=4)
    draft.text(draft.track("text"), "Caption 字幕", start=0.5, duration=3, size=30, y=-0.6)
    return draft


# What the showcase draft puts where, and why.
SHOWCASE_FRAMES = [
    (0.5, CENTRE, RED, "the trim skips the clip's green first second"),
    (0.5, TOP_LEFT, RED, "nothing on the top track yet"),
    (1.5, TOP_LEFT, YELLOW, "the top track lies over the bottom one, scaled and placed"),
    (1.5, BOTTOM_RIGHT, RED, "the half-size overlay leaves the rest uncovered"),
    (2.5, BOTTOM_RIGHT, BLUE, "the photo follows the clip"),
    (3.25, BOTTOM_RIGHT, MAGENTA, "the double-speed clip starts with its first colour"),
    (3.75, BOTTOM_RIGHT, CYAN, "at double speed, its second colour comes after half a second"),
    (3.75, TOP_LEFT, BLUE, "the yellow overlay has ended"),
]


@pytest.fixture(scope="module")
def drafts_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("drafts")
    build_showcase(root / "showcase").write()
    return root


class Recorder:
    """An exporter's progress callback that remembers every call."""

    def __init__(self):
        self.values: list[int] = []
        self.messages: list[str] = []

    async def __call__(self, progress: int, stage: str | None = None, message: str | None = None) -> None:
        self.values.append(progress)
        if message:
            self.messages.append(message)


def job_in(work_dir: Path, draft_url: str, draft_id: str = "showcase") -> ExportJob:
    work_dir.mkdir(parents=True, exist_ok=True)
    return ExportJob(1, 1, draft_url, draft_id, work_dir, work_dir / "output.mp4")


def exporter(**options):
    return load_exporter("ffmpeg", ExporterOptions(**options))


async def serve_drafts(aiohttp_server, root: Path) -> str:
    server = await aiohttp_server(draft_server(root))
    return str(server.make_url("/"))


# --- Reading drafts ---------------------------------------------------------------------------


def test_a_draft_is_read_into_tracks_in_order_with_times_in_microseconds(drafts_root):
    draft = parse_draft((drafts_root / "showcase" / "draft_content.json").read_bytes())
    assert (draft.width, draft.height, draft.fps, draft.duration) == (320, 180, 30.0, 4_000_000)
    bottom, top = (track.segments for track in draft.tracks if track.kind == "video")
    assert [(s.material.kind, s.target.start, s.target.duration, s.source.start) for s in bottom] == [
        ("video", 0, 2_000_000, 1_000_000), ("photo", 2_000_000, 2_000_000, 0)]
    assert [(s.speed, s.clip.scale_x, s.clip.x, s.clip.y) for s in top] == [
        (1.0, 0.5, -0.5, 0.5), (2.0, 0.5, 0.5, -0.5)]
    assert [s.material.kind for s in draft.segments(AudioSegment)] == ["audio"]
    (caption,) = draft.segments(TextSegment)
    assert (caption.material.text, caption.material.base.size, caption.material.base.color) == (
        "Caption 字幕", 30.0, "#ffffff")


def _media_for(draft, folder: Path | None = None) -> dict[str, MediaFile]:
    """What probing would find in a draft's files, made up: 320x180 pictures, 10 s each."""
    segments = draft.segments(VisualSegment) + draft.segments(AudioSegment)
    return {s.material.id: MediaFile((folder or Path("/media")) / f"{s.material.id}.mp4",
                                     has_video=s.material.kind != "audio", has_audio=s.material.kind == "audio",
                                     width=320 if s.material.kind != "audio" else 0,
                                     height=180 if s.material.kind != "audio" else 0, duration=10.0)
            for s in segments}


def test_what_is_left_out_or_approximated_is_named(tmp_path):
    draft = DraftBuilder(tmp_path / "effects")
    track = draft.track("video")
    clip = colour_clip(draft.asset("assets/video/red.mp4"), [("0xff0000", 1)])
    first = draft.video(track, clip, start=0, duration=1)
    second = draft.video(track, clip, start=1, duration=1)
    draft.material("transitions", {"type": "transition", "name": "魔法转场", "duration": 500000}, used_by=first)
    draft.material("effects", {"type": "filter", "name": "未知滤镜", "value": 1.0}, used_by=first)
    draft.material("material_animations", {"type": "sticker_animation", "animations": [
        {"type": "in", "name": "神秘入场", "start": 0, "duration": 300000}]}, used_by=second)
    # An empty animation list: nothing to name.
    draft.material("material_animations", {"type": "sticker_animation", "animations": []}, used_by=first)
    draft.track("sticker")["segments"].append({"material_id": "x", "target_timerange": {"start": 0, "duration": 1}})
    draft.write()

    parsed = parse_draft((draft.folder / "draft_content.json").read_text())
    assert build_timeline(parsed, _media_for(parsed)).warnings == (
        "未渲染: 滤镜 未知滤镜 (filters), 贴纸 ×1 (stickers)",  # a sticker with no material has no name
        "近似: 动画 神秘入场 (animations), 转场 魔法转场 (transitions)",
    )


CANVAS = {"width": 640, "height": 360}
GHOST_SEGMENT = {"material_id": "gone", "target_timerange": {"start": 0, "duration": 5}}


@pytest.mark.parametrize("content, complaint", [
    ('{"tracks": [', "不是有效的 JSON"),
    ("[1, 2]", "没有 tracks"),
    (json.dumps({"tracks": [], "canvas_config": {"width": "wide", "height": 1080}}), "字段格式不对"),
    (json.dumps({"tracks": [{"type": "video", "segments": [GHOST_SEGMENT]}], "canvas_config": CANVAS}),
     "不存在的素材 gone"),
    ('{"tracks": [], "canvas_config": {"width": Infinity, "height": 1080}}', "不是有效的 JSON"),
    ('{"tracks": [], "canvas_config": {"width": NaN, "height": 1080}}', "不是有效的 JSON"),
    ('{"tracks": [], "fps": 1e999}', "不是有效的 JSON"),
    ('{"tracks": [], "canvas_config": {"width": 1' + "0" * 400 + ', "height": 1080}}', "不合理"),
    (json.dumps({"canvas_config": CANVAS, "materials": {"videos": [{"id": "v", "type": "video", "path": "a.mp4"}]},
                 "tracks": [{"type": "video", "segments": [{**GHOST_SEGMENT, "material_id": "v", "speed": 0}]}]})
     .replace('"speed": 0', '"speed": 1' + "0" * 400), "数字 1000.* 不合理"),
])
def test_a_file_that_is_not_a_draft_says_why(content, complaint):
    with pytest.raises(DraftError, match=complaint):
        parse_draft(content)


# --- The ffmpeg command -------------------------------------------------------------------------


def test_the_plan_reads_only_what_a_segment_shows_and_asks_only_for_sound_that_exists(drafts_root, tmp_path):
    draft = parse_draft((drafts_root / "showcase" / "draft_content.json").read_bytes())
    media = _media_for(draft, tmp_path)
    timeline = build_timeline(draft, media)
    plan = build_plan(timeline, {k: v.path for k, v in media.items()}, {}, graph_file=tmp_path / "graph.txt",
                      graph_file_option="-/filter_complex", output=tmp_path / "out.mp4")
    bottom, top = (track.segments for track in draft.tracks if track.kind == "video")
    trimmed, double_speed = bottom[0], top[1]
    assert _contains(plan.args, ["-ss", "1", "-t", "2", "-i", str(media[trimmed.material.id].path)])
    assert _contains(plan.args, ["-t", "2", "-i", str(media[double_speed.material.id].path)]), "1 s shown at 2x"
    photo_input = plan.args.index(str(media[bottom[1].material.id].path))
    assert "-loop" not in plan.args[photo_input - 8:photo_input], "a photo is decoded once, not looped at the input"
    inputs = [plan.args[i + 1] for i, arg in enumerate(plan.args) if arg == "-i"]
    sound = inputs.index(str(media[draft.segments(AudioSegment)[0].material.id].path))
    assert f"[{sound}:a]" in plan.graph and "normalize=0" in plan.graph
    assert all(f"[{i}:a]" not in plan.graph for i in range(len(inputs)) if i != sound), (
        "no sound is asked of a clip without any")


def _contains(items: list[str], run: list[str]) -> bool:
    return any(items[i:i + len(run)] == run for i in range(len(items)))


# --- Paths under the draft folder ---------------------------------------------------------------


def test_materials_are_found_by_their_path_under_the_draft_folder():
    files = ["draft_content.json", "assets/video/a.mp4", "assets/other/a.mp4", "a.mp4"]
    windows = "C:\\Users\\me\\JianyingPro Drafts\\2025\\assets\\video\\a.mp4"
    assert locate(windows, files) == "assets/video/a.mp4"
    assert locate("/app/output/draft/2025/assets/other/a.mp4", files) == "assets/other/a.mp4"
    assert locate("assets/video/a.mp4", files) == "assets/video/a.mp4"
    assert locate("D:/elsewhere/a.mp4", files) == "a.mp4"
    assert locate("D:/elsewhere/b.mp4", files) is None


def test_draft_file_urls_become_paths_under_the_draft_folder():
    by_id = folder_paths(["https://cdn.example.com/output/draft/2025/draft_content.json",
                          "https://cdn.example.com/output/draft/2025/assets/video/a%20b.mp4"], "2025")
    assert by_id == {"draft_content.json": "https://cdn.example.com/output/draft/2025/draft_content.json",
                     "assets/video/a b.mp4": "https://cdn.example.com/output/draft/2025/assets/video/a%20b.mp4"}
    common = folder_paths(["https://drafts.example.com/files/x/draft_content.json",
                           "https://drafts.example.com/files/x/assets/a.mp4"], "id-not-in-the-paths")
    assert sorted(common) == ["assets/a.mp4", "draft_content.json"]


@pytest.mark.parametrize("path", ["../etc/passwd", "assets/../../x", "/etc/passwd", "C:\\x.mp4", "a//b",
                                  "a\\..\\..\\b"])
def test_paths_that_could_leave_the_draft_folder_are_refused(path):
    with pytest.raises(UnsafePath):
        safe_relative_path(path)


def test_file_urls_escaping_the_draft_folder_are_refused():
    with pytest.raises(UnsafePath):
        folder_paths(["http://x.example/d/1/draft_content.json", "http://x.example/d/1/%2E%2E/secret"], "1")


# --- Addresses ----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8000/get_draft", "http://10.0.0.8/d", "http://169.254.169.254/latest/meta-data",
    "http://[::1]/d", "http://[::ffff:192.168.1.1]/d", "ftp://drafts.example.com/d", "file:///etc",
])
def test_private_addresses_and_other_schemes_are_refused(url):
    with pytest.raises(AddressRefused):
        AddressPolicy().check_url(url)


def test_the_agents_own_service_and_allow_local_drafts_lift_the_rule():
    AddressPolicy(trusted_origins=("http://127.0.0.1:8000",)).check_url("http://127.0.0.1:8000/samples/get_draft?x=1")
    with pytest.raises(AddressRefused):
        AddressPolicy(trusted_origins=("http://127.0.0.1:8000",)).check_url("http://127.0.0.1:9999/")
    AddressPolicy(allow_private=True).check_url("http://10.0.0.8/d")
    AddressPolicy().check_url("https://93.184.215.14/d")


async def test_host_names_are_checked_for_what_they_resolve_to():
    with pytest.raises(AddressRefused):
        await GuardedResolver(AddressPolicy()).resolve("localhost", 80)
    trusted = GuardedResolver(AddressPolicy(trusted_origins=("http://localhost:8000",)))
    assert await trusted.resolve("localhost", 8000)


# --- Downloading ------------------------------------------------------------------------------


async def test_downloads_retry_server_errors_and_resume_broken_transfers(aiohttp_server, tmp_path):
    payload = os.urandom(300_000)
    asked: list[str] = []

    async def flaky(request: web.Request) -> web.StreamResponse:
        asked.append("flaky")
        if asked.count("flaky") == 1:
            return web.Response(status=503)
        return web.Response(body=payload)

    async def breaks_once(request: web.Request) -> web.StreamResponse:
        if "Range" in request.headers:
            start = int(request.headers["Range"].removeprefix("bytes=").rstrip("-"))
            asked.append(f"range {start}")
            return web.Response(status=206, body=payload[start:], headers={
                "Content-Range": f"bytes {start}-{len(payload) - 1}/{len(payload)}", "Accept-Ranges": "bytes"})
        asked.append("whole")
        response = web.StreamResponse(headers={"Accept-Ranges": "bytes"})
        response.content_length = len(payload)
        await response.prepare(request)
        await response.write(payload[:100_000])
        request.transport.close()  # the connection drops a third of the way through
        return response

    app = web.Application()
    app.router.add_get("/flaky", flaky)
    app.router.add_get("/breaks", breaks_once)
    server = await aiohttp_server(app)
    async with Downloader(AddressPolicy(allow_private=True), FetchLimits(backoff_seconds=0.01)) as downloader:
        assert (await downloader.download(str(server.make_url("/flaky")), tmp_path / "a")).read_bytes() == payload
        assert (await downloader.download(str(server.make_url("/breaks")), tmp_path / "b")).read_bytes() == payload
    assert asked[:2] == ["flaky", "flaky"] and asked[2] == "whole"
    assert asked[3].startswith("range ") and int(asked[3].split()[1]) > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]  # no .part files left


async def test_a_resume_from_the_wrong_offset_or_of_a_changed_file_starts_over(aiohttp_server, tmp_path):
    payload = os.urandom(300_000)
    asked: list[tuple] = []

    async def careless(request: web.Request) -> web.StreamResponse:
        asked.append((request.headers.get("Range"), request.headers.get("If-Range")))
        if "Range" in request.headers and len(asked) == 2:  # answers a resume, but from byte 0
            return web.Response(status=206, body=payload, headers={
                "Content-Range": f"bytes 0-{len(payload) - 1}/{len(payload)}", "Accept-Ranges": "bytes"})
        response = web.StreamResponse(headers={"Accept-Ranges": "bytes", "ETag": '"v1"'})
        response.content_length = len(payload)
        await response.prepare(request)
        await response.write(payload if len(asked) > 2 else payload[:100_000])
        if len(asked) == 1:
            request.transport.close()  # the first transfer breaks a third of the way through
        return response

    app = web.Application()
    app.router.add_get("/file", careless)
    server = await aiohttp_server(app)
    async with Downloader(AddressPolicy(allow_private=True), FetchLimits(backoff_seconds=0.01)) as downloader:
        got = await downloader.download(str(server.make_url("/file")), tmp_path / "file")
    assert got.read_bytes() == payload  # not the broken third with a whole copy spliced on
    assert asked[1] == ("bytes=100000-", '"v1"')  # resumes only that version of the file
    assert asked[2] == (None, None)  # after a wrong answer, from the start


async def test_a_long_listing_is_read_whole_however_it_arrives(aiohttp_server, tmp_path):
    files = [f"https://cdn.example.com/drafts/long/assets/{n:05d}.png" for n in range(6000)]
    body = json.dumps({"code": 0, "files": files}).encode()

    async def listing(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(body), 16_384):  # as TLS records would bring it
            await response.write(body[start:start + 16_384])
            await asyncio.sleep(0)
        return response

    app = web.Application()
    app.router.add_get("/get_draft", listing)
    server = await aiohttp_server(app)
    async with Downloader(AddressPolicy(allow_private=True), FetchLimits()) as downloader:
        answer = await downloader.get_json(str(server.make_url("/get_draft?draft_id=long")))
    assert answer["files"] == files


async def test_size_limit_holds_without_content_length_and_redirects_are_checked(aiohttp_server, tmp_path):
    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()  # no Content-Length to check in advance
        await response.prepare(request)
        for _ in range(50):
            await response.write(b"x" * 10_000)
        return response

    async def elsewhere(request: web.Request) -> web.Response:
        raise web.HTTPFound("http://127.0.0.1:9/secret")

    app = web.Application()
    app.router.add_get("/chunked", chunked)
    app.router.add_get("/redirect", elsewhere)
    server = await aiohttp_server(app)
    origin = str(server.make_url("/")).rstrip("/")
    async with Downloader(AddressPolicy(allow_private=True), FetchLimits(max_draft_bytes=100_000)) as downloader:
        with pytest.raises(DownloadFailed, match="大小上限"):
            await downloader.download(origin + "/chunked", tmp_path / "big")
    # The agent's own service is trusted; where it redirects to is checked on its own.
    async with Downloader(AddressPolicy(trusted_origins=(origin,)), FetchLimits(backoff_seconds=0.01)) as downloader:
        with pytest.raises((DownloadFailed, AddressRefused), match="内网|127.0.0.1"):
            await downloader.download(origin + "/redirect", tmp_path / "redirected")
    assert not [p for p in tmp_path.iterdir() if p.is_file() and p.stat().st_size]


async def test_a_playlist_material_cannot_read_other_files_on_the_agent(aiohttp_server, tmp_path):
    secret = colour_clip(tmp_path / "elsewhere" / "secret.mp4", [("0xff0000", 1)])
    draft = DraftBuilder(tmp_path / "drafts" / "sneaky")
    playlist = draft.asset("assets/video/clip.m3u8")
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n{secret}\n#EXT-X-ENDLIST\n")
    draft.video(draft.track("video"), playlist, start=0, duration=1)
    draft.write()
    base = await serve_drafts(aiohttp_server, tmp_path / "drafts")
    job = job_in(tmp_path / "work", base + "get_draft?draft_id=sneaky", "sneaky")
    with pytest.raises(ExportFailed, match="素材无法读取: clip.m3u8") as failure:
        await exporter(allow_local_drafts=True)(job, Recorder())
    assert not failure.value.retryable
    assert not list(job.work_dir.glob("output*"))


async def test_a_material_that_never_finishes_probing_is_given_up(tmp_path, monkeypatch):
    monkeypatch.setattr(media, "PROBE_SECONDS", 1.0)
    stuck = tmp_path / "stuck.mp4"
    os.mkfifo(stuck)  # reading it blocks until someone writes, which no one will
    ffmpeg = await find_ffmpeg()
    with pytest.raises(media.MediaUnreadable, match="读取超过 1 秒"):
        await asyncio.wait_for(media.probe(ffmpeg.path, stuck), 30)


async def test_a_404_is_final_and_a_draft_over_the_size_limit_is_refused(aiohttp_server, drafts_root, tmp_path):
    base = await serve_drafts(aiohttp_server, drafts_root)
    async with Downloader(AddressPolicy(allow_private=True), FetchLimits(max_draft_bytes=10_000)) as downloader:
        with pytest.raises(DownloadFailed, match="HTTP 404") as missing:
            await downloader.download(base + "output/draft/showcase/nothing.mp4", tmp_path / "x")
        assert not missing.value.retryable
        with pytest.raises(DownloadFailed, match="大小上限") as too_large:
            await downloader.download(base + "output/draft/showcase/assets/video/green-red.mp4", tmp_path / "y")
        assert not too_large.value.retryable
    assert not list(tmp_path.iterdir()), "refused before anything was written"


# --- Rendering ----------------------------------------------------------------------------------


async def test_a_draft_renders_to_an_mp4_that_shows_what_the_draft_places_where(aiohttp_server, drafts_root, tmp_path):
    base = await serve_drafts(aiohttp_server, drafts_root)
    # Odd characters in the work folder reach the filter graph (caption files): escaping must hold.
    job = job_in(tmp_path / "work: it's [odd], really; yes", base + "get_draft?draft_id=showcase")
    progress = Recorder()
    result = await exporter(server_urls=(base,))(job, progress)  # the draft comes from "the agent's own service"

    video = result.video_path
    assert video == job.output_path and video.is_file()
    info = video_info(video)
    assert abs(info.duration - 4.0) < 0.1 and (info.width, info.height, info.fps) == (320, 180, 30.0)
    assert info.has_audio and mean_volume_db(video) > -35, "the tone and the clip's sound are mixed in"
    wrong = []
    for seconds, (x, y), colour, why in SHOWCASE_FRAMES:
        seen = frame_at(video, seconds).pixel(x, y)
        if not looks_like(seen, colour):
            wrong.append(f"at {seconds} s ({x}, {y}): {seen}, expected {colour}: {why}")
    assert not wrong, "\n".join(wrong)
    assert _white_pixels(frame_at(video, 1.0)) > 20, "the caption shows while it is on"
    assert _white_pixels(frame_at(video, 3.8)) == 0, "and is gone after it ends"

    assert progress.values == sorted(progress.values) and set(STAGES) <= set(progress.values)
    assert min(progress.values) >= 10 and max(progress.values) <= 90
    assert not [m for m in progress.messages if "未渲染" in m]
    assert sorted(p.name for p in job.work_dir.glob("output*")) == ["output.mp4"]


async def test_what_is_not_rendered_is_named_in_a_warning(aiohttp_server, tmp_path):
    draft = DraftBuilder(tmp_path / "drafts" / "effects")
    track = draft.track("video")
    clip = colour_clip(draft.asset("assets/red.mp4"), [("0xff0000", 1)])
    for start in (0, 1):
        segment = draft.video(track, clip, start=start, duration=1)
        draft.material("transitions", {"type": "transition", "name": "魔法", "duration": 400000}, used_by=segment)
    draft.track("sticker")["segments"].append({"material_id": "x", "target_timerange": {"start": 0, "duration": 1}})
    draft.write()
    base = await serve_drafts(aiohttp_server, tmp_path / "drafts")
    progress = Recorder()
    await exporter(allow_local_drafts=True)(job_in(tmp_path / "work", base + "get_draft?draft_id=effects",
                                                   "effects"), progress)
    assert "warning: 未渲染: 贴纸 ×1 (stickers), 转场 魔法 (transitions)" in progress.messages, (
        "the last segment's transition has no next segment to go to")
    assert "warning: 近似: 转场 魔法 (transitions)" in progress.messages, "the first one is drawn as a dissolve"


async def test_a_file_that_several_segments_use_is_fetched_once(aiohttp_server, tmp_path):
    draft = DraftBuilder(tmp_path / "drafts" / "twice")
    clip = colour_clip(draft.asset("assets/video/clip.mp4"), [("0xff0000", 1), ("0x0000ff", 1)])
    track = draft.track("video")
    draft.video(track, clip, start=0, duration=1, source_start=1)
    draft.video(track, clip, start=1, duration=1)
    draft.write()
    app = draft_server(tmp_path / "drafts")
    requested: list[str] = []

    async def remember(request: web.Request, _response: web.StreamResponse) -> None:
        requested.append(request.path)

    app.on_response_prepare.append(remember)
    server = await aiohttp_server(app)
    job = job_in(tmp_path / "work", str(server.make_url("/get_draft?draft_id=twice")), "twice")
    result = await exporter(allow_local_drafts=True)(job, Recorder())
    assert requested.count("/output/draft/twice/assets/video/clip.mp4") == 1
    assert looks_like(frame_at(result.video_path, 0.5).pixel(*CENTRE), BLUE)
    assert looks_like(frame_at(result.video_path, 1.5).pixel(*CENTRE), RED)


def _missing_material(folder: Path) -> str:
    (folder / "assets/video/yellow.mp4").unlink()
    return folder.name


def _corrupt_content(folder: Path) -> str:
    (folder / "draft_content.json").write_text('{"canvas_config": {"width": 320,', encoding="utf-8")
    return folder.name


def _no_such_draft(folder: Path) -> str:
    return "no-such-draft"


def _not_a_draft_answer(folder: Path) -> str:
    shutil.rmtree(folder)
    folder.mkdir()
    (folder / "notes.txt").write_text("not a draft")
    return folder.name


@pytest.mark.parametrize("breakage, error", [
    (_missing_material, "导出草稿失败: 素材缺失: yellow.mp4 (C:\\Users\\"),
    (_corrupt_content, "导出草稿失败: 草稿文件损坏，无法读取 draft_content.json: 不是有效的 JSON"),
    (_no_such_draft, "草稿下载失败: http://127.0.0.1:"),
    (_not_a_draft_answer, "草稿下载失败: 草稿里没有 draft_content.json"),
])
async def test_a_broken_draft_fails_clearly_and_leaves_no_video(aiohttp_server, drafts_root, tmp_path, breakage, error):
    root = tmp_path / "drafts"
    shutil.copytree(drafts_root / "showcase", root / "showcase")
    draft_id = breakage(root / "showcase")
    base = await serve_drafts(aiohttp_server, root)
    job = job_in(tmp_path / "work", f"{base}get_draft?draft_id={draft_id}", draft_id)
    with pytest.raises(ExportFailed) as failure:
        await exporter(allow_local_drafts=True)(job, Recorder())
    assert failure.value.message.startswith(error), failure.value.message
    assert not failure.value.retryable
    assert not list(job.work_dir.glob("output*")), "no video, whole or partial"


async def test_a_draft_with_nothing_to_render_says_so(aiohttp_server, tmp_path):
    draft = DraftBuilder(tmp_path / "drafts" / "empty")
    draft.track("effect")["segments"].append({"material_id": "x", "target_timerange": {"start": 0, "duration": 1}})
    draft.write()
    base = await serve_drafts(aiohttp_server, tmp_path / "drafts")
    with pytest.raises(ExportFailed) as failure:
        await exporter(allow_local_drafts=True)(job_in(tmp_path / "work", base + "get_draft?draft_id=empty", "empty"),
                                                Recorder())
    assert failure.value.message == "导出草稿失败: 草稿中没有可渲染的内容 (只有未渲染的: 特效 ×1 (effects))"


async def test_private_addresses_and_local_folders_need_allow_local_drafts(aiohttp_server, drafts_root, tmp_path):
    base = await serve_drafts(aiohttp_server, drafts_root)
    for url in (base + "get_draft?draft_id=showcase", (drafts_root / "showcase").as_uri()):
        with pytest.raises(ExportFailed, match="草稿下载失败: .*(内网|--allow-local-drafts)") as failure:
            await exporter()(job_in(tmp_path / "work", url), Recorder())
        assert not failure.value.retryable
    local = await exporter(allow_local_drafts=True)(job_in(tmp_path / "local", (drafts_root / "showcase").as_uri()),
                                                    Recorder())
    assert abs(video_info(local.video_path).duration - 4.0) < 0.1


async def test_cancelling_stops_ffmpeg_and_leaves_no_video(tmp_path):
    draft = DraftBuilder(tmp_path / "long")
    clip = colour_clip(draft.asset("assets/long.mp4"), [("0xff0000", 60)], fps=30)
    draft.video(draft.track("video"), clip, start=0, duration=60)
    draft.write()
    job = job_in(tmp_path / "work", draft.folder.as_uri(), "long")
    progress = Recorder()
    export = asyncio.create_task(exporter(allow_local_drafts=True, kill_grace_seconds=2)(job, progress))
    for _ in range(3000):  # up to 30 s on a busy machine: a 60 s draft renders in windows
        if processes_mentioning(str(job.work_dir.resolve())):
            break
        await asyncio.sleep(0.01)
    assert processes_mentioning(str(job.work_dir.resolve())), "ffmpeg was running"
    export.cancel()
    with pytest.raises(asyncio.CancelledError):
        await export
    assert not processes_mentioning(str(job.work_dir.resolve())), "ffmpeg was stopped"
    assert not list(job.work_dir.glob("output*"))


async def test_an_ffmpeg_that_stops_making_progress_is_killed_and_the_job_retried(tmp_path):
    # Stands in for an ffmpeg hung in a filter: reports one position, then spins, deaf to SIGTERM.
    hung = tmp_path / "hung-ffmpeg"
    hung.write_text("#!/bin/sh\ntrap '' TERM\necho out_time_us=0\nwhile :; do sleep 0.1; done\n")
    hung.chmod(0o755)
    plan = RenderPlan(args=[], graph="", duration_us=4_000_000)
    temporary = tmp_path / "output.mp4.part"
    with pytest.raises(RenderFailed) as failure:
        await render(str(hung), plan, work_dir=tmp_path, temporary=temporary, output=tmp_path / "output.mp4",
                     progress=Recorder(), kill_grace_seconds=0.5, stall_seconds=1.0)
    assert failure.value.retryable and "没有进展" in str(failure.value)
    assert not processes_mentioning(str(hung)), "killed, though it ignored SIGTERM"
    assert not list(tmp_path.glob("output*"))


def test_the_exporter_never_imports_the_server():
    probe = (
        "import sys, capcut_mate.agent.exporters.ffmpeg\n"
        "print(sorted(m for m in sys.modules if m.startswith(('capcut_mate.server', 'capcut_mate.database'))))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# --- The sample draft the service ships -------------------------------------------------------


async def test_the_service_serves_its_sample_draft_in_the_get_draft_shape(client):
    response = await client.get("/samples/get_draft", params={"draft_id": "demo"})
    assert response.status == 200
    answer = await response.json()
    assert answer["code"] == 0
    paths = sorted(url.split("/samples/files/demo/", 1)[1] for url in answer["files"])
    assert paths == ["assets/audios/tone.m4a", "assets/images/gradient.jpg", "assets/videos/testcard.mp4",
                     "draft_content.json", "draft_meta_info.json"]
    content = await (await client.get("/samples/files/demo/draft_content.json")).read()
    assert parse_draft(content).duration == 6_000_000
    sizes = [len(await (await client.get(f"/samples/files/demo/{path}")).read()) for path in paths]
    assert all(sizes) and sum(sizes) < 500_000, "every file served, and the sample stays small"
    for missing in ("/samples/get_draft?draft_id=nope", "/samples/files/demo/nothing.mp4",
                    "/samples/files/demo/%2E%2E/%2E%2E/settings.py"):
        assert (await client.get(missing)).status == 404, missing
    assert (await client.get("/samples/get_draft", params={"draft_id": "../x"})).status == 400


# --- End to end: the service, an agent, and the video ----------------------------------------


@pytest.fixture
async def farm(tmp_path, database_url, store):
    farm = Farm(tmp_path, database_url, store)
    yield farm
    await farm.close()


@pytest.mark.slow
async def test_a_job_through_the_service_and_an_ffmpeg_agent(farm, aiohttp_server, drafts_root, tmp_path, store):
    root = tmp_path / "drafts"
    shutil.copytree(drafts_root / "showcase", root / "showcase")
    content = json.loads((root / "showcase" / "draft_content.json").read_text())
    content["materials"]["stickers"].append({"id": "t1", "type": "sticker", "resource_id": "7521200021564427545"})
    content["tracks"].append({"type": "sticker", "segments": [
        {"material_id": "t1", "target_timerange": {"start": 0, "duration": 1000000}, "render_index": 14000}]})
    (root / "showcase" / "draft_content.json").write_text(json.dumps(content, ensure_ascii=False))
    base = await serve_drafts(aiohttp_server, root)
    service = farm.start_service()
    await farm.start_agent("renderer", service, "--exporter", "ffmpeg", "--allow-local-drafts")
    url = base + "get_draft?draft_id=showcase"

    job_id = (await farm.submit(service, url))["job_id"]
    final = await farm.wait_for(service, url, lambda b: b["status"] in ("completed", "failed"), timeout=60)
    assert final["status"] == "completed", final
    video = tmp_path / "downloaded.mp4"
    async with farm.http.get(final["video_url"]) as response:
        assert response.status == 200
        video.write_bytes(await response.read())
    info = video_info(video)
    assert abs(info.duration - 4.0) < 0.1 and (info.width, info.height) == (320, 180) and info.has_audio
    assert looks_like(frame_at(video, 1.5).pixel(*TOP_LEFT), YELLOW)

    history = await store.pool.fetch("SELECT progress, message FROM job_events WHERE job_id = $1 ORDER BY id", job_id)
    assert [r["progress"] for r in history] == sorted(r["progress"] for r in history)
    assert any("未渲染: 贴纸 7521200021564427545 (stickers)" in (r["message"] or "") for r in history), [
        tuple(r) for r in history]


@pytest.mark.slow
async def test_the_quick_start_renders_the_sample_draft_with_a_local_agent(tmp_path, database_url, store):
    env = command_env(database_url=database_url, data_dir=str(tmp_path / "data"))
    service = ServiceProcess(env, tmp_path / "serve.log", "--local-agents", "1")
    farm = Farm(tmp_path, database_url, store)
    try:
        service.wait_ready()
        url = f"{service.url}/samples/get_draft?draft_id=demo"
        await farm.submit(service, url)
        final = await farm.wait_for(service, url, lambda b: b["status"] in ("completed", "failed"), timeout=90)
        assert final["status"] == "completed", (final, service.log()[-3000:])
        video = tmp_path / "demo.mp4"
        async with farm.http.get(final["video_url"]) as response:
            video.write_bytes(await response.read())
        info = video_info(video)
        assert abs(info.duration - 6.0) < 0.1 and (info.width, info.height, info.fps) == (1280, 720, 30.0)
        assert info.has_audio
    finally:
        await farm.http.close()
        assert service.stop() == 0, service.log()


def _white_pixels(frame) -> int:
    return sum(1 for pixel in frame.pixels(*CAPTION_BOX) if min(pixel) > 200)


def test_the_docs_feature_table_is_the_renderers_own():
    docs = (Path(__file__).parents[1] / "docs" / "exporters.md").read_text(encoding="utf-8")
    table = docs.split("<!-- features:start -->")[1].split("<!-- features:end -->")[0]
    rows = [line.strip("|").split(" | ") for line in table.strip().splitlines()[2:]]
    assert [[cell.strip() for cell in row] for row in rows] == [
        [f"{f.chinese} ({f.english})", f.status, f.how] for f in FEATURES]


async def test_an_ffmpeg_on_path_too_old_for_the_renderer_is_passed_over(tmp_path, monkeypatch):
    """An old distribution's ffmpeg (libx264, but no colortemperature: before FFmpeg 4.4) on
    PATH: the bundled one renders instead; configured explicitly, it is refused by name."""
    from capcut_mate.render.environment import FFMPEG_ENV, EnvironmentProblem, _bundled_ffmpeg

    old = tmp_path / "bin" / "ffmpeg"
    old.parent.mkdir()
    old.write_text("#!/bin/sh\n"
                   'case "$2" in\n'
                   '  -version) echo "ffmpeg version 4.3.2" ;;\n'
                   '  -encoders) echo " V..... libx264  libx264 H.264" ;;\n'
                   '  -filters) echo " ... colorbalance  V->V  Adjust the color balance." ;;\n'
                   "esac\n")
    old.chmod(0o755)
    monkeypatch.delenv(FFMPEG_ENV, raising=False)
    monkeypatch.setenv("PATH", f"{old.parent}:{os.environ['PATH']}")
    assert (await find_ffmpeg()).path == _bundled_ffmpeg()
    monkeypatch.setenv(FFMPEG_ENV, str(old))
    with pytest.raises(EnvironmentProblem, match=r"没有滤镜 colortemperature \(需要 FFmpeg 4.4 或更新\)"):
        await find_ffmpeg()
