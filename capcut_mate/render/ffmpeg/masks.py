"""Masks as geq expressions: the alpha (0..255) of each pixel of a layer's frame, in the
material's own frame (a mask follows its clip as it moves and scales).

Geometry (`Mask`, from the draft's config): the centre is `center_x/y` half sizes from the
frame's centre (+y up), sizes are fractions of the frame, rotation is degrees clockwise.
Pixel (X, Y) is turned into the mask's own axes (u along its width, v along its height,
y down) and a signed distance `d` (pixels, positive inside) decides: alpha = d / feather + ½,
clipped, so a feathered edge is a ramp `feather` pixels wide centred on the outline.
爱心 and 星形 are drawn as a heart curve and a regular five-pointed star filling the
mask's box. Feather widths: line and mirror masks ¼ of the frame's short side × feather, shapes ½ of
the shape's short side × feather.
"""

from __future__ import annotations

import math

from capcut_mate.render.draft.materials import Mask
from capcut_mate.render.ffmpeg.graph import number

EXACT_SHAPES = ("line", "mirror", "circle", "rectangle")


def mask_alpha(mask: Mask, width: int, height: int) -> str:
    """The geq expression of a mask's alpha on a width × height frame."""
    cx, cy = width / 2 * (1 + mask.center_x), height / 2 * (1 - mask.center_y)
    mw, mh = max(mask.width * width, 1.0), max(mask.height * height, 1.0)
    angle = math.radians(mask.rotation)
    cos, sin = number(math.cos(angle)), number(math.sin(angle))
    # st(0)=u, st(1)=v: the pixel in the mask's axes
    setup = (f"st(0,(X-{number(cx)})*{cos}+(Y-{number(cy)})*{sin});"
             f"st(1,(Y-{number(cy)})*{cos}-(X-{number(cx)})*{sin});")
    u, v = "ld(0)", "ld(1)"
    if mask.shape in ("line", "mirror"):
        soft = mask.feather * min(width, height) / 4
        distance = f"-{v}" if mask.shape == "line" else f"({number(mh / 2)}-abs({v}))"
    else:
        soft = mask.feather * min(mw, mh) / 2
        distance = _shape_distance(mask, mw, mh, u, v)
    if soft > 0.5:
        alpha = f"clip({distance}/{number(soft)}+0.5,0,1)"
    else:
        alpha = f"gte({distance},0)"
    if mask.invert:
        alpha = f"(1-{alpha})"
    return f"{setup}255*{alpha}"


def _shape_distance(mask: Mask, mw: float, mh: float, u: str, v: str) -> str:
    a, b = mw / 2, mh / 2
    if mask.shape == "circle":
        return f"(1-hypot({u}/{number(a)},{v}/{number(b)}))*{number(min(a, b))}"
    if mask.shape == "rectangle":
        r = mask.round_corner * min(a, b)
        qx, qy = f"(abs({u})-{number(a - r)})", f"(abs({v})-{number(b - r)})"
        outside = f"(hypot(max({qx},0),max({qy},0))+min(max({qx},{qy}),0)-{number(r)})"
        return f"(-{outside})"
    x, y = f"({u}/{number(a)})", f"(-{v}/{number(b)})"  # y up, the shape's box is -1..1
    if mask.name == "爱心":
        # (x² + y² − 1)³ − x²y³ ≤ 0, scaled to fill its box: a heart, point down.
        hx, hy = f"({x}*1.15)", f"({y}*1.2+0.1)"
        field = f"(pow({hx}*{hx}+{hy}*{hy}-1,3)-{hx}*{hx}*pow({hy},3))"
        return f"(-{field})*{number(min(a, b))}"
    # A regular five-pointed star, one point up, with straight edges: the radius of its outline
    # at the pixel's angle, folded into the first half-point (0..36°) where it runs from an
    # outer point (radius 1) to an inner one (radius 0.382).
    inner = 0.382
    y2, x2 = inner * math.sin(math.pi / 5), inner * math.cos(math.pi / 5)
    turned = f"mod(atan2({y},{x})-PI/2+20*PI,2*PI/5)"
    folded = f"min({turned},2*PI/5-{turned})"
    outline = f"({number(y2)}/(cos({folded})*{number(y2)}+sin({folded})*{number(1 - x2)}))"
    return f"({outline}-hypot({x},{y}))*{number(min(a, b))}"
