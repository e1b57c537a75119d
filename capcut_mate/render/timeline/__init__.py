"""The timeline: a draft as layers in JianYing's order, each property a constant or a curve.

- `curves`: values over time (`Expr`), compiled by the backend, evaluated by tests.
- `layers`: the layer and sound types, with their units.
- `build`: `build_timeline(draft, media)`: JianYing's rules for fitting, placing and stacking.
- `transitions`, `animations`: names → curves; `looks`: filter and effect names → looks.
- `features`: what is rendered, approximated or left out, and the history's warnings.
"""

from capcut_mate.render.timeline.build import build_timeline
from capcut_mate.render.timeline.layers import Timeline

__all__ = ["Timeline", "build_timeline"]
