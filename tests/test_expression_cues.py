"""Expressions on cue: routes through the rig's tween sequences, the cued face held while the
mouth rests and speech keeping the mouth, cue latency (one frame plus the tween), timed
tracks (JSON, SRT) with one-line errors naming file and line, and the render options."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import numpy as np
import pytest

from animator.engine import Engine, EngineConfig
from animator.rig import RigConfig, load_rig
from animator.sources.expression_track import CueError, load_expression_track
from animator.stages.face_cue import ExpressionTrack, FaceCue, blink_of, cue_keys, route
from animator.stages.selection import FrameSelector, SelectParams
from keypoints.assets import assets_dir
from keypoints.lips import REQUIRED_NAMES, LipFrame, rest_points
from tests.conftest import REFERENCE_RIG_CONFIG

DEMO = assets_dir() / "audio" / "demo_speech.ogg"
FPS = 25.0
REST = np.array([0.0, 1.0])  # mouth (open, wide) at rest
CENTER = np.zeros(3)


def config() -> RigConfig:
    return RigConfig.from_dict(REFERENCE_RIG_CONFIG, "seed")


def test_routes_take_the_base_path_else_two_through_the_rest_face_else_a_cut():
    cfg = config()
    [leg] = route(cfg, "neutral", "happy_soft")
    assert (leg.path.id, leg.src, leg.dst) == ("neutral_to_happy_soft", "neutral", "happy_soft")
    [leg] = route(cfg, "neutral", "speaking_uw")  # the rig's path runs speaking_uw -> neutral
    assert (leg.path.id, leg.forward, leg.dst) == ("speaking_uw_to_neutral", False, "speaking_uw")
    legs = route(cfg, "happy_soft", "speaking_uw")
    assert [(x.src, x.dst) for x in legs] == [("happy_soft", "neutral"),
                                              ("neutral", "speaking_uw")]
    [leg] = route(cfg, "speaking_ee", "speaking_ah")  # a direct path beats the rest face
    assert leg.path.id == "speaking_ah_to_speaking_ee" and not leg.forward
    assert route(cfg, "neutral", "happy_big") == []  # no tweens: a cut
    assert route(cfg, "happy_soft", "happy_soft") == []


def test_each_face_blinks_with_its_own_eyes_closed_image_or_not_at_all():
    cfg = config()
    assert blink_of(cfg, "neutral") == "blink_closed"
    assert blink_of(cfg, "happy_soft") is None  # its smile would vanish in a rest-face blink
    raw = json.loads(json.dumps(REFERENCE_RIG_CONFIG))
    raw["expressions"]["happy_soft_blink"] = {"mouth": "smile_soft", "eyes": "blink_closed",
                                              "brows": "neutral"}
    assert blink_of(RigConfig.from_dict(raw, "x"), "happy_soft") == "happy_soft_blink"
    assert cue_keys(cfg) == {"0": "neutral", "1": "happy_soft", "2": "happy_big",
                             "3": "speaking_ah", "4": "surprised_ah", "5": "speaking_ee",
                             "6": "speaking_uw", "7": "oh_round", "8": "concerned"}


def test_a_cue_shows_within_one_frame_plus_its_tween(reference_rig):
    """The selector while the character is silent: a cue taken at frame k starts moving at
    frame k through the base path's tweens, in order, and shows the cued endpoint at frame
    k + tween frames - 1."""
    rig = load_rig(reference_rig)
    params = SelectParams()
    sel = FrameSelector(rig, FPS, params)
    for _ in range(10):
        assert sel.step(CENTER, REST).image == "endpoints/neutral__center.png"
    sel.cue("happy_soft")
    n_tween = round(params.cue_tween_s * FPS)
    shown = [sel.step(CENTER, REST).image for _ in range(n_tween + 3)]
    folder = "sequences/neutral_to_happy_soft__center/"
    assert shown[:n_tween - 1] == [folder + f for f in ("025.png", "050.png", "050.png",
                                                        "075.png")]
    assert shown[n_tween - 1:] == ["endpoints/happy_soft__center.png"] * 4
    # a face without tweens to it: a clean cut at once
    sel.cue("happy_big")
    legs = [sel.step(CENTER, REST).image for _ in range(2 * n_tween + 1)]
    # happy_soft -> happy_big has no path and happy_big none to the rest face: a cut
    assert legs[0] == "endpoints/happy_big__center.png"


def test_speech_keeps_the_mouth_and_the_cued_face_returns_when_it_rests(reference_rig):
    rig = load_rig(reference_rig)
    params = SelectParams()
    sel = FrameSelector(rig, FPS, params, expression="happy_soft")
    assert sel.step(CENTER, REST).image == "endpoints/happy_soft__center.png"  # from frame 0
    ah = np.array([0.55, 0.95])
    talking = sel.step(CENTER, ah, speaking=1.0)
    assert talking.image == "endpoints/speaking_ah__center.png"  # the mouth wins at once
    assert sel.step(CENTER, REST, speaking=1.0).image == "endpoints/neutral__center.png"
    # the mouth rests: speech images for cue_hold_s (a pause inside speech), then the tween
    hold = round(params.cue_hold_s * FPS)
    quiet = [sel.step(CENTER, REST).image for _ in range(hold + 8)]
    assert quiet[:hold] == ["endpoints/neutral__center.png"] * hold
    assert quiet[hold].startswith("sequences/neutral_to_happy_soft__center/")
    assert quiet[-1] == "endpoints/happy_soft__center.png"
    assert not sel.eyes_can_close  # happy_soft has no eyes-closed image in this rig
    # a blink asked for on the cued face is not shown ...
    assert sel.step(CENTER, REST, eyes_closed=True).image == "endpoints/happy_soft__center.png"
    # ... and the rest face blinks as before
    sel.cue("neutral")
    for _ in range(10):
        sel.step(CENTER, REST)
    assert sel.step(CENTER, REST, eyes_closed=True).image == "endpoints/blink_closed__center.png"


def _rest_lips(t0: float, t1: float) -> list[LipFrame]:
    rest = rest_points(REQUIRED_NAMES)
    return [LipFrame(t, rest, REQUIRED_NAMES) for t in np.arange(t0, t1, 0.01)]


def test_engine_track_cues_by_media_time_whole_or_chunked(reference_rig):
    rig = load_rig(reference_rig)
    track = ((1.0, 3.0, "happy_soft"), (2.0, None, "surprised_ah"), (4.0, None, "neutral"))
    cfg = EngineConfig(expression_track=track, idle_blinks=None)
    lips = _rest_lips(0, 6)
    whole = Engine(rig, cfg).push(lips)
    engine = Engine(rig, cfg)
    chunked = [f for i in range(0, len(lips), 37) for f in engine.push(lips[i:i + 37])]
    assert [f.choice.image for f in whole] == [f.choice.image for f in chunked]
    expr = [f.choice.expression for f in whole]
    n_tween = round(SelectParams().cue_tween_s * FPS)
    assert expr[25 + n_tween - 1] == "happy_soft" and "happy_soft" not in expr[:25]
    assert expr[50] == "surprised_ah"  # no tweens to it: cut at its frame
    assert expr[99] == "surprised_ah" and expr[100:] == ["neutral"] * (len(expr) - 100)


def test_engine_cue_from_another_thread_is_taken_at_the_next_frame(reference_rig):
    rig = load_rig(reference_rig)
    engine = Engine(rig, EngineConfig(idle_blinks=None))
    engine.push(_rest_lips(0, 1))
    worker = threading.Thread(target=engine.cue, args=("concerned",))
    worker.start()
    worker.join()
    assert engine.cued == "concerned"
    [frame] = engine.push(_rest_lips(1, 1.04))[:1]
    assert frame.choice.expression == "concerned"  # no path to it: shown at once
    with pytest.raises(ValueError, match="unknown expression"):
        engine.cue("grin")
    with pytest.raises(ValueError, match="unknown expression 'grin'"):
        Engine(rig, EngineConfig(expression="grin"))


def test_face_cue_reroutes_a_cue_changed_mid_transition():
    cfg = config()
    face = FaceCue(cfg, FPS, tween_s=0.2, hold_s=0.0)
    face.cue("happy_soft")
    views = [face.step(False) for _ in range(3)]  # 3 of 5 frames towards happy_soft
    assert views[-1].leg is not None and views[-1].u > 0.5
    face.cue("speaking_ee")  # from the nearer end (happy_soft) through the rest face
    views = [face.step(False) for _ in range(12)]
    legs = [v.leg.path.id for v in views if v is not None and v.leg is not None]
    assert legs[0] == "neutral_to_happy_soft" and legs[-1] == "neutral_to_speaking_ee"
    assert views[-1].expression == "speaking_ee" and views[-1].leg is None


def test_expression_track_plays_cues_and_their_ends():
    track = ExpressionTrack([(2.0, None, "b"), (1.0, 1.5, "a")], default="n")
    got = [(t, track.step(t)) for t in np.arange(0, 3, 0.25)]
    assert [(t, n) for t, n in got if n] == [(1.0, "a"), (1.5, "n"), (2.0, "b")]


# --- track files ----------------------------------------------------------------------------

RIG_NAMES = list(REFERENCE_RIG_CONFIG["expressions"])


def test_json_and_srt_tracks_load(tmp_path):
    js = tmp_path / "cues.json"
    js.write_text('[\n  {"start": 1.5, "expression": "happy_soft"},\n'
                  '  {"t": 4, "end": 6.25, "expression": "surprised_ah"}\n]\n')
    assert load_expression_track(js, RIG_NAMES) == [(1.5, None, "happy_soft"),
                                                    (4.0, 6.25, "surprised_ah")]
    srt = tmp_path / "cues.srt"
    srt.write_text("\ufeff1\n00:00:01,500 --> 00:00:03,000\nhappy_soft\n\n"
                   "2\r\n00:01:02.25 --> 00:01:04,000\r\n  concerned  \r\nsecond line\r\n")
    assert load_expression_track(srt, RIG_NAMES) == [(1.5, 3.0, "happy_soft"),
                                                     (62.25, 64.0, "concerned")]


@pytest.mark.parametrize("name, text, where, what", [
    ("a.json", '[\n {"start": 1, "expression": "happy_soft"},\n {"start": 2,\n'
     '  "expression": "smirk"}\n]', "a.json:3:", "unknown expression 'smirk'"),
    ("b.json", '[{"start": -1, "expression": "happy_soft"}]', "b.json:1:", "'start'"),
    ("c.json", '[\n{"start": 3, "end": 2, "expression": "happy_soft"}]', "c.json:2:", "'end'"),
    ("d.json", '{"start": 1}', "d.json:1:", "a list of cues"),
    ("e.json", '[\n{"start": 1, "expression": "happy_soft"},,\n]', "e.json:2:", "malformed"),
    ("f.json", '[\n\n  {"start": 1}]', "f.json:3:", "'expression'"),
    ("g.srt", "1\n00:00:01,000 --> 00:00:02,000\nhappy_soft\n\n2\n00:00:03 --> x\nsad\n",
     "g.srt:6:", "timing line"),
    ("h.srt", "1\n00:00:01,000 --> 00:00:02,000\n\n", "h.srt:3:", "no expression name"),
    ("i.srt", "1\n00:00:01,000 --> 00:00:02,000\nhappy_soft\n\n2\n"
     "00:00:04,000 --> 00:00:05,000\nsmirk\n", "i.srt:7:", "unknown expression 'smirk'"),
    ("j.srt", "00:00:05,000 --> 00:00:02,000\nhappy_soft\n", "j.srt:1:", "ends before"),
    ("k.txt", "whatever", "k.txt:", ".json or .srt"),
])
def test_bad_tracks_are_one_line_naming_file_and_line(tmp_path, name, text, where, what):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(CueError) as err:
        load_expression_track(path, RIG_NAMES)
    message = str(err.value)
    assert "\n" not in message and message.startswith(str(tmp_path / where)), message
    assert what in message


def test_render_options_cue_and_refuse_unknown_names_without_writing(tmp_path, reference_rig):
    """`render --expression` and `--expressions TRACK` end to end; a track naming an
    expression the rig lacks is one line naming the file and line, exit 2, nothing written."""
    srt = tmp_path / "cues.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:30,000\nconcerned\n")
    out = tmp_path / "t.json"
    base = [sys.executable, "-m", "animator", "render", str(DEMO), "--rig", str(reference_rig),
            "--timeline", str(out), "-q"]
    res = subprocess.run(base + ["--expressions", str(srt)], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    frames = json.loads(out.read_text())["frames"]
    shown = {f["expression"] for f in frames}
    assert "concerned" in shown and "speaking_ah" in shown  # the cue in pauses, speech
    for f in frames:  # the cued face only while the mouth rests
        if f["expression"] == "concerned":
            assert f["image"].startswith("endpoints/concerned__")
    out.unlink()
    srt.write_text("1\n00:00:00,000 --> 00:00:30,000\nconcerned\n\n2\n"
                   "00:00:31,000 --> 00:00:32,000\nsmirk\n")
    res = subprocess.run(base + ["--expressions", str(srt)], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 2 and not out.exists()
    assert res.stderr.strip() == (f"animator: error: {srt}:7: unknown expression 'smirk' "
                                  f"(the rig has: {', '.join(RIG_NAMES)})")
    res = subprocess.run(base + ["--expression", "smirk"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 2 and not out.exists() and "Traceback" not in res.stderr
    assert res.stderr.strip().endswith(f"--expression: unknown expression 'smirk' (the rig "
                                       f"has: {', '.join(RIG_NAMES)})")


def test_a_track_file_may_not_be_an_output(tmp_path, reference_rig):
    track = tmp_path / "cues.json"
    track.write_text('[{"start": 0, "expression": "happy_soft"}]')
    before = track.read_bytes()
    res = subprocess.run([sys.executable, "-m", "animator", "render", str(DEMO), "--rig",
                          str(reference_rig), "--timeline", str(track),
                          "--expressions", str(track)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and track.read_bytes() == before
    assert str(track) in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
