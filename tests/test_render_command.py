"""`capcut-mate render SOURCE -o OUT.mp4` as a user runs it: from a draft folder, its
draft_content.json or a get_draft URL; what it says when it cannot; and the sound of what it
writes (a volume ramp by keyframes, audio fades in and out)."""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from pathlib import Path

import pytest

from support.drafts import DraftBuilder, colour_clip, draft_server, photo, tone
from support.processes import command_env, run_command
from support.text_drafts import audio_fade, volume_db, volume_keyframes
from support.videos import RED, frame_at, looks_like, video_info

PROGRESS_LINE = re.compile(r"progress \d+ [a-z ]+")


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


def render(source: str | Path, out: Path):
    return run_command("render", str(source), "-o", str(out), env=command_env())


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


async def test_a_get_draft_url_is_fetched_and_rendered(aiohttp_server, drafts, tmp_path):
    server = await aiohttp_server(draft_server(drafts), host="127.0.0.1")
    url = str(server.make_url("/get_draft?draft_id=sound"))
    out = tmp_path / "from-url.mp4"
    command = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "capcut_mate", "render", url, "-o", str(out), env=command_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, stderr = await asyncio.wait_for(command.communicate(), 120)  # the server answers while it runs
    assert command.returncode == 0, stderr.decode()
    assert_the_sound_draft(out)


def test_a_source_that_does_not_exist_is_one_line_and_no_video(tmp_path):
    out = tmp_path / "out.mp4"
    result = render(tmp_path / "no-such-draft", out)
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("capcut-mate render: ") and "no-such-draft" in lines[0], lines
    assert not list(tmp_path.iterdir())


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
