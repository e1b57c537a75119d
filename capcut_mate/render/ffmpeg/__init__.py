"""The ffmpeg backend: a timeline compiled to one ffmpeg run.

- `graph`: the filter-graph DAG, its labels and its one escaper.
- `expressions`: timeline values as ffmpeg expressions of `t`.
- `compose`: `build_plan(timeline, …)`: layers, sound, encoder settings → `RenderPlan`.
- `masks`, `looks`, `text`: how each mask shape, look and text layer is drawn.
- `run`: running a plan, with progress, stall detection and cancellation.
"""
