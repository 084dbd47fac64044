"""Idle blinks: their rhythm (rate, intervals, closure, doubles), their wait for a resting
mouth, determinism (seeded; a file fed whole or in chunks), what the engine and the timeline
show, and tracked blinks taking over while a face is seen."""

from __future__ import annotations

import json

import numpy as np
import pytest

from animator.engine import Engine, EngineConfig
from animator.render import render
from animator.rig import default_rig_dir, load_rig
from animator.sinks.exports import count_runs
from animator.stages.idle_blinks import IdleBlinkParams, IdleBlinks
from keypoints.assets import assets_dir
from keypoints.lips import REQUIRED_NAMES, LipFrame, rest_points

DEMO = assets_dir() / "audio" / "demo_speech.ogg"


def runs(closed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start frame, length in frames) of each run of True."""
    c = np.concatenate([[False], np.asarray(closed, bool), [False]])
    starts = np.flatnonzero(c[1:] & ~c[:-1])
    ends = np.flatnonzero(~c[1:] & c[:-1])
    return starts, ends - starts


@pytest.mark.parametrize("fps", [25.0, 30.0, 60.0])
def test_ten_idle_minutes_blink_at_a_natural_rhythm(fps):
    blinks = IdleBlinks(fps, np.random.default_rng(7))
    states = [blinks.step() for _ in range(int(600 * fps))]
    closed = np.array([s.closed for s in states])
    starts, lengths = runs(closed)
    assert 10 <= len(starts) / 10 <= 20  # per minute
    closure_ms = 1000 * lengths / fps
    assert closure_ms.max() <= 200 and closure_ms.min() >= 80
    assert 100 <= np.median(closure_ms) <= 150
    gaps = np.diff(starts) / fps
    doubles = gaps < 1.0  # the second blink of a double follows within a second
    assert 0.03 < doubles.mean() < 0.2  # the odd double blink
    # from one blink (or double) to the next: 2-6 s
    single = gaps[~doubles]
    assert single.min() >= 2.0 - 1 / fps and single.max() <= 6.0 + 1 / fps + 0.5
    # closure ramps for eyelid receivers: partly closed frames around each shut run
    closure = np.array([s.both for s in states])
    assert np.all(closure[closed] == 1.0)
    assert np.count_nonzero((closure > 0) & (closure < 1)) >= len(starts)


def test_the_same_seed_gives_the_same_blinks_and_another_seed_others():
    def track(seed):
        b = IdleBlinks(25, np.random.default_rng(seed))
        return [b.step().closed for _ in range(3000)]

    assert track(3) == track(3)
    assert track(3) != track(4)


def test_a_due_blink_waits_for_a_resting_mouth_and_a_pause():
    params = IdleBlinkParams(interval_min_s=2, interval_max_s=2.0001, double_p=0)
    b = IdleBlinks(25, np.random.default_rng(0), params)
    # the mouth talks for 10 s: no blink starts although several fell due
    assert not any(b.step(can_close=False, pause=False).both for _ in range(250))
    # speech goes on but the mouth rests now and then: after pause_wait_s it blinks anyway
    shut = [b.step(can_close=True, pause=False).closed for _ in range(100)]
    assert any(shut)
    # in a pause a blink starts once the pause has lasted pause_min_s
    b = IdleBlinks(25, np.random.default_rng(0), params)
    for _ in range(49):
        b.step(pause=False)
    first = next(k for k in range(200) if b.step(pause=True).both > 0)
    assert first == round(params.pause_min_s * 25) - 1


def test_a_blink_cut_by_the_mouth_opens_and_is_retried_when_it_was_never_seen():
    params = IdleBlinkParams(interval_min_s=2, interval_max_s=2, double_p=0, closing_s=0,
                             opening_s=0.08)
    b = IdleBlinks(25, np.random.default_rng(0), params)
    for _ in range(50):
        b.step()
    state = b.step()
    assert state.closed  # the blink starts shut (no closing ramp)
    b.interrupt()  # ... but that frame could not show it
    after = [b.step().both for _ in range(2)]
    assert after == pytest.approx([2 / 3, 1 / 3])  # the lids open at once
    assert b.n_blinks == 0
    # never seen shut: tried again retry_s later
    retry = 53 + next(k for k in range(100) if b.step().closed)  # frames 51, 52 were above
    assert (retry - 1) / 25 < 51 / 25 + params.retry_s <= retry / 25
    assert b.n_blinks == 1


def _rest_lips(n: int, fps: float = 25.0) -> list[LipFrame]:
    rest = rest_points(REQUIRED_NAMES)
    return [LipFrame(i / 100, rest, REQUIRED_NAMES) for i in range(int(n * 100 / fps))]


def test_engine_blinks_are_the_same_whole_or_in_chunks_and_leave_the_head_alone():
    rig = load_rig(default_rig_dir())
    lips = _rest_lips(1500)
    whole = Engine(rig, EngineConfig(seed=2)).push(lips)
    engine = Engine(rig, EngineConfig(seed=2))
    chunked = []
    rng = np.random.default_rng(0)
    i = 0
    while i < len(lips):
        n = int(rng.integers(1, 400))
        chunked += engine.push(lips[i:i + n])
        i += n
    assert [(f.choice.image, f.eyes.closed) for f in whole] == \
        [(f.choice.image, f.eyes.closed) for f in chunked]
    assert sum(f.eyes.closed for f in whole) > 10
    still = Engine(rig, EngineConfig(seed=2, idle_blinks=None)).push(lips)
    assert np.array_equal([f.angles_deg for f in whole], [f.angles_deg for f in still])
    assert not any(f.eyes.closed for f in still)


def test_tracked_eyes_replace_idle_blinks_while_a_face_is_seen():
    rig = load_rig(default_rig_dir())
    engine = Engine(rig, EngineConfig(fps=25))
    rest = rest_points(REQUIRED_NAMES)
    out = []
    for i in range(25 * 30):
        t = i / 25
        seen = 10 <= t < 20  # a face for 10 s in the middle
        eyes = None
        if seen:  # open eyes, one real blink at 15 s
            eyes = np.array([0.05, 0.05]) if 15 <= t < 15.16 else np.array([0.3, 0.3])
        out += engine.push([LipFrame(t, rest, REQUIRED_NAMES)], eyes=eyes)
    closed = np.array([f.eyes.closed for f in out])
    t = np.arange(len(out)) / 25
    starts, _ = runs(closed)
    inside = (t[starts] >= 10) & (t[starts] < 20)
    assert t[starts][inside].tolist() == [15.0]  # only the face's own blink
    assert np.sum(t[starts] < 10) >= 1 and np.sum(t[starts] >= 22) >= 1  # idle before, after
    assert all(f.choice.expression == "blink" for f in out if f.eyes.closed)


def test_a_render_shows_idle_blinks_on_the_rig_and_changes_nothing_else(tmp_path):
    """The demo speech with the built-in rig: eyes closed exactly on the rig's blink frames,
    never on a talking mouth, closures of at most 200 ms; every other field and frame as in
    the render without blinks."""
    render(DEMO, None, timeline_path=tmp_path / "on.json")
    render(DEMO, None, timeline_path=tmp_path / "off.json",
           config=EngineConfig(idle_blinks=None, speaking="lookahead"))  # render's default
    on = json.loads((tmp_path / "on.json").read_text())["frames"]
    off = json.loads((tmp_path / "off.json").read_text())["frames"]
    closed = np.array([f["eyes"] == "closed" for f in on])
    assert {f["eyes"] for f in off} == {"open"}
    assert count_runs(closed) >= 3  # 23 s of speech and pauses
    _, lengths = runs(closed)
    assert lengths.max() * 40 <= 200
    for a, b in zip(on, off, strict=True):
        shown_blink = a["image"].startswith("endpoints/blink__")
        assert shown_blink == (a["eyes"] == "closed")
        if shown_blink:
            assert a["expression"] == "blink" and b["expression"] == "neutral"
            assert a["image"] == b["image"].replace("endpoints/neutral__", "endpoints/blink__") \
                or b["image"].startswith("sequences/")  # a tween near rest: shut over it
        else:
            assert a == b
    assert all(f["open"] < 0.25 for f in on if f["eyes"] == "closed")


def test_the_plot_draws_a_band_per_blink(tmp_path):
    import cv2

    from animator.sinks.exports import write_plot

    rig = load_rig(default_rig_dir())
    pixels = {}
    for name, params in (("on", IdleBlinkParams()), ("off", None)):
        frames = Engine(rig, EngineConfig(idle_blinks=params)).push(_rest_lips(500))
        write_plot(tmp_path / f"{name}.png", frames, rig.config.poses)
        rgb = cv2.cvtColor(cv2.imread(str(tmp_path / f"{name}.png")), cv2.COLOR_BGR2RGB)
        band = np.array([154, 194, 221])  # tab:blue at alpha 0.45 over white
        pixels[name] = int(np.count_nonzero(np.abs(rgb.astype(int) - band).max(axis=2) <= 6))
    # (a few of the pitch line's anti-aliased pixels have that colour too)
    assert pixels["on"] > 10 * pixels["off"] + 1000
