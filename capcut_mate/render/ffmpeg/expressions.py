"""Timeline values (`Expr`) as ffmpeg expressions of a time variable (`t` for overlay, scale,
rotate, volume and drawtext, which all see the frame's timestamp in seconds)."""

from __future__ import annotations

from capcut_mate.render.ffmpeg.graph import number
from capcut_mate.render.timeline.curves import Const, Curve, Expr, Piece, Product, Sum


def expression(value: Expr, t: str = "t") -> str:
    if isinstance(value, Const):
        return number(value.value)
    if isinstance(value, Curve):
        return _curve(value, t)
    if isinstance(value, Sum):
        return "(" + "+".join(expression(term, t) for term in value.terms) + ")"
    if isinstance(value, Product):
        return "(" + "*".join(expression(factor, t) for factor in value.factors) + ")"
    raise TypeError(f"no ffmpeg expression for {value!r}")


def _curve(curve: Curve, t: str) -> str:
    text = number(curve.pieces[-1].v1)
    for index in range(len(curve.pieces) - 1, -1, -1):
        piece = curve.pieces[index]
        text = f"if(lt({t},{number(piece.t1)}),{_piece(piece, t)},{text})"
        previous_end = curve.pieces[index - 1].v1 if index else piece.v0
        text = f"if(lt({t},{number(piece.t0)}),{number(previous_end)},{text})"
    return text


def _piece(piece: Piece, t: str) -> str:
    span = piece.t1 - piece.t0
    if span <= 0:
        return number(piece.v1)
    u = f"(({t}-{number(piece.t0)})/{number(span)})"
    eased = {"linear": u, "in": f"{u}*{u}", "out": f"(1-(1-{u})*(1-{u}))",
             "in_out": f"if(lt({u},0.5),2*{u}*{u},1-2*(1-{u})*(1-{u}))"}[piece.ease]
    return f"({number(piece.v0)}+{number(piece.v1 - piece.v0)}*{eased})"
