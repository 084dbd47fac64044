"""Offline rendering through the one loop: timelines byte-identical to the code before the
refactor, model blocks within their tolerance, timeline-only runs, exports, the video sink
(every frame, in order), the compositor's memory bound."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from animator.engine import EngineConfig
from animator.render import render
from animator.rig import default_rig_dir, load_rig
from animator.sinks.compose import FrameCompositor
from benchmarks.realdata import realdata_dir
from keypoints.assets import assets_dir
from keypoints.audio import load_audio
from keypoints.features import log_mel_frame, log_mel_frames
from keypoints.mappingnet import MappingNet
from keypoints.stream import BLOCK_TOLERANCE, AudioLipStream

GOLDEN = Path(__file__).parent / "data" / "golden_timelines"
DEMO = assets_dir() / "audio" / "demo_speech.ogg"
CLIPS = realdata_dir() / "talking_faces"
#: name -> (audio, engine config) of the timelines in tests/data/golden_timelines; they were
#: made before idle blinks, the ``eyes`` field, the closed shape closing the mouth and the
#: shown opening's gain existed: rendered without idle blinks (and without cues) and with the
#: lips' own opening (gain 1), today's
#: timelines minus ``eyes`` must be those files byte for byte (the closed shape's frames:
#: test_a_heard_closed_shape_closes_the_mouth_and_changes_nothing_else).
#: the lips' own opening: no closed shape closing it, no gain (see the docstring above)
_OWN = {"idle_blinks": None, "shape_closes_mouth": False, "open_gain": 1.0}
CASES = {
    "news_1_default": (CLIPS / "news_1.mp4", EngineConfig(**_OWN)),
    "bbaf2n_seed3_30fps": (CLIPS / "bbaf2n.mpg", EngineConfig(fps=30, seed=3, **_OWN)),
    "news_2_seedmodes": (CLIPS / "news_2.mp4",
                         EngineConfig(seed=1, motion="reference", speaking="reference", **_OWN)),
    "demo_default": (DEMO, EngineConfig(seed=5, **_OWN)),
}


@pytest.fixture(scope="module")
def windowed_model():
    """The model without its step plan: per frame, one onnxruntime call per window, the
    path the golden timelines were made with."""
    return MappingNet.load(streaming=False)


def _timeline_text(path: Path, audio: Path) -> str:
    """The timeline file with its absolute paths replaced as in the golden files, and without
    the fields younger than them: ``eyes`` (every frame's must be ``open`` here) and
    ``viseme`` (the mouth shape)."""
    from animator.sinks.exports import timeline_json

    text = path.read_text(encoding="utf-8")
    text = (text.replace(json.dumps(str(audio)), '"<AUDIO>"', 1)
            .replace(json.dumps(str(default_rig_dir())), '"<RIG>"', 1))
    timeline = json.loads(text)
    assert {f.pop("eyes") for f in timeline["frames"]} == {"open"}
    assert {f.pop("viseme") for f in timeline["frames"]} <= set("ABCDEFGHX")
    return timeline_json(timeline) + "\n"


@pytest.mark.parametrize("name", sorted(CASES))
def test_timelines_are_byte_identical_to_the_code_before_the_one_loop(tmp_path, name,
                                                                       windowed_model):
    """Made again with: render(audio, None, config=..., timeline_path=..., model_batch=1,
    model=MappingNet.load(streaming=False))."""
    audio, config = CASES[name]
    out = tmp_path / "t.json"
    result = render(audio, None, config=config, timeline_path=out, model_batch=1,
                    model=windowed_model)
    assert result.out_path is None and not list(tmp_path.glob("*.mp4"))
    assert _timeline_text(out, audio) == (GOLDEN / f"{name}.json").read_text(encoding="utf-8")


@pytest.mark.parametrize("batch", [256, 1])
@pytest.mark.parametrize("name", sorted(CASES))
def test_model_blocks_choose_the_same_frames_within_the_stated_tolerance(tmp_path, name, model,
                                                                         batch):
    """The default offline path (one model call per 256 keypoint frames) and the step plan
    (``model_batch=1``: one step per feature frame) against the windowed golden timelines:
    the same image in every frame, and every number within the printed precision (1e-4) of
    it: the keypoints move by float rounding only."""
    audio, config = CASES[name]
    out = tmp_path / "t.json"
    render(audio, None, config=config, timeline_path=out, model=model, model_batch=batch)
    new = json.loads(out.read_text())["frames"]
    old = json.loads((GOLDEN / f"{name}.json").read_text())["frames"]
    assert len(new) == len(old)
    for a, b in zip(new, old, strict=True):
        assert (a["image"], a["pose"], a["expression"]) == (b["image"], b["pose"],
                                                             b["expression"])
        for key in ("pitch", "yaw", "roll", "speaking", "open"):
            assert a[key] == pytest.approx(b[key], abs=1.01e-4)


#: cases whose audio has frames heard as A (news_1 has none with the shape model of stop 24)
@pytest.mark.parametrize("name", ["news_2_seedmodes", "demo_default"])
def test_a_heard_closed_shape_closes_the_mouth_and_changes_nothing_else(tmp_path, name, model):
    """The default render (the closed shape closes the mouth) against the golden timelines
    (the lips' own opening): every frame showing A (p, b, m heard while speaking) shows the
    opening at rest, the other frames' openings (open vowels among them), head angles and
    speaking state are the golden ones; the closures are on the rest image's path end."""
    from dataclasses import replace

    audio, config = CASES[name]
    out = tmp_path / "t.json"
    render(audio, None, config=replace(config, shape_closes_mouth=True), timeline_path=out,
           model=model)
    new = json.loads(out.read_text())["frames"]
    old = json.loads((GOLDEN / f"{name}.json").read_text())["frames"]
    assert len(new) == len(old)
    closed = [i for i, f in enumerate(new) if f["viseme"] == "A"]
    assert closed and all(old[i]["open"] > 0.0 for i in closed)  # the lips alone: open
    assert all(new[i]["open"] == 0.0 for i in closed)
    assert any(old[i]["open"] >= 0.05 for i in closed)  # some were visibly open
    for a, b in zip(new, old, strict=True):
        for key in ("pitch", "yaw", "roll", "speaking"):
            assert a[key] == pytest.approx(b[key], abs=1.01e-4)
        if a["viseme"] not in ("A", "X"):
            assert a["open"] == pytest.approx(b["open"], abs=1.01e-4)


def test_the_default_render_shows_the_lips_opening_times_the_calibrated_gain(tmp_path, model):
    """The default config (audio lips: AUDIO_OPEN_GAIN, closed shape closing) against the
    golden demo timeline (gain 1): every frame's opening is the golden one expanded about the
    closed level (0 where A was heard), head and speaking state unchanged, wider mouths shown."""
    from dataclasses import replace

    from animator.stages.mouth import AUDIO_OPEN_GAIN, expanded_open

    audio, config = CASES["demo_default"]
    default = replace(config, shape_closes_mouth=True, open_gain=None)
    assert default.shown_open_gain == AUDIO_OPEN_GAIN > 1.0
    out = tmp_path / "t.json"
    render(audio, None, config=default, timeline_path=out, model=model)
    new = json.loads(out.read_text())["frames"]
    old = json.loads((GOLDEN / "demo_default.json").read_text())["frames"]
    assert len(new) == len(old)
    for a, b in zip(new, old, strict=True):
        for key in ("pitch", "yaw", "roll", "speaking"):
            assert a[key] == pytest.approx(b[key], abs=1.01e-4)
        scaled = pytest.approx(expanded_open(b["open"], AUDIO_OPEN_GAIN), abs=2e-4)
        if a["viseme"] == "A":  # heard closed: at rest
            assert a["open"] == 0.0
        elif a["viseme"] == "X":  # shown at rest while silent: heard A (closed) or not
            assert a["open"] == 0.0 or a["open"] == scaled
        else:
            assert a["open"] == scaled
    # the wider mouths reach tween frames further along the path to the open shapes
    assert max(f["open"] for f in new) > 1.4 * max(f["open"] for f in old)
    assert sum(a["image"] != b["image"] for a, b in zip(new, old, strict=True)) > 0


def test_keypoint_blocks_stay_within_tolerance_and_never_depend_on_chunking(model):
    audio = load_audio(CLIPS / "news_4.mp4")
    per_frame = AudioLipStream(model)
    ref = per_frame.push(audio) + per_frame.flush()
    runs = []
    for chunk in (160, 3203, len(audio)):
        stream = AudioLipStream(model, block_frames=256)
        lips = [f for s in range(0, len(audio), chunk) for f in stream.push(audio[s:s + chunk])]
        runs.append(lips + stream.flush())
    for lips in runs:
        assert [f.t_s for f in lips] == [f.t_s for f in ref]
        diff = max(float(np.abs(a.points - b.points).max()) for a, b in zip(lips, ref,
                                                                             strict=True))
        assert diff <= BLOCK_TOLERANCE
    for lips in runs[1:]:  # blocks are aligned on frame numbers: the same values every time
        assert all(np.array_equal(a.points, b.points) for a, b in zip(lips, runs[0],
                                                                       strict=True))


@pytest.mark.parametrize("blas_threads", [1, None])
def test_vectorised_log_mel_is_bit_identical_to_one_frame_at_a_time(model, blas_threads):
    from threadpoolctl import threadpool_limits

    cfg = model.feature_config
    audio = load_audio(CLIPS / "lwbsza.mpg")
    n = (len(audio) - cfg.win_length) // cfg.hop_length
    frames = np.stack([audio[i * cfg.hop_length:i * cfg.hop_length + cfg.win_length]
                       for i in range(n)])
    ref = np.stack([log_mel_frame(f, cfg) for f in frames], axis=1)
    with threadpool_limits(limits=blas_threads, user_api="blas"):
        for block in (2, 7, 16, 17, 64, n):  # a live tick's frames (gemv) and more (gemm)
            got = np.concatenate([log_mel_frames(frames[s:s + block], cfg)
                                  for s in range(0, n, block)], axis=1)
            assert np.array_equal(got, ref)


def test_timeline_only_equals_the_timeline_of_a_video_render(tmp_path, model):
    audio = CLIPS / "swiz3n.mpg"
    render(audio, None, timeline_path=tmp_path / "a.json", model=model)
    frames_seen = []
    result = render(audio, tmp_path / "v.mp4", timeline_path=tmp_path / "b.json",
                    model=model, width_px=128, on_frame=frames_seen.append)
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    # the queueing sink encoded every frame, in order, and the file holds them all
    assert [f.index for f in frames_seen] == list(range(result.n_frames))
    with av.open(str(tmp_path / "v.mp4")) as container:
        decoded = sum(1 for _ in container.decode(video=0))
    assert decoded == result.n_frames == len(json.loads((tmp_path / "a.json").read_text())
                                              ["frames"])


def test_exports_plug_in_by_format_and_land_together(tmp_path, model):
    result = render(DEMO, None, exports=[("timeline", tmp_path / "t.json"),
                                         ("plot", tmp_path / "p.png")], model=model)
    assert json.loads((tmp_path / "t.json").read_text())["frames"][-1]["i"] == \
        result.n_frames - 1
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]


def test_compositor_cache_is_bounded_by_bytes_and_keeps_the_recent_images():
    rig = load_rig(default_rig_dir())
    images = rig.image_relpaths()[:12]
    one = 128 * 128 * 3
    comp = FrameCompositor(rig, 128, cache_bytes=5 * one)
    for rel in images:
        comp.base_image(rel)
        assert comp.cached_bytes <= 5 * one
    assert comp.n_decoded == 12
    comp.base_image(images[-1])  # recent: still there
    assert comp.n_decoded == 12
    comp.base_image(images[0])  # evicted long ago: read again
    assert comp.n_decoded == 13


def test_timeline_json_is_json_dumps_byte_for_byte():
    from animator.sinks.exports import timeline_json

    for path in GOLDEN.glob("*.json"):
        timeline = json.loads(path.read_text())
        assert timeline_json(timeline) == json.dumps(timeline, indent=1)
        timeline["frames"][0]["eyes"] = {"left": 0.5, "right": 1}  # a nested record
        assert timeline_json(timeline) == json.dumps(timeline, indent=1)


def test_audio_decoded_beside_the_rig_and_models_keeps_the_order_of_errors(tmp_path, model):
    """The audio is decoded in a thread beside the rig and the models: a broken rig is still
    reported before broken audio, broken audio still as itself, and no thread is left
    behind either way."""
    import threading

    from animator.rig import RigError
    from keypoints.audio import AudioError

    bad_audio = tmp_path / "bad.wav"
    bad_audio.write_text("not audio\n" * 50)
    bad_rig = tmp_path / "rig"
    bad_rig.mkdir()
    before = threading.active_count()
    with pytest.raises(RigError):
        render(bad_audio, None, rig_dir=bad_rig, timeline_path=tmp_path / "a.json", model=model)
    with pytest.raises(AudioError):
        render(bad_audio, None, timeline_path=tmp_path / "b.json", model=model)
    assert threading.active_count() == before
    assert not (tmp_path / "a.json").exists() and not (tmp_path / "b.json").exists()


def test_the_timeline_text_is_the_timeline_dicts_json_byte_for_byte(tmp_path, model):
    """timeline_text (formatted straight from the frames) against json.dumps(indent=1) of
    the timeline's dicts: a render's frames, and frames with what JSON spells its own way:
    non-finite numbers (then the dicts are taken), no shape (null), names beyond ASCII or
    with quotes, an integer time."""
    from dataclasses import replace

    from animator.core.types import EyeState
    from animator.sinks.exports import timeline_dict, timeline_text

    run = dict(fps=25.0, duration_s=2.0, seed=3, audio="a \"b\".wav", rig="r", latency_ms=45.0)
    frames = render(DEMO, None, timeline_path=tmp_path / "t.json", model=model).frames
    odd = [replace(frames[0], index=0, t_s=0, viseme=None),
           replace(frames[1], choice=replace(frames[1].choice, expression="lächeln",
                                             image='e/"x"\\y.png')),
           replace(frames[2], eyes=EyeState(np.array([1.0, 1.0]), True), speaking=-0.0)]
    for case in (frames, odd + frames, [*frames, replace(frames[3], speaking=float("nan"))],
                 [replace(frames[4], angles_deg=np.array([np.inf, 0.0, 1.0]))]):
        assert timeline_text(case, **run) == json.dumps(timeline_dict(case, **run), indent=1)


def test_a_timeline_only_command_imports_neither_opencv_nor_the_progress_bar(tmp_path):
    """Start-up is most of a timeline-only command (~0.25 s for OpenCV, ~0.04 s for tqdm,
    against ~0.4 s for a minute of speech): neither is imported without a video or a bar."""
    import subprocess
    import sys

    code = ("import sys; from animator.cli.main import main; "
            f"main(['render', {str(DEMO)!r}, '--timeline', {str(tmp_path / 't.json')!r}, "
            "'-q']); print(sorted({'cv2', 'tqdm', 'av'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).parents[1])
    assert out.stdout.split("\n")[-2] == "[]"
    assert (tmp_path / "t.json").stat().st_size > 0


def _frame_key(frame):
    """Everything a frame carries, exactly (arrays as bytes)."""
    c = frame.choice
    return (frame.index, frame.t_s, frame.angles_deg.tobytes(), frame.speaking,
            np.asarray(frame.mouth).tobytes(), frame.eyes.closed,
            frame.eyes.closure.tobytes(), frame.viseme, c.pose, c.expression, c.image,
            c.path_t, np.asarray(c.residual_deg).tobytes(), c.overlay)


def test_offline_frames_equal_the_streaming_loop_fed_in_small_chunks(tmp_path, rig, model):
    """The renderer on the lip stream (``whole_file=False``: the lips a model block per read,
    computed ahead in their own thread) gives exactly the frames of the engine fed by hand
    from the same lip stream in 10 ms chunks (with the offline shape lead: frames wait for
    the lips ahead), and so does its source without the thread."""
    from animator.engine import Engine
    from animator.render import offline_shape_lead_s
    from animator.render.source import AudioFileSource
    from keypoints.visemenet import ShapeModel

    audio = DEMO
    samples = load_audio(audio)
    duration_s = len(samples) / model.feature_config.sample_rate
    shapes = ShapeModel.load()
    stream = AudioLipStream(model, 256, shapes)
    offline = EngineConfig(shape_lead_s=offline_shape_lead_s(25.0))
    engine = Engine(rig, offline)
    by_hand = []
    for s in range(0, len(samples), 160):
        by_hand += engine.push(stream.push(samples[s:s + 160]))
    by_hand += engine.push(stream.flush()) + engine.finish(duration_s)
    expected = [_frame_key(f) for f in by_hand]
    rendered = render(audio, None, timeline_path=tmp_path / "t.json", model=model,
                      whole_file=False, config=EngineConfig()).frames  # the causal state
    assert [_frame_key(f) for f in rendered] == expected
    source = AudioFileSource(samples, model, duration_s, shapes=shapes, threaded=False)
    engine = Engine(rig, offline)
    frames, end = [], None
    while end is None:
        reading = source.read(0, 0.0)
        frames += engine.push(reading.lips)
        end = reading.end_s
    assert [_frame_key(f) for f in frames + engine.finish(end)] == expected


def test_the_lip_thread_stops_when_the_loop_fails_and_its_errors_reach_the_loop(
        tmp_path, model, monkeypatch):
    import threading

    from animator.engine import Engine
    from animator.render.source import AudioFileSource

    def boom(self, *args, **kwargs):
        raise RuntimeError("engine failed")

    monkeypatch.setattr(Engine, "push", boom)
    with pytest.raises(RuntimeError, match="engine failed"):
        render(DEMO, None, timeline_path=tmp_path / "a.json", model=model)
    assert not [t for t in threading.enumerate() if t.name == "lips"]
    monkeypatch.undo()

    def bad(self, samples):
        raise ValueError("lips failed")

    monkeypatch.setattr(AudioLipStream, "push", bad)
    source = AudioFileSource(load_audio(DEMO), model, 22.9)
    with pytest.raises(ValueError, match="lips failed"):
        source.read(0, 0.0)
    source.close()
    assert not [t for t in threading.enumerate() if t.name == "lips"]


@pytest.mark.parametrize("n_samples", [1, 100, 161, 1600])
@pytest.mark.parametrize("whole_file", [True, False])
def test_audio_shorter_than_a_few_hops_renders_its_frames(tmp_path, model, n_samples,
                                                          whole_file):
    """A clip of one sample to 0.1 s (one or two lip frames: the whole-file path once failed
    on a single one) gives its length in frames (to half a frame), at least one, in both
    paths."""
    import soundfile as sf

    wav = tmp_path / "tiny.wav"
    sf.write(wav, np.random.default_rng(1).normal(0, 0.1, n_samples).astype(np.float32), 16000)
    result = render(wav, None, timeline_path=tmp_path / "t.json", model=model,
                    whole_file=whole_file)
    frames = json.loads((tmp_path / "t.json").read_text())["frames"]
    assert len(frames) == len(result.frames) >= 1
    assert len(frames) == 1 or abs(len(frames) / 25 - n_samples / 16000) <= 0.5 / 25
