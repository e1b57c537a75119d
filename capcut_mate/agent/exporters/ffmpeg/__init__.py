"""The ffmpeg exporter: renders a capcut-mate draft to MP4 on any machine, no JianYing needed.

    capcut-mate agent --exporter ffmpeg …      (the default of `serve --local-agents N`)

Stages, numbered as CONTRACT.md numbers them: 10 started; 20 draft parsed (its file list
and draft_content.json fetched and read); 30 environment ready (ffmpeg, a font); 50
materials downloaded and probed; 70–89 encoding, from ffmpeg's own progress; 90 file
produced. What the draft uses and this exporter does not render is named in a warning in
the job's history (docs/exporters.md lists both). Failures carry the upstream wording:
`草稿下载失败: …` for fetching (retryable for network trouble and 5xx answers), `导出草稿失败: …`
for everything after.

The modules, by concern: addresses (which hosts may be fetched), fetch (downloads), paths
(files under the draft folder), draft (draft_content.json), environment (ffmpeg, fonts),
media (probing materials), graph (the ffmpeg command), render (running it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import Awaitable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from capcut_mate.agent.exporters import Exporter, ExporterOptions, ExportFailed, ExportJob, ExportResult, Progress
from capcut_mate.agent.exporters.ffmpeg.addresses import AddressPolicy
from capcut_mate.agent.exporters.ffmpeg.draft import Draft, DraftError, Material, describe_unrendered, parse_draft
from capcut_mate.agent.exporters.ffmpeg.environment import (
    FONT_ENV,
    EnvironmentProblem,
    Ffmpeg,
    Font,
    find_ffmpeg,
    find_font,
)
from capcut_mate.agent.exporters.ffmpeg.fetch import Downloader, DownloadFailed, DraftFolder, FetchLimits, list_draft
from capcut_mate.agent.exporters.ffmpeg.graph import Caption, RenderPlan, build_plan
from capcut_mate.agent.exporters.ffmpeg.media import MediaFile, MediaUnreadable, probe
from capcut_mate.agent.exporters.ffmpeg.paths import MAX_MATERIALS, FolderIndex, download_name
from capcut_mate.agent.exporters.ffmpeg.render import RenderFailed, render

log = logging.getLogger("capcut_mate.agent.ffmpeg")

CONTENT_FILE = "draft_content.json"
NOTHING_TO_RENDER = "导出草稿失败: 草稿中没有可渲染的内容"
_PROBES_AT_ONCE = 4
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")
T = TypeVar("T")


@dataclass(frozen=True)
class FfmpegSettings:
    policy: AddressPolicy
    limits: FetchLimits
    font_file: Path | None
    kill_grace_seconds: float

    @classmethod
    def from_options(cls, options: ExporterOptions) -> FfmpegSettings:
        font_file = options.font_file or os.environ.get(FONT_ENV)
        return cls(
            policy=AddressPolicy(allow_private=options.allow_local_drafts, trusted_origins=options.server_urls),
            limits=FetchLimits(max_draft_bytes=options.max_draft_bytes),
            font_file=Path(font_file) if font_file else None,
            kill_grace_seconds=options.kill_grace_seconds,
        )


def ffmpeg_exporter(options: ExporterOptions) -> Exporter:
    settings = FfmpegSettings.from_options(options)

    async def export(job: ExportJob, progress: Progress) -> ExportResult:
        return await _Export(settings, job, progress).run()

    return export


async def plan_export(job: ExportJob, options: ExporterOptions) -> tuple[str, RenderPlan]:
    """What the exporter would run for this job, without running it: ffmpeg's path and plan
    (to run in job.work_dir, where the draft is fetched). For measuring ffmpeg alone."""

    async def no_progress(progress: int, stage: str | None = None, message: str | None = None) -> None:
        pass

    with _as_export_failures():
        ffmpeg, plan = await _Export(FfmpegSettings.from_options(options), job, no_progress).prepare()
    return ffmpeg.path, plan


class _Export:
    """One job's export, stage by stage."""

    def __init__(self, settings: FfmpegSettings, job: ExportJob, progress: Progress):
        self.settings = settings
        self.job = job
        self._progress = progress
        self.progress_now = 0
        self.work_dir = job.work_dir.resolve()  # ffmpeg runs in it: every path must be absolute
        self.draft_dir = self.work_dir / "draft"
        self.output = job.output_path.resolve()
        self.temporary = self.output.with_name(self.output.name + ".part")  # what ffmpeg writes

    async def run(self) -> ExportResult:
        with _as_export_failures():
            ffmpeg, plan = await self.prepare()
            await render(ffmpeg.path, plan, work_dir=self.work_dir, temporary=self.temporary, output=self.output,
                         progress=self._progress, kill_grace_seconds=self.settings.kill_grace_seconds)
            await self.progress(90)
        return ExportResult(video_path=self.job.output_path)

    async def prepare(self) -> tuple[Ffmpeg, RenderPlan]:
        """Everything before ffmpeg runs: the draft fetched and read, the ffmpeg command planned."""
        await self.progress(10)
        async with Downloader(self.settings.policy, self.settings.limits) as downloader:
            folder = await list_draft(self.job.draft_url, self.job.draft_key, downloader)
            draft = await self.read_draft(folder, downloader)
            ffmpeg, font = await self.prepare_environment(draft)
            media = await self.fetch_materials(draft, folder, downloader, ffmpeg)
        return ffmpeg, self.plan(draft, media, ffmpeg, font)

    async def read_draft(self, folder: DraftFolder, downloader: Downloader) -> Draft:
        if CONTENT_FILE not in folder.files:
            raise DownloadFailed(f"草稿里没有 {CONTENT_FILE}", retryable=False)
        content = await folder.fetch(CONTENT_FILE, downloader, self.draft_dir)
        draft = await asyncio.to_thread(lambda: parse_draft(content.read_bytes()))
        unrendered = describe_unrendered(draft.unrendered)
        if draft.duration == 0:
            raise ExportFailed(NOTHING_TO_RENDER + (f" (只有未渲染的: {unrendered})" if unrendered else ""))
        await self.progress(20)
        if unrendered:
            await self.warn(f"未渲染: {unrendered}")
        return draft

    async def prepare_environment(self, draft: Draft) -> tuple[Ffmpeg, Font | None]:
        """ffmpeg, and the font for the draft's text (None: no text will be drawn)."""
        ffmpeg = await find_ffmpeg()
        font = await find_font(self.settings.font_file) if draft.texts else None
        if draft.texts and (font is None or not ffmpeg.has_drawtext):
            reason = "找不到字体" if font is None else "ffmpeg 没有 drawtext 滤镜"
            await self.warn(f"未渲染: 文字 ×{len(draft.texts)} (texts): {reason}")
            font = None
        elif font and not font.covers_chinese and any(_CJK.search(text.text) for text in draft.texts):
            await self.warn(f"没有找到中日韩字体，文字用 {font.path.name} 绘制，这些字可能显示为方框；"
                            f"用 --font-file 或 {FONT_ENV} 指定字体")
        await self.progress(30)
        return ffmpeg, font

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

        files = dict(await _together(fetch_and_probe(index, source) for index, source in enumerate(unique)))
        for material in draft.materials:
            file = files[sources[material.id]]
            if material.kind == "audio" and not file.has_audio:
                raise ExportFailed(f"导出草稿失败: 素材 {file.path.name} 没有声音")
            if material.kind != "audio" and not file.has_video:
                raise ExportFailed(f"导出草稿失败: 素材 {file.path.name} 没有画面")
        await self.progress(50)
        return {material_id: files[source] for material_id, source in sources.items()}

    def plan(self, draft: Draft, media: dict[str, MediaFile], ffmpeg: Ffmpeg, font: Font | None) -> RenderPlan:
        captions = []
        if font:
            for index, text in enumerate(draft.texts):
                text_file = self.work_dir / "captions" / f"{index}.txt"
                text_file.parent.mkdir(exist_ok=True)
                text_file.write_text(text.text, encoding="utf-8")
                captions.append(Caption(text, text_file, font.path))
        graph_file = self.work_dir / "filter_graph.txt"
        plan = build_plan(draft, media, captions, graph_file=graph_file,
                          graph_file_option=ffmpeg.graph_file_option, output=self.temporary)
        graph_file.write_text(plan.graph, encoding="utf-8")
        return plan

    @staticmethod
    def _sources(draft: Draft, folder: DraftFolder) -> dict[str, str]:
        if len(draft.materials) > MAX_MATERIALS:
            raise ExportFailed(f"导出草稿失败: 草稿素材过多 ({len(draft.materials)} 个，最多 {MAX_MATERIALS} 个)")
        index = FolderIndex(folder.files)
        return {material.id: _Export._source(material, index) for material in draft.materials}

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


async def _together(awaitables: Iterable[Awaitable[T]]) -> list[T]:
    """Await them at once; at the first failure, cancel the others and raise it."""
    tasks = [asyncio.ensure_future(awaitable) for awaitable in awaitables]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


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
