"""Values over time: the properties of a layer, each a constant or a curve of timeline seconds.

`Expr` is a small algebra (constants, piecewise curves, sums and products) that the ffmpeg
backend compiles to an expression of `t`, and that Python evaluates for tests and for the
bounds the backend needs (the largest size a layer reaches, say). A `Curve` holds its first
value before its first point and its last value after its last point.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

EASES = ("linear", "in", "out", "in_out")  # quadratic easing into, out of, or both


def ease(kind: str, u: float) -> float:
    """The eased progress for linear progress `u` in 0..1."""
    if kind == "in":
        return u * u
    if kind == "out":
        return 1 - (1 - u) * (1 - u)
    if kind == "in_out":
        return 2 * u * u if u < 0.5 else 1 - 2 * (1 - u) * (1 - u)
    return u


class Expr:
    def at(self, t: float) -> float:
        raise NotImplementedError

    @property
    def constant(self) -> float | None:
        """The value if it never changes, else None."""
        return None

    def __add__(self, other: Expr | float) -> Expr:
        return add(self, other)

    def __mul__(self, other: Expr | float) -> Expr:
        return multiply(self, other)

    def samples(self, start: float, end: float, fps: float) -> list[float]:
        """The value at every frame time in [start, end)."""
        count = max(1, round((end - start) * fps))
        return [self.at(start + n / fps) for n in range(count)]


@dataclass(frozen=True)
class Const(Expr):
    value: float

    def at(self, t: float) -> float:
        return self.value

    @property
    def constant(self) -> float | None:
        return self.value


@dataclass(frozen=True)
class Piece:
    t0: float  # seconds on the timeline
    t1: float
    v0: float
    v1: float
    ease: str = "linear"

    def at(self, t: float) -> float:
        if self.t1 <= self.t0:
            return self.v1
        u = min(max((t - self.t0) / (self.t1 - self.t0), 0.0), 1.0)
        return self.v0 + (self.v1 - self.v0) * ease(self.ease, u)


@dataclass(frozen=True)
class Curve(Expr):
    pieces: tuple[Piece, ...]  # back to back or with holds between them, by time

    def at(self, t: float) -> float:
        value = self.pieces[0].v0
        for piece in self.pieces:
            if t < piece.t0:
                return value
            value = piece.at(t)
        return value


@dataclass(frozen=True)
class Sum(Expr):
    terms: tuple[Expr, ...]

    def at(self, t: float) -> float:
        return sum(term.at(t) for term in self.terms)


@dataclass(frozen=True)
class Product(Expr):
    factors: tuple[Expr, ...]

    def at(self, t: float) -> float:
        return math.prod(factor.at(t) for factor in self.factors)


def const(value: float) -> Const:
    return Const(float(value))


def points(pairs: Sequence[tuple[float, float]], easing: str = "linear") -> Expr:
    """A curve through (time, value) points, linear (or eased) between them."""
    pairs = sorted(pairs)
    if not pairs:
        raise ValueError("a curve needs a point")
    if len(pairs) == 1 or all(v == pairs[0][1] for _, v in pairs):
        return const(pairs[0][1])
    return Curve(tuple(Piece(t0, t1, v0, v1, easing) for (t0, v0), (t1, v1) in zip(pairs, pairs[1:])))


def ramp(start: float, end: float, v0: float, v1: float, easing: str = "linear") -> Expr:
    """From v0 at `start` to v1 at `end`; v0 before, v1 after."""
    if v0 == v1:
        return const(v0)
    return Curve((Piece(start, end, v0, v1, easing),))


def add(*terms: Expr | float) -> Expr:
    return _combine(terms, Sum, 0.0, lambda a, b: a + b)


def multiply(*factors: Expr | float) -> Expr:
    return _combine(factors, Product, 1.0, lambda a, b: a * b)


def _combine(items: Iterable[Expr | float], kind: type, identity: float, join) -> Expr:
    constant, rest, pending = identity, [], list(items)
    while pending:
        item = pending.pop(0)
        item = const(item) if isinstance(item, int | float) else item
        if isinstance(item, kind):  # flatten (a + b) + c
            pending[:0] = item.terms if kind is Sum else item.factors
        elif item.constant is not None:
            constant = join(constant, item.constant)
        else:
            rest.append(item)
    if kind is Product and constant == 0:
        return const(0.0)
    if constant != identity or not rest:
        rest.insert(0, const(constant))
    return rest[0] if len(rest) == 1 else kind(tuple(rest))
