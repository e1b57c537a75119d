"""Time on a draft's timeline. Microseconds throughout, as the draft writes them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from capcut_mate.render.draft.fields import DraftError, as_dict

MICROSECONDS = 1_000_000


@dataclass(frozen=True)
class TimeRange:
    start: int  # microseconds
    duration: int  # microseconds

    @property
    def end(self) -> int:
        return self.start + self.duration


def read_range(value: Any, what: str) -> TimeRange:
    fields = as_dict(value)
    start, duration = int(fields.get("start") or 0), int(fields.get("duration") or 0)
    if start < 0 or duration < 0:
        raise DraftError(f"{what} 不能是负数")
    return TimeRange(start, duration)
