"""The webcam path on real faces: the resting mouth learned per face, blinks with hysteresis,
the rig's eyes-closed frames, ``--calibrate``; real FaceMesh on real GRID clips."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from animator.core.errors import LiveError
from animator.engine import Engine, EngineConfig
from animator.live.session import LiveOptions, run_live
from animator.rig import default_rig_dir, load_rig
from animator.stages.eyes import BlinkDetector, BlinkParams
from animator.stages.mouth_rest import MouthRest, MouthRestParams
from animator.stages.selection import FrameSelector
from benchmarks import face_metrics as fm
from benchmarks.realdata import realdata_dir
from benchmarks.webcam_quality import run_engine, track_video, webcam_config
from tests.osc_reader import parse_osc

CLIPS = realdata_dir() / "talking_faces"


@pytest.fixture(scope="module")
def tracked():
    """FaceMesh landmarks of two real clips: bbaf2n (shut mouth, speech, two blinks) and
    lbax4n (waits with parted lips, then speaks)."""
    return {name: track_video(CLIPS / name) for name in ("bbaf2n.mpg", "lbax4n.mpg")}


@pytest.fixture(scope="module")
def toon_without_blinks(tmp_path_factory):
    """The built-in toon as it was before it had eyes-closed frames (its config without the
    blink expression)."""
    import json
    import shutil

    root = tmp_path_factory.mktemp("toon") / "rig"
    shutil.copytree(default_rig_dir(), root)
    raw = json.loads((root / "expressions.json").read_text())
    raw["expressions"] = {k: v for k, v in raw["expressions"].items()
                          if v["eyes"] != "blink_closed"}
    (root / "expressions.json").write_text(json.dumps(raw))
    return root


def test_closed_mouth_at_rest_shows_neutral_and_talking_moves_the_mouth(tracked,
                                                                        toon_without_blinks):
    lms, size, fps = tracked["bbaf2n.mpg"]
    rig = load_rig(toon_without_blinks)  # the mouth alone (blinks: the test below)
    frames = run_engine(lms, size, rig, webcam_config(fps))
    opening = fm.reference_opening(lms)
    closed = opening < fm.CLOSED_IOD
    talking = fm.talking_frames(opening, fps)
    assert closed.sum() > 20 and talking.sum() > 30
    mouths = np.array([f.mouth for f in frames])
    assert np.mean(np.all(mouths[closed] == [0.0, 1.0], axis=1)) >= 0.95  # the rig's rest
    table = fm.image_mouths(rig)
    shown = np.array([table[f.choice.image][0] for f in frames])
    neutral = np.all(shown == table["endpoints/neutral__center.png"][0], axis=1)
    assert neutral[closed].mean() >= 0.95
    # talking: the avatar's opening follows the measured one, through several images
    assert fm.pearson(shown[talking, 0], opening[talking]) > 0.85
    assert len({f.choice.image for f, t in zip(frames, talking, strict=True) if t}) >= 3


def test_rest_is_learned_for_a_face_that_rests_075_wide():
    """A face whose closed mouth measures 0.75 (and whose touching lips read a negative
    gap) at rest, talking in bursts: the rest is learned within a second and at rest the
    features are exactly the rig's rest; with the nominal rest it would read as rounded."""
    rng = np.random.default_rng(3)
    fps = 30.0
    rest = MouthRest(fps)
    rig_sel = FrameSelector(load_rig(default_rig_dir()), fps)
    out, chosen = [], []
    for i in range(int(20 * fps)):
        talking = (i // 45) % 2 == 1  # 1.5 s at rest, 1.5 s talking, ...
        if talking:
            raw = (0.75 * max(0.0, 0.25 * np.sin(i / 2.0) + 0.05), 0.75 * (1 + 0.08 *
                   np.cos(i / 3.0)))
        else:
            raw = (-0.004 + 0.003 * rng.standard_normal(), 0.75 + 0.01 * rng.standard_normal())
        rel = rest.step(np.array(raw))
        out.append((talking, rel))
        if not talking:
            chosen.append(rig_sel.step(np.zeros(3), rel).expression)
    assert rest.rest[1] == pytest.approx(0.75, abs=0.015)
    assert rest.rest[0] < 0.0  # the negative gap of touching lips is the rest
    at_rest = np.array([rel for talking, rel in out[int(fps):] if not talking])
    assert np.all(at_rest == [0.0, 1.0])
    assert set(chosen[int(fps):]) == {"neutral"}
    opens = np.array([rel[0] for talking, rel in out[int(fps):] if talking])
    assert opens.max() > 0.4  # talking still opens the mouth
    nominal = FrameSelector(load_rig(default_rig_dir()), fps)
    assert nominal.step(np.zeros(3), np.array([0.0, 0.75])).expression == "speaking_uw"


def test_calibrate_takes_the_first_seconds_as_rest(tracked, reference_rig):
    """lbax4n waits with parted lips for half a second: calibrated on its first 0.4 s they
    read shut at once; learned as it goes, the rest may not rise so soon, so they show."""
    lms, size, fps = tracked["lbax4n.mpg"]
    rig = load_rig(reference_rig)
    waiting = slice(11, 14)  # still parted, after the calibration
    cal = run_engine(lms, size, rig, webcam_config(fps, calibrate_s=0.4))
    plain = run_engine(lms, size, rig, webcam_config(fps))
    assert all(f.mouth[0] == 0.0 and f.choice.expression == "neutral" for f in cal[waiting])
    assert all(f.mouth[0] > 0.15 for f in plain[waiting])
    # and it still talks afterwards
    assert max(f.mouth[0] for f in cal[15:]) > 0.2


def test_blinks_on_a_real_face_show_the_eyes_closed_frames(tracked, reference_rig,
                                                           toon_without_blinks):
    lms, size, fps = tracked["bbaf2n.mpg"]
    frames = run_engine(lms, size, load_rig(reference_rig), webcam_config(fps))
    detected = fm.runs(np.array([f.eyes.closed for f in frames]))
    ref = fm.reference_blinks(fm.reference_eye_openness(lms))
    assert len(ref) == 2 and len(detected) == 2
    assert fm.blink_scores(ref, detected, fps, 3.0)["found"] == 2
    # frames 42-45 and 50-54 (mouth shut between words): the eyes-closed image, this pose
    blink = [f for f in frames if f.choice.expression == "blink_closed"]
    assert len(blink) >= 5
    assert all(f.choice.image == f"endpoints/blink_closed__{f.choice.pose}.png" for f in blink)
    assert all(f.eyes.closed for f in blink)
    # a rig without eyes-closed frames ignores blinks
    toon = run_engine(lms, size, load_rig(toon_without_blinks), webcam_config(fps))
    assert not any("blink" in f.choice.image for f in toon)
    # the shipped toon has them (every pose), and shows them
    shipped = run_engine(lms, size, load_rig(default_rig_dir()), webcam_config(fps))
    assert any(f.choice.image.startswith("endpoints/blink__") for f in shipped)


def test_blink_hysteresis_does_not_flicker_on_noisy_openness():
    """Eye ratios with tracker noise: five real blinks, and a stretch of half-lowered lids
    whose noise crosses the closing threshold again and again (it crosses the reopening
    one far less): five blinks plus at most one long closure, never a flicker."""
    rng = np.random.default_rng(7)
    fps = 30.0
    level = 0.3
    signal = level * (1 + 0.06 * rng.standard_normal(600))
    for start in (60, 150, 240, 330, 420):  # blinks: 5 frames shut, ramps either side
        signal[start:start + 7] = level * np.array([0.6, 0.2, 0.1, 0.1, 0.15, 0.3, 0.7])
    signal[500:560] = level * (0.5 + 0.08 * rng.standard_normal(60))  # drooping lids
    det = BlinkDetector(fps, BlinkParams())
    states = [det.step(np.array([s, s * 1.05])).closed for s in signal]
    crossings = int(np.sum(np.diff(np.array(signal[500:560]) / level < 0.5) != 0))
    assert crossings > 10  # the noise does cross the threshold
    onsets = [i for i in range(1, len(states)) if states[i] and not states[i - 1]]
    assert onsets[:5] == [61, 151, 241, 331, 421]
    assert len(onsets) <= 6
    assert sum(states[500:560]) > 45  # the drooping lids count as closed, in one piece
    # a detector without memory of its state (one threshold) would flicker
    naive = [s / level < 0.5 for s in signal[500:560]]
    assert int(np.sum(np.diff(naive) != 0)) > 10


def test_live_calibrate_needs_a_camera_and_runs_with_one():
    with pytest.raises(LiveError, match="needs --camera"):
        run_live(LiveOptions(audio="x.wav", calibrate_s=1.0))
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    port = receiver.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "animator", "live", "--camera",
                             str(CLIPS / "bbaf2n.mpg"), "--calibrate", "0.5", "--vmc",
                             f"127.0.0.1:{port}", "--seconds", "2.8"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    blinks = []
    receiver.settimeout(0.5)
    deadline = time.monotonic() + 90  # a hung run fails below instead of hanging the suite
    try:
        while time.monotonic() < deadline:  # every packet until the run is over
            try:
                msgs = parse_osc(receiver.recv(65536))
            except TimeoutError:
                if proc.poll() is not None:
                    break
                continue
            blinks.append({m[2][0]: m[2][1] for m in msgs if m[0] == "/VMC/Ext/Blend/Val"})
        out, err = proc.communicate(timeout=60)
    finally:
        receiver.close()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert len(blinks) > 30
    assert "calibrating: rest your face" in err and "for 0.5 s" in err
    # his mouth is shut about half the time, between words: no vowel then; open, a vowel
    vowel = [max(b[v] for v in "AIUEO") for b in blinks]
    assert np.mean(np.array(vowel) < 0.1) > 0.3 and max(vowel) > 0.5
    # the speaker blinks about 1.7 s in: VMC's Blink closes the avatar's eyes
    assert max(b["Blink"] for b in blinks) > 0.9
    assert min(b["Blink"] for b in blinks) == 0.0
    res = subprocess.run([sys.executable, "-m", "animator", "live", "--audio", "mic",
                          "--calibrate", "-1"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "seconds must be > 0" in res.stderr


def test_engine_config_checks_calibrate_and_rest_params():
    with pytest.raises(ValueError, match="calibrate_s"):
        EngineConfig(calibrate_s=-1)
    with pytest.raises(ValueError):
        MouthRestParams(open_gain=0)
    with pytest.raises(ValueError):
        BlinkParams(close_below=0.8, open_above=0.7)
    # without measured eyes, the eyes stay open
    engine = Engine(load_rig(default_rig_dir()), EngineConfig(fps=25))
    from keypoints.lips import REQUIRED_NAMES, LipFrame

    (f,) = engine.push([LipFrame(0.0, engine.rest_lips(REQUIRED_NAMES), REQUIRED_NAMES)])
    assert not f.eyes.closed and np.all(f.eyes.closure == 0)


def test_live_benchmark_webcam_path_runs_on_a_real_clip():
    """The benchmark's webcam path on one short real clip (a test of the code, not of speed):
    quality scores from every frame, timings from the real-time loop."""
    import json

    clip = str(CLIPS / "sbwe5n.mpg")
    res = subprocess.run([sys.executable, "-m", "benchmarks.live", "--path", "webcam",
                          "--video", clip, "--seconds", "1", "--json"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    web = json.loads(res.stdout)["webcam"]
    assert web["video"] == clip and web["frames"] > 0
    assert web["compute_ms"]["n"] == web["frames"]  # one compute figure per frame decided
    (q,) = web["quality"]["clips"]
    assert q["frames"] == 75 and q["frames_with_face"] == 75
    assert q["closed_frames"] > 20 and q["neutral_when_closed"] >= 0.95
    assert q["talking_frames"] > 20 and q["r_open_talking"] > 0.8
    assert q["blinks"]["reference"] == 1 and q["blinks"]["found"] == 1
    assert web["quality"]["total"]["clips"] == 1
    bad = subprocess.run([sys.executable, "-m", "benchmarks.live", "--path", "webcam",
                          "--video", "/nonexistent.mp4"], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 2 and "/nonexistent.mp4" in bad.stderr


def test_a_lost_face_keeps_its_learned_rest():
    """While the face is lost the loop feeds the engine's rest lips: the avatar shows the
    rest mouth (blinking now and then by itself) and the rest learned before survives a long
    absence."""
    from keypoints.lips import REQUIRED_NAMES, LipFrame

    engine = Engine(load_rig(default_rig_dir()),
                    EngineConfig(fps=25, head="tracked", mouth_rest=MouthRestParams()))
    pts = np.zeros((4, 3), np.float32)
    pts[2, 0], pts[3, 0] = 0.375, -0.375  # a closed mouth 0.75 wide
    for i in range(50):
        engine.push([LipFrame(i / 25, pts, REQUIRED_NAMES)], np.zeros(3), np.array([.3, .3]))
    assert engine.mouth_rest[1] == pytest.approx(0.75)
    lost = [engine.push([LipFrame(i / 25, engine.rest_lips(REQUIRED_NAMES), REQUIRED_NAMES)])
            for i in range(50, 50 + 40 * 25)]
    assert all(np.all(f.mouth == [0.0, 1.0])
               and f.choice.expression == ("blink" if f.eyes.closed else "neutral")
               for (f,) in lost)
    assert sum(f.eyes.closed for (f,) in lost) > 0  # idle blinks while the face is away
    assert engine.mouth_rest[1] == pytest.approx(0.75)


def test_calibrated_rest_holds_for_the_window_then_learning_takes_over():
    fps = 10.0
    rest = MouthRest(fps, MouthRestParams(window_s=20.0), calibrate_s=1.0)
    assert rest.calibrating
    for _ in range(10):  # parted lips at rest, 0.8 wide
        rest.step(np.array([0.1, 0.8]))
    assert not rest.calibrating
    np.testing.assert_allclose(rest.rest, [0.1, 0.8])
    for i in range(190):  # talking, lips closing fully (0) between words
        rest.step(np.array([0.0 if i % 3 == 0 else 0.3, 0.8]))
        np.testing.assert_allclose(rest.rest, [0.1, 0.8])
    for i in range(20):
        rest.step(np.array([0.0 if i % 3 == 0 else 0.3, 0.8]))
    assert rest.rest[0] == 0.0 and rest.rest[1] == pytest.approx(0.8)
