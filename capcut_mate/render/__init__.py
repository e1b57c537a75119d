"""The renderer: a CapCut/JianYing draft to an MP4 with ffmpeg, on any machine.

Three layers, each its own package, each knowing only the ones before it:

1. `draft`: draft_content.json read into typed values (tracks with `render_index`,
   segments, materials, keyframes, transitions, animations, masks, text styles, fades,
   canvases, crops). No decisions about looks.
2. `timeline`: JianYing's rules: layers in drawing order, every property a constant or a
   curve of time; transitions and animations turned into curves; what is approximated or
   left out, named.
3. `ffmpeg`: the timeline compiled to one ffmpeg command (a filter-graph DAG with labels
   allocated and escaping in one place), and running it.

`media` probes material files and `environment` finds ffmpeg and fonts for both the
agent's exporter (`capcut_mate.agent.exporters.ffmpeg`) and local renders.
"""
