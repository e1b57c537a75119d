"""Changes a transition or an animation makes to a layer: factors and offsets over time.

A `Motion` is collected per segment and folded into its layer's properties: alpha and scale
are multiplied, offsets (canvas pixels, y down) and rotation (degrees) are added.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from capcut_mate.render.timeline.curves import Expr
from capcut_mate.render.timeline.layers import Reveal, Wipe


@dataclass
class Motion:
    alpha: list[Expr] = field(default_factory=list)
    scale: list[Expr] = field(default_factory=list)
    dx: list[Expr] = field(default_factory=list)
    dy: list[Expr] = field(default_factory=list)
    rotation: list[Expr] = field(default_factory=list)
    wipe: Wipe | None = None
    reveal: Reveal | None = None  # a typewriter's
    start_earlier: float = 0.0  # seconds the layer starts before its segment (a transition's first half)
    end_later: float = 0.0  # seconds it lasts past its segment (the second half)
