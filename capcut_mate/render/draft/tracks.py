"""Tracks and the draft as a whole."""

from __future__ import annotations

from dataclasses import dataclass

from capcut_mate.render.draft.segments import (
    AudioSegment,
    EffectSegment,
    OtherSegment,
    StickerSegment,
    TextSegment,
    VisualSegment,
)

Segment = VisualSegment | AudioSegment | TextSegment | EffectSegment | StickerSegment | OtherSegment


@dataclass(frozen=True)
class Track:
    kind: str  # "video", "audio", "text", "filter", "effect", "sticker", …
    index: int  # its place in the draft's track list, the first 0
    muted: bool
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class Draft:
    width: int  # canvas pixels, even
    height: int
    fps: float
    tracks: tuple[Track, ...]

    def segments(self, kind: type) -> list:
        """Every segment of one type, in track order."""
        return [s for track in self.tracks for s in track.segments if isinstance(s, kind)]

    @property
    def duration(self) -> int:
        """Microseconds: the end of the last segment that is drawn or heard."""
        kinds = (VisualSegment, AudioSegment, TextSegment)
        return max((s.target.end for t in self.tracks for s in t.segments if isinstance(s, kinds)), default=0)
