"""`capcut-mate render SOURCE -o OUT.mp4` as a user runs it: from a draft folder, its
draft_content.json or draft_info.json, or a get_draft URL; what it says while it works (a bar
on a terminal, a line per stage elsewhere, each warning once) and when it cannot (one line);
and the sound of what it writes (a volume ramp by keyframes, audio fades in and out)."""

from __future__ import annotations

import asyncio
import os
import pty
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from aiohttp import web

from support.drafts import DraftBuilder, colour_clip, draft_server, photo, tone
from support.processes import CAPCUT_MATE, command_env, free_port, run_command
from support.text_drafts import audio_fade, volume_db, volume_keyframes
from support.videos import RED, frame_at, looks_like, video_info

PROGRESS_LINE = re.compile(r"progress \d+ \S+")
# The exporter's stages (protocol.jobs.STAGES from 草稿解析 on), then 完成 once OUT is in place.
STAGE_LINES = ["progress 20 草稿解析", "progress 30 准备环境", "progress 50 素材处理", "progress 70 导出控制",
               "progress 90 文件生成", "progress 100 完成"]


def build_sound(folder: Path) -> DraftBuilder:
    """4 s on a 320x180 canvas: a red clip with a 440 Hz tone, 0–2 s, its volume keyframed 1 → 0
    over those 2 s; then a blue photo, and a 660 Hz tone 2–4 s with a 1 s fade-in and a 0.5 s fade-out."""
    draft = DraftBuilder(folder)
    pictures = draft.track("video")
    clip = draft.video(pictures, colour_clip(draft.asset("assets/video/red.mp4"), [("0xff0000", 2)], tone_hz=440),
                       start=0, duration=2)
    volume_keyframes(clip, [(0.0, 1.0), (2.0, 0.0)])
    draft.video(pictures, photo(draft.asset("assets/image/blue.png"), "0x0000ff"), start=2, duration=2)
    music = draft.audio(draft.track("audio"), tone(draft.asset("assets/audio/tone.m4a"), 660, 2), start=2, duration=2)
    audio_fade(draft, music, fade_in=1.0, fade_out=0.5)
    draft.write()
    return draft


def build_sticker(folder: Path) -> DraftBuilder:
    """1 s of red on a 160x90 canvas under a sticker, which is not rendered: one warning."""
    draft = DraftBuilder(folder, width=160, height=90)
    draft.video(draft.track("video"), photo(draft.asset("assets/image/red.png"), "0xff0000", (160, 90)),
                start=0, duration=1)
    draft.sticker(draft.track("sticker"), "7521200021564427545", start=0, duration=1)
    draft.write()
    return draft


def render(source: str | Path, out: Path):
    return run_command("render", str(source), "-o", str(out), env=command_env())


async def render_beside(server: web.Application, aiohttp_server, path: str, out: Path) -> tuple[int, str]:
    """The command on a URL of `server`, which answers while the command runs."""
    running = await aiohttp_server(server, host="127.0.0.1")
    command = await asyncio.create_subprocess_exec(
        *CAPCUT_MATE, "render", str(running.make_url(path)), "-o", str(out), env=command_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, stderr = await asyncio.wait_for(command.communicate(), 120)
    return command.returncode, stderr.decode()


def render_on_a_terminal(source: Path, out: Path) -> str:
    """What the command writes to a terminal (stderr a pseudo-terminal), as the terminal got it."""
    leader, follower = pty.openpty()
    command = subprocess.Popen([*CAPCUT_MATE, "render", str(source), "-o", str(out)], stderr=follower,
                               stdout=subprocess.DEVNULL, env=command_env() | {"TERM": "xterm"})
    os.close(follower)
    written = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the command has closed the terminal
            break
        if not chunk:
            break
        written += chunk
    os.close(leader)
    assert command.wait(120) == 0, written.decode(errors="replace")
    return written.decode()


def said(stderr: str) -> list[str]:
    """What the command said, without its progress lines."""
    return [line for line in stderr.splitlines() if line.strip() and not PROGRESS_LINE.fullmatch(line.strip())]


def assert_the_sound_draft(out: Path) -> None:
    assert out.is_file()
    info = video_info(out)
    assert (info.width, info.height, info.fps) == (320, 180, 30.0) and abs(info.duration - 4.0) < 0.1, info
    assert info.has_audio
    assert looks_like(frame_at(out, 1.0).pixel(160, 90), RED)


@pytest.fixture(scope="module")
def drafts(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("drafts")
    build_sound(root / "sound")
    build_sticker(root / "sticker")
    return root


@pytest.fixture(scope="module")
def from_folder(drafts, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "sound.mp4"
    return out, render(drafts / "sound", out)


# --- Sources -------------------------------------------------------------------------------------


def test_a_draft_folder_renders_to_the_mp4_named(from_folder):
    out, result = from_folder
    assert result.returncode == 0, result.stderr
    assert_the_sound_draft(out)
    assert said(result.stderr) == [f"capcut-mate render: wrote {out}"], "no warning: fades and keyframes are rendered"
    assert sorted(p.name for p in out.parent.iterdir()) == ["sound.mp4"], "no temporary file left"


def test_a_draft_content_json_renders_its_folder(drafts, tmp_path):
    out = tmp_path / "from-json.mp4"
    result = render(drafts / "sound" / "draft_content.json", out)
    assert result.returncode == 0, result.stderr
    assert_the_sound_draft(out)


def test_a_draft_info_json_or_a_folder_of_either_file_renders(drafts, tmp_path):
    """Upstream folders hold draft_content.json and draft_info.json (the same content, as
    JianYing names it); some JianYing folders only the latter."""
    both, info_only = tmp_path / "both", tmp_path / "info-only"
    shutil.copytree(drafts / "sound", both)
    shutil.copy(both / "draft_content.json", both / "draft_info.json")
    shutil.copytree(both, info_only)
    (info_only / "draft_content.json").unlink()
    for source in (both / "draft_info.json", info_only, info_only / "draft_info.json"):
        out = tmp_path / "out" / f"{source.parent.name}-{source.name}.mp4"
        result = render(source, out)
        assert result.returncode == 0, (source, result.stderr)
        assert_the_sound_draft(out)


async def test_a_get_draft_url_is_fetched_and_rendered(aiohttp_server, drafts, tmp_path):
    out = tmp_path / "from-url.mp4"
    returncode, stderr = await render_beside(draft_server(drafts), aiohttp_server, "/get_draft?draft_id=sound", out)
    assert returncode == 0, stderr
    assert_the_sound_draft(out)


def test_a_source_that_does_not_exist_is_one_line_and_no_video(tmp_path):
    out = tmp_path / "out.mp4"
    result = render(tmp_path / "no-such-draft", out)
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("capcut-mate render: ") and "no-such-draft" in lines[0], lines
    assert not list(tmp_path.iterdir())


def test_a_draft_url_to_a_closed_port_is_one_line_after_its_silent_retries(tmp_path):
    out = tmp_path / "out.mp4"
    result = render(f"http://127.0.0.1:{free_port()}/get_draft?draft_id=sound", out)
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()  # no retry log lines, no progress line
    assert line.startswith("capcut-mate render: 草稿下载失败: http://127.0.0.1:") and "get_draft" in line, line
    assert line.endswith("(Connection refused)") and "ssl:default" not in line, "in words, not aiohttp's repr"
    assert not list(tmp_path.iterdir())


def test_a_draft_url_whose_draft_id_is_not_utf8_is_one_line(tmp_path):
    result = render("https://drafts.example.com/get_draft?draft_id=%ff%fe", tmp_path / "out.mp4")
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["capcut-mate render: draft_id must be UTF-8 once percent-decoded"]
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("status", [404, 500])
async def test_a_draft_url_answering_an_http_error_is_one_line(aiohttp_server, tmp_path, status):
    async def refuse(request: web.Request) -> web.Response:
        return web.Response(status=status)

    server = web.Application()
    server.router.add_get("/get_draft", refuse)
    out = tmp_path / "out.mp4"
    returncode, stderr = await render_beside(server, aiohttp_server, "/get_draft?draft_id=sound", out)
    assert returncode == 1
    (line,) = stderr.splitlines()
    assert line.startswith("capcut-mate render: 草稿下载失败: http://127.0.0.1:") and line.endswith(
        f"/get_draft 返回 HTTP {status}"), line
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("content", ['{"hello": 1}', "[1, 2]", "not json"])
def test_a_json_file_that_is_not_a_draft_is_one_line(tmp_path, content):
    source = tmp_path / "draft" / "something.json"
    source.parent.mkdir()
    source.write_text(content, encoding="utf-8")
    out = tmp_path / "out" / "out.mp4"
    result = render(source, out)
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("capcut-mate render: 导出草稿失败: 草稿文件损坏，无法读取 draft_content.json: "), line
    assert not (tmp_path / "out").exists()


def test_a_folder_that_is_no_draft_is_one_line(tmp_path):
    (tmp_path / "notes.txt").write_text("no draft here")
    result = render(tmp_path, tmp_path / "out.mp4")
    assert result.returncode == 1
    assert result.stderr.splitlines() == ["capcut-mate render: 草稿下载失败: 草稿里没有 draft_content.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_missing_material_fails_in_one_line_and_leaves_no_video(drafts, tmp_path):
    folder = tmp_path / "broken"
    shutil.copytree(drafts / "sound", folder)
    (folder / "assets/image/blue.png").unlink()
    out = tmp_path / "out" / "broken.mp4"
    result = render(folder, out)
    assert result.returncode == 1, result.stderr
    (line,) = said(result.stderr)
    assert line.startswith("capcut-mate render: 导出草稿失败: 素材缺失: blue.png"), line
    assert not out.exists() and not out.with_name(out.name + ".part").exists()
    assert not (out.parent.exists() and list(out.parent.iterdir()))


# --- What it says while it works -----------------------------------------------------------------


def test_off_a_terminal_it_says_each_stage_once(from_folder):
    out, result = from_folder
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if PROGRESS_LINE.fullmatch(line)] == STAGE_LINES


def test_each_warning_is_printed_once(drafts, tmp_path):
    out = tmp_path / "sticker.mp4"
    result = render(drafts / "sticker", out)
    assert result.returncode == 0, result.stderr
    assert said(result.stderr) == ["warning: 未渲染: 贴纸 7521200021564427545 (stickers)",
                                   f"capcut-mate render: wrote {out}"]


def test_on_a_terminal_a_bar_shows_the_stage_and_the_position_and_ends_at_100(drafts, tmp_path):
    out = tmp_path / "sticker.mp4"
    written = render_on_a_terminal(drafts / "sticker", out)
    assert out.is_file()
    lines = written.replace("\r\n", "\n").split("\n")
    assert lines.count("warning: 未渲染: 贴纸 7521200021564427545 (stickers)") == 1, lines
    frames = [frame.removesuffix("\x1b[K") for line in lines for frame in line.split("\r") if frame.startswith("[")]
    assert frames[0].endswith("10% 开始处理") and frames[-1] == "[" + "#" * 30 + "] 100% 完成", frames
    assert any(re.fullmatch(r"\[#+\.*\]  \d\d% 导出控制 [01]\.\d s / 1\.0 s", frame) for frame in frames), frames
    assert lines[-2:] == [f"capcut-mate render: wrote {out}", ""], lines


# --- Sound ---------------------------------------------------------------------------------------


def test_a_volume_ramp_by_keyframes_fades_the_clip_out_linearly(from_folder):
    out, result = from_folder
    assert result.returncode == 0, result.stderr
    start, halfway, end = volume_db(out, 0.0), volume_db(out, 0.9), volume_db(out, 1.75)
    assert start > -30, f"the 440 Hz tone at full volume first ({start} dB)"
    assert -9 < halfway - start < -3.5, f"gain about 0.5 halfway: {halfway - start:.1f} dB"
    assert end < start - 15, f"near silence at the end of the ramp: {start} → {end} dB"


def test_an_audio_fade_in_starts_near_silence_and_a_fade_out_ends_so(from_folder):
    out, result = from_folder
    assert result.returncode == 0, result.stderr
    first, steady, last = volume_db(out, 2.0, 0.1), volume_db(out, 3.0, 0.4), volume_db(out, 3.88, 0.1)
    assert steady > -30, f"the 660 Hz tone at full volume after the fade ({steady} dB)"
    assert first < steady - 15, f"the first 100 ms of a 1 s fade-in: {first} dB against {steady} dB"
    assert first < volume_db(out, 2.45, 0.1) < steady - 2, "louder halfway through the fade, not yet full"
    assert last < steady - 12, f"the last 100 ms of a 0.5 s fade-out: {last} dB against {steady} dB"
