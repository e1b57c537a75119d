"""The ffmpeg exporter's render time, and what the service and agent add around ffmpeg.

    python -m benchmarks.render [--quick]

Builds a 60-second 1080p draft (4 seconds with --quick): a test card, a photo and the
test card again on the main track, a picture-in-picture at 1.5× speed above it, a tone and
a caption. Then times, for the same draft:

- bare ffmpeg, running the exporter's own argument list: the floor;
- the exporter alone: fetch (a local folder), parse, probe, render;
- a job through `capcut-mate serve --local-agents 1`: from gen_video to completed, the draft
  fetched over HTTP and the video uploaded to the service.

`run(quick)` answers rows {"figure", "value", "unit", "reference", "ratio"}, ratio being
value / reference. The service uses CAPCUT_MATE_DATABASE_URL when set, else its embedded
PostgreSQL. The draft builders come from the test support code (tests/support/drafts.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from capcut_mate.agent.exporters import ExporterOptions, ExportJob, load_exporter
from capcut_mate.agent.exporters.ffmpeg import plan_export

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support.drafts import DraftBuilder, draft_server, ffmpeg, photo, tone  # noqa: E402
from support.processes import ServiceProcess, command_env, free_port  # noqa: E402

WIDTH, HEIGHT, FPS = 1920, 1080, 30


def build_draft(folder: Path, seconds: int) -> DraftBuilder:
    draft = DraftBuilder(folder, width=WIDTH, height=HEIGHT, fps=FPS)
    third = seconds / 3
    card = draft.asset("assets/video/testcard.mp4")
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=s={WIDTH}x{HEIGHT}:r={FPS}:d={third + 1}",
           "-f", "lavfi", "-i", f"sine=f=330:d={third + 1}",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(card))
    small = draft.asset("assets/video/small.mp4")
    ffmpeg("-f", "lavfi", "-i", f"testsrc=s=640x360:r={FPS}:d={seconds * 1.5}",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(small))
    main, overlay = draft.track("video"), draft.track("video")
    draft.video(main, card, start=0, duration=third)
    draft.video(main, photo(draft.asset("assets/image/still.png"), "0x336699", (WIDTH, HEIGHT)),
                start=third, duration=third)
    draft.video(main, card, start=2 * third, duration=third, source_start=1)
    draft.video(overlay, small, start=0, duration=seconds, speed=1.5, scale=0.3, x=0.6, y=0.6)
    draft.audio(draft.track("audio"), tone(draft.asset("assets/audio/tone.m4a"), 440, seconds),
                start=0, duration=seconds, volume=0.5)
    draft.text(draft.track("text"), "capcut-mate benchmark", start=0, duration=seconds, size=12, y=-0.8)
    draft.write()
    return draft


async def time_bare_ffmpeg(draft: DraftBuilder, work_dir: Path) -> float:
    job = ExportJob(1, 1, draft.folder.as_uri(), draft.draft_id, work_dir, work_dir / "output.mp4")
    ffmpeg_path, plan = await plan_export(job, ExporterOptions(allow_local_drafts=True))
    started = time.perf_counter()
    subprocess.run([ffmpeg_path, *plan.args], cwd=work_dir, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


async def time_exporter(draft: DraftBuilder, work_dir: Path) -> float:
    job = ExportJob(2, 1, draft.folder.as_uri(), draft.draft_id, work_dir, work_dir / "output.mp4")
    export = load_exporter("ffmpeg", ExporterOptions(allow_local_drafts=True))

    async def progress(value: int, stage: str | None = None, message: str | None = None) -> None:
        pass

    started = time.perf_counter()
    await export(job, progress)
    return time.perf_counter() - started


async def time_through_service(draft: DraftBuilder, scratch: Path) -> float:
    """gen_video to completed, with `serve --local-agents 1` and the draft served over HTTP."""
    env = command_env(data_dir=str(scratch / "service-data"), database_url=os.environ.get("CAPCUT_MATE_DATABASE_URL"),
                      log_level="WARNING")
    service = ServiceProcess(env, scratch / "serve.log", "--local-agents", "1", "--allow-local-drafts")
    runner = web.AppRunner(draft_server(draft.folder.parent))
    await runner.setup()
    drafts_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", drafts_port).start()
    try:
        await asyncio.to_thread(service.wait_ready, 180)
        async with aiohttp.ClientSession() as http:
            # A first job starts the agent's ffmpeg and fills caches, so the timed job measures steady state.
            await _export_through(http, service.url, f"{service.url}/samples/get_draft?draft_id=demo")
            started = time.perf_counter()
            draft_url = f"http://127.0.0.1:{drafts_port}/get_draft?draft_id={draft.draft_id}"
            await _export_through(http, service.url, draft_url)
            return time.perf_counter() - started
    finally:
        await runner.cleanup()
        await asyncio.to_thread(service.stop)


async def _export_through(http: aiohttp.ClientSession, service_url: str, draft_url: str) -> None:
    async with http.post(f"{service_url}/v1/gen_video", json={"draft_url": draft_url}) as response:
        response.raise_for_status()
    while True:
        async with http.post(f"{service_url}/v1/gen_video_status", json={"draft_url": draft_url}) as response:
            status = await response.json()
        if status["status"] == "completed":
            return
        if status["status"] == "failed":
            raise RuntimeError(f"the benchmark's job failed: {status['error_message']}")
        await asyncio.sleep(0.1)


async def measure(quick: bool) -> list[dict]:
    seconds = 4 if quick else 60
    with tempfile.TemporaryDirectory(prefix="capcut-mate-bench-") as scratch_name:
        scratch = Path(scratch_name)
        draft = build_draft(scratch / "drafts" / "bench", seconds)
        bare = await time_bare_ffmpeg(draft, _fresh(scratch / "bare"))
        alone = await time_exporter(draft, _fresh(scratch / "exporter"))
        served = await time_through_service(draft, scratch)
    label = f"{seconds} s {HEIGHT}p draft"
    return [
        {"figure": f"bare ffmpeg, the exporter's arguments ({label}); reference: video length",
         "value": round(bare, 2), "unit": "s", "reference": seconds, "ratio": round(bare / seconds, 3)},
        {"figure": f"ffmpeg exporter alone: fetch, parse, probe, render ({label}); reference: bare ffmpeg",
         "value": round(alone, 2), "unit": "s", "reference": round(bare, 2), "ratio": round(alone / bare, 3)},
        {"figure": f"gen_video to completed through service + local agent ({label}); reference: bare ffmpeg",
         "value": round(served, 2), "unit": "s", "reference": round(bare, 2), "ratio": round(served / bare, 3)},
    ]


def run(quick: bool) -> list[dict]:
    return asyncio.run(measure(quick))


def _fresh(folder: Path) -> Path:
    folder.mkdir(parents=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.render", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a 4-second draft instead of 60 seconds")
    for row in run(parser.parse_args().quick):
        print(json.dumps(row, ensure_ascii=False))


if __name__ == "__main__":
    main()
