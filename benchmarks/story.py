"""Story renders (issue 15): N photos of 3 s, each zooming, each captioned, voice-over and music.

    python -m benchmarks.story [--quick] [--sizes 10 50 200]

The draft is built here: N distinct photos (1080×1920 JPGs from ffmpeg's gradients and
testsrc2, blended, hue turned per photo), 3 s each with a zoom keyframe 1.0 → 1.15
(UNIFORM_SCALE as upstream writes it: KFTypeScaleX with `uniform_scale.on`), one Chinese
caption each, a voice-over and a music track, at 30 fps. For each N it is rendered by
`capcut-mate render`'s own code (`local_render.render_source`) in a child process, and
measured:

- wall time of the child (Python start-up, probing and text drawing included);
- ffmpeg CPU per video second: user + sys of every ffmpeg the child ran (its
  RUSAGE_CHILDREN, read by the child itself at the end, so the exporter's own Python is not
  counted), over the video's length;
- peak memory of the largest process of the child's tree: VmRSS of every process in it,
  sampled twice a second (the child's own ru_maxrss of its children is in the note).

The floor, measured in the same run on the same pictures: one ffmpeg encoding the same
number of frames with the exporter's encoder settings (compose.VIDEO_ENCODING, 30 fps,
same size) from the pictures decoded once (an image sequence at 1/3 fps, scaled once per
picture, then `fps=30` repeats each picture 90 times by reference). No compositing, no
zoom, no captions, no sound. Still pictures are cheaper for x264 than zoomed ones (most
blocks are skipped), so this floor is lower than the encoder alone would cost on the
exporter's frames: the note gives that figure too (the exporter's own video decoded and
encoded again, less its decoding alone).

The before-figure (`--before REF`, and by default in a full `python -m benchmarks` run):
the same draft through the ffmpeg exporter as it was at REF (a source tree, or a git ref
extracted with `git archive`; by default `a66b553`, the exporter before the renderer was
rebuilt, which draws no keyframes: its photos do not zoom). It runs in a child process with
REF's tree first on PYTHONPATH, given the draft folder as a file:// URL (its
`--allow-local-drafts` path), and is measured as the new one is: wall time of the child,
its ffmpeg's CPU from its RUSAGE_CHILDREN, the largest process of its tree.
`CAPCUT_MATE_BENCH_STORY_BEFORE` names REF for the full run (`none`: skip it).

`--no-zoom`: the same draft without its zoom keyframes, like for like with the exporter
before (for finding where the time goes; the issue's figures are with the zoom).

`--quick`: N = 3 at 270×480, no before-figure unless `--before` asks. Figures are printed,
never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.harness import ROOT, Row, process_tree, rss_mb
from capcut_mate.render.ffmpeg.compose import VIDEO_ENCODING

sys.path.insert(0, str(ROOT / "tests"))  # harness puts it there too; the draft builders are the tests'
from support.drafts import FFMPEG, DraftBuilder, ffmpeg  # noqa: E402

FPS = 30
SECONDS_PER_PHOTO = 3
ZOOM = 1.15
FULL_SIZES, QUICK_SIZES = (10, 50, 200), (3,)
FULL_CANVAS, QUICK_CANVAS = (1080, 1920), (270, 480)
MEMORY_GOAL_MB, MEMORY_GROWTH_GOAL, CPU_GOAL = 800, 1.3, 1.5
BEFORE_REF = "a66b553"  # the ffmpeg exporter before the renderer rebuild ("today's exporter" of issue 15)
BEFORE_ENV = "CAPCUT_MATE_BENCH_STORY_BEFORE"
CAPTIONS = ["春天来了，我们去看花", "海边的日落很美", "第一次学骑自行车", "外婆做的红烧肉", "山顶上的风很大",
            "雨后的小巷", "毕业那天的合影", "深夜的城市灯光"]


@dataclass
class Measured:
    wall: float
    ffmpeg_cpu: float  # user + sys of every ffmpeg, seconds
    peak_mb: float  # the largest process of the tree, sampled
    peak_process: str = ""
    other: dict = field(default_factory=dict)


def build_story(folder: Path, photos: int, canvas: tuple[int, int], zoom: bool = True) -> DraftBuilder:
    width, height = canvas
    draft = DraftBuilder(folder, width=width, height=height, fps=FPS)
    pictures = draft.asset("assets/image/photo-001.jpg").parent
    ffmpeg("-f", "lavfi", "-i", f"gradients=s={width}x{height}:r=1:n=6:speed=0.05:seed=7",
           "-f", "lavfi", "-i", f"testsrc2=s={width}x{height}:r=1",
           "-filter_complex", "[0][1]blend=all_mode=overlay:all_opacity=0.6,hue=h=t*47,format=yuvj420p",
           "-frames:v", str(photos), "-q:v", "3", str(pictures / "photo-%03d.jpg"))
    seconds = photos * SECONDS_PER_PHOTO
    voice, music = draft.asset("assets/audio/voice.m4a"), draft.asset("assets/audio/music.m4a")
    ffmpeg("-f", "lavfi", "-i", f"sine=f=180:d={seconds},tremolo=f=3:d=0.8", "-c:a", "aac", str(voice))
    chord = "+".join(f"0.15*sin(2*PI*{hz}*t)" for hz in (261.6, 329.6, 392.0))
    ffmpeg("-f", "lavfi", "-i", f"aevalsrc={chord}:s=44100:d={seconds}", "-c:a", "aac", str(music))
    video, text = draft.track("video"), draft.track("text")
    for index in range(photos):
        start = index * SECONDS_PER_PHOTO
        segment = draft.video(video, pictures / f"photo-{index + 1:03d}.jpg", start=start,
                              duration=SECONDS_PER_PHOTO)
        if zoom:
            draft.keyframes(segment, "UNIFORM_SCALE", [(0, 1.0), (SECONDS_PER_PHOTO, ZOOM)])
        draft.text(text, f"{index + 1}. {CAPTIONS[index % len(CAPTIONS)]}", start=start,
                   duration=SECONDS_PER_PHOTO, size=12, y=-0.7)
    draft.audio(draft.track("audio"), voice, start=0, duration=seconds)
    draft.audio(draft.track("audio"), music, start=0, duration=seconds, volume=0.3)
    draft.write()
    return draft


class TreeMemory:
    """The largest VmRSS of any one process of `pid`'s tree, sampled twice a second."""

    def __init__(self, pid: int):
        self.pid = pid
        self.peak_mb, self.peak_process = 0.0, ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            for pid in process_tree(self.pid):
                try:
                    mb = rss_mb(pid)
                    name = Path(f"/proc/{pid}/comm").read_text().strip()
                except (OSError, ProcessLookupError):
                    continue
                if mb > self.peak_mb:
                    self.peak_mb, self.peak_process = mb, name
            self._stop.wait(0.5)


def render_story(draft: DraftBuilder, output: Path, log: Path) -> Measured:
    """The draft through `capcut-mate render`'s code in a child process."""
    return _measured_child(["-m", "benchmarks.story", "--child", str(draft.folder), str(output)],
                           cwd=ROOT, env=None, log=log, what="the story render")


def _measured_child(args: list[str], *, cwd: Path, env: dict | None, log: Path, what: str) -> Measured:
    """A Python child that renders and answers, in its last line, what its ffmpegs used."""
    started = time.perf_counter()
    with open(log, "w") as errors:
        child = subprocess.Popen([sys.executable, *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=errors,
                                 text=True)
        with TreeMemory(child.pid) as memory:
            answer, _ = child.communicate()
    wall = time.perf_counter() - started
    if child.returncode != 0:
        raise RuntimeError(f"{what} failed ({child.returncode}): {log.read_text()[-2000:]}")
    usage = json.loads(answer.strip().splitlines()[-1])
    return Measured(wall, usage["ffmpeg_cpu"], memory.peak_mb, memory.peak_process, usage)


# Run in the child with the old tree first on sys.path: its exporter as its own benchmark ran it
# (benchmarks/render.py at a66b553: a file:// draft URL, allow_local_drafts), then what its
# ffmpeg used. Only names that exporter interface had at a66b553 are used.
_BEFORE_CHILD = """
import asyncio, json, resource, sys
from pathlib import Path
import capcut_mate
from capcut_mate.agent.exporters import ExporterOptions, ExportJob, load_exporter
folder, draft_id, work = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
async def progress(value, stage=None, message=None):
    if message:
        print(message, file=sys.stderr)
job = ExportJob(1, 1, folder.as_uri(), draft_id, work, work / "output.mp4")
asyncio.run(load_exporter("ffmpeg", ExporterOptions(allow_local_drafts=True))(job, progress))
children, own = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"ffmpeg_cpu": children.ru_utime + children.ru_stime,
                  "ffmpeg_maxrss_mb": children.ru_maxrss * 1024 / 1e6,
                  "self_cpu": own.ru_utime + own.ru_stime, "capcut_mate": capcut_mate.__file__}))
"""


@dataclass(frozen=True)
class Before:
    """An old source tree whose ffmpeg exporter gives the before-figure, and what it is."""

    tree: Path
    name: str


def before_tree(ref: str, scratch: Path) -> Before:
    """REF as a source tree: a folder holding capcut_mate/, or a git ref of this repository
    extracted under `scratch` with `git archive`."""
    folder = Path(ref).expanduser().resolve()
    if (folder / "capcut_mate" / "agent" / "exporters" / "ffmpeg").is_dir():
        return Before(folder, folder.name)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", f"{ref}^{{commit}}"],
                            capture_output=True, text=True)
    if commit.returncode != 0:
        raise ValueError(f"--before {ref}: neither a source tree nor a git ref of {ROOT}")
    tree = scratch / f"before-{commit.stdout.strip()}"
    tree.mkdir(parents=True)
    archive = subprocess.Popen(["git", "-C", str(ROOT), "archive", commit.stdout.strip(), "capcut_mate"],
                               stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(tree)], stdin=archive.stdout, check=True)
    if archive.wait() != 0:
        raise RuntimeError(f"git archive {ref} failed")
    return Before(tree, commit.stdout.strip())


def render_before(before: Before, draft: DraftBuilder, work: Path, log: Path) -> Measured:
    """The draft through the old tree's ffmpeg exporter in a child process."""
    work.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(before.tree), os.environ.get("PYTHONPATH", "")])}
    measured = _measured_child(["-c", _BEFORE_CHILD, str(draft.folder), draft.draft_id, str(work)],
                               cwd=before.tree, env=env, log=log, what=f"the before render ({before.name})")
    if not Path(measured.other["capcut_mate"]).resolve().is_relative_to(before.tree):
        raise RuntimeError(f"the before render imported {measured.other['capcut_mate']}, not {before.tree}'s")
    return measured


def render_floor(draft: DraftBuilder, photos: int, canvas: tuple[int, int], output: Path) -> Measured:
    """The same frames' worth of video from the pictures decoded once: no compositing."""
    width, height = canvas
    pictures = draft.folder / "assets" / "image" / "photo-%03d.jpg"
    args = [FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
            "-framerate", f"1/{SECONDS_PER_PHOTO}", "-i", str(pictures),
            "-vf", f"scale={width}:{height}:out_range=tv,format=yuv420p,fps={FPS}",
            *VIDEO_ENCODING, "-r", str(FPS), "-frames:v", str(photos * SECONDS_PER_PHOTO * FPS), "-an",
            "-f", "mp4", str(output)]
    return _timed_ffmpeg(args)


def reencode(video: Path, output: Path) -> tuple[Measured, Measured]:
    """The exporter's own video decoded and encoded again with its settings, and decoded alone:
    what the encoder costs on exactly the exporter's frames."""
    both = _timed_ffmpeg([FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(video),
                          "-map", "0:v", *VIDEO_ENCODING, "-an", "-f", "mp4", str(output)])
    decoding = _timed_ffmpeg([FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(video),
                              "-map", "0:v", "-f", "null", "-"])
    return both, decoding


def _timed_ffmpeg(args: list[str]) -> Measured:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL)
    with TreeMemory(process.pid) as memory:
        process.wait()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({process.returncode}): {' '.join(args)}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Measured(wall, cpu, memory.peak_mb, memory.peak_process, {"maxrss_mb": after.ru_maxrss * 1024 / 1e6})


def frame_count(video: Path) -> int:
    text = subprocess.run([FFMPEG, "-hide_banner", "-nostdin", "-i", str(video), "-map", "0:v", "-c", "copy",
                           "-f", "null", "-"], capture_output=True, text=True).stderr
    counts = re.findall(r"frame=\s*(\d+)", text)
    return int(counts[-1]) if counts else -1


def measure(quick: bool, sizes: tuple[int, ...] | None = None, before: str | None = None,
            zoom: bool = True) -> list[dict]:
    canvas = QUICK_CANVAS if quick else FULL_CANVAS
    results = []
    with tempfile.TemporaryDirectory(prefix="capcut-mate-bench-story-before-") as trees:
        old = before_tree(before, Path(trees)) if before else None
        for photos in sizes or (QUICK_SIZES if quick else FULL_SIZES):
            results.append(measure_one(photos, canvas, old, zoom))
    return results


def measure_one(photos: int, canvas: tuple[int, int], before: Before | None, zoom: bool = True) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"capcut-mate-bench-story-{photos}-") as scratch_name:
        scratch = Path(scratch_name)
        draft = build_story(scratch / "drafts" / f"story-{photos}", photos, canvas, zoom)
        story = render_story(draft, scratch / "story.mp4", scratch / "render.log")
        old = old_frames = failure = None
        if before:
            try:
                old = render_before(before, draft, scratch / "before", scratch / "before.log")
                old_frames = frame_count(scratch / "before" / "output.mp4")
            except RuntimeError as error:  # the new figures stand; the row says the before-figure is missing
                failure = str(error).splitlines()[0]
                print(f"N={photos}: {failure}", flush=True)
            shutil.rmtree(scratch / "before", ignore_errors=True)
        floor = render_floor(draft, photos, canvas, scratch / "floor.mp4")
        encoded, decoded = reencode(scratch / "story.mp4", scratch / "again.mp4")
        frames = frame_count(scratch / "story.mp4"), frame_count(scratch / "floor.mp4")
        seconds = photos * SECONDS_PER_PHOTO
        result = {
            "photos": photos, "video_s": seconds, "canvas": f"{canvas[0]}x{canvas[1]}" + ("" if zoom else ", no zoom"),
            "frames": frames,
            "wall_s": story.wall, "cpu_per_s": story.ffmpeg_cpu / seconds, "peak_mb": story.peak_mb,
            "peak_process": story.peak_process, "maxrss_mb": story.other["ffmpeg_maxrss_mb"],
            "python_cpu_s": story.other["self_cpu"],
            "floor_wall_s": floor.wall, "floor_cpu_per_s": floor.ffmpeg_cpu / seconds, "floor_peak_mb": floor.peak_mb,
            "reencode_cpu_per_s": max(encoded.ffmpeg_cpu - decoded.ffmpeg_cpu, 0.0) / seconds,
            "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        }
        if failure:
            result["before_failed"] = failure
        elif old:
            result["before"] = {"name": before.name, "wall_s": old.wall, "cpu_per_s": old.ffmpeg_cpu / seconds,
                                "peak_mb": old.peak_mb, "peak_process": old.peak_process,
                                "maxrss_mb": old.other["ffmpeg_maxrss_mb"], "frames": old_frames}
    print(describe(result), flush=True)
    return result


def describe(r: dict) -> str:
    return (f"N={r['photos']} ({r['video_s']} s, {r['canvas']}, frames {r['frames'][0]} / floor {r['frames'][1]}): "
            f"wall {r['wall_s']:.1f} s, ffmpeg CPU {r['cpu_per_s']:.2f} s per video s, "
            f"peak {r['peak_mb']:.0f} MB ({r['peak_process']}; ru_maxrss {r['maxrss_mb']:.0f} MB), "
            f"exporter's Python {r['python_cpu_s']:.1f} s CPU | "
            f"floor: wall {r['floor_wall_s']:.1f} s, CPU {r['floor_cpu_per_s']:.2f} s per video s, "
            f"peak {r['floor_peak_mb']:.0f} MB | x264 alone on the exporter's frames "
            f"{r['reencode_cpu_per_s']:.2f} s per video s{describe_before(r)} | load {r['load']}")


def describe_before(r: dict) -> str:
    if "before_failed" in r:
        return f" | before: {r['before_failed']}"
    if "before" not in r:
        return ""
    b = r["before"]
    return (f" | before ({b['name']}, no zoom, frames {b['frames']}): wall {b['wall_s']:.1f} s, "
            f"ffmpeg CPU {b['cpu_per_s']:.2f} s per video s, peak {b['peak_mb']:.0f} MB ({b['peak_process']}; "
            f"ru_maxrss {b['maxrss_mb']:.0f} MB); wall now / before {r['wall_s'] / b['wall_s']:.2f}×")


def rows(results: list[dict]) -> list[Row]:
    smallest = results[0]
    out = []
    for r in results:
        label = f"story render, {r['photos']} photos ({r['video_s']} s {r['canvas']})"
        cpu_ratio = r["cpu_per_s"] / r["floor_cpu_per_s"]
        if "before" in r:
            b = r["before"]
            out.append(Row(f"{label}: wall time", r["wall_s"], "s", b["wall_s"], f"s (exporter at {b['name']})",
                           goal="≤ 1.0× the exporter before", met=r["wall_s"] <= b["wall_s"], note=describe(r)))
        else:
            out.append(Row(f"{label}: wall time", r["wall_s"], "s", r["floor_wall_s"], "s (floor)",
                           goal="(for the record)", note=describe(r)))
        out.append(Row(f"{label}: ffmpeg CPU per video second", r["cpu_per_s"], "s", r["floor_cpu_per_s"],
                       "s (floor)", ratio=cpu_ratio, goal=f"≤ {CPU_GOAL}× floor", met=cpu_ratio <= CPU_GOAL))
        if r is smallest:
            out.append(Row(f"{label}: peak memory, largest process", r["peak_mb"], "MB", r["floor_peak_mb"],
                           "MB (floor)", goal=f"< {MEMORY_GOAL_MB} MB", met=r["peak_mb"] < MEMORY_GOAL_MB))
        else:
            growth = r["peak_mb"] / smallest["peak_mb"]
            out.append(Row(f"{label}: peak memory, largest process", r["peak_mb"], "MB", smallest["peak_mb"],
                           f"MB ({smallest['photos']} photos)", ratio=growth,
                           goal=f"≤ {MEMORY_GROWTH_GOAL}× {smallest['photos']} photos, < {MEMORY_GOAL_MB} MB",
                           met=growth <= MEMORY_GROWTH_GOAL and r["peak_mb"] < MEMORY_GOAL_MB))
        if "before" in r:
            b = r["before"]
            out.append(Row(f"{label}, exporter at {b['name']} (before; no zoom): ffmpeg CPU per video second",
                           b["cpu_per_s"], "s", r["cpu_per_s"], "s (now)", goal="(before-figure)"))
            out.append(Row(f"{label}, exporter at {b['name']} (before; no zoom): peak memory, largest process",
                           b["peak_mb"], "MB", r["peak_mb"], "MB (now)", goal="(before-figure)"))
    return out


def run(quick: bool) -> list[Row]:
    """For `python -m benchmarks`: the full run measures the before-figure too (REF from
    $CAPCUT_MATE_BENCH_STORY_BEFORE, else a66b553; `none` skips it); the quick run does not."""
    before = None if quick else os.environ.get(BEFORE_ENV, BEFORE_REF)
    if before in ("", "none"):
        before = None
    elif before == BEFORE_REF and not _is_commit(before):  # a shallow clone, a tarball: the rest still runs
        print(f"[story] no before-figure: {before} is not in this checkout (set {BEFORE_ENV})", flush=True)
        before = None
    return rows(measure(quick, before=before))


def _is_commit(ref: str) -> bool:
    return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "-q", "--verify", f"{ref}^{{commit}}"],
                          capture_output=True).returncode == 0


def child(folder: str, output: str) -> int:
    """Render as `capcut-mate render FOLDER -o OUTPUT` does, then answer what its ffmpegs used."""
    from capcut_mate.local_render import render_source

    with open(os.devnull, "w") as quiet:
        status = asyncio.run(render_source(folder, Path(output), stream=quiet))
    children, own = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"ffmpeg_cpu": children.ru_utime + children.ru_stime,
                      "ffmpeg_maxrss_mb": children.ru_maxrss * 1024 / 1e6,
                      "self_cpu": own.ru_utime + own.ru_stime}))
    return status


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.story", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"N = 3 at {QUICK_CANVAS[0]}x{QUICK_CANVAS[1]}")
    parser.add_argument("--sizes", type=int, nargs="+", help=f"photo counts (default {' '.join(map(str, FULL_SIZES))})")
    parser.add_argument("--before", metavar="REF",
                        help=f"also render with the ffmpeg exporter of REF (a source tree or a git ref; "
                             f"the full benchmark run uses {BEFORE_REF})")
    parser.add_argument("--no-zoom", action="store_true", help="the draft without its zoom keyframes")
    parser.add_argument("--markdown", action="store_true", help="print the table and notes as RESULTS.md has them")
    parser.add_argument("--child", nargs=2, metavar=("FOLDER", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)
    from benchmarks.__main__ import notes, table

    print("load average at start " + " ".join(f"{x:.2f}" for x in os.getloadavg()), flush=True)
    measured = rows(measure(args.quick, tuple(args.sizes) if args.sizes else None, args.before, not args.no_zoom))
    print(table(measured, markdown=args.markdown))
    if args.markdown:
        print("\n" + notes(measured, markdown=True))
    print("load average at end " + " ".join(f"{x:.2f}" for x in os.getloadavg()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
