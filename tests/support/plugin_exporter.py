"""An exporter plugin as a user would write one (docs/exporters.md), for the loader tests."""

from capcut_mate.agent.exporters import ExporterOptions, ExportJob, ExportResult, Progress


def make_exporter(options: ExporterOptions):
    async def export(job: ExportJob, progress: Progress) -> ExportResult:
        await progress(50, "plugin", f"made with command={options.command}")
        job.output_path.write_bytes(b"plugin video")
        return ExportResult(video_path=job.output_path)

    return export


NOT_A_FACTORY = 42
