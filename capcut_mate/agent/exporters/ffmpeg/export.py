"""One ffmpeg export, stage by stage: fetch the draft, read it, fetch its materials, render it
with `capcut_mate.render`, and report progress as the agent expects.

Stages, numbered as CONTRACT.md numbers them: 10 started; 20 draft parsed (its file list
and draft_content.json fetched and read); 30 environment ready (ffmpeg, a font); 50
materials downloaded and probed; 70–89 encoding, from ffmpeg's own progress; 90 file
produced. What the draft uses and this exporter does not render is named in a warning in
the job's history (docs/exporters.md lists both). Failures carry the upstream wording:
`草稿下载失败: …` for fetching (retryable for network trouble and 5xx answers), `导出草稿失败: …`
for everything after.

The renderer itself (draft model → timeline → ffmpeg graph) is `capcut_mate.render`; this
package adds what an agent needs around it: addresses (which hosts may be fetched), fetch
(downloads), paths (files under the draft folder).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from capcut_mate.agent.exporters import Exporter, ExporterOptions, ExportFailed, ExportJob, ExportResult, Progress
from capcut_mate.agent.exporters.ffmpeg.addresses import AddressPolicy
from capcut_mate.agent.exporters.ffmpeg.fetch import (
    CONTENT_FILE,
    NO_CONTENT,
    Downloader,
    DownloadFailed,
    DraftFolder,
    FetchLimits,
    list_draft,
)
from capcut_mate.agent.exporters.ffmpeg.paths import MAX_MATERIALS, FolderIndex, download_name
from capcut_mate.render.draft import Draft, DraftError, parse_draft
from capcut_mate.render.draft.materials import Material
from capcut_mate.render.draft.segments import AudioSegment, TextSegment, VisualSegment
from capcut_mate.render.environment import (
    FONT_ENV,
    EnvironmentProblem,
    Ffmpeg,
    find_ffmpeg,
    find_fonts,
)
from capcut_mate.render.ffmpeg.compose import (
    RenderPlan,
    build_join_plan,
    build_plan,
    build_sound_plan,
    build_window_plan,
    plan_windows,
)
from capcut_mate.render.ffmpeg.run import Position, RenderFailed, render, render_windows, together
from capcut_mate.render.media import MediaFile, MediaUnreadable, probe
from capcut_mate.render.text.raster import TextImage, TextRaster
from capcut_mate.render.timeline import Timeline, build_timeline
from capcut_mate.render.timeline.features import Notes
from capcut_mate.render.timeline.layers import TextLayer

log = logging.getLogger("capcut_mate.agent.ffmpeg")

NOTHING_TO_RENDER = "导出草稿失败: 草稿中没有可渲染的内容"
WINDOW_SECONDS = 10.0  # a longer render is cut into windows of about this length
MAX_CONTENT_BYTES = 64 * 1024**2
_PROBES_AT_ONCE = 4


@dataclass(frozen=True)
class FfmpegSettings:
    policy: AddressPolicy
    limits: FetchLimits
    font_file: Path | None
    kill_grace_seconds: float
    render_jobs: int = 1

    @classmethod
    def from_options(cls, options: ExporterOptions) -> FfmpegSettings:
        font_file = options.font_file or os.environ.get(FONT_ENV)
        return cls(
            policy=AddressPolicy(allow_private=options.allow_local_drafts, trusted_origins=options.server_urls),
            limits=FetchLimits(max_draft_bytes=options.max_draft_bytes),
            font_file=Path(font_file) if font_file else None,
            kill_grace_seconds=options.kill_grace_seconds,
            render_jobs=options.render_jobs or default_render_jobs(),
        )


def default_render_jobs() -> int:
    """Windows of one render at once: one per core, as memory allows (about 600 MB each)."""
    cores = os.cpu_count() or 1
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = 4 * 1024**3
    return max(1, min(cores, memory // (600 * 1024**2), 4))


@dataclass(frozen=True)
class Scene:
    """A draft laid out and ready to compile: its timeline, its files, its drawn texts."""

    timeline: Timeline
    files: dict[str, Path]
    texts: dict[str, TextImage]


def ffmpeg_exporter(options: ExporterOptions, *, position: Position | None = None) -> Exporter:
    """The exporter; `position`, if given, is told ffmpeg's position in the video as it moves
    (for `capcut-mate render`'s bar: a job's progress has only the percentage)."""
    settings = FfmpegSettings.from_options(options)

    async def export(job: ExportJob, progress: Progress) -> ExportResult:
        return await _Export(settings, job, progress, position).run()

    return export


async def plan_export(job: ExportJob, options: ExporterOptions) -> tuple[str, RenderPlan]:
    """What the exporter would run for this job, without running it: ffmpeg's path and plan
    (to run in job.work_dir, where the draft is fetched). For measuring ffmpeg alone."""

    async def no_progress(progress: int, stage: str | None = None, message: str | None = None) -> None:
        pass

    export = _Export(FfmpegSettings.from_options(options), job, no_progress)
    with _as_export_failures():
        ffmpeg, scene = await export.prepare()
    return ffmpeg.path, export.single_plan(scene, ffmpeg)


class _Export:
    """One job's export, stage by stage."""

    def __init__(self, settings: FfmpegSettings, job: ExportJob, progress: Progress, position: Position | None = None):
        self.settings = settings
        self.job = job
        self._progress = progress
        self._position = position
        self.progress_now = 0
        self.work_dir = job.work_dir.resolve()  # ffmpeg runs in it: every path must be absolute
        self.draft_dir = self.work_dir / "draft"
        self.output = job.output_path.resolve()
        self.temporary = self.output.with_name(self.output.name + ".part")  # what ffmpeg writes
        self.warnings: list[str] = []  # what the render approximates or leaves out

    async def run(self) -> ExportResult:
        with _as_export_failures():
            ffmpeg, scene = await self.prepare()
            windows = plan_windows(scene.timeline, WINDOW_SECONDS)
            grace = self.settings.kill_grace_seconds
            if len(windows) == 1:
                plan = await asyncio.to_thread(self.single_plan, scene, ffmpeg)
                await render(ffmpeg.path, plan, work_dir=self.work_dir, temporary=self.temporary, output=self.output,
                             progress=self._progress, kill_grace_seconds=grace, position=self._position)
            else:
                parts, sound, join = await asyncio.to_thread(self.window_plans, scene, ffmpeg, windows)
                await render_windows(ffmpeg.path, parts, sound, join, jobs=self.settings.render_jobs,
                                     work_dir=self.work_dir, temporary=self.temporary, output=self.output,
                                     progress=self._progress, kill_grace_seconds=grace, position=self._position)
            await self.progress(90)
        return ExportResult(video_path=self.job.output_path)

    async def prepare(self) -> tuple[Ffmpeg, Scene]:
        """Everything before ffmpeg runs: the draft fetched and read, its timeline laid out."""
        await self.progress(10)
        async with Downloader(self.settings.policy, self.settings.limits) as downloader:
            folder = await list_draft(self.job.draft_url, self.job.draft_key, downloader)
            draft = await self.read_draft(folder, downloader)
            ffmpeg, raster = await self.prepare_environment(draft)
            media = await self.fetch_materials(draft, folder, downloader, ffmpeg)
        scene = await asyncio.to_thread(self.lay_out, draft, media, raster)
        for warning in self.warnings:
            await self.warn(warning)
        return ffmpeg, scene

    async def read_draft(self, folder: DraftFolder, downloader: Downloader) -> Draft:
        if CONTENT_FILE not in folder.files:
            raise DownloadFailed(NO_CONTENT, retryable=False)
        content = await folder.fetch(CONTENT_FILE, downloader, self.draft_dir)
        if content.stat().st_size > MAX_CONTENT_BYTES:  # parsed JSON takes many times its size in memory
            raise ExportFailed(f"导出草稿失败: {CONTENT_FILE} 超过 {MAX_CONTENT_BYTES // 1024**2} MB")
        draft = await asyncio.to_thread(parse_draft, await asyncio.to_thread(content.read_bytes))
        if draft.duration == 0:  # nothing drawn or heard, so no media to look at
            left_out = [w.split(": ", 1)[1] for w in build_timeline(draft, {}).warnings if w.startswith("未渲染")]
            raise ExportFailed(NOTHING_TO_RENDER + (f" (只有未渲染的: {left_out[0]})" if left_out else ""))
        await self.progress(20)
        return draft

    async def prepare_environment(self, draft: Draft) -> tuple[Ffmpeg, TextRaster | None]:
        """ffmpeg, and what draws the draft's text (None: the draft has none)."""
        ffmpeg = await find_ffmpeg()
        raster = None
        if draft.segments(TextSegment):
            raster = TextRaster(draft.width, draft.height, await find_fonts(self.settings.font_file))
        await self.progress(30)
        return ffmpeg, raster

    async def fetch_materials(self, draft: Draft, folder: DraftFolder, downloader: Downloader,
                              ffmpeg: Ffmpeg) -> dict[str, MediaFile]:
        """Each material's file, downloaded and probed, by material id. A file that several
        materials use (the same clip cut twice) is fetched and probed once."""
        sources = await asyncio.to_thread(self._sources, draft, folder)
        unique = list(dict.fromkeys(sources.values()))
        slots = asyncio.Semaphore(_PROBES_AT_ONCE)
        done = 0

        async def fetch_and_probe(index: int, source: str) -> tuple[str, MediaFile]:
            nonlocal done
            if source.startswith(("http://", "https://")):
                path = await downloader.download(source, self.work_dir / "remote" / download_name(source, index))
            else:
                path = await folder.fetch(source, downloader, self.draft_dir)
            done += 1
            await self.progress(30 + 19 * done // len(unique))
            async with slots:
                try:
                    return source, await probe(ffmpeg.path, path)
                except MediaUnreadable as problem:
                    raise ExportFailed(f"导出草稿失败: 素材无法读取: {path.name} ({problem})") from None

        files = dict(await together(fetch_and_probe(index, source) for index, source in enumerate(unique)))
        for material in _materials(draft):
            file = files[sources[material.id]]
            if material.kind == "audio" and not file.has_audio:
                raise ExportFailed(f"导出草稿失败: 素材 {file.path.name} 没有声音")
            if material.kind != "audio" and not file.has_video:
                raise ExportFailed(f"导出草稿失败: 素材 {file.path.name} 没有画面")
        await self.progress(50)
        return {material_id: files[source] for material_id, source in sources.items()}

    def lay_out(self, draft: Draft, media: dict[str, MediaFile], raster: TextRaster | None) -> Scene:
        timeline = build_timeline(draft, media)
        texts = self.draw_texts(timeline, raster) if raster else {}
        self.warnings = list(timeline.warnings)
        if raster and raster.fonts.missing_fonts:  # drawn in the default
            self.warnings += Notes(approximated={"fonts": Counter(raster.fonts.missing_fonts)}).warnings()
        if raster and raster.fonts.missing_chars:
            self.warnings.append("未渲染: 字符 " + "".join(sorted(raster.fonts.missing_chars))[:40]
                                 + " (characters no font on this machine has)")
        return Scene(timeline, {material_id: file.path for material_id, file in media.items()}, texts)

    def single_plan(self, scene: Scene, ffmpeg: Ffmpeg) -> RenderPlan:
        graph_file = self.work_dir / "filter_graph.txt"
        plan = build_plan(scene.timeline, scene.files, scene.texts, graph_file=graph_file,
                          graph_file_option=ffmpeg.graph_file_option, output=self.temporary)
        graph_file.write_text(plan.graph, encoding="utf-8")
        return plan

    def window_plans(self, scene: Scene, ffmpeg: Ffmpeg, windows: list[tuple[int, int]]):
        """A plan per window of picture, one for the soundtrack, and one that joins them."""
        folder = self.work_dir / "windows"
        folder.mkdir(exist_ok=True)
        threads = max(1, (os.cpu_count() or 1) // min(self.settings.render_jobs, len(windows)))
        parts = []
        for index, window in enumerate(windows):
            graph_file, made = folder / f"{index}.graph.txt", folder / f"{index}.mp4"
            plan = build_window_plan(scene.timeline, scene.files, scene.texts, window, graph_file=graph_file,
                                     graph_file_option=ffmpeg.graph_file_option, output=made, threads=threads)
            graph_file.write_text(plan.graph, encoding="utf-8")
            parts.append((plan, made))
        graph_file, sound = folder / "sound.graph.txt", folder / "sound.m4a"
        sound_plan = build_sound_plan(scene.timeline, scene.files, graph_file=graph_file,
                                      graph_file_option=ffmpeg.graph_file_option, output=sound)
        graph_file.write_text(sound_plan.graph, encoding="utf-8")
        list_file = folder / "windows.txt"
        join = build_join_plan([made for _, made in parts], sound, list_file=list_file,
                               duration=scene.timeline.duration, output=self.temporary)
        list_file.write_text(join.graph, encoding="utf-8")
        return parts, (sound_plan, sound), join

    def draw_texts(self, timeline: Timeline, raster: TextRaster) -> dict[str, TextImage]:
        """Each text layer drawn to a picture of its own (and a typewriter's order picture)."""
        folder = self.work_dir / "texts"
        folder.mkdir(exist_ok=True)
        layers = [layer for layer in timeline.layers if isinstance(layer, TextLayer)]
        return {layer.name: raster.draw(layer.segment.material, folder / f"{index}.png", effect=layer.effect,
                                        bubble=layer.bubble,
                                        order=folder / f"{index}.order.png" if layer.reveal else None)
                for index, layer in enumerate(layers)}

    @staticmethod
    def _sources(draft: Draft, folder: DraftFolder) -> dict[str, str]:
        """Each material's file by material id; off the event loop, as a hostile draft's
        thousands of materials and files take a while to match."""
        materials = _materials(draft)
        if len(materials) > MAX_MATERIALS:
            raise ExportFailed(f"导出草稿失败: 草稿素材过多 ({len(materials)} 个，最多 {MAX_MATERIALS} 个)")
        index = FolderIndex(folder.files)
        return {material.id: _Export._source(material, index) for material in materials}

    @staticmethod
    def _source(material: Material, index: FolderIndex) -> str:
        """Where a material's file is: its URL (capcut-mate may leave one), or its path in the folder."""
        if material.path.startswith(("http://", "https://")):
            return material.path
        path = index.locate(material.path)
        if path is None:
            raise ExportFailed(f"导出草稿失败: 素材缺失: {material.name or material.path} ({material.path})")
        return path

    async def progress(self, value: int) -> None:
        self.progress_now = value
        await self._progress(value)

    async def warn(self, text: str) -> None:
        log.warning("job %s: %s", self.job.id, text)
        await self._progress(self.progress_now, message=f"warning: {text}")


def _materials(draft: Draft) -> list[Material]:
    """Every material a drawn or heard segment uses, once each, in order of first use."""
    seen: dict[str, Material] = {}
    for segment in draft.segments(VisualSegment) + draft.segments(AudioSegment):
        seen.setdefault(segment.material.id, segment.material)
    return list(seen.values())


@contextlib.contextmanager
def _as_export_failures() -> Iterator[None]:
    """Each stage's own failures as the job's failure, in the upstream wording."""
    try:
        yield
    except DownloadFailed as failure:
        raise ExportFailed(f"草稿下载失败: {failure.detail}", retryable=failure.retryable) from failure
    except DraftError as error:
        raise ExportFailed(f"导出草稿失败: 草稿文件损坏，无法读取 draft_content.json: {error}") from error
    except EnvironmentProblem as problem:  # this machine's trouble: another agent may manage
        raise ExportFailed(f"导出草稿失败: {problem}", retryable=True) from problem
    except RenderFailed as failure:
        raise ExportFailed(f"导出草稿失败: {failure}", retryable=failure.retryable) from failure
    except (OSError, MemoryError) as error:  # this machine's disk, memory or limits: another agent may manage
        raise ExportFailed(f"导出草稿失败: {error or type(error).__name__}", retryable=True) from error
    except ValueError as error:  # what a picture library makes of a draft it cannot draw
        raise ExportFailed(f"导出草稿失败: {error or type(error).__name__}") from error
