"""Looks (`timeline.layers.Look`) as ffmpeg filters, at an amount 0..1: the one table of
which filter draws which look."""

from __future__ import annotations

from capcut_mate.render.ffmpeg.graph import Stream, number
from capcut_mate.render.timeline.layers import Look

# Kelvin: the colour temperature a cool (warm) look tints the picture to at full intensity; 6500 is neutral.
COOL_KELVIN, WARM_KELVIN = 10000, 4500


def apply_look(stream: Stream, look: Look, *, enable: str | None = None, short_side: int = 1080) -> Stream:
    """`stream` with the look drawn on it; `enable` limits it to a time window."""
    a = look.amount
    if look.kind == "greyscale":
        return stream.filter("hue", s=number(1 - a), enable=enable)
    if look.kind == "blur":
        return stream.filter("gblur", sigma=number(max(a * short_side / 40, 0.5)), enable=enable)
    if look.kind == "vignette":
        return stream.filter("vignette", angle=number(0.2 + 0.5 * a), enable=enable)
    if look.kind == "faded":
        return stream.filter("eq", saturation=number(1 - 0.5 * a), contrast=number(1 - 0.35 * a),
                             brightness=number(0.06 * a), enable=enable)
    if look.kind == "sepia":
        return stream.filter("colorchannelmixer", rr=number(1 - 0.607 * a), rg=number(0.769 * a),
                             rb=number(0.189 * a), gr=number(0.349 * a), gg=number(1 - 0.314 * a),
                             gb=number(0.168 * a), br=number(0.272 * a), bg=number(0.534 * a),
                             bb=number(1 - 0.869 * a), enable=enable)
    if look.kind in ("cool", "warm"):
        # The whole picture's white point moves (colorbalance's shadow and midtone options left
        # grey and white as they were and tinted black); a multiplier per channel leaves black
        # black. `mix` is the share of the shifted picture; half of the lightness is kept.
        kelvin = COOL_KELVIN if look.kind == "cool" else WARM_KELVIN
        return stream.filter("colortemperature", temperature=kelvin, mix=number(a), pl=0.5, enable=enable)
    if look.kind == "vivid":
        return stream.filter("eq", saturation=number(1 + 0.6 * a), enable=enable)
    if look.kind == "sharpen":
        return stream.filter("unsharp", lx=5, ly=5, la=number(1.5 * a), enable=enable)
    if look.kind == "brighten":
        return stream.filter("eq", brightness=number(0.15 * a), enable=enable)
    if look.kind == "darken":
        return stream.filter("eq", brightness=number(-0.15 * a), enable=enable)
    raise ValueError(f"no filter for look {look.kind}")
