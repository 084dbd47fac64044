"""The streaming loop: chunking invariance, determinism, reference modes, bad keypoints."""

import numpy as np
import pytest

from animator.audio_animator import AudioAnimator
from animator.engine import Engine, EngineConfig
from animator.rig import load_rig
from keypoints.assets import assets_dir
from keypoints.audio import load_audio
from keypoints.lips import LipFrame

DEMO = assets_dir() / "audio" / "demo_speech.ogg"

#: The seed pipeline's algorithms for both the head motion and the speaking state.
REFERENCE_MODES = EngineConfig(motion="reference", speaking="reference")


@pytest.fixture(scope="module")
def speech():
    return load_audio(DEMO)[: 16000 * 8]  # 8 s with a pause in it


def _run(rig, model, samples, chunks, config=None):
    anim = AudioAnimator(rig, model, config or EngineConfig())
    frames, pos = [], 0
    for n in chunks:
        frames += anim.push_audio(samples[pos:pos + n])
        pos += n
    assert pos == len(samples)
    return frames + anim.finish()


def _key(frames):
    return [(f.index, f.t_s, f.angles_deg.tolist(), f.speaking, f.mouth.tolist(),
             f.choice.pose, f.choice.image) for f in frames]


def _random_chunks(rng, n, max_chunk):
    sizes = []
    while sum(sizes) < n:
        sizes.append(int(rng.integers(0, max_chunk)))
    sizes[-1] -= sum(sizes) - n
    return sizes


@pytest.mark.parametrize("config", [EngineConfig(), REFERENCE_MODES,
                                    EngineConfig(fps=30, speaking="reference")])
def test_streaming_equals_whole_file_for_random_chunkings(reference_rig, model, speech, config):
    rig = load_rig(reference_rig)
    whole = _key(_run(rig, model, speech, [len(speech)], config))
    rng = np.random.default_rng(5)
    for max_chunk in (61, 401, 16000):
        assert _key(_run(rig, model, speech, _random_chunks(rng, len(speech), max_chunk),
                         config)) == whole
    # Video frames: exactly round(duration * fps), one per 1/fps.
    assert len(whole) == round(len(speech) / 16000 * config.fps)
    assert [f[0] for f in whole] == list(range(len(whole)))


def test_streaming_mode_emits_frames_as_audio_arrives(reference_rig, model, speech):
    anim = AudioAnimator(load_rig(reference_rig), model)
    assert anim.engine.streaming
    early = anim.push_audio(speech[:16000])  # one second in
    # All frames whose lips are known: up to 1 s minus the model's look-ahead.
    assert 20 <= len(early) <= 25


def test_seed_mode_waits_for_the_whole_clip(reference_rig, model, speech):
    anim = AudioAnimator(load_rig(reference_rig), model, EngineConfig(motion="reference"))
    assert not anim.engine.streaming
    assert anim.push_audio(speech) == []
    assert len(anim.finish()) == 200


def test_same_seed_same_frames_other_seed_other_motion(reference_rig, model, speech):
    rig = load_rig(reference_rig)
    a = _run(rig, model, speech, [len(speech)], EngineConfig(seed=3))
    b = _run(rig, model, speech, [len(speech)], EngineConfig(seed=3))
    c = _run(rig, model, speech, [len(speech)], EngineConfig(seed=4))
    assert _key(a) == _key(b)
    assert not np.allclose([f.angles_deg for f in a], [f.angles_deg for f in c])


def test_seed_modes_reproduce_the_seed_quirk_on_a_sparse_rig(reference_rig, model, speech):
    """The seed's motion (<= 3 deg) never reaches the +-8 deg poses: always centre. The
    natural mode, scaled to the rig, does visit other poses."""
    rig = load_rig(reference_rig)
    seed = _run(rig, model, speech, [len(speech)], REFERENCE_MODES)
    assert np.abs([f.angles_deg for f in seed]).max() <= 3.0
    assert {f.choice.pose for f in seed} == {"center"}
    natural = _run(rig, model, speech, [len(speech)], EngineConfig())
    assert len({f.choice.pose for f in natural}) >= 2


def _lip(t, opening):
    pts = np.array([[0, opening / 2, 0], [0, -opening / 2, 0], [0.5, 0, 0], [-0.5, 0, 0]],
                   np.float32)
    return LipFrame(t, pts, ("upper_lip", "lower_lip", "left_corner", "right_corner"))


def test_nonfinite_keypoints_are_held_at_the_last_good_value(reference_rig):
    eng = Engine(load_rig(reference_rig), EngineConfig(fps=25, open_gain=1.0))
    bad = _lip(0.08, 0.3)
    bad.points[0, 1] = np.nan
    frames = eng.push([_lip(0.0, 0.3), _lip(0.04, 0.3), bad, _lip(0.12, np.inf)])
    frames += eng.finish(0.2)
    assert eng.n_nonfinite == 2
    assert len(frames) == 5
    for f in frames:
        assert np.all(np.isfinite(f.angles_deg)) and np.all(np.isfinite(f.mouth))
        assert f.mouth[0] == pytest.approx(0.3)


def test_model_lips_open_by_the_calibrated_gain_a_face_as_measured(reference_rig):
    """Lips from a model (no mouth_rest) open wider above the closed level by AUDIO_OPEN_GAIN,
    a face's (mouth_rest) as measured, an explicit open_gain wins; closed lips stay closed and
    the speaking state never sees the gain."""
    from animator.stages.mouth import AUDIO_OPEN_GAIN, OPEN_KNEE_W, expanded_open
    from animator.stages.mouth_rest import MouthRestParams

    assert expanded_open(0.03, 2.0) == 0.03 and expanded_open(OPEN_KNEE_W, 2.0) == OPEN_KNEE_W
    assert expanded_open(0.25, 2.0) == pytest.approx(OPEN_KNEE_W + 2.0 * (0.25 - OPEN_KNEE_W))

    assert EngineConfig().shown_open_gain == AUDIO_OPEN_GAIN
    assert EngineConfig(mouth_rest=MouthRestParams()).shown_open_gain == 1.0
    assert EngineConfig(open_gain=1.2).shown_open_gain == 1.2
    with pytest.raises(ValueError, match="open_gain"):
        EngineConfig(open_gain=0.0)
    lips = [_lip(k / 100, (0.2 if 30 <= k < 60 else 0.04) if 30 <= k < 80 else 0.0)
            for k in range(120)]
    runs = {}
    for gain in (None, 1.0):
        eng = Engine(load_rig(reference_rig), EngineConfig(fps=25, open_gain=gain))
        runs[gain] = eng.push(lips) + eng.finish(1.2)
    for a, b in zip(runs[None], runs[1.0], strict=True):
        assert a.mouth[0] == pytest.approx(expanded_open(b.mouth[0], AUDIO_OPEN_GAIN))
        assert a.speaking == b.speaking
    shown = [f.mouth[0] for f in runs[None]]
    assert max(shown) == pytest.approx(OPEN_KNEE_W + AUDIO_OPEN_GAIN * (0.2 - OPEN_KNEE_W))
    assert min(shown) == 0.0 and any(x == pytest.approx(0.04) for x in shown)


def test_lip_frames_at_any_rate_map_to_video_frames(reference_rig):
    eng = Engine(load_rig(reference_rig), EngineConfig(fps=25))
    lips = [_lip(k / 30, 0.5 if k >= 15 else 0.0) for k in range(60)]  # 30 Hz, opens at 0.5 s
    frames = eng.push(lips) + eng.finish(2.0)
    assert len(frames) == 50
    opened = [f.index for f in frames if f.mouth[0] > 0.25]
    # Frame 12 (0.48 s) is nearest the 30 Hz frame at 0.467 s (closed), frame 13 (0.52 s)
    # the one at 0.533 s (open).
    assert opened[0] == 13


@pytest.mark.parametrize("chunk", [1, 3, 64, 1000])
def test_each_video_frame_shows_the_nearest_lip_frame_held_at_the_last_finite_one(
        reference_rig, chunk):
    """Irregular lip times (ties, repeats, gaps), non-finite keypoints (also at the start):
    video frame i shows the lip frame nearest i / fps of the first at or after it and the one
    before that (ties: the earlier), or the last finite one before it (the rest mouth before
    any), whatever the chunking."""
    rng = np.random.default_rng(3)
    times = np.cumsum(rng.choice([0.0, 0.01, 0.02, 0.04, 0.1, 0.013], size=300)).tolist()
    times = sorted(times + [40 / 25] * 2)  # two lip frames exactly at a video frame's time
    opening = [0.001 * (k + 1) for k in range(len(times))]
    lips = [_lip(t, o) for t, o in zip(times, opening, strict=True)]
    bad = {0, 1, 57, 58, 59, 200} | set(range(120, 140))
    for k in bad:
        lips[k].points[k % 4, k % 3] = np.inf if k % 2 else np.nan
    eng = Engine(load_rig(reference_rig), EngineConfig(fps=25, open_gain=1.0))
    frames = []
    for s in range(0, len(lips), chunk):
        frames += eng.push(lips[s:s + chunk])
    frames += eng.finish(times[-1] + 0.2)
    assert eng.n_nonfinite == len(bad)
    shown = 0
    for f in frames[:round(times[-1] * 25)]:
        t = f.index / 25
        after = next(j for j, tj in enumerate(times) if tj >= t)  # the first at or after t
        near = after - 1 if after and t - times[after - 1] <= times[after] - t else after
        good = [j for j in range(near + 1) if j not in bad]
        expected = opening[good[-1]] if good else 0.0
        assert f.mouth[0] == pytest.approx(expected, abs=1e-6), f.index
        shown += bool(good)
    assert shown > 50


def test_engine_config_validated():
    with pytest.raises(ValueError, match="motion"):
        EngineConfig(motion="wild")
    with pytest.raises(ValueError, match="fps"):
        EngineConfig(fps=0)
    with pytest.raises(ValueError, match="motion_gain"):
        EngineConfig(motion_gain=-0.5)
    with pytest.raises(ValueError, match="reference mode"):
        EngineConfig(motion="reference", motion_gain=2.0)


def _lips_of(model, samples):
    from keypoints.stream import AudioLipStream

    stream = AudioLipStream(model)
    return stream.push(samples) + stream.flush()


def test_seed_motion_is_unchanged_by_the_prosody(reference_rig, model, speech):
    """The reference mode never looks at the accent: lips with their prosody and with only its
    voice cue (which the causal speaking state reads), same frames."""
    import dataclasses

    from keypoints.prosody import SILENT

    rig = load_rig(reference_rig)
    lips = _lips_of(model, speech)
    assert all(lf.prosody is not None for lf in lips)
    bare = [dataclasses.replace(lf, prosody=dataclasses.replace(SILENT, voice=lf.prosody.voice))
            for lf in lips]
    for config in (REFERENCE_MODES, EngineConfig(motion="reference")):
        a, b = Engine(rig, config), Engine(rig, config)
        duration = len(speech) / 16000
        assert _key(a.push(lips) + a.finish(duration)) == _key(b.push(bare) + b.finish(duration))


def test_motion_gain_zero_keeps_the_head_still(reference_rig, model, speech):
    frames = _run(load_rig(reference_rig), model, speech, [len(speech)],
                  EngineConfig(motion_gain=0))
    assert not np.any([f.angles_deg for f in frames])
    assert {f.choice.pose for f in frames} == {"center"}
    assert len({f.choice.image for f in frames}) > 3  # the mouth still speaks


def test_head_speed_follows_the_accents_of_unseen_speech(reference_rig, model):
    """espeak-ng speech (a voice of the corpus' test split) through the whole audio path: the
    head's angular speed correlates with the accent envelope within speech; the speech-blind
    natural mode's does not."""
    from animator.engine import rig_extent_deg
    from animator.stages.motion import MotionParams
    from keypoints.corpus import dataset

    rig = load_rig(reference_rig)
    samples = dataset.speech_recording(np.random.default_rng(7), "test", 8.0, None).samples
    lips = _lips_of(model, samples)
    accent_100 = np.array([lf.prosody.accent for lf in lips])
    params = MotionParams().scaled_to_extent(rig_extent_deg(rig))
    r = {}
    for name, p in (("new", params), ("blind", params.speech_blind())):
        eng = Engine(rig, EngineConfig(motion_params=p))
        frames = eng.push(lips) + eng.finish(len(samples) / 16000)
        angles = np.array([f.angles_deg for f in frames])
        speed = np.linalg.norm(np.diff(angles, axis=0, prepend=angles[:1]), axis=1)
        accent = accent_100[np.minimum(np.arange(len(frames)) * 4, len(lips) - 1)]
        inside = np.array([f.speaking for f in frames]) >= 0.5
        r[name] = max(np.corrcoef(speed[lag:][inside[lag:]],
                                  accent[:len(speed) - lag][inside[lag:]])[0, 1]
                      for lag in (0, 1, 2))  # speed lagging the accent by 0-80 ms
    assert r["new"] > 0.4 and r["blind"] < 0.25, r


def test_a_shape_heard_in_a_pause_shows_the_resting_mouth(reference_rig):
    """The shape model hears D throughout; the lips talk for 1 s and then rest: the frames
    show D while the speaking state is on and rest (X) once it says silence, never a mouth
    shape in the pause (a breath or room noise heard as a sound)."""
    from dataclasses import replace

    eng = Engine(load_rig(reference_rig), EngineConfig(fps=25))
    lips = [replace(_lip(k / 100, 0.4 + 0.3 * np.sin(k / 5) if k < 100 else 0.0), viseme="D")
            for k in range(200)]
    frames = eng.push(lips) + eng.finish(2.0)
    talking = [f for f in frames if f.speaking >= 0.5]
    pause = [f for f in frames if f.speaking < 0.5]
    assert len(talking) >= 20 and {f.viseme for f in talking} == {"D"}
    assert len(pause) >= 20 and {f.viseme for f in pause} == {"X"}
    assert [f.viseme for f in frames[-20:]] == ["X"] * 20  # the lips rest: silence


def test_only_heard_shapes_are_gated_by_the_speaking_state():
    from animator.stages.mouth_shapes import shown_shape

    open_mouth = np.array([0.55, 0.95])
    assert shown_shape("G", open_mouth, 0.0) == "X" and shown_shape("G", open_mouth, 1.0) == "G"
    # lips without a heard shape (a face on a camera) show their own opening, also in a pause
    assert shown_shape(None, open_mouth, 0.0) == "D"
    assert shown_shape(None, np.array([0.0, 1.0]), 0.0) == "X"
    assert shown_shape(None, np.array([0.0, 1.0]), 1.0) == "A"


def _frame_fields(f):
    return (f.index, f.t_s, f.angles_deg.tolist(), f.speaking, f.mouth.tolist(), f.eyes.closed,
            f.choice.pose, f.choice.expression, f.choice.image)


@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_the_offline_shape_lead_shows_the_later_shape_and_nothing_else_changes(
        reference_rig, chunk):
    """Talking lips at 100 Hz, each carrying a different shape than the one before: live (no
    lead) frame i shows the shape of the lip frame at its own time and comes out as soon as
    that lip frame is in; with a lead of 30 ms it shows the shape of the lip frame 30 ms later
    and waits for it (offline at 25 fps the lead is 20 ms, the middle of the 40 ms a frame is
    held, plus the shapes' lateness).
    Everything but the shape is the same frame for frame, whatever the chunking."""
    from dataclasses import replace

    from animator.render import offline_shape_lead_s

    letters = "BCDEFGH"
    lips = [replace(_lip(k / 100, 0.45 + 0.3 * np.sin(k / 5)), viseme=letters[k % 7])
            for k in range(300)]
    runs = {}
    for lead in (0.0, 0.03):
        assert EngineConfig().shape_lead_s == 0.0  # live: no look-ahead
        eng = Engine(load_rig(reference_rig), EngineConfig(fps=25, shape_lead_s=lead))
        frames, decided_at = [], {}
        for s in range(0, len(lips), chunk):
            new = eng.push(lips[s:s + chunk])
            decided_at.update({f.index: s + chunk - 1 for f in new})
            frames += new
        runs[lead] = frames + eng.finish(3.0)
        assert len(runs[lead]) == 75
        if chunk == 1:  # frame i waits for the lip frame at i / 25 + lead, no longer
            assert all(decided_at[i] == 4 * i + round(100 * lead) for i in decided_at)
            assert len(decided_at) == 75  # the last lip frame (2.99 s) is 30 ms after 2.96
    talking = [i for i, f in enumerate(runs[0.0]) if f.speaking >= 0.5]
    assert len(talking) > 50
    for i in talking:
        assert runs[0.0][i].viseme == letters[(4 * i) % 7]
        assert runs[0.03][i].viseme == letters[min(4 * i + 3, 299) % 7]
    assert [_frame_fields(f) for f in runs[0.0]] == [_frame_fields(f) for f in runs[0.03]]
    assert offline_shape_lead_s(25.0) == pytest.approx(0.02 + offline_shape_lead_s(1e9))


@pytest.mark.parametrize("lead", [0.0, 0.03])
def test_a_heard_closed_shape_closes_the_shown_mouth_and_nothing_else(reference_rig, lead):
    """Open, talking lips (never below 0.15 mouth widths) whose shape model hears A (p, b, m)
    for 0.4 s and D (an open vowel) otherwise: the frames whose shape (at their lead) is A
    show the opening at rest and the rest image's end of the speech path; every other frame,
    and the speaking state and head of all, are those of the lips' own opening; any chunking
    gives the same frames."""
    from dataclasses import replace

    lips = [replace(_lip(k / 100, 0.45 + 0.3 * np.sin(k / 5)),
                    viseme="A" if 100 <= k < 140 else "D") for k in range(300)]
    rig = load_rig(reference_rig)

    def frames(closes, chunk=300):
        eng = Engine(rig, EngineConfig(fps=25, shape_lead_s=lead, shape_closes_mouth=closes))
        out = [f for s in range(0, len(lips), chunk) for f in eng.push(lips[s:s + chunk])]
        return out + eng.finish(3.0)

    fused, raw = frames(True), frames(False)
    heard_a = [i for i in range(75) if 100 <= round(100 * (i / 25 + lead)) < 140]
    assert len(heard_a) == 10 and all(fused[i].viseme == "A" for i in heard_a)
    for i, (f, r) in enumerate(zip(fused, raw, strict=True)):
        assert f.speaking == r.speaking and f.angles_deg.tolist() == r.angles_deg.tolist()
        if i in heard_a:
            assert r.mouth[0] > 0.1 and f.mouth.tolist() == [0.0, r.mouth[1]]
            assert f.choice.path_t == 0.0
        else:
            assert _frame_fields(f) == _frame_fields(r)
    for chunk in (1, 7):
        assert [_frame_fields(f) for f in frames(True, chunk)] == [_frame_fields(f)
                                                                   for f in fused]


def test_only_a_heard_closed_shape_closes_the_mouth():
    from animator.stages.mouth_shapes import closed_by_shape

    mouth = np.array([0.3, 1.02])
    assert closed_by_shape("A", mouth) == (0.0, 1.02)
    for heard in (None, "X", "B", "D", "F", "G"):  # None: lips without shapes (a face)
        assert closed_by_shape(heard, mouth) is mouth
