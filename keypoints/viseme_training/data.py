"""Viseme training data: espeak-ng sessions with every phoneme's time kept, as arrays.

A session is made exactly as the lip corpus makes one (keypoints.corpus: a voice of the split,
phrases with pauses of 0.1-2 s between them, the same augmentation), but the phonemes are kept
as sound classes (keypoints.phone_labels) so that each feature frame gets the set of mouth
shapes it allows (keypoints.visemes.frame_truth). Every recording draws from its own Generator
spawned from one SeedSequence and is made in a fresh process: the data is the same for any
number of workers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import soxr

from keypoints.corpus import augment, dataset, texts
from keypoints.corpus.espeak import Phone, espeak
from keypoints.features import log_mel
from keypoints.phone_labels import from_espeak
from keypoints.viseme_training import breaths, festival
from keypoints.visemes import Sound, frame_truth


@dataclass(frozen=True)
class VisemeRecipe:
    """Speech recordings of about ``speech_s`` seconds (one voice each, augmented with
    probability 1 - clean_share) plus non-speech recordings of ``non_speech_s``."""

    seed: int = 0
    split: str = "train"
    n_speech: int = 800
    speech_s: float = 20.0
    n_non_speech: int = 21
    non_speech_s: float = 8.0
    clean_share: float = 0.2
    #: share of the speech recordings (train split only) spoken by a festival voice built on
    #: real recordings (viseme_training.festival), when festival is installed
    festival_share: float = 0.3
    #: share of the pauses (train split only) given a breath (viseme_training.breaths)
    breath_share: float = 0.4
    #: development clips of benchmarks.aligned_speech also trained on (viseme_training.real),
    #: each ``real_copies`` times (once clean, the rest augmented); none by default
    real_clips: tuple[str, ...] = ()
    real_copies: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class VisemeExample:
    """features float32[n_mels, T]; allowed bool[T, 9]; canonical int64[T] (-1: any);
    info: how it was made."""

    features: np.ndarray
    allowed: np.ndarray
    canonical: np.ndarray
    info: dict


def sounds_of(phones: tuple[Phone, ...], end_s: float, offset_s: float) -> list[Sound]:
    """One utterance's phones (start times, utterance lasting ``end_s``) -> sounds shifted by
    ``offset_s``; a phone with no sound of its own extends the one before it."""
    out: list[Sound] = []
    starts = [p.start_s for p in phones] + [end_s]
    for phone, start, stop in zip(phones, starts[:-1], starts[1:], strict=True):
        classes = from_espeak(phone.name)
        stop = max(stop, start)
        if not classes:
            if out:
                last = out[-1]
                out[-1] = Sound(last.start_s, stop + offset_s, last.classes)
            continue
        out.append(Sound(start + offset_s, stop + offset_s, classes))
    return [s for s in out if s.end_s > s.start_s and s.classes != ("sil",)]


def speak_with_phones(rng: np.random.Generator, split: str, duration_s: float
                      ) -> tuple[np.ndarray, list[Sound], dict]:
    """A session of one voice of ``split``: (float32[N] at the corpus rate, sounds, info)."""
    voice = dataset.draw_voice(rng, split)
    engine = espeak()
    sr = dataset.SAMPLE_RATE
    chunks: list[np.ndarray] = []
    sounds: list[Sound] = []
    n = 0

    def pause() -> None:
        nonlocal n
        k = dataset.pause_samples(rng)
        chunks.append(np.zeros(k, np.float32))
        n += k

    pause()
    spoken = []
    while n < duration_s * sr:
        text = texts.phrase(rng, dataset.language_of(voice.voice), split)
        utt = engine.speak(text, voice)
        audio = soxr.resample(utt.samples, utt.sample_rate, sr).astype(np.float32)
        if audio.size == 0:
            continue
        sounds += sounds_of(utt.phones, audio.size / sr, n / sr)
        chunks.append(audio)
        spoken.append(text)
        n += audio.size
        pause()
    return np.concatenate(chunks), sounds, {"voice": voice.__dict__, "texts": spoken}


def festival_session(rng: np.random.Generator, split: str, duration_s: float
                     ) -> tuple[np.ndarray, list[Sound], dict]:
    """A session of one festival voice (English phrases of ``split``, pauses as the espeak
    sessions have them), at a random level: (float32[N] at the corpus rate, sounds, info)."""
    voices = festival.available()
    voice = voices[int(rng.integers(len(voices)))]
    stretch = float(rng.uniform(*festival.STRETCH_RANGE))
    sr = dataset.SAMPLE_RATE
    spoken = [texts.phrase(rng, "en", split) for _ in range(int(duration_s / 1.5) + 2)]
    utterances = festival.speak_phrases(spoken, voice, stretch)
    chunks: list[np.ndarray] = []
    sounds: list[Sound] = []
    n = 0

    def pause() -> None:
        nonlocal n
        k = dataset.pause_samples(rng)
        chunks.append(np.zeros(k, np.float32))
        n += k

    pause()
    for utt in utterances:
        if n >= duration_s * sr:
            break
        audio, found = festival.utterance_sounds(utt, sr, n / sr)
        sounds += [Sound(a, b, c) for a, b, c in found]
        chunks.append(audio)
        n += audio.size
        pause()
    out = np.concatenate(chunks)
    peak = float(np.max(np.abs(out))) or 1.0
    out = (out * (10 ** rng.uniform(-1.2, -0.1) / peak)).astype(np.float32)
    return out, sounds, {"voice": {"voice": f"festival:{voice}", "stretch": round(stretch, 3)},
                         "texts": spoken}


def make_recording(recipe: VisemeRecipe, index: int, seed: np.random.SeedSequence
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Recording ``index`` of the recipe: (audio float32[N] at the corpus rate, allowed
    bool[T, 9], canonical int64[T], info) for feature frames k at t = k * hop / sr."""
    rng = np.random.default_rng(seed)
    cfg = dataset.FEATURES
    if index < recipe.n_speech:
        aug = None if rng.random() < recipe.clean_share else augment.draw_augmentation(rng)
        if (recipe.festival_share > 0 and recipe.split == "train"
                and rng.random() < recipe.festival_share
                and festival.available()):
            clean, sounds, info = festival_session(rng, recipe.split, recipe.speech_s)
        else:
            clean, sounds, info = speak_with_phones(rng, recipe.split, recipe.speech_s)
        if recipe.breath_share > 0 and recipe.split == "train":
            clean = breaths.add_breaths(clean, sounds, rng, cfg.sample_rate, recipe.breath_share)
        allowed, canonical = frame_truth(sounds, dataset.n_frames(clean.size),
                                         cfg.frame_rate_hz)
        ref = np.repeat(~allowed[:, -1], cfg.hop_length)[: clean.size]  # samples in speech
        audio = clean if aug is None else augment.apply(clean, aug, rng, cfg.sample_rate, ref)
        info = {"kind": "speech", **info, "augmentation": aug.to_dict() if aug else None}
    else:
        kinds = (*augment.NOISE_KINDS, "tones", "silence")
        kind = kinds[(index - recipe.n_speech) % len(kinds)]
        rec = dataset.non_speech_recording(rng, recipe.non_speech_s, kind)
        audio = rec.samples
        allowed, canonical = frame_truth([], dataset.n_frames(audio.size), cfg.frame_rate_hz)
        info = rec.info
    return audio, allowed, canonical, info


def _make(job: tuple[VisemeRecipe, int, np.random.SeedSequence]) -> VisemeExample:
    audio, allowed, canonical, info = make_recording(*job)
    feats = log_mel(audio, dataset.FEATURES)
    t = min(feats.shape[1], len(canonical))
    return VisemeExample(feats[:, :t], allowed[:t], canonical[:t], info)


def recipe_seeds(recipe: VisemeRecipe) -> list[np.random.SeedSequence]:
    """One SeedSequence per recording of the recipe."""
    return np.random.SeedSequence([recipe.seed, 0x715E]).spawn(recipe.n_speech
                                                                + recipe.n_non_speech)


def build_examples(recipe: VisemeRecipe, workers: int = 1) -> list[VisemeExample]:
    """All recordings of the recipe, in order (deterministic for any ``workers``)."""
    jobs = [(recipe, i, seed) for i, seed in enumerate(recipe_seeds(recipe))]
    return dataset.map_isolated(_make, jobs, workers)
