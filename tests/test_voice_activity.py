"""The voice-activity cue (keypoints.voice_activity) and the speaking state that fuses it with the
lips (animator.stages.speaking): buzz and key clicks stay silent, real speech switches it on
within a few frames, and without a cue (a face tracker) the state is the lips' alone."""

from __future__ import annotations

import numpy as np
import pytest

from animator.stages.speaking import SpeakingDetector, SpeakingParams
from benchmarks import realspeech
from benchmarks.lip_metrics import FPS, lip_stream_voice, named, speaking_state, video_indices
from keypoints.features import FeatureConfig, log_mel
from keypoints.voice_activity import VoiceActivity, VoiceParams

SR = 16000
#: the cue reaches the onset level within this many feature frames (10 ms) of a word
RISE_FRAMES = 8
CFG = FeatureConfig(scale=1 / np.log(10.0))


def cue(x: np.ndarray, config: FeatureConfig = CFG) -> np.ndarray:
    """float[T]: the cue after each feature frame of x."""
    feats = log_mel(np.asarray(x, np.float32), config).astype(np.float64)
    va = VoiceActivity(config)
    return np.array([va.step(np.ascontiguousarray(feats[:, i])) for i in range(feats.shape[1])])


def syllables(n: int, seed: int = 0) -> np.ndarray:
    """n voiced syllables (a gliding harmonic complex, 200 ms with 100 ms gaps) over faint
    noise: speech-like modulation across the bands."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        t = np.arange(int(0.2 * SR)) / SR
        f0 = rng.uniform(100, 180) * (1 + 0.2 * t)
        phase = 2 * np.pi * np.cumsum(f0) / SR
        env = np.sin(np.pi * t / t[-1]) ** 2
        out += [env * sum(np.sin(h * phase) / h for h in range(1, 30)), np.zeros(int(0.1 * SR))]
    x = np.concatenate(out)
    return 0.3 * x + 1e-3 * rng.standard_normal(x.size)


def test_buzz_hum_and_steady_noise_are_not_voice():
    t = np.arange(4 * SR) / SR
    for x in (np.sign(np.sin(2 * np.pi * 200 * t)),  # full-scale square buzz
              sum(np.sin(2 * np.pi * 50 * h * t) / h for h in range(1, 9)) * 0.2,  # hum
              np.random.default_rng(0).standard_normal(t.size) * 0.1):  # white noise
        assert cue(x)[10:].max() < 0.5


def test_key_clicks_stay_under_the_onset_level_and_syllables_rise_above_it():
    rng = np.random.default_rng(5)
    clicks = cue(realspeech.keyboard(rng, 6 * SR))
    onset = SpeakingParams().voice_onset
    assert np.mean(clicks >= onset) < 0.02
    speech = cue(syllables(12))
    assert np.mean(speech >= onset) > 0.4
    # every syllable switches it on within 60 ms of its start (30 frames per syllable)
    for k in range(1, 12):
        assert speech[30 * k : 30 * k + 6].max() >= onset, k


def test_a_glitching_square_needs_the_voicing_group():
    """sign(sin) on exact zero crossings: float rounding flips samples at random, bursts of
    clicks over the buzz. The default cue takes some bursts for voice; requiring the voicing
    group (min_low_groups=1) does not, and still hears syllables."""
    n = 4 * SR
    square = 0.5 * np.sign(np.sin(2 * np.pi * 250 * np.arange(n) / SR))
    onset = SpeakingParams().voice_onset
    assert cue(square).max() >= onset
    feats = log_mel(square.astype(np.float32), CFG).astype(np.float64)
    strict = VoiceParams(min_low_groups=1)
    va = VoiceActivity(CFG, strict)
    assert max(va.step(np.ascontiguousarray(feats[:, i])) for i in range(feats.shape[1])) < onset
    feats = log_mel(syllables(8).astype(np.float32), CFG).astype(np.float64)
    va = VoiceActivity(CFG, strict)
    voiced = np.array([va.step(np.ascontiguousarray(feats[:, i])) for i in range(feats.shape[1])])
    assert np.mean(voiced >= onset) > 0.4
    with pytest.raises(ValueError):
        VoiceParams(min_low_groups=2)


def test_cue_does_not_depend_on_the_gain_or_the_chunking():
    x = syllables(6)
    np.testing.assert_array_equal(cue(x) >= 0.5, cue(x * 0.1) >= 0.5)  # (above the log floor)
    feats = log_mel(x.astype(np.float32), CFG).astype(np.float64)
    va, whole = VoiceActivity(CFG), cue(x)
    again = [va.step(np.ascontiguousarray(feats[:, i])) for i in range(feats.shape[1])]
    np.testing.assert_array_equal(again, whole)


@pytest.mark.parametrize("params", [VoiceParams(), VoiceParams(min_low_groups=1)])
def test_frames_of_a_push_at_once_equal_one_step_each(params):
    """``steps`` (a push's frames in a few calls) at chunkings 1, 3, 4, 7, 64 and the whole
    signal (block edges inside and across calls, the first block one frame at a time, whole
    blocks at once, more of them than the floor's ring holds): bit for bit ``step``."""
    feats = log_mel(syllables(8).astype(np.float32), CFG).astype(np.float64)
    rows = np.ascontiguousarray(feats.T)
    one = VoiceActivity(CFG, params)
    want = [one.step(r) for r in rows]
    assert 0.0 < np.mean(want) < 1.0
    for size in (1, 3, 4, 7, 64, 95, len(rows)):
        va = VoiceActivity(CFG, params)
        got = [c for i in range(0, len(rows), size) for c in va.steps(rows[i:i + size])]
        assert got == want, size
    # small pushes (a loop) and large ones (arrays) taking turns in one stream
    va, got, i = VoiceActivity(CFG, params), [], 0
    for size in [3, 40, 1, 17, 4, 95, 2] * 20:
        got += va.steps(rows[i:i + size])
        i += size
    got += va.steps(rows[i:])
    assert got == want


def test_a_first_frame_of_silence_does_not_hold_the_floor_down():
    """A decoder's first frame near digital silence, then a room's noise: the noise is the
    floor (the cue stays low), not a sound standing 40 dB above silence."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal(2 * SR) * 3e-3
    x[:40] = 0.0  # (feature frame 0 is centred on sample 0: it sees mostly the zeros)
    assert cue(x).max() < 0.5
    x[:400] = 0.0  # three frames of it: forgotten after floor_s + a block
    assert cue(x)[65:].max() < 0.5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_frames_that_read_the_start_padding_are_no_floor(seed):
    """A stream that opens with 15 ms of a decoder's priming (near-silence): feature frames 0
    and 1 read the left zero padding and the priming. Taken into the floor they hold it far
    under the room's noise for floor_s, and the noise (or a breath in it) reads as voice, as
    on the GRID clips' openings. They are skipped: the noise rests, and a voice after it
    still rises within RISE_FRAMES of its start."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(SR // 2) * 3e-3
    noise[:240] = 0.0
    onset = SpeakingParams().voice_onset
    feats = log_mel(noise.astype(np.float32), CFG).astype(np.float64)
    held = VoiceActivity(CFG, VoiceParams(skip_padded=False))
    assert max(held.step(np.ascontiguousarray(f)) for f in feats.T) >= onset  # the old way
    x = np.concatenate([noise, syllables(2, seed) + 3e-3 * rng.standard_normal(int(0.6 * SR))])
    c = cue(x)
    start = noise.size // CFG.hop_length
    assert c[:start].max() == 0.0
    assert np.argmax(c[start:] >= onset) <= RISE_FRAMES


def test_params_validated():
    with pytest.raises(ValueError):
        VoiceParams(group_edges_hz=(400.0, 150.0))
    with pytest.raises(ValueError):
        VoiceParams(min_groups=0)
    with pytest.raises(ValueError):
        VoiceParams(window_s=0)
    with pytest.raises(ValueError):
        VoiceParams(digital_silence_floor_db=float("-inf"))
    with pytest.raises(ValueError):
        SpeakingParams(voice_onset=1.5)


def cue_with(x: np.ndarray, params: VoiceParams) -> np.ndarray:
    feats = log_mel(np.asarray(x, np.float32), CFG).astype(np.float64)
    return np.asarray(VoiceActivity(CFG, params).steps(np.ascontiguousarray(feats.T)))


@pytest.mark.parametrize("seed", [4321, 1, 2, 3, 12])
def test_typing_over_digital_silence_reaches_the_onset_level_less(seed):
    """Key clicks between exact zeros (a noise gate, a muted track): against a floor of
    digital silence the edges of each click's analysis window counted as voice; the floor
    taken as a quiet room's counts fewer frames, never more (seeds whose typing switched the
    speaking state on)."""
    typing = realspeech.keyboard(np.random.default_rng(seed), 8 * SR)
    onset = SpeakingParams().voice_onset
    new = cue_with(typing, VoiceParams())
    old = cue_with(typing, VoiceParams(digital_silence_floor_db=None))
    assert np.all(new <= old)
    assert np.mean(new >= onset) < np.mean(old >= onset)


def test_speech_over_digital_silence_still_rises_at_once_and_a_room_floor_is_untouched():
    """Syllables separated by exact zeros reach the onset level within 60 ms of each start
    as over a room's noise; where the floor is a room's (noise, however faint), the cue is
    bit for bit the one without the digital-silence rule."""
    clean = syllables(10, seed=3)
    clean[np.abs(clean) < 5e-3] = 0.0  # the faint noise gone: digital silence in the gaps
    speech = cue_with(np.concatenate([np.zeros(int(0.3 * SR)), clean]), VoiceParams())
    onset = SpeakingParams().voice_onset
    for k in range(10):  # syllable k starts at frame 30 + 30 k (10 ms frames)
        start = 30 + 30 * k
        assert speech[start : start + 6].max() >= onset, k
    noisy = syllables(10)
    np.testing.assert_array_equal(cue_with(noisy, VoiceParams()),
                                  cue_with(noisy, VoiceParams(digital_silence_floor_db=None)))


# --- the speaking state with and without the cue ---------------------------------------------

def _moving_lips(n: int, seed: int = 0) -> np.ndarray:
    """Lips that move on every frame (what the model gives on a buzz or a click)."""
    rng = np.random.default_rng(seed)
    opening = np.abs(0.1 + 0.08 * rng.standard_normal(n))
    lips = np.zeros((n, 2, 3))
    lips[:, 0, 1], lips[:, 1, 1] = opening / 2, -opening / 2
    return lips


def test_without_a_cue_the_state_is_the_lips_alone():
    """voice=None (webcam) gives the state the detector gave before the cue existed: on for
    moving lips, whatever the frames' cue would have been."""
    rng = np.random.default_rng(3)
    lips = _moving_lips(200)
    lips[60:120] = 0.0  # a pause
    a, b = SpeakingDetector(25), SpeakingDetector(25)
    plain = [a.step(x) for x in lips]
    none = [b.step(x, None) for x in lips]
    assert plain == none
    assert plain[10:60] == [1.0] * 50 and max(plain[64:120]) == 0.0
    # a cue of 0 keeps moving lips silent, a cue of 1 lets them speak
    mixed = SpeakingDetector(25)
    assert max(mixed.step(x, 0.0) for x in lips) == 0.0
    on = SpeakingDetector(25)
    assert [on.step(x, 1.0) for x in lips][10:60] == [1.0] * 50
    del rng


def test_the_cue_sustains_speech_through_still_lips_and_lets_it_resume_quickly():
    det = SpeakingDetector(25)
    lips = _moving_lips(100)
    lips[40:50] = lips[39]  # the lips stop for 0.4 s while the voice goes on
    voice = np.ones(100)
    mask = [det.step(x, v) for x, v in zip(lips, voice, strict=True)]
    assert min(mask[10:100]) == 1.0
    # a short pause in both, then the voice again: back on at the first frame it resumes,
    # before the lips move (within reonset_s of the offset the cue alone suffices)
    det = SpeakingDetector(25)
    lips = _moving_lips(100)
    lips[40:47] = 0.0  # closed
    voice[40:45] = 0.0
    mask = [det.step(x, v) for x, v in zip(lips, voice, strict=True)]
    assert mask[44] == 0.0 and mask[45] == 1.0


@pytest.fixture(scope="module")
def grid_clip():
    path = realspeech.TALKING_FACES / "id2_vcd_swwp2s.mpg"
    align = realspeech.TALKING_FACES / "swwp2s.align"
    if not path.exists():
        pytest.skip(f"{path} absent")
    from keypoints.audio import load_audio

    words = realspeech.parse_grid_align(align.read_text())
    return load_audio(path, SR), words


def test_cue_on_real_speech_rises_within_n_frames_and_rests_in_the_room_noise(
        model, grid_clip):
    """GRID swwp2s: 0.1 s of room noise (after a decoder's near-silent first frame), a breath,
    then the sentence: the cue rests in the noise and rises within RISE_FRAMES (10 ms) of each
    word that follows a pause, and stays up through most of the speech."""
    samples, words = grid_clip
    _, _, voice = lip_stream_voice(model, samples)
    speech = realspeech.speech_frames(words, voice.size, 100.0)
    first = int(np.argmax(speech))
    onset = SpeakingParams().voice_onset
    assert first > 30  # the clip opens with room noise
    assert voice[:10].max() < onset  # (the decoder's first frame is no floor)
    assert np.argmax(voice[first:] >= onset) <= RISE_FRAMES
    assert np.mean(voice[speech] >= SpeakingParams().voice_sustain) > 0.7


def _state(model, samples: np.ndarray, voice: bool) -> np.ndarray:
    points, _, cue_ = lip_stream_voice(model, np.asarray(samples, np.float32))
    idx = video_indices(points.shape[0], 100.0)
    names = model.keypoint_names
    inner = np.stack([named(points, names, "upper_lip"),
                      named(points, names, "lower_lip")], 1)[idx].astype(np.float64)
    return speaking_state(inner, SpeakingParams(), cue_[idx] if voice else None) >= 0.5


def test_buzz_and_typing_do_not_speak_with_the_cue(model):
    t = np.arange(6 * SR) / SR
    buzz = np.sign(np.sin(2 * np.pi * 200 * t))
    typing = realspeech.keyboard(np.random.default_rng(11), 6 * SR)
    assert _state(model, buzz, True).mean() == 0.0
    with_cue, lips_only = _state(model, typing, True).mean(), _state(model, typing, False).mean()
    assert with_cue <= 0.05 and with_cue < lips_only
    # the benchmark's typing (benchmarks.realspeech.non_speech), 6.5 % speaking before the
    # digital-silence floor
    assert _state(model, realspeech.keyboard(np.random.default_rng(4321), 8 * SR), True
                  ).mean() == 0.0
    assert FPS == 25.0
