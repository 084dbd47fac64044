"""Recordings of the synthetic corpus: phrases spoken by espeak-ng with pauses between them,
augmented, with frame-exact target lip keypoints and the true speech/silence mask.

Splits hold voices, languages and texts apart: the ``test`` split uses languages and voice
variants that ``train`` never uses, and texts from the other half of the vocabulary
(``keypoints.corpus.texts``). Every draw comes from a numpy Generator seeded by the caller.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import soxr

from keypoints.corpus import augment, texts
from keypoints.corpus.coarticulation import (
    Segment,
    segments_from_phones,
    shape_trajectory,
    speech_mask,
)
from keypoints.corpus.espeak import VoiceSettings, espeak
from keypoints.corpus.visemes import keypoints_from_shape
from keypoints.features import FeatureConfig

#: The features of the trained model (the same front end as the baseline: 16 kHz, 10 ms hop).
FEATURES = FeatureConfig()
SAMPLE_RATE = FEATURES.sample_rate
FRAME_RATE_HZ = FEATURES.frame_rate_hz

TRAIN_LANGUAGES = ("en", "en-us", "de", "fr", "es", "it", "pt", "nl", "pl", "ru", "sv", "cs",
                   "tr", "fi", "hu", "ro", "id", "cmn")
TEST_LANGUAGES = ("da", "sk", "ca", "sw", "vi", "hr", "en-gb-scotland", "en-029")
#: espeak voice variants ("" = the language's default voice); m* male, f* female.
TRAIN_VARIANTS = ("", "m1", "m2", "m3", "m5", "f1", "f2", "f4", "klatt", "adam", "linda",
                  "Andy", "aunty", "benjamin", "Alicia")
TEST_VARIANTS = ("m4", "m7", "f3", "f5", "Annie", "michel")
SPLITS = {
    "train": (TRAIN_LANGUAGES, TRAIN_VARIANTS),
    "test": (TEST_LANGUAGES, TEST_VARIANTS),
}
PAUSE_RANGE_S = (0.1, 2.0)


@dataclass
class Recording:
    """samples float32[N] at SAMPLE_RATE; keypoints float32[T, K, 3] and speech bool[T] for
    feature frames k at t = k * hop / sr, T = ceil(N / hop); info: how it was made."""

    samples: np.ndarray
    keypoints: np.ndarray
    speech: np.ndarray
    info: dict = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return self.samples.size / SAMPLE_RATE



def pause_samples(rng: np.random.Generator) -> int:
    """The length (samples at SAMPLE_RATE) of one pause: log-uniform in PAUSE_RANGE_S (one
    draw of ``rng``)."""
    lo, hi = np.log(PAUSE_RANGE_S[0]), np.log(PAUSE_RANGE_S[1])
    return int(round(np.exp(rng.uniform(lo, hi)) * SAMPLE_RATE))

def n_frames(n_samples: int) -> int:
    """Feature frames of a signal of n_samples: ceil(N / hop)."""
    return -(-n_samples // FEATURES.hop_length)


def draw_voice(rng: np.random.Generator, split: str) -> VoiceSettings:
    """A language, voice variant, rate, pitch, pitch range and volume for ``split``."""
    languages, variants = SPLITS[split]
    language = languages[int(rng.integers(len(languages)))]
    variant = variants[int(rng.integers(len(variants)))]
    return VoiceSettings(
        voice=f"{language}+{variant}" if variant else language,
        rate_wpm=int(rng.integers(120, 300)),
        pitch=int(rng.integers(15, 90)),
        pitch_range=int(rng.integers(10, 100)),
        volume=int(rng.integers(60, 160)),
    )


def language_of(voice: str) -> str:
    return voice.split("+", 1)[0]


def speak_session(rng: np.random.Generator, voice: VoiceSettings, split: str,
                  duration_s: float
                  ) -> tuple[np.ndarray, list[Segment], list[str]]:
    """Phrases with pauses (PAUSE_RANGE_S, log-uniform) before each and after the last, until
    ``duration_s`` is reached. Returns (float32[N] at SAMPLE_RATE, segments, texts)."""
    engine = espeak()
    chunks: list[np.ndarray] = []
    segments: list[Segment] = []
    spoken: list[str] = []
    t_samples = 0

    def pause() -> None:
        nonlocal t_samples
        n = pause_samples(rng)
        chunks.append(np.zeros(n, np.float32))
        t_samples += n

    pause()
    while t_samples < duration_s * SAMPLE_RATE:
        text = texts.phrase(rng, language_of(voice.voice), split)
        utt = engine.speak(text, voice)
        audio = soxr.resample(utt.samples, utt.sample_rate, SAMPLE_RATE).astype(np.float32)
        if audio.size == 0:
            continue
        offset_s = t_samples / SAMPLE_RATE
        segments += segments_from_phones(utt.phones, audio.size / SAMPLE_RATE, offset_s)
        chunks.append(audio)
        spoken.append(text)
        t_samples += audio.size
        pause()
    return np.concatenate(chunks), segments, spoken


def targets(segments: list[Segment], n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """(keypoints float32[T, K, 3], speech bool[T]) for feature frames of a signal."""
    t = n_frames(n_samples)
    shape = shape_trajectory(segments, t, FRAME_RATE_HZ)
    return keypoints_from_shape(shape), speech_mask(segments, t, FRAME_RATE_HZ)


def sample_speech_mask(segments: list[Segment], n_samples: int) -> np.ndarray:
    """bool[N]: samples inside sounding segments (the SNR reference)."""
    return np.repeat(speech_mask(segments, n_frames(n_samples), FRAME_RATE_HZ),
                     FEATURES.hop_length)[:n_samples]


def speech_recording(rng: np.random.Generator, split: str, duration_s: float,
                     aug: augment.Augmentation | None) -> Recording:
    """One speaker (voice drawn from ``split``) talking for about ``duration_s``, augmented
    with ``aug`` (None: clean)."""
    voice = draw_voice(rng, split)
    clean, segments, spoken = speak_session(rng, voice, split, duration_s)
    ref = sample_speech_mask(segments, clean.size)
    audio = clean if aug is None else augment.apply(clean, aug, rng, SAMPLE_RATE, ref)
    keypoints, speech = targets(segments, clean.size)
    info = {"kind": "speech", "voice": voice.__dict__, "texts": spoken,
            "augmentation": aug.to_dict() if aug else None}
    return Recording(audio, keypoints, speech, info)


def map_isolated(func: Callable, jobs: Sequence, workers: int = 1) -> list:
    """[func(job) for job in jobs], each call in a fresh process forked from a clean server.

    espeak-ng's audio depends on everything the library spoke before in the process (its
    oscillators and buffers run on), so the same text and settings give slightly different
    samples after a different history. A fresh process per recording makes every recording a
    function of its own seed only: the corpus is the same for any ``workers`` and any order.
    ``func`` must be a module-level function.
    """
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([func.__module__])
    with ctx.Pool(max(1, workers), maxtasksperchild=1) as pool:
        return pool.map(func, jobs, chunksize=1)


def tone_music(rng: np.random.Generator, n_samples: int) -> np.ndarray:
    """float32[n]: music-like notes (0.15-1 s, 1-6 harmonics, vibrato, attack/decay), -20 dBFS
    rms: steady pitches with no formant motion, which must not count as speech."""
    t_all = np.arange(n_samples) / SAMPLE_RATE
    out = np.zeros(n_samples)
    start = 0
    while start < n_samples:
        n = int(rng.uniform(0.15, 1.0) * SAMPLE_RATE)
        t = t_all[: min(n, n_samples - start)]
        f0 = 110.0 * 2 ** (rng.integers(0, 36) / 12)
        vibrato = 1 + 0.005 * np.sin(2 * np.pi * 5.5 * t) * rng.random()
        phase = 2 * np.pi * f0 * np.cumsum(vibrato) / SAMPLE_RATE
        partials = int(rng.integers(1, 7))
        note = sum(np.sin(h * phase) / h**rng.uniform(0.5, 2.0) for h in range(1, partials + 1))
        env = np.minimum(1.0, t / 0.01) * np.exp(-t / rng.uniform(0.2, 1.5))
        out[start : start + t.size] += note * env
        start += max(1, int(n * rng.uniform(0.5, 1.0)))
    rms = np.sqrt(np.mean(out * out)) if n_samples else 0.0
    return (out * (0.1 / rms if rms > 0 else 0.0)).astype(np.float32)


def non_speech_recording(rng: np.random.Generator, duration_s: float, kind: str) -> Recording:
    """Noise (``kind`` in augment.NOISE_KINDS, level -75..-20 dBFS), ``tones`` (music-like,
    gain -30..+6 dB) or ``silence`` (digital zero); the targets are the rest pose and silence
    throughout."""
    n = int(duration_s * SAMPLE_RATE)
    if kind == "silence":
        audio = np.zeros(n, np.float32)
        info = {"kind": "silence"}
    elif kind == "tones":
        gain_db = float(rng.uniform(-30.0, 6.0))
        audio = tone_music(rng, n) * np.float32(10 ** (gain_db / 20))
        info = {"kind": "tones", "gain_db": gain_db}
    else:
        level_dbfs = float(rng.uniform(-75.0, -20.0))
        audio = (augment.coloured_noise(rng, n, kind, SAMPLE_RATE) * 10 ** (level_dbfs / 20))
        audio = audio.astype(np.float32)
        info = {"kind": f"noise_{kind}", "level_dbfs": level_dbfs}
    keypoints, speech = targets([], n)
    return Recording(audio, keypoints, speech, info)

