"""The offline speaking state's look-ahead: breaths before speech are not taken for speech
(animator.stages.breath_onsets, animator.render.onset_lookahead, ``--speaking lookahead``)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from animator.engine import EngineConfig
from animator.live.loop import Reading
from animator.render import OFFLINE_SPEAKING_LEAD_S
from animator.render.file_source import nearest_frames
from animator.render.offline import render
from animator.render.onset_lookahead import BreathMutedSource
from animator.stages.breath_onsets import (
    BreathParams,
    breath_frames,
    context_frames,
    horizon_frames,
)
from benchmarks.realdata import realdata_dir
from keypoints.lips import LipFrame
from keypoints.prosody import Prosody

FPS = 25.0
GRID = realdata_dir() / "talking_faces"


def _stretch(quiet_s: float, loud_s: float = 0.6, pause_s: float = 0.5):
    """(voice, loudness_db) per video frame: a pause, cue up over ``quiet_s`` of sound 25 dB
    below the vowel that follows for ``loud_s``, a pause."""
    n_pause, n_quiet, n_loud = (round(x * FPS) for x in (pause_s, quiet_s, loud_s))
    voice = np.r_[np.zeros(n_pause), np.ones(n_quiet + n_loud), np.zeros(n_pause)]
    loud = np.r_[np.full(n_pause, -60.0), np.full(n_quiet, -35.0), np.full(n_loud, -10.0),
                 np.full(n_pause, -60.0)]
    return voice, loud, n_pause, n_quiet


def test_a_quiet_start_longer_than_the_lead_is_marked_up_to_the_lead():
    voice, loud, start, n_quiet = _stretch(0.4)
    marks = breath_frames(voice, loud, FPS)
    lead = round(BreathParams().lead_s * FPS)
    assert np.flatnonzero(marks).tolist() == list(range(start, start + n_quiet - lead))


@pytest.mark.parametrize("quiet_s", [0.0, 0.12, 0.2])
def test_a_word_starting_within_the_lead_of_its_vowel_is_left_alone(quiet_s):
    voice, loud, _, _ = _stretch(quiet_s)
    assert not breath_frames(voice, loud, FPS).any()


def test_a_sound_not_much_quieter_than_the_vowel_is_speech():
    voice, loud, start, n_quiet = _stretch(0.4)
    loud[start:start + n_quiet] = -10.0 - BreathParams().nucleus_db + 1.0
    assert not breath_frames(voice, loud, FPS).any()


def test_a_short_gap_does_not_start_a_new_stretch():
    """A stop closure inside speech (cue down for less than merge_s) followed by a quieter
    stretch: the quiet part belongs to the running stretch, nothing is marked."""
    voice, loud, start, n_quiet = _stretch(0.0, loud_s=1.0)
    end = start + round(1.0 * FPS)
    voice = np.r_[voice[:end], np.zeros(3), np.ones(15), voice[end:]]
    loud = np.r_[loud[:end], np.full(3, -60.0), np.full(15, -40.0), loud[end:]]
    assert not breath_frames(voice, loud, FPS).any()


def test_slices_give_the_whole_arrays_marks_away_from_their_ends():
    rng = np.random.default_rng(3)
    n = 600
    voice = (rng.random(n) < 0.5).astype(float)
    voice[rng.random(n) < 0.3] = 0.0
    loud = rng.normal(-30, 10, n)
    whole = breath_frames(voice, loud, FPS)
    ctx, hor = context_frames(FPS), horizon_frames(FPS)
    for lo, hi in [(0, 300), (37, 400), (120, 600), (250, 520)]:
        part = breath_frames(voice[lo:hi], loud[lo:hi], FPS)
        a = lo if lo == 0 else lo + ctx
        b = hi if hi == n else hi - hor
        np.testing.assert_array_equal(part[a - lo:b - lo], whole[a:b])
    assert whole.any()


def test_params_and_shapes_are_checked():
    with pytest.raises(ValueError):
        BreathParams(nucleus_db=0.0)
    with pytest.raises(ValueError):
        BreathParams(cue_on=0.0)
    with pytest.raises(ValueError):
        breath_frames(np.zeros(3), np.zeros(4), FPS)


class _Chunks:
    """An offline source handing out ``frames`` in chunks of the given sizes, then the end."""

    def __init__(self, frames: list[LipFrame], sizes: list[int]) -> None:
        self._frames, self._sizes, self._pos, self._k, self.closed = frames, sizes, 0, 0, False

    def read(self, index: int, now_s: float) -> Reading:
        if self._pos >= len(self._frames):
            return Reading([], end_s=self._frames[-1].t_s + 0.01)
        size = self._sizes[self._k % len(self._sizes)]
        self._k += 1
        out = self._frames[self._pos:self._pos + size]
        self._pos += size
        return Reading(out)

    def drop_backlog(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def _lip_frames(n: int, rate_hz: float = 100.0) -> list[LipFrame]:
    rng = np.random.default_rng(5)
    names = ("upper_lip", "lower_lip", "left_corner", "right_corner")
    voice = np.repeat(rng.random(n // 20 + 1) < 0.6, 20)[:n].astype(float)
    loud = np.repeat(rng.choice([-40.0, -12.0], n // 10 + 1), 10)[:n]
    return [LipFrame(k / rate_hz, np.zeros((4, 3), np.float32), names,
                     Prosody(0.5, 0.0, float(loud[k]), float(voice[k]))) for k in range(n)]


@pytest.mark.parametrize("sizes", [[1], [7], [256, 2050], [13, 1, 400], [5000]])
def test_the_wrapper_mutes_the_marked_frames_whatever_the_chunking(sizes):
    frames = _lip_frames(1500)
    source = _Chunks(frames, sizes)
    wrapped = BreathMutedSource(source, FPS)
    out, ended = [], False
    for i in range(10000):
        r = wrapped.read(i, 0.0)
        out += r.lips
        if r.end_s is not None:
            ended = True
            break
    assert ended and [f.t_s for f in out] == [f.t_s for f in frames]  # none lost, in order
    times = np.array([f.t_s for f in frames])
    n_video = int(np.floor(times[-1] * FPS)) + 1
    near = nearest_frames(times, np.arange(n_video) / FPS)
    voice = np.array([f.prosody.voice for f in frames])
    loud = np.array([f.prosody.loudness_db for f in frames])
    marks = breath_frames(voice[near], loud[near], FPS)
    assert marks.any()
    want = voice.copy()
    want[near[marks]] = 0.0
    np.testing.assert_array_equal([f.prosody.voice for f in out], want)
    wrapped.close()
    assert source.closed


def _speaking(path, **kw) -> tuple[np.ndarray, np.ndarray]:
    frames = json.loads(path.read_text())["frames"]
    return np.array([f["t"] for f in frames]), np.array([f["speaking"] for f in frames])


def test_a_real_breath_before_speech_is_not_speech_offline(tmp_path):
    """GRID id2_vcd_swwp2s: an audible breath 0.16-0.4 s, the first word at 0.49 s (its
    alignment): the causal state (as live) calls the breath speech, the offline look-ahead
    does not; from the first word on it is the causal state read ahead, and both offline
    sources agree."""
    clip = GRID / "id2_vcd_swwp2s.mpg"
    first_word_s = 12250 / 25000  # swwp2s.align: "sil" until 12250 (units of 1/25000 s)
    assert (GRID / "swwp2s.align").read_text().split()[:3] == ["0", "12250", "sil"]
    runs = {}
    for name, speaking, whole in [("causal", "causal", True), ("lookahead", "lookahead", True),
                                  ("stream", "lookahead", False)]:
        out = tmp_path / f"{name}.json"
        render(clip, None, config=EngineConfig(speaking=speaking), timeline_path=out,
               whole_file=whole)
        runs[name] = _speaking(out)
    t, causal = runs["causal"]
    _, lookahead = runs["lookahead"]
    before = t < first_word_s - 0.1
    assert causal[before].max() == 1.0  # the breath, taken for speech
    assert lookahead[before].max() == 0.0
    # from the first word on: the causal state read OFFLINE_SPEAKING_LEAD_S ahead
    k = round(OFFLINE_SPEAKING_LEAD_S * 25)
    after = t >= first_word_s
    np.testing.assert_array_equal(lookahead[after],
                                  np.r_[causal[k:], np.repeat(causal[-1:], k)][after])
    np.testing.assert_array_equal(runs["stream"][1], lookahead)


def test_render_and_batch_default_to_the_lookahead(tmp_path):
    from animator.cli.main import build_parser
    from animator.render.batch import RenderSettings

    assert RenderSettings().speaking == "lookahead"
    args = build_parser().parse_args(["render", "a.wav", "-o", str(tmp_path / "o.mp4")])
    assert args.speaking == "lookahead"


# --- the engine's speaking lead (EngineConfig.speaking_lead_s) ---------------------------------

def _frames(rig_dir, model, samples, config, chunks):
    from animator.audio_animator import AudioAnimator
    from animator.rig import load_rig

    anim = AudioAnimator(load_rig(rig_dir), model, config)
    out, pos = [], 0
    for n in chunks:
        out += anim.push_audio(samples[pos:pos + n])
        pos += n
    return out + anim.finish()


@pytest.fixture(scope="module")
def speech8():
    from keypoints.assets import assets_dir
    from keypoints.audio import load_audio

    return load_audio(assets_dir() / "audio" / "demo_speech.ogg")[: 16000 * 8]


@pytest.mark.parametrize("fps, lead_frames, motion", [(25.0, 2, "natural"), (30.0, 2, "natural"),
                                                      (60.0, 5, "natural"),
                                                      (25.0, 2, "reference")])
def test_a_speaking_lead_shows_each_frame_the_state_ahead_and_holds_the_last(
        reference_rig, model, speech8, fps, lead_frames, motion):
    causal = _frames(reference_rig, model, speech8, EngineConfig(fps=fps, motion=motion),
                     [len(speech8)])
    lead_cfg = EngineConfig(fps=fps, motion=motion, speaking_lead_s=0.08)
    ahead = _frames(reference_rig, model, speech8, lead_cfg, [len(speech8)])
    masks = np.array([f.speaking for f in causal])
    want = np.r_[masks[lead_frames:], np.repeat(masks[-1:], lead_frames)]
    np.testing.assert_array_equal([f.speaking for f in ahead], want)
    assert not np.array_equal(want, masks)  # the speech starts and stops: the lead shows
    # the mouth does not wait for anything: the same openings frame by frame
    np.testing.assert_array_equal([f.mouth for f in ahead], [f.mouth for f in causal])
    assert [f.index for f in ahead] == list(range(len(causal)))


def test_a_speaking_lead_gives_the_same_frames_for_any_chunking(reference_rig, model, speech8):
    cfg = EngineConfig(speaking_lead_s=0.08)
    whole = _frames(reference_rig, model, speech8, cfg, [len(speech8)])
    for size in (160, 1601, 40000):
        chunks = [size] * (len(speech8) // size) + [len(speech8) % size]
        part = _frames(reference_rig, model, speech8, cfg, chunks)
        assert [(f.index, f.speaking, f.angles_deg.tolist(), f.choice.image) for f in part] \
            == [(f.index, f.speaking, f.angles_deg.tolist(), f.choice.image) for f in whole]


def test_the_speaking_lead_is_checked():
    with pytest.raises(ValueError):
        EngineConfig(speaking_lead_s=-0.1)
    with pytest.raises(ValueError):
        EngineConfig(speaking_lead_s=0.08, head="tracked")


def test_the_default_render_is_the_engine_with_the_lead_fed_the_muted_source(tmp_path, rig,
                                                                             model):
    """render() with its default speaking state gives exactly the frames of an engine with
    the offline lead fed by hand from the breath-muted lip stream."""
    from animator.engine import Engine
    from animator.render import offline_shape_lead_s
    from animator.render.source import AudioFileSource
    from keypoints.audio import load_audio
    from keypoints.visemenet import ShapeModel

    audio = GRID / "bbaf2n.mpg"  # a breath and lip smacks before the first word
    rendered = render(audio, None, timeline_path=tmp_path / "t.json", model=model,
                      whole_file=False)
    samples = load_audio(audio, model.feature_config.sample_rate)
    duration_s = json.loads((tmp_path / "t.json").read_text())["duration"]
    source = BreathMutedSource(AudioFileSource(samples, model, duration_s,
                                               shapes=ShapeModel.load(), threaded=False), FPS)
    engine = Engine(rig, EngineConfig(speaking="lookahead", shape_lead_s=offline_shape_lead_s(
        FPS), speaking_lead_s=OFFLINE_SPEAKING_LEAD_S))
    frames, end = [], None
    while end is None:
        reading = source.read(0, 0.0)
        frames += engine.push(reading.lips)
        end = reading.end_s
    frames += engine.finish(end)
    key = [(f.index, f.speaking, f.angles_deg.tolist(), f.choice.image) for f in frames]
    assert key == [(f.index, f.speaking, f.angles_deg.tolist(), f.choice.image)
                   for f in rendered.frames]


def test_read_ahead_takes_the_mask_k_frames_later_and_holds_the_last():
    from animator.stages.speaking import read_ahead

    mask = np.array([0.0, 0.0, 1.0, 1.0, 0.0])
    np.testing.assert_array_equal(read_ahead(mask, 2), [1.0, 1.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(read_ahead(mask, 0), mask)
    np.testing.assert_array_equal(read_ahead(mask, 9), [0.0] * 5)
    assert read_ahead(np.zeros(0), 2).size == 0
