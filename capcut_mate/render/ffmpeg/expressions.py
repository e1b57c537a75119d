"""Timeline values (`Expr`) as ffmpeg expressions of a time variable (`t` for overlay, scale,
rotate, eq and volume, which all see the frame's timestamp in seconds)."""

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
    """Pieces chosen by a balanced tree of comparisons: ffmpeg's expression parser nests only
    so deep (a chain of one `if` per piece fails past about 46 pieces)."""
    pieces = curve.pieces

    def span(low: int, high: int) -> str:  # pieces[low:high], for t at or past pieces[low].t0
        if high - low == 1:
            piece = pieces[low]
            return f"if(lt({t},{number(piece.t1)}),{_piece(piece, t)},{number(piece.v1)})"
        middle = (low + high) // 2
        return f"if(lt({t},{number(pieces[middle].t0)}),{span(low, middle)},{span(middle, high)})"

    return f"if(lt({t},{number(pieces[0].t0)}),{number(pieces[0].v0)},{span(0, len(pieces))})"


def _piece(piece: Piece, t: str) -> str:
    span = piece.t1 - piece.t0
    if span <= 0:
        return number(piece.v1)
    u = f"(({t}-{number(piece.t0)})/{number(span)})"
    eased = {"linear": u, "in": f"{u}*{u}", "out": f"(1-(1-{u})*(1-{u}))",
             "in_out": f"if(lt({u},0.5),2*{u}*{u},1-2*(1-{u})*(1-{u}))"}[piece.ease]
    return f"({number(piece.v0)}+{number(piece.v1 - piece.v0)}*{eased})"
