"""The draft model: draft_content.json read into typed values, one module per concept.

- `fields`: defensive reading of JSON values; `DraftError`.
- `timing`: `TimeRange` (microseconds).
- `keyframes`: keyframe lists per property, with their units.
- `materials`: what segments refer to: media, crops, masks, canvases, transitions, animations, effects, fades.
- `text`: text materials with their style ranges.
- `segments`: visual, audio, text, effect, sticker segments and their `clip`.
- `tracks`: tracks and `Draft`.
- `reader`: `parse_draft`.

Nothing here decides how anything looks; that is the timeline's business.
"""

from capcut_mate.render.draft.fields import DraftError
from capcut_mate.render.draft.reader import MAX_CANVAS_SIDE, parse_draft
from capcut_mate.render.draft.tracks import Draft, Track

__all__ = ["MAX_CANVAS_SIDE", "Draft", "DraftError", "Track", "parse_draft"]
