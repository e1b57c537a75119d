"""Reading draft_content.json's values defensively: a draft comes from whoever submitted the job.

Every accessor either returns the value in the type the model wants or raises DraftError
saying what is wrong; nothing here trusts a field to have the type JianYing gives it.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any


class DraftError(ValueError):
    """draft_content.json cannot be read as a draft; the message says why."""


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 reads as infinity
        raise ValueError(f"{text} is out of range")
    return value


def _no_constants(name: str) -> float:
    raise ValueError(f"{name} is not a number a draft may hold")


def loads(raw: str | bytes) -> Any:
    """JSON as a draft may hold it: no NaN, Infinity or numbers out of a float's range."""
    return json.loads(raw, parse_float=_finite, parse_constant=_no_constants)


def as_dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DraftError(f"应为对象，却是 {type(value).__name__}")
    return value


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise DraftError(f"应为列表，却是 {type(value).__name__}")
    return value


def number(value: Any, default: float) -> float:
    """A float field; None (or a missing field) is the default."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise DraftError(f"应为数字，却是 {type(value).__name__}")
    try:
        result = float(value)
    except OverflowError:  # an integer with hundreds of digits
        result = math.inf
    if not math.isfinite(result):
        raise DraftError(f"数字 {str(value)[:24]} 不合理")
    return result


def hex_colour(color: Any) -> str | None:
    """'#rrggbb' from a draft colour: [r, g, b] in 0–1, or '#rrggbb' text (longer forms keep
    their first six digits: JianYing writes '#rrggbbaa' for canvases)."""
    if isinstance(color, list) and len(color) >= 3:
        return "#" + "".join(f"{round(min(max(number(c, 0.0), 0.0), 1.0) * 255):02x}" for c in color[:3])
    if isinstance(color, str) and re.fullmatch(r"#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?", color):
        return color[:7].lower()
    return None
