"""The timeline's layers: what is drawn, in JianYing's order, with every property a value over time.

Units: times are timeline seconds; positions are canvas pixels of a layer's centre (origin
top left, y down); sizes are canvas pixels at scale 1; scale is a factor of that size;
rotation is degrees clockwise; alpha 0..1. A layer is drawn in [start, end).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from capcut_mate.render.draft.materials import Crop, Mask
from capcut_mate.render.draft.segments import TextSegment
from capcut_mate.render.draft.text import TextStyle
from capcut_mate.render.timeline.curves import Expr, const


@dataclass(frozen=True)
class Footage:
    """Frames of a material file."""

    material_id: str
    kind: str  # "video" or "photo"
    width: int  # the file's picture, before the crop
    height: int
    crop: Crop = Crop()
    source_start: float = 0.0  # seconds into the file of the layer's first frame after `hold_start`
    speed: float = 1.0
    reverse: bool = False
    hold_start: float = 0.0  # seconds the first frame is held before the footage moves (transitions)
    hold_end: float = 0.0  # seconds the last frame is held after it ends
    alpha: bool = False  # the file's picture has transparency of its own


@dataclass(frozen=True)
class Colour:
    colour: str  # '#rrggbb', filling the layer's size


@dataclass(frozen=True)
class Wipe:
    """A transition's reveal: the layer shows behind an edge that travels across the canvas."""

    direction: str  # "left", "right", "up" or "down": where the edge travels
    start: float
    end: float


@dataclass(frozen=True)
class Reveal:
    """A typewriter: a text's characters appear one at a time in reading order, line by line,
    at even steps over [start, end) (none at `start`, the last at `end`). `order` is the id of
    the picture, drawn with the text, that numbers each pixel's character 1..`steps`; both
    are set when the text is drawn."""

    start: float
    end: float
    order: str = ""
    steps: int = 0


@dataclass(frozen=True)
class Look:
    """A colour or blur treatment, by kind (the backend knows how to draw each)."""

    kind: str  # greyscale, blur, vignette, faded, cool, warm, vivid, sepia, sharpen, brighten, darken
    amount: float  # 0..1


@dataclass(frozen=True)
class VisualLayer:
    name: str  # the segment it comes from, for logs and golden tests
    start: float
    end: float
    source: Footage | Colour
    width: float  # at scale 1
    height: float
    x: Expr  # centre
    y: Expr
    scale_x: Expr = const(1.0)
    scale_y: Expr = const(1.0)
    rotation: Expr = const(0.0)
    alpha: Expr = const(1.0)
    flip_horizontal: bool = False
    flip_vertical: bool = False
    mask: Mask | None = None  # in the material's frame (before scaling)
    wipe: Wipe | None = None
    reveal: Reveal | None = None
    blur: float = 0.0  # 0..1, background fills
    looks: tuple[Look, ...] = ()  # applied to this layer alone
    brightness: Expr = const(0.0)  # −1..1, keyframed colour adjustments; 0 changes nothing
    contrast: Expr = const(0.0)
    saturation: Expr = const(0.0)


@dataclass(frozen=True)
class TextLayer:
    """A text segment: drawn as a picture (its block's centre at x, y), then placed like a photo."""

    name: str
    start: float
    end: float
    segment: TextSegment
    x: Expr
    y: Expr
    scale_x: Expr = const(1.0)
    scale_y: Expr = const(1.0)
    alpha: Expr = const(1.0)
    rotation: Expr = const(0.0)
    reveal: Reveal | None = None
    effect: TextStyle | None = None  # a 花字's look, drawn instead of the text's own styles
    bubble: bool = False  # a bubble resource: drawn as a rounded box behind the text


@dataclass(frozen=True)
class AdjustmentLayer:
    """A filter or effect track's segment: a look on everything below it."""

    name: str
    start: float
    end: float
    look: Look


Layer = VisualLayer | TextLayer | AdjustmentLayer


@dataclass(frozen=True)
class Sound:
    material_id: str
    start: float  # timeline seconds
    duration: float  # timeline seconds
    source_start: float  # seconds into the file
    speed: float = 1.0
    volume: Expr = const(1.0)  # of seconds since the sound's start
    fade_in: float = 0.0
    fade_out: float = 0.0
    reverse: bool = False


@dataclass(frozen=True)
class Timeline:
    width: int
    height: int
    fps: float
    duration: float  # seconds
    layers: tuple[Layer, ...]  # bottom first
    sounds: tuple[Sound, ...]
    warnings: tuple[str, ...] = field(default=())
