"""Compiled filter graphs, without running ffmpeg: golden graphs of small drafts, and the
pieces they are made of (graph.py's DAG and escaping, timeline curves).

A golden graph is tests/golden/<name>.txt. When the renderer changes a graph on purpose,
read the diff the failing test prints, then rewrite the files with
`CAPCUT_MATE_UPDATE_GOLDEN=1 pytest tests/test_render_graphs.py` and review them in the commit.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
from pathlib import Path

import pytest

from capcut_mate.render.draft import parse_draft
from capcut_mate.render.ffmpeg.compose import build_plan
from capcut_mate.render.ffmpeg.expressions import expression
from capcut_mate.render.ffmpeg.graph import Graph, escape, format_value, number
from capcut_mate.render.media import MediaFile
from capcut_mate.render.timeline import build_timeline
from capcut_mate.render.timeline.curves import (
    Const,
    Curve,
    Piece,
    Product,
    Sum,
    add,
    const,
    ease,
    multiply,
    points,
    ramp,
)
from support.drafts import FFMPEG, DraftBuilder

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("CAPCUT_MATE_UPDATE_GOLDEN") == "1"
W, H = 320, 180


# --- Golden graphs --------------------------------------------------------------------------------


def compiled(draft: DraftBuilder, durations: dict[str, float] | None = None):
    """The draft parsed, its timeline built with hand-made media (each file as named, 320x180,
    videos 2 s long unless `durations` says otherwise), and compiled."""
    draft.write()
    parsed = parse_draft((draft.folder / "draft_content.json").read_bytes())
    media = {}
    for material in draft.content["materials"]["videos"]:
        name = material["material_name"]
        video = material["type"] == "video"
        media[material["id"]] = MediaFile(Path("/media") / name, has_video=True, has_audio=False, width=W, height=H,
                                          duration=(durations or {}).get(name, 2.0) if video else 0.0)
    timeline = build_timeline(parsed, media)
    return build_plan(timeline, {k: v.path for k, v in media.items()}, {}, graph_file=Path("/work/graph.txt"),
                      graph_file_option="-/filter_complex", output=Path("/work/output.mp4.part"))


def assert_golden(name: str, graph: str) -> None:
    path = GOLDEN / f"{name}.txt"
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(graph, encoding="utf-8")
    expected = path.read_text(encoding="utf-8") if path.exists() else ""
    diff = "".join(difflib.unified_diff(expected.splitlines(True), graph.splitlines(True),
                                        f"golden/{name}.txt", "compiled"))
    assert graph == expected, f"the compiled graph differs from golden/{name}.txt:\n{diff}"


@pytest.fixture
def draft(tmp_path) -> DraftBuilder:
    return DraftBuilder(tmp_path / "draft", width=W, height=H)


def test_a_zoom_keyframe_scales_per_frame_from_the_largest_size(draft):
    segment = draft.video(draft.track("video"), draft.asset("assets/card.png"), start=0, duration=2)
    draft.keyframes(segment, "UNIFORM_SCALE", [(0, 1.0), (2, 0.5)])
    plan = compiled(draft)
    assert_golden("zoom_keyframe", plan.graph)
    assert "scale=w=320:h=180:out_range=tv," in plan.graph, "scaled once to the largest size, before the loop"
    assert "eval=frame" in plan.graph and "if(lt(t\\,2)" in plan.graph, "then per frame along the curve"


def test_a_dissolve_overlaps_the_clips_and_fades_the_later_one_in(draft):
    track = draft.track("video")
    first = draft.video(track, draft.asset("assets/red.mp4"), start=0, duration=1.5)
    draft.video(track, draft.asset("assets/green.mp4"), start=1.5, duration=1.5)
    draft.transition(first, "叠化", 1.0)
    plan = compiled(draft)
    assert_golden("dissolve", plan.graph)
    assert "trim=end_frame=60" in plan.graph, "the earlier clip plays on to 2.0 s: 60 frames"
    assert "tpad=start_mode=clone:start_duration=0.5" in plan.graph, "the later one holds its first frame from 1.0 s"


def test_a_wipe_multiplies_the_later_clip_by_a_travelling_edge(draft):
    track = draft.track("video")
    first = draft.video(track, draft.asset("assets/red.mp4"), start=0, duration=1.5)
    draft.video(track, draft.asset("assets/green.mp4"), start=1.5, duration=1.5)
    draft.transition(first, "向下擦除", 1.0)
    plan = compiled(draft)
    assert_golden("wipe", plan.graph)
    assert "y=-H+H*clip((t-1)/1\\,0\\,1)" in plan.graph, "the edge moves down from 1 s to 2 s"


def test_a_mask_is_drawn_once_and_multiplied_into_the_alpha(draft):
    segment = draft.video(draft.track("video"), draft.asset("assets/card.png"), start=0, duration=2)
    draft.mask(segment, "圆形", centerX=0.5, centerY=0.5, width=0.25, height=0.5, feather=0.2)
    plan = compiled(draft)
    assert_golden("mask", plan.graph)
    assert plan.graph.count("geq=") == 1 and "c3_mode=multiply" in plan.graph


def test_a_filter_track_is_enabled_over_its_segment_only(draft):
    draft.video(draft.track("video"), draft.asset("assets/card.png"), start=0, duration=3)
    draft.filter(draft.track("filter"), "黑白", start=1, duration=1, intensity=0.8)
    plan = compiled(draft)
    assert_golden("filter_track", plan.graph)
    assert "hue=s=0.2:enable=between(t\\,1\\,1.999999)" in plan.graph


def test_an_alpha_ramp_is_sent_to_colorchannelmixer_per_frame(draft):
    segment = draft.video(draft.track("video"), draft.asset("assets/card.png"), start=0, duration=1)
    draft.keyframes(segment, "KFTypeAlpha", [(0, 1.0), (1, 0.0)])
    plan = compiled(draft)
    assert_golden("alpha_ramp", plan.graph)
    commands = plan.graph.split("sendcmd=c=")[1].split(",colorchannelmixer@")[0].split("\\;")
    assert len([c for c in commands if c]) == 30, "one command per frame whose alpha changes"
    assert commands[15] == "0.491667 colorchannelmixer@alpha0 aa 0.5", "a quarter frame early, half way"


def test_a_photo_is_decoded_once_and_looped_in_the_graph(draft):
    draft.video(draft.track("video"), draft.asset("assets/card.png"), start=0, duration=2)
    plan = compiled(draft)
    assert_golden("photo", plan.graph)
    assert "-loop" not in plan.args, "not looped at the input: it would be decoded for every frame"
    assert "loop=loop=59:size=1:start=0" in plan.graph, "one decoded frame repeated to 60"
    photo = plan.args.index("/media/card.png")
    assert "-t" not in plan.args[photo - 6:photo]


# --- graph.py -------------------------------------------------------------------------------------


def test_labels_are_allocated_in_creation_order_and_chains_are_joined_with_commas():
    graph = Graph()
    clip = graph.input("a.mp4", "-t", "2").video
    canvas = graph.source("color", c="black", s="320x180", r=30, d=2)
    small = clip.filter("scale", w=160, h=90).filter("setpts", "PTS-STARTPTS")
    out = graph.filter("overlay", canvas, small, x=0, y=0, eof_action="pass").filter("format", "yuv420p")
    args, text = graph.compile({"video": out})
    assert args == ["-t", "2", "-i", "a.mp4"]
    assert text == ("color=c=black:s=320x180:r=30:d=2[s0];\n"
                    "[0:v]scale=w=160:h=90,setpts=PTS-STARTPTS[s1];\n"
                    "[s0][s1]overlay=x=0:y=0:eof_action=pass,format=yuv420p[video]\n")


def test_a_stream_feeding_two_filters_goes_through_a_split():
    graph = Graph()
    clip = graph.input("a.mp4").video
    blurred = clip.filter("gblur", sigma=4)
    out = graph.filter("overlay", blurred, clip)
    _, text = graph.compile({"video": out})
    assert text == ("[0:v]split=2[s0][s1];\n"
                    "[s0]gblur=sigma=4[s2];\n"
                    "[s2][s1]overlay[video]\n")


def test_sound_splits_with_asplit_and_an_output_can_also_feed_a_filter():
    graph = Graph()
    sound = graph.input("a.m4a").audio.filter("volume", 0.5)
    louder = sound.filter("volume", 2)
    _, text = graph.compile({"quiet": sound, "loud": louder})
    assert text == ("[0:a]volume=0.5,asplit=2[s0][quiet];\n"
                    "[s0]volume=2[loud]\n")


def test_instance_names_are_unique_per_graph():
    graph = Graph()
    assert [graph.instance_name("alpha"), graph.instance_name("alpha"), graph.instance_name("text")] == [
        "alpha0", "alpha1", "text0"]
    node = graph.input("a.png").video.filter("colorchannelmixer", instance="alpha", aa=0.5)
    assert "colorchannelmixer@alpha2=aa=0.5" in graph.compile({"video": node})[1]


SPECIAL = "a:b,c;d[e]f'g\\h"


def test_escaping_covers_both_levels_in_one_place():
    # Option level: \ ' : get a backslash; then graph level: \ ' [ ] , ; get one more.
    assert escape(SPECIAL) == "a\\\\:b\\,c\\;d\\[e\\]f\\\\\\'g\\\\\\\\h"
    assert escape("plain-text_1.5") == "plain-text_1.5"
    graph = Graph()
    node = graph.source("drawtext", SPECIAL, text=SPECIAL)
    assert graph.nodes[-1].text() == f"drawtext={escape(SPECIAL)}:text={escape(SPECIAL)}"
    assert node.node.text().count(escape(SPECIAL)) == 2


def test_ffmpeg_reads_an_escaped_value_back_as_it_was(tmp_path):
    graph = Graph()
    picture = graph.source("color", c="black", s="16x16", r=1, d=1)
    tagged = picture.filter("metadata", mode="add", key="tag", value=SPECIAL)
    printed = tagged.filter("metadata", mode="print", key="tag", file="tags.txt")
    _, text = graph.compile({"video": printed})
    (tmp_path / "graph.txt").write_text(text, encoding="utf-8")
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin", "-/filter_complex", "graph.txt",
                    "-map", "[video]", "-f", "null", "-"], cwd=tmp_path, check=True)
    assert f"tag={SPECIAL}" in (tmp_path / "tags.txt").read_text(encoding="utf-8").splitlines()


def test_numbers_are_written_as_ffmpeg_reads_them():
    assert [number(v) for v in (1.0, 0.5, 1 / 3, -0.0000001, 1e-7, 2e6, -2.25)] == [
        "1", "0.5", "0.333333", "0", "0", "2000000", "-2.25"]
    assert [format_value(v) for v in (True, False, 3, 0.25, "x")] == ["1", "0", "3", "0.25", "x"]


# --- timeline/curves.py ---------------------------------------------------------------------------


def test_easing_curves_start_at_0_end_at_1_and_bend_as_named():
    for kind in ("linear", "in", "out", "in_out"):
        assert (ease(kind, 0.0), ease(kind, 1.0)) == (0.0, 1.0), kind
    assert (ease("linear", 0.25), ease("in", 0.5), ease("out", 0.5)) == (0.25, 0.25, 0.75)
    assert (ease("in_out", 0.25), ease("in_out", 0.5), ease("in_out", 0.75)) == (0.125, 0.5, 0.875)


def test_a_curve_holds_its_ends_and_its_values_between_pieces():
    curve = points([(2.0, 10.0), (1.0, 0.0), (3.0, 10.0), (4.0, 20.0)])  # sorted by time
    assert isinstance(curve, Curve) and len(curve.pieces) == 3
    assert [curve.at(t) for t in (0.0, 1.0, 1.5, 2.0, 2.5, 3.5, 4.0, 9.0)] == [
        0.0, 0.0, 5.0, 10.0, 10.0, 15.0, 20.0, 20.0]
    held = Curve((Piece(1.0, 2.0, 0.0, 1.0), Piece(3.0, 4.0, 5.0, 6.0)))
    assert [held.at(t) for t in (0.5, 2.5, 3.5, 5.0)] == [0.0, 1.0, 5.5, 6.0], "holds the last value until the next"


def test_ramps_and_points_that_do_not_change_are_constants():
    assert points([(0.0, 3.0), (1.0, 3.0)]) == Const(3.0)
    assert points([(5.0, 2.0)]) == Const(2.0)
    assert ramp(0.0, 1.0, 4.0, 4.0) == Const(4.0)
    eased = ramp(1.0, 3.0, 0.0, 10.0, "out")
    assert (eased.at(0.0), eased.at(2.0), eased.at(3.0), eased.at(4.0)) == (0.0, 7.5, 10.0, 10.0)
    assert Piece(1.0, 1.0, 0.0, 5.0).at(1.0) == 5.0, "a zero-length piece is its end value"
    with pytest.raises(ValueError):
        points([])


def test_sums_and_products_fold_constants_and_flatten():
    curve = ramp(0.0, 1.0, 0.0, 1.0)
    total = add(1.0, curve, 2.0, add(curve, 3))
    assert isinstance(total, Sum) and total.terms[0] == Const(6.0) and len(total.terms) == 3
    assert total.at(0.5) == 7.0
    assert add(1, 2) == Const(3.0) and multiply(2, const(4)) == Const(8.0)
    assert multiply(curve, 0.0) == Const(0.0), "anything times zero is zero"
    assert multiply(curve) is curve and add(curve, 0.0) is curve, "identities vanish"
    product = multiply(2.0, curve, multiply(curve, 3.0))
    assert isinstance(product, Product) and product.at(0.5) == 1.5
    assert (curve * 2).at(1.0) == 2.0 and (curve + 2).at(1.0) == 3.0
    assert const(1.0).constant == 1.0 and curve.constant is None and total.constant is None


def test_samples_are_taken_at_frame_times():
    curve = ramp(0.0, 1.0, 0.0, 30.0)
    assert curve.samples(0.0, 0.1, 30) == [0.0, 1.0, 2.0]
    assert const(2.0).samples(0.0, 0.0, 30) == [2.0], "at least one sample"


def test_ffmpeg_expressions_of_curves_hold_the_same_values():
    curve = add(100.0, multiply(-50.0, points([(1.0, 0.0), (2.0, 1.0), (4.0, 0.5)])))
    text = expression(curve)
    assert text == ("(100+(-50*if(lt(t,1),0,if(lt(t,2),(0+1*((t-1)/1)),"
                    "if(lt(t,2),1,if(lt(t,4),(1+-0.5*((t-2)/2)),0.5))))))")
    for t in (0.0, 1.5, 3.0, 5.0):
        assert _ffmpeg_eval(text, t) == pytest.approx(curve.at(t)), t
    eased = ramp(0.0, 1.0, 0.0, 1.0, "in_out")
    assert _ffmpeg_eval(expression(eased), 0.25) == pytest.approx(eased.at(0.25))


def _ffmpeg_eval(text: str, t: float) -> float:
    """`text` evaluated as ffmpeg would: if/lt and arithmetic, in Python."""
    python = re.sub(r"\bt\b", repr(t), text).replace("if(", "when(")
    return eval(python, {"when": _when, "lt": lambda a, b: a < b})  # noqa: S307


def _when(condition: bool, then: float, otherwise: float) -> float:
    return then if condition else otherwise
