"""What the renderer does with each draft feature, and the notes a render leaves in the job's history.

`FEATURES` is the table `docs/exporters.md` prints (a test keeps the two equal). A render
names everything it approximates (`近似: …`) and everything it leaves out (`未渲染: …`),
never silently.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

RENDERED, APPROXIMATED, NOT_RENDERED = "rendered", "approximated", "not rendered"


@dataclass(frozen=True)
class Feature:
    key: str
    chinese: str  # as the job's history names it
    english: str
    status: str  # RENDERED, APPROXIMATED or NOT_RENDERED: what most drafts get
    how: str


FEATURES: tuple[Feature, ...] = (
    Feature("order", "图层顺序", "layer order", RENDERED,
            "visual, text and effect segments stack by `render_index`, then track order"),
    Feature("keyframes", "关键帧", "keyframes", RENDERED,
            "position X/Y, scale X/Y and uniform, rotation, alpha, brightness, contrast, saturation on video, "
            "photo and text segments; volume on video and audio sound; linear, Bezier controls sampled"),
    Feature("transitions", "转场", "transitions", RENDERED,
            "叠化 dissolve, 闪黑/闪白 dips, …擦除 wipes, 向左/向右/向上/向下 pushes, 滑动 slide, 推近/拉远 zooms, "
            "centred on the cut; any other name is a dissolve, named as approximated"),
    Feature("animations", "动画", "animations", RENDERED,
            "渐显/渐隐, 放大/缩小, 向左/向右/向上/向下滑动 (in and out) on video and photo segments; "
            "轻微放大, 旋转 and 拉镜/推镜 loops approximated by name; any other in or out is a fade, any other loop "
            "or group a gentle fade and back each cycle, named"),
    Feature("masks", "蒙版", "masks", RENDERED,
            "线性, 镜面, 圆形, 矩形 from their config (centre, size, rotation, feather, round corners, invert); "
            "爱心/星形 drawn as a heart and a five-pointed star, named as approximated"),
    Feature("canvases", "背景填充", "background fills", RENDERED,
            "blurred (the clip itself, covering the canvas) and coloured canvases behind a clip; "
            "image canvases are not rendered"),
    Feature("crop", "裁剪", "crops", RENDERED, "a material's crop rectangle"),
    Feature("reverse", "倒放", "reversed clips", RENDERED,
            "picture and sound, for clips up to 10 s (longer ones play forwards, named)"),
    Feature("filter", "滤镜", "filters", APPROXIMATED,
            "the common names as the nearest ffmpeg filter at their intensity (see LOOKS); others not rendered, named"),
    Feature("video_effects", "特效", "effects", APPROXIMATED,
            "the common names as the nearest ffmpeg filter (see LOOKS); others not rendered, named"),
    Feature("stickers", "贴纸", "stickers", NOT_RENDERED,
            "cloud pictures the draft does not hold; named by their resource id"),
    Feature("curve_speed", "曲线变速", "speed curves", NOT_RENDERED, "played at the segment's constant speed"),
    Feature("mix_mode", "混合模式", "blend modes", NOT_RENDERED, "drawn with normal blending"),
    Feature("audio_effects", "音频特效", "audio effects", NOT_RENDERED, "played without the effect, named"),
    Feature("text", "文字", "text", RENDERED,
            "every style range (size, colour, alpha, bold, italic, underline, stroke, shadow), keyword highlights, "
            "alignment per line, letter and line spacing, line_max_width wrapping, vertical text, background box, "
            "rotation, scale and keyframes, in render_index order; CJK in the bundled Noto Sans CJK"),
    Feature("text_animations", "文字动画", "text animations", RENDERED,
            "渐显/渐隐, 放大/缩小, slides, 打字机 (one whole character after another, line by line); 弹入, …溶解, "
            "other 打字机… and the 跳动 loop approximated by name; any other in or out is a fade, any other loop "
            "a gentle fade and back each cycle, named"),
    Feature("fonts", "字体", "fonts", APPROXIMATED,
            "a draft's font is used where this machine has one of that family (its regular face) or file name, "
            "else the default, named; a character a face lacks is drawn in the default, then in Noto Sans CJK, "
            "and one no font here has is left out, named"),
    Feature("text_effect", "花字", "text effects", APPROXIMATED,
            "the fill, stroke and glow the 花字's name describes (known ids), else white with a dark outline"),
    Feature("text_shape", "文字气泡", "text bubbles", APPROXIMATED,
            "a dark rounded box behind the text (the bubble's picture is a resource), named"),
    Feature("sound", "声音", "sound", RENDERED,
            "audio tracks and the sound of video segments, each at its volume (its volume keyframes where it has "
            "them, even over a volume of 0) and speed, mixed without normalising; a muted track is silent, "
            "keyframes or not"),
    Feature("audio_fades", "淡入淡出", "audio fades", RENDERED, "fade-in and fade-out lengths"),
    Feature("adjust", "调节", "adjustments", NOT_RENDERED, "adjustment tracks are left out"),
    Feature("text_flip", "文字翻转", "flipped text", NOT_RENDERED, "a caption is drawn unflipped"),
    Feature("text_templates", "文字模板", "text templates", NOT_RENDERED, "text templates are left out"),
)
_BY_KEY = {feature.key: feature for feature in FEATURES}
_ALIASES = {"effect": "video_effects", "sticker": "stickers"}  # track kinds that name a feature


def label(kind: str) -> tuple[str, str]:
    feature = _BY_KEY.get(_ALIASES.get(kind, kind))
    return (feature.chinese, feature.english) if feature else (kind, "")


MAX_WARNING_LENGTH = 1000  # characters of one history line: the service keeps 2000 of a message
MAX_NAME_LENGTH = 40  # characters of one name as the draft spells it


@dataclass
class Notes:
    """What one render approximated and left out: kind → names (as the draft has them, "" for
    a thing without one) → how often."""

    unrendered: dict[str, Counter[str]] = field(default_factory=dict)
    approximated: dict[str, Counter[str]] = field(default_factory=dict)

    def leave_out(self, kind: str, name: str = "", count: int = 1) -> None:
        self.unrendered.setdefault(kind, Counter())[name] += count

    def approximate(self, kind: str, name: str) -> None:
        self.approximated.setdefault(kind, Counter())[name or "?"] += 1

    def warnings(self) -> list[str]:
        """The lines for the job's history, `未渲染: …` and `近似: …`, each at most
        MAX_WARNING_LENGTH characters."""
        return [prefix + describe(kinds, MAX_WARNING_LENGTH - len(prefix))
                for prefix, kinds in (("未渲染: ", self.unrendered), ("近似: ", self.approximated)) if kinds]


def describe(kinds: dict[str, Counter[str]], limit: int = MAX_WARNING_LENGTH) -> str:
    """E.g. "滤镜 梦幻、胶片 ×2 (filters), 调节 ×1 (adjustments)": each kind's names, with how
    often where more than once (a kind whose things have no names: just how often). Within
    `limit` characters: as many names of each kind as fit, the same number for every kind,
    the rest summed up ("滤镜 梦幻、胶片 ×2 等 9 种": 9 names in all)."""
    listed = {kind: [_name(name, count) for name, count in sorted(names.items()) if name or len(names) > 1]
              for kind, names in sorted(kinds.items())}

    def line(shown: int) -> str:
        parts = []
        for kind, names in listed.items():
            chinese, english = label(kind)
            if not names:
                words = f"×{sum(kinds[kind].values())}"
            else:
                words = "、".join(names[:shown]) + (f" 等 {len(names)} 种" if len(names) > shown else "")
            parts.append(f"{chinese} {words.strip()}" + (f" ({english})" if english else ""))
        return ", ".join(parts)

    # The longest line that fits, by the number of names each kind shows (it grows with it).
    low, high = 0, max(map(len, listed.values()), default=0)
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if len(line(middle)) <= limit else (low, middle - 1)
    text = line(low)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _name(name: str, count: int) -> str:
    name = name or "?"
    name = name if len(name) <= MAX_NAME_LENGTH else name[:MAX_NAME_LENGTH - 1] + "…"
    return f"{name} ×{count}" if count > 1 else name
