"""Recordings of the synthetic corpus: phrases spoken by espeak-ng with pauses between them,
augmented, with frame-exact target lip keypoints and the true speech/silence mask.

Splits hold voices, languages and texts apart: the ``test`` split uses languages and voice
variants that ``train`` never uses, and texts from the other half of the vocabulary
(``keypoints.corpus.texts``). Every draw comes from a numpy Generator seeded by the caller.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

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
#: The target lips lead the sound by this much: real lips move before the sound they shape
#: (a model trained on lips aligned with the sound lagged real faces by about a video frame).
LIPS_LEAD_S = 0.03


@dataclass
class Recording:
    """samples float32[N] at SAMPLE_RATE; keypoints float32[T, K, 3] and speech bool[T] for
    feature frames k at t = k * hop / sr, T = ceil(N / hop); info: how it was made."""

    samples: np.ndarray
    keypoints: np.ndarray
    speech: np.ndarray
    info: dict = field(default_factory=dict)
    #: bool[T]: frames at the middle of a lip closure (p, b, m): the lips must be shut there
    closed: np.ndarray | None = None

    @property
    def duration_s(self) -> float:
        return self.samples.size / SAMPLE_RATE


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
                  duration_s: float, pauses: list[tuple[int, int]] | None = None
                  ) -> tuple[np.ndarray, list[Segment], list[str]]:
    """Phrases with pauses (PAUSE_RANGE_S, log-uniform) before each and after the last, until
    ``duration_s`` is reached. Returns (float32[N] at SAMPLE_RATE, segments, texts); appends
    every pause's (start, stop) sample to ``pauses`` when given."""
    engine = espeak()
    chunks: list[np.ndarray] = []
    segments: list[Segment] = []
    spoken: list[str] = []
    t_samples = 0
    lo, hi = np.log(PAUSE_RANGE_S[0]), np.log(PAUSE_RANGE_S[1])

    def pause() -> None:
        nonlocal t_samples
        n = int(round(np.exp(rng.uniform(lo, hi)) * SAMPLE_RATE))
        chunks.append(np.zeros(n, np.float32))
        if pauses is not None:
            pauses.append((t_samples, t_samples + n))
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


def led(segments: list[Segment]) -> list[Segment]:
    """The segments LIPS_LEAD_S earlier (where the lips shape them)."""
    return [Segment(s.viseme, s.start_s - LIPS_LEAD_S, s.end_s - LIPS_LEAD_S) for s in segments]


def targets(segments: list[Segment], n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """(keypoints float32[T, K, 3], speech bool[T]) for feature frames of a signal: the lips
    lead the sound by LIPS_LEAD_S, the speech mask is the sound's."""
    t = n_frames(n_samples)
    shape = shape_trajectory(led(segments), t, FRAME_RATE_HZ)
    return keypoints_from_shape(shape), speech_mask(segments, t, FRAME_RATE_HZ)


def closure_frames(segments: list[Segment], n: int) -> np.ndarray:
    """bool[n]: frames in the middle half of every lip closure (PP) segment, led like the
    lips (the closure target of the training loss)."""
    out = np.zeros(n, dtype=bool)
    for s in led(segments):
        if s.viseme == "PP":
            q = 0.25 * (s.end_s - s.start_s)
            lo = max(0, int(np.ceil((s.start_s + q) * FRAME_RATE_HZ)))
            hi = min(n, int(np.floor((s.end_s - q) * FRAME_RATE_HZ)) + 1)
            out[lo:hi] = True
    return out


@dataclass(frozen=True)
class Scene:
    """What happens around the talker besides the noise of ``augment.Augmentation``: breaths
    and lip smacks in pauses (each pause of 0.3 s or more gets one with probability
    ``event_share``), and a background bed (augment.BED_KINDS) at ``bed_snr_db``."""

    event_share: float = 0.0
    bed: str | None = None
    bed_snr_db: float = 20.0

    def to_dict(self) -> dict:
        return asdict(self)


def draw_scene(rng: np.random.Generator) -> Scene:
    """The training distribution: events in 60 % of recordings, a bed in 40 %."""
    share = float(rng.uniform(0.3, 1.0)) if rng.random() < 0.6 else 0.0
    bed = str(rng.choice(augment.BED_KINDS)) if rng.random() < 0.4 else None
    snr = float(rng.uniform(0.0, 30.0)) if bed == "music" else float(
        rng.uniform(8.0, 35.0))
    return Scene(share, bed, snr)


def add_events(x: np.ndarray, pauses: list[tuple[int, int]], share: float,
               rng: np.random.Generator, ref_rms: float) -> np.ndarray:
    """Breaths (-32..-14 dB re the speech rms, ending 40-200 ms before the next phrase) and
    lip smacks (-30..-12 dB, 60-250 ms before it) in pauses of 0.3 s or more."""
    y = x.astype(np.float64).copy()
    for start, stop in pauses:
        if stop - start < 0.3 * SAMPLE_RATE or rng.random() >= share:
            continue
        kind = augment.EVENT_KINDS[int(rng.integers(len(augment.EVENT_KINDS)))]
        if kind == "breath":
            ev = augment.breath(rng, SAMPLE_RATE) * ref_rms * 10 ** (rng.uniform(-32, -14) / 20)
            end = stop - int(rng.uniform(0.04, 0.2) * SAMPLE_RATE)
        else:
            ev = augment.lip_smack(rng, SAMPLE_RATE) * ref_rms * 10 ** (rng.uniform(-30, -12) / 20)
            end = stop - int(rng.uniform(0.06, 0.25) * SAMPLE_RATE)
        begin = max(start, end - ev.size)
        if end > begin:
            y[begin:end] += ev[-(end - begin):]
    return y.astype(np.float32)


def bed_signal(rng: np.random.Generator, kind: str, n: int) -> np.ndarray:
    """float64[n] of unit rms: a background of ``kind`` (augment.BED_KINDS)."""
    if kind == "music":
        x = augment.band_music(rng, n, SAMPLE_RATE)
    elif kind == "clicks":
        x = augment.clicks(rng, n, SAMPLE_RATE)
    elif kind == "buzz":
        x = augment.buzz(rng, n, SAMPLE_RATE)
    else:
        raise ValueError(f"unknown bed {kind!r} (one of {augment.BED_KINDS})")
    rms = np.sqrt(np.mean(x * x)) if n else 0.0
    return x / rms if rms > 0 else x


def sample_speech_mask(segments: list[Segment], n_samples: int) -> np.ndarray:
    """bool[N]: samples inside sounding segments (the SNR reference)."""
    return np.repeat(speech_mask(segments, n_frames(n_samples), FRAME_RATE_HZ),
                     FEATURES.hop_length)[:n_samples]


def speech_recording(rng: np.random.Generator, split: str, duration_s: float,
                     aug: augment.Augmentation | None, scene: Scene | None = None
                     ) -> Recording:
    """One speaker (voice drawn from ``split``) talking for about ``duration_s``, augmented
    with ``aug`` (None: clean) in ``scene`` (None: nothing else sounds)."""
    voice = draw_voice(rng, split)
    pauses: list[tuple[int, int]] = []
    clean, segments, spoken = speak_session(rng, voice, split, duration_s, pauses)
    ref = sample_speech_mask(segments, clean.size)
    bed = None
    if scene is not None:
        ref_rms = augment.active_rms(clean, ref)
        if scene.event_share > 0:
            clean = add_events(clean, pauses, scene.event_share, rng, ref_rms)
        if scene.bed is not None:
            bed = bed_signal(rng, scene.bed, clean.size) * ref_rms * 10 ** (-scene.bed_snr_db
                                                                            / 20)
    if aug is None:
        audio = clean if bed is None else (clean + bed).astype(np.float32)
    else:
        audio = augment.apply(clean, aug, rng, SAMPLE_RATE, ref, bed)
    keypoints, speech = targets(segments, clean.size)
    info = {"kind": "speech", "voice": voice.__dict__, "texts": spoken,
            "augmentation": aug.to_dict() if aug else None,
            "scene": scene.to_dict() if scene else None}
    return Recording(audio, keypoints, speech, info, closure_frames(segments, speech.size))


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


NON_SPEECH_KINDS = (*augment.NOISE_KINDS, "tones", "silence", *augment.BED_KINDS, "breaths")
#: level ranges (dBFS rms) of the beds heard alone
_BED_LEVELS_DBFS = {"music": (-45.0, -12.0), "clicks": (-55.0, -25.0), "buzz": (-45.0, 0.0)}


def non_speech_recording(rng: np.random.Generator, duration_s: float, kind: str) -> Recording:
    """Noise (``kind`` in augment.NOISE_KINDS, level -75..-20 dBFS), ``tones`` (music-like,
    gain -30..+6 dB), ``silence`` (digital zero), a bed heard alone (augment.BED_KINDS: music,
    keyboard clicks, a buzz up to full scale) or ``breaths`` (breaths and lip
    smacks over quiet room noise); the targets are the rest pose and silence throughout."""
    n = int(duration_s * SAMPLE_RATE)
    if kind in _BED_LEVELS_DBFS:
        level_dbfs = float(rng.uniform(*_BED_LEVELS_DBFS[kind]))
        audio = np.clip(bed_signal(rng, kind, n) * 10 ** (level_dbfs / 20), -1, 1)
        audio = audio.astype(np.float32)
        info = {"kind": kind, "level_dbfs": level_dbfs}
    elif kind == "breaths":
        level_dbfs = float(rng.uniform(-50.0, -20.0))
        floor = augment.coloured_noise(rng, n, "pink", SAMPLE_RATE) * 10 ** (-70 / 20)
        step = int(0.8 * SAMPLE_RATE)
        pauses = [(a, min(n, a + step)) for a in range(0, n, step)]
        audio = add_events(floor.astype(np.float32), pauses, 0.9, rng, 10 ** (level_dbfs / 20)
                           * 10 ** (20 / 20))
        info = {"kind": "breaths", "level_dbfs": level_dbfs}
    elif kind == "silence":
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
    return Recording(audio, keypoints, speech, info, np.zeros(speech.size, dtype=bool))

