"""The ffmpeg exporter: renders a capcut-mate draft to MP4 on any machine, no JianYing needed.

    capcut-mate agent --exporter ffmpeg …      (the default of `serve --local-agents N`)

`export` runs one job stage by stage; the rendering itself is `capcut_mate.render`.
"""

from capcut_mate.agent.exporters.ffmpeg.export import FfmpegSettings, ffmpeg_exporter, plan_export

__all__ = ["FfmpegSettings", "ffmpeg_exporter", "plan_export"]
