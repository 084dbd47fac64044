"""The synthetic corpus: espeak-ng phoneme timings, the viseme table, coarticulation,
augmentation, and held-out splits."""

from __future__ import annotations

import numpy as np
import pytest

from keypoints.corpus import augment, dataset, texts
from keypoints.corpus.coarticulation import (
    Segment,
    segments_from_phones,
    shape_trajectory,
    speech_mask,
)
from keypoints.corpus.espeak import Phone, VoiceSettings, espeak
from keypoints.corpus.visemes import (
    KEYPOINT_NAMES,
    VISEMES,
    keypoints_from_shape,
    rest_keypoints,
    visemes_of,
)
from keypoints.lips import REQUIRED_NAMES, rest_points

RATE = 100.0  # frames per second of the targets


def test_espeak_reports_phonemes_in_time_order() -> None:
    utt = espeak().speak("Hello, my name is Bob.", VoiceSettings("en"))
    assert utt.sample_rate == 22050
    assert utt.samples.dtype == np.float32 and utt.samples.size > 0.8 * utt.sample_rate
    assert np.max(np.abs(utt.samples)) <= 1.0
    starts = [p.start_s for p in utt.phones]
    assert starts == sorted(starts) and 0 <= starts[0] and starts[-1] <= utt.duration_s + 0.01
    names = [p.name for p in utt.phones]
    assert "h" in names and "b" in names and "m" in names
    assert any(n.startswith("_") for n in names)  # the comma's pause
    assert len(utt.word_starts_s) == 5


def test_espeak_settings_change_the_voice() -> None:
    slow = espeak().speak("one two three", VoiceSettings("en", rate_wpm=120))
    fast = espeak().speak("one two three", VoiceSettings("en", rate_wpm=300))
    assert fast.duration_s < 0.7 * slow.duration_s
    quiet = espeak().speak("one two three", VoiceSettings("en", volume=40))
    loud = espeak().speak("one two three", VoiceSettings("en", volume=160))
    assert np.std(loud.samples) > 2 * np.std(quiet.samples)
    with pytest.raises(ValueError, match="no voice"):
        espeak().speak("x", VoiceSettings("xx-nonexistent"))


def test_every_split_voice_speaks_and_almost_every_phoneme_has_a_viseme() -> None:
    unknown, total = 0, 0
    for split, (languages, variants) in dataset.SPLITS.items():
        for i, language in enumerate(languages):
            variant = variants[i % len(variants)]
            voice = f"{language}+{variant}" if variant else language
            text = texts.phrase(np.random.default_rng(i), language, split) + " 42"
            utt = espeak().speak(text, VoiceSettings(voice))
            assert utt.phones, voice
            for p in utt.phones:
                total += 1
                # soundless marks (language switches, modifiers) may have none
                if not visemes_of(p.name) and not p.name.startswith("("):
                    unknown += 1
    assert unknown / total < 0.05, (unknown, total)


def test_viseme_reading_of_espeak_mnemonics() -> None:
    assert visemes_of("p") == ("PP",) and visemes_of("m") == ("PP",)
    assert visemes_of("v") == ("FF",)
    assert visemes_of("aI") == ("AA", "IY")  # diphthong: two targets
    assert visemes_of("i:") == ("IY",)
    assert visemes_of("O~") == ("OH",)
    assert visemes_of("tS") == ("SH",)
    assert visemes_of("d;") == ("DD",)
    assert visemes_of("_:") == ("rest",) and visemes_of("_") == ("rest",)
    assert visemes_of("(en)") == () and visemes_of(";") == ()
    for v in VISEMES.values():
        assert 0 <= v.open <= 0.6 and 0.6 <= v.wide <= 1.2 and 0 <= v.round <= 1
        assert v.dominance_open > 0 and v.dominance_shape > 0


def test_keypoints_from_shape_geometry() -> None:
    shape = np.array([[0.4, 0.9, 0.5, 0.0], [0.0, 1.0, 0.0, 0.0]])
    pts = keypoints_from_shape(shape)
    assert pts.shape == (2, len(KEYPOINT_NAMES), 3) and pts.dtype == np.float32
    idx = {n: i for i, n in enumerate(KEYPOINT_NAMES)}
    gap = pts[:, idx["upper_lip"], 1] - pts[:, idx["lower_lip"], 1]
    np.testing.assert_allclose(gap, [0.4, 0.0], atol=1e-6)
    width = pts[:, idx["left_corner"], 0] - pts[:, idx["right_corner"], 0]
    np.testing.assert_allclose(width, [0.9, 1.0], atol=1e-6)
    assert pts[0, idx["upper_lip"], 2] > 0  # rounding protrudes the lips
    assert pts[0, idx["upper_outer"], 1] > pts[0, idx["upper_lip"], 1]
    assert pts[0, idx["lower_outer"], 1] < pts[0, idx["lower_lip"], 1]
    rest = rest_keypoints()
    required = [KEYPOINT_NAMES.index(n) for n in REQUIRED_NAMES]
    np.testing.assert_allclose(rest[required], rest_points(REQUIRED_NAMES), atol=1e-7)


def _segments(*items: tuple[str, float]) -> list[Segment]:
    out, t = [], 0.3
    for name, dur in items:
        out.append(Segment(name, t, t + dur))
        t += dur
    return out


def test_coarticulation_moves_like_lips() -> None:
    # pause, "a", "b" (80 ms closure), "a", pause
    segs = _segments(("AA", 0.2), ("PP", 0.08), ("AA", 0.2))
    shape = shape_trajectory(segs, 150, RATE)
    open_ = shape[:, 0]
    t = np.arange(150) / RATE
    assert open_[t < 0.1].max() < 0.01  # rest long before speech
    assert open_[t > 1.2].max() < 0.01  # and long after it
    assert 0.01 < open_[int(0.27 * RATE)] < open_[int(0.4 * RATE)]  # anticipation, then open
    assert open_[int(0.4 * RATE)] > 0.3  # the closure ahead already pulls it down a little
    assert open_[int(0.54 * RATE)] < 0.1  # the bilabial closes the mouth
    assert np.abs(np.diff(shape, axis=0)).max() < 0.1  # no steps: < 10 widths/s
    rounded = shape_trajectory(_segments(("UW", 0.3)), 100, RATE)
    assert rounded[int(0.45 * RATE), 2] > 0.8 and rounded[int(0.45 * RATE), 1] < 0.8


def test_lips_settle_soon_after_the_last_sound_but_anticipate_the_first() -> None:
    """Carry-over into a pause is short (the mask can end with the sound); anticipation out
    of a pause is not (lips may move before the sound)."""
    segs = _segments(("AA", 0.3), ("DD", 0.06), ("AA", 0.2))  # speech 0.3 .. 0.86 s
    shape = shape_trajectory(segs, 200, RATE)
    open_ = shape[:, 0]
    speed = np.abs(np.diff(open_)) * RATE  # widths/s
    end = round(0.86 * RATE)
    assert open_[end + 5] < 0.02  # nearly closed 50 ms after the last sound ...
    assert speed[end + 8 :].max() < 0.2  # ... and still (below the mask's threshold) at 80 ms
    assert open_[round(0.25 * RATE)] > 0.04  # but already opening 50 ms before the first


def test_segments_from_phones_split_diphthongs_and_merge_marks() -> None:
    phones = [Phone("h", 0.0), Phone("aI", 0.1), Phone(";", 0.3), Phone("_", 0.35)]
    segs = segments_from_phones(phones, 0.5, offset_s=1.0)
    assert [s.viseme for s in segs] == ["KK", "AA", "IY", "rest"]
    assert segs[1].start_s == pytest.approx(1.1) and segs[2].end_s == pytest.approx(1.35)
    mask = speech_mask(segs, 160, RATE)
    assert not mask[:100].any() and mask[100:135].all() and not mask[135:].any()


def test_augmentation_keeps_length_and_hits_the_snr() -> None:
    rng = np.random.default_rng(0)
    sr = 16000
    t = np.arange(sr) / sr
    clean = (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    for kind in augment.NOISE_KINDS:
        aug = augment.Augmentation(noise_kind=kind, snr_db=10.0)
        noisy = augment.apply(clean, aug, np.random.default_rng(1), sr)
        assert noisy.shape == clean.shape and noisy.dtype == np.float32
        snr = 10 * np.log10(np.mean(clean**2) / np.mean((noisy - clean) ** 2))
        assert snr == pytest.approx(10.0, abs=0.5), kind
    for band, top_hz in (("phone", 4000), ("headset", 7000), ("lowpass", 4500)):
        y = augment.band_limit(rng.standard_normal(sr).astype(np.float32), sr, band)
        assert y.shape == (sr,)
        spectrum = np.abs(np.fft.rfft(y)) ** 2  # 1 Hz bins
        assert spectrum[top_hz:].sum() < 0.02 * spectrum.sum(), band
    wet = augment.reverberate(clean, rng, 0.5, sr)
    assert wet.shape == clean.shape
    loud = augment.apply(clean, augment.Augmentation(gain_db=30.0, clip=True, dc=0.1), rng, sr)
    assert loud.max() == pytest.approx(1.1) and np.all(np.isfinite(loud))
    a = augment.apply(clean, augment.draw_augmentation(np.random.default_rng(5)),
                      np.random.default_rng(6), sr)
    b = augment.apply(clean, augment.draw_augmentation(np.random.default_rng(5)),
                      np.random.default_rng(6), sr)
    np.testing.assert_array_equal(a, b)


def four_seconds_of_speech(seed: int) -> dataset.Recording:
    return dataset.speech_recording(np.random.default_rng(seed), "train", 4.0, None)


def test_speech_recording_is_seeded_and_aligned() -> None:
    # each in a fresh process: espeak-ng's output depends on what it spoke before
    a, b, c = dataset.map_isolated(four_seconds_of_speech, [3, 3, 4], workers=2)
    assert c.samples.size != a.samples.size
    np.testing.assert_array_equal(a.samples, b.samples)
    assert a.info == b.info
    n = a.samples.size
    assert a.keypoints.shape == (dataset.n_frames(n), len(KEYPOINT_NAMES), 3)
    assert a.speech.shape == (dataset.n_frames(n),)
    assert 0.2 < a.speech.mean() < 0.95 and not a.speech[:10].any()  # starts with a pause
    # audio energy agrees with the phoneme timing: loud frames are speech frames
    frames = a.samples[: (n // 160) * 160].reshape(-1, 160)
    loud = np.sqrt(np.mean(frames**2, axis=1)) > 0.01
    assert a.speech[: loud.size][loud].mean() > 0.95
    language = dataset.language_of(a.info["voice"]["voice"])
    assert language in dataset.TRAIN_LANGUAGES


def test_splits_hold_out_languages_voices_and_texts() -> None:
    assert not set(dataset.TRAIN_LANGUAGES) & set(dataset.TEST_LANGUAGES)
    assert not set(dataset.TRAIN_VARIANTS) & set(dataset.TEST_VARIANTS)
    assert len(dataset.TRAIN_LANGUAGES) >= 8
    rng = np.random.default_rng(0)
    def words(split: str) -> set[str]:
        return {w.strip(",") for _ in range(300) for w in texts.phrase(rng, "en", split).split()}

    train_words, test_words = words("train"), words("test")
    numbers = {w for w in train_words | test_words if any(c.isdigit() for c in w)}
    function_words = {"the", "a", "and", "at", "in", "on", "did", "see", "why", "has", "please",
                      "tell", "about", "never", "my", "his", "our", "your", "this", "some",
                      "by", "of"}
    shared = (train_words & test_words) - numbers - function_words
    assert not shared, sorted(shared)[:10]


def test_non_speech_recordings_are_silent_rest() -> None:
    for kind in (*augment.NOISE_KINDS, "tones", "silence"):
        rec = dataset.non_speech_recording(np.random.default_rng(0), 1.0, kind)
        assert rec.samples.size == 16000 and np.all(np.isfinite(rec.samples))
        assert not rec.speech.any()
        np.testing.assert_allclose(rec.keypoints, np.broadcast_to(rest_keypoints(),
                                                                  rec.keypoints.shape), atol=1e-6)
    for n in (0, 1, 7, 4000):  # short signals end (a former infinite loop)
        assert dataset.tone_music(np.random.default_rng(0), n).shape == (n,)
