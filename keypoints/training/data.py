"""The training data as arrays: corpus recordings -> (features, targets, speech) per recording.

Every recording draws from its own Generator, spawned from one SeedSequence, so the corpus is
the same whatever the number of worker processes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from keypoints.corpus import augment, dataset
from keypoints.features import log_mel


@dataclass(frozen=True)
class CorpusRecipe:
    """How much of what: speech recordings of about ``speech_s`` seconds each (one voice per
    recording, augmented with augment.draw_augmentation with probability 1 - clean_share),
    plus non-speech recordings (noise of every kind, music-like tones) of ``non_speech_s``."""

    seed: int = 0
    split: str = "train"
    n_speech: int = 1600
    speech_s: float = 20.0
    n_non_speech: int = 42
    non_speech_s: float = 8.0
    clean_share: float = 0.15
    #: development clips of benchmarks.aligned_speech also trained on (keypoints.training.real),
    #: each ``real_copies`` times (once clean, the rest augmented); none by default
    real_clips: tuple[str, ...] = ()
    real_copies: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Example:
    """features float32[n_mels, T]; keypoints float32[T, K, 3]; speech bool[T]; info dict."""

    features: np.ndarray
    keypoints: np.ndarray
    speech: np.ndarray
    info: dict


def _make(job: tuple[CorpusRecipe, int, np.random.SeedSequence]) -> Example:
    recipe, index, seed = job
    rng = np.random.default_rng(seed)
    if index < recipe.n_speech:
        aug = None if rng.random() < recipe.clean_share else augment.draw_augmentation(rng)
        rec = dataset.speech_recording(rng, recipe.split, recipe.speech_s, aug)
    else:
        kinds = (*augment.NOISE_KINDS, "tones", "silence")
        kind = kinds[(index - recipe.n_speech) % len(kinds)]
        rec = dataset.non_speech_recording(rng, recipe.non_speech_s, kind)
    return Example(log_mel(rec.samples, dataset.FEATURES), rec.keypoints, rec.speech, rec.info)


def build_examples(recipe: CorpusRecipe, workers: int = 1) -> list[Example]:
    """All recordings of the recipe, in order, each made in a fresh process (see
    dataset.map_isolated): deterministic for any ``workers``."""
    n = recipe.n_speech + recipe.n_non_speech
    seeds = np.random.SeedSequence(recipe.seed).spawn(n)
    jobs = [(recipe, i, seeds[i]) for i in range(n)]
    return dataset.map_isolated(_make, jobs, workers)


def mel_statistics(examples: list[Example]) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) float64[n_mels] of the features over all frames (input normalisation)."""
    feats = np.concatenate([e.features for e in examples], axis=1).astype(np.float64)
    return feats.mean(axis=1), np.maximum(feats.std(axis=1), 1e-3)


def pad_context(features: np.ndarray, past: int, future: int, silence_value: float) -> np.ndarray:
    """float32[n_mels, past + T + future], padded as the streaming runner pads: the first frame
    repeated before, silence frames after."""
    n_mels = features.shape[0]
    return np.concatenate([np.repeat(features[:, :1].astype(np.float32), past, axis=1),
                           features, np.full((n_mels, future), silence_value, np.float32)],
                          axis=1)


OFFSET_WINDOW_S = 0.2


def offset_weights(speech: np.ndarray, w_offset: float) -> np.ndarray:
    """float32[T]: 1 + w_offset on the frames within OFFSET_WINDOW_S after each speech offset
    (speech bool[T] at dataset.FRAME_RATE_HZ), 1 elsewhere."""
    weights = np.ones(speech.size, dtype=np.float32)
    n = round(OFFSET_WINDOW_S * dataset.FRAME_RATE_HZ)
    for b in np.flatnonzero(np.diff(speech.astype(np.int8)) == -1) + 1:
        weights[b : b + n] += w_offset
    return weights
