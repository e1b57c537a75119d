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
from capcut_mate.render.timeline.build import BEZIER_STEPS
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


def compiled(draft: DraftBuilder, durations: dict[str, float] | None = None,
             sizes: dict[str, tuple[int, int]] | None = None):
    """The draft parsed, its timeline built with hand-made media (each file as named, 320x180
    unless `sizes` says otherwise, videos 2 s long unless `durations` does), and compiled."""
    timeline, media = timeline_of(draft, durations, sizes)
    return build_plan(timeline, {k: v.path for k, v in media.items()}, {}, graph_file=Path("/work/graph.txt"),
                      graph_file_option="-/filter_complex", output=Path("/work/output.mp4.part"))


def timeline_of(draft: DraftBuilder, durations: dict[str, float] | None = None,
                sizes: dict[str, tuple[int, int]] | None = None):
    draft.write()
    parsed = parse_draft((draft.folder / "draft_content.json").read_bytes())
    media = {}
    for material in draft.content["materials"]["videos"]:
        name = material["material_name"]
        video = material["type"] == "video"
        width, height = (sizes or {}).get(name, (W, H))
        media[material["id"]] = MediaFile(Path("/media") / name, has_video=True, has_audio=False, width=width,
                                          height=height, duration=(durations or {}).get(name, 2.0) if video else 0.0)
    return build_timeline(parsed, media), media


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
    assert "scale=w=320:h=180:out_range=tv,format=yuv420p," in plan.graph, (
        "scaled once to the largest size, before the loop")
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


def test_position_keyframes_move_the_overlay_along_a_curve_of_t(draft):
    segment = draft.video(draft.track("video"), draft.asset("assets/card.png"), start=0, duration=2, scale=0.25)
    draft.keyframes(segment, "KFTypePositionX", [(0, -0.5), (2, 0.5)])
    draft.keyframes(segment, "KFTypePositionY", [(0, 0.5), (2, -0.5)])
    plan = compiled(draft)
    assert_golden("move_keyframes", plan.graph)
    assert "overlay=x=(160+(160*if(lt(t\\,0)\\,-0.5" in plan.graph, "x: half canvas widths from the centre"
    assert "y=(90+(-90*if(lt(t\\,0)\\,0.5" in plan.graph, "y: half canvas heights, +y up"


def test_a_rotation_keyframe_turns_per_frame_in_a_box_that_holds_every_angle(draft):
    segment = draft.video(draft.track("video"), draft.asset("assets/card.png"), start=0, duration=2)
    draft.keyframes(segment, "KFTypeRotation", [(0, 0.0), (1, 90.0)])
    plan = compiled(draft)
    assert_golden("rotation_keyframes", plan.graph)
    assert "rotate=a=(if(lt(t\\,0)\\,0\\,if(lt(t\\,1)\\,(0+90*((t-0)/1))\\,90)))*PI/180:ow=368:oh=368" in plan.graph


def test_separate_scale_keyframes_scale_each_side_by_its_own_curve(draft):
    segment = draft.video(draft.track("video"), draft.asset("assets/card.png"), start=0, duration=2)
    draft.keyframes(segment, "KFTypeScaleX", [(0, 1.0), (2, 0.5)])
    draft.keyframes(segment, "KFTypeScaleY", [(0, 0.5), (2, 0.5)])
    plan = compiled(draft)
    assert_golden("stretch_keyframes", plan.graph)
    assert "scale=w=320:h=90:" in plan.graph, "the largest size: full width, half height"
    assert "h=max(2\\,round(180*abs(0.5)/2)*2)" in plan.graph, "the height stays at half"


def test_bezier_keyframes_are_sampled_into_linear_pieces(draft):
    segment = draft.video(draft.track("video"), draft.asset("assets/card.png"), start=0, duration=2, scale=0.25)
    draft.keyframes(segment, "KFTypePositionX", [(0, -0.5, (0.0, 0.0), (0.64, 0.94)),
                                                 (2, 0.5, (-0.8, 0.0), (0.0, 0.0))])
    plan = compiled(draft)
    assert_golden("bezier_keyframes", plan.graph)
    x = plan.graph.split("overlay=x=")[1].split(":y=")[0]
    assert x.count("*((t-") == BEZIER_STEPS, "the interval drawn as linear pieces between samples of the curve"
    assert "if(lt(t\\,0.94)" in x, "the curve's middle sample at 0.94 s (linear: 1 s)"


def _two_clips(draft: DraftBuilder, transition: str) -> None:
    track = draft.track("video")
    first = draft.video(track, draft.asset("assets/red.mp4"), start=0, duration=1.5)
    draft.video(track, draft.asset("assets/green.mp4"), start=1.5, duration=1.5)
    draft.transition(first, transition, 1.0)


def test_a_dip_is_a_colour_layer_fading_in_to_the_cut_and_out_after_it(draft):
    _two_clips(draft, "闪黑")
    plan = compiled(draft)
    assert_golden("dip_to_black", plan.graph)
    assert "color=c=0x000000:s=16x16" in plan.graph, "a black layer"
    assert "trim=end_frame=45" in plan.graph, "neither clip is drawn past the cut"


def test_a_push_moves_both_clips_by_a_canvas_width_eased(draft):
    _two_clips(draft, "向右")
    plan = compiled(draft)
    assert_golden("push_right", plan.graph)
    assert "overlay=x=(160+if(lt(t\\,1)\\,0\\,if(lt(t\\,2)\\,(0+320*" in plan.graph, "the earlier goes right"
    assert "overlay=x=(160+if(lt(t\\,1)\\,-320\\,if(lt(t\\,2)\\,(-320+320*" in plan.graph, "the later from the left"


def test_a_slide_moves_only_the_later_clip(draft):
    _two_clips(draft, "滑动")
    plan = compiled(draft)
    assert_golden("slide", plan.graph)
    assert "overlay=x=160-w/2:y=90-h/2" in plan.graph, "the earlier stays"
    assert "overlay=x=(160+if(lt(t\\,1)\\,320\\," in plan.graph, "the later comes in from the right"


def test_a_zoom_transition_scales_the_earlier_clip_while_the_later_fades_in(draft):
    _two_clips(draft, "推近")
    plan = compiled(draft)
    assert_golden("zoom_transition", plan.graph)
    assert "scale=w=500:h=280:" in plan.graph, "the earlier scaled once to its largest (1.56× on its last frame)"
    assert "(1+0.6*((t-1)/1)*((t-1)/1))" in plan.graph, "then per frame, from 1× towards 1.6×, easing in"
    assert "colorchannelmixer@alpha0=aa=0" in plan.graph, "the later fades in"


def test_an_in_animation_grows_and_fades_the_clip_in(draft):
    segment = draft.video(draft.track("video"), draft.asset("assets/card.png"), start=0, duration=2)
    draft.animation(segment, "放大", "in", 0, 1.0)
    plan = compiled(draft)
    assert_golden("zoom_in_animation", plan.graph)
    assert "(0.5+0.5*(1-(1-((t-0)/1))*(1-((t-0)/1))))" in plan.graph, "from half size, easing out"


def test_an_out_animation_fades_the_clip_out(draft):
    segment = draft.video(draft.track("video"), draft.asset("assets/card.png"), start=0, duration=2)
    draft.animation(segment, "渐隐", "out", 1.0, 1.0)
    plan = compiled(draft)
    assert_golden("fade_out_animation", plan.graph)
    assert "colorchannelmixer@alpha0=aa=1" in plan.graph, "opaque until the animation"
    assert "1.958333 colorchannelmixer@alpha0 aa 0.033333" in plan.graph, "nearly gone on the last frame"


def test_a_loop_animation_moves_the_clip_over_its_segment(draft):
    segment = draft.video(draft.track("video"), draft.asset("assets/card.png"), start=0, duration=2)
    draft.animation(segment, "左拉镜", "group", 0, 2.0)
    plan = compiled(draft)
    assert_golden("pull_loop_animation", plan.graph)
    assert "scale=w=368:h=206:" in plan.graph, "scaled once to 1.15×, then down"
    assert "overlay=x=(160+if(lt(t\\,0)\\,0\\,if(lt(t\\,2)\\," in plan.graph, "panning left"


def test_a_blurred_fill_is_the_clip_itself_covering_the_canvas_blurred(draft):
    segment = draft.video(draft.track("video"), draft.asset("assets/square.png"), start=0, duration=1)
    draft.canvas(segment, "canvas_blur", blur=0.375)
    plan = compiled(draft, sizes={"square.png": (180, 180)})
    assert_golden("blurred_fill", plan.graph)
    assert plan.graph.count("[0:v]") == 1 and "split=2" in plan.graph, "one decoded photo for the clip and its fill"
    assert "scale=w=320:h=320:out_range=tv,format=yuv420p,gblur=sigma=" in plan.graph


def test_a_colour_fill_is_a_canvas_sized_colour_below_the_clip(draft):
    segment = draft.video(draft.track("video"), draft.asset("assets/square.png"), start=0, duration=1)
    draft.canvas(segment, "canvas_color", color="#0000ffff")
    plan = compiled(draft, sizes={"square.png": (180, 180)})
    assert_golden("colour_fill", plan.graph)
    assert plan.graph.index("color=c=0x0000ff:") < plan.graph.index("[0:v]"), "the fill, then the clip over it"


def test_a_crop_is_cut_from_the_file_before_it_is_fitted(draft):
    segment = draft.video(draft.track("video"), draft.asset("assets/card.png"), start=0, duration=1)
    draft.crop(segment, 0.375, 0.0, 0.875, 0.5)
    plan = compiled(draft)
    assert_golden("crop", plan.graph)
    assert "[0:v]crop=w=iw*0.5:h=ih*0.5:x=iw*0.375:y=ih*0,scale=w=320:h=180" in plan.graph


def test_a_reversed_clip_is_read_whole_and_reversed(draft):
    segment = draft.video(draft.track("video"), draft.asset("assets/clip.mp4"), start=0, duration=2)
    draft.reverse(segment)
    plan = compiled(draft)
    assert_golden("reverse", plan.graph)
    assert "setpts=PTS-STARTPTS,reverse,fps=30" in plan.graph


def test_render_index_orders_the_overlays_across_tracks(draft):
    low = draft.video(draft.track("video"), draft.asset("assets/top.png"), start=0, duration=1, scale=0.5)
    high = draft.video(draft.track("video"), draft.asset("assets/bottom.png"), start=0, duration=1)
    draft.render_index(low, 5)
    draft.render_index(high, 2)
    plan = compiled(draft)
    assert_golden("render_order", plan.graph)
    args = plan.args
    assert args.index("/media/bottom.png") < args.index("/media/top.png"), "the lower render_index is drawn first"


MASK_SHAPES = {  # name → (config, what the expression must hold)
    "rectangle": ("矩形", {"width": 0.5, "height": 0.4, "rotation": 30.0, "roundCorner": 0.5}, "hypot(max("),
    "line": ("线性", {"centerY": -0.3, "rotation": 30.0, "feather": 0.2}, "clip(-ld(1)/9+0.5"),
    "mirror": ("镜面", {"height": 0.3, "rotation": 90.0}, "gte((27-abs(ld(1)))"),
    "heart": ("爱心", {"width": 0.6, "height": 0.6}, "pow("),
    "star": ("星形", {"width": 0.6, "height": 0.6, "invert": True}, "atan2("),
}


@pytest.mark.parametrize("shape", MASK_SHAPES)
def test_a_mask_shape_is_one_geq_expression(draft, shape):
    name, config, fragment = MASK_SHAPES[shape]
    segment = draft.video(draft.track("video"), draft.asset("assets/card.png"), start=0, duration=1)
    draft.mask(segment, name, **config)
    plan = compiled(draft)
    assert_golden(f"mask_{shape}", plan.graph)
    assert plan.graph.count("geq=") == 1 and fragment in plan.graph


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
    assert text == ("(100+(-50*if(lt(t,1),0,if(lt(t,2),if(lt(t,2),(0+1*((t-1)/1)),1),"
                    "if(lt(t,4),(1+-0.5*((t-2)/2)),0.5)))))")
    for t in (0.0, 1.5, 3.0, 5.0):
        assert _ffmpeg_eval(text, t) == pytest.approx(curve.at(t)), t
    eased = ramp(0.0, 1.0, 0.0, 1.0, "in_out")
    assert _ffmpeg_eval(expression(eased), 0.25) == pytest.approx(eased.at(0.25))


def test_a_curve_of_many_keyframes_is_an_expression_ffmpeg_can_parse(tmp_path):
    """A chain of one `if` per piece stops parsing at about 46 pieces: the tree stays shallow."""
    curve = points([(n * 0.04, float(n % 7)) for n in range(600)])
    text = expression(curve)
    assert all(_ffmpeg_eval(text, t) == pytest.approx(curve.at(t)) for t in (0.0, 1.01, 12.345, 23.9, 30.0))
    graph = tmp_path / "graph.txt"
    graph.write_text(f"color=black:s=16x16:r=25:d=0.2,format=yuva420p,rotate=a={escape(text)}[v]")
    result = subprocess.run([FFMPEG, "-v", "error", "-/filter_complex", str(graph), "-map", "[v]", "-f", "null", "-"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_bezier_handles_are_offsets_in_microseconds_and_in_the_property_unit(draft):
    """JianYing's eased keyframes: 缓出 (ease out) and 缓入 (ease in, its end's handle left on its keyframe)."""
    track = draft.track("video")
    out = draft.video(track, draft.asset("assets/a.png"), start=0, duration=2)
    draft.keyframes(out, "KFTypeAlpha", [(0, 0.0, (0.0, 0.0), (0.64, 0.94)), (2, 1.0, (-0.8, 0.0), (0.0, 0.0))])
    into = draft.video(track, draft.asset("assets/b.png"), start=2, duration=2)
    draft.keyframes(into, "KFTypeAlpha", [(0, 0.0, (0.0, 0.0), (0.84, 0.0)), (2, 1.0, (0.0, 0.0), (0.0, 0.0))])
    eased_out, eased_in = (layer.alpha for layer in timeline_of(draft)[0].layers)
    for curve, start, controls in ((eased_out, 0.0, [(0.0, 0.0), (0.64, 0.94), (1.2, 1.0), (2.0, 1.0)]),
                                   (eased_in, 2.0, [(0.0, 0.0), (0.84, 0.0), (2.0, 1.0), (2.0, 1.0)])):
        for t in (0.25, 0.5, 1.0, 1.5):
            assert curve.at(start + t) == pytest.approx(_bezier_at(controls, t), abs=0.02), (start, t)
    assert eased_out.at(1.0) > 0.8 and eased_in.at(3.0) < 0.4, "far from linear half way"


def _bezier_at(controls: list[tuple[float, float]], t: float) -> float:
    """The value of a cubic Bezier of (time, value) control points at time t."""
    def point(u: float, axis: int) -> float:
        p0, p1, p2, p3 = (c[axis] for c in controls)
        return (1 - u) ** 3 * p0 + 3 * u * (1 - u) ** 2 * p1 + 3 * u * u * (1 - u) * p2 + u ** 3 * p3
    low, high = 0.0, 1.0
    for _ in range(50):
        low, high = ((low + high) / 2, high) if point((low + high) / 2, 0) < t else (low, (low + high) / 2)
    return point(low, 1)


def _ffmpeg_eval(text: str, t: float) -> float:
    """`text` evaluated as ffmpeg would: if/lt and arithmetic, in Python."""
    python = re.sub(r"\bt\b", repr(t), text).replace("if(", "when(")
    return eval(python, {"when": _when, "lt": lambda a, b: a < b})  # noqa: S307


def _when(condition: bool, then: float, otherwise: float) -> float:
    return then if condition else otherwise
