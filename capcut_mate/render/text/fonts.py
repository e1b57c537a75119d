"""Which font face draws each character of a caption.

A draft may name a font for a style range (JianYing writes a resource: `font.path`, whose
file name is the font's, and an id). It is looked up among this machine's fonts by family
name and by file name. Whatever face is chosen, a character it has no glyph for (its
character map lacks it) is drawn in the default face, then in the fallbacks (the bundled
Noto Sans CJK): Chinese set in a Latin-only font is not a row of boxes. A character that
no face here has is left out of the picture and named. A face whose character map fontTools
cannot read (not TrueType or OpenType) is trusted with every character, as FreeType draws it.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from capcut_mate.render.draft.text import TextStyle


@dataclass(frozen=True)
class FaceChoice:
    path: Path
    index: int = 0  # the face, in a font collection (.ttc, .otc)


class FontBook:
    """The faces text may be drawn in, and what a draft asked for that this machine lacks."""

    def __init__(self, default: FaceChoice, named: Mapping[str, FaceChoice],
                 fallbacks: Sequence[FaceChoice] = ()):
        self.default = default
        self.named = named  # by family name and by file stem, lower case
        self.fallbacks = tuple(f for f in fallbacks if f != default)
        self.missing_fonts: set[str] = set()  # font names drafts asked for that this machine lacks
        self.missing_chars: set[str] = set()  # characters no face here has

    def face_for(self, style: TextStyle, char: str) -> FaceChoice | None:
        """The face that draws `char` in `style`; None when no face here has a glyph for it."""
        asked = self._asked(style)
        candidates = [face for face in (asked, self.default, *self.fallbacks) if face is not None]
        if char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Mn"):
            return candidates[0]  # no glyph of its own to look for
        for face in candidates:
            if _covers(face, char):
                return face
        self.missing_chars.add(char)
        return None

    def _asked(self, style: TextStyle) -> FaceChoice | None:
        stem = Path(style.font_path.replace("\\", "/")).stem
        wanted = [name for name in (stem, style.font_name) if name]
        for name in wanted:
            if face := self.named.get(name.lower()):
                return face
        if wanted:
            self.missing_fonts.add(wanted[0])  # a file name says more than JianYing's numeric id
        return None


def _covers(face: FaceChoice, char: str) -> bool:
    characters = _character_map(face)
    return characters is None or ord(char) in characters


@functools.lru_cache(maxsize=64)
def _character_map(face: FaceChoice) -> frozenset[int] | None:
    """The code points `face` has glyphs for; None if its file cannot be read that way (it
    is then trusted with every character, as before this check)."""
    from fontTools.ttLib import TTFont, TTLibError

    try:
        with TTFont(str(face.path), fontNumber=face.index, lazy=True) as font:
            return frozenset(font.getBestCmap() or ())
    except (OSError, TTLibError, KeyError, AssertionError, ValueError):
        return None
