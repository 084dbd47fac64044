"""Real recordings with phone times as extra training material, for either model (the lips'
keypoints.training, the shapes' keypoints.viseme_training; an option of both recipes, none by
default): which clips may be named, and each recording once clean and ``copies - 1`` times
through the corpus' augmentation (noise beds, rooms, band limits, gain), seeded, so that a few
seconds of real voices weigh something against hours of synthetic speech.

Only development clips of benchmarks.aligned_speech may be named, never the scored ones; a
recipe may refuse more (the lip model: the talking faces' audio, which benchmarks.mappingnet
scores). The clips trained on must then be left out of any development figure.
"""

from __future__ import annotations

import numpy as np

from keypoints.corpus import augment, dataset


def talking_face_clips() -> frozenset[str]:
    """The development clips whose audio is a talking face of ../shared/realdata (GRID)."""
    from benchmarks.aligned_speech import GRID

    return frozenset(f"grid_{s}" for s in GRID)


def dev_clips(names: tuple[str, ...], refused: frozenset[str] = frozenset(), why: str = ""):
    """The benchmarks.aligned_speech clips of ``names`` (ValueError, before anything is read,
    for a name that is not a development clip or is in ``refused``, with ``why``)."""
    from benchmarks.aligned_speech import CLIPS

    by_name = {c.name: c for c in CLIPS}
    for name in names:
        clip = by_name.get(name)
        if clip is None or not clip.dev:
            raise ValueError(f"{name}: not a development clip of benchmarks.aligned_speech")
        if name in refused:
            raise ValueError(f"{name}: {why}")
    return [by_name[name] for name in names]


def clip_audio(clip) -> np.ndarray:
    """float32[N] of a clip at the corpus rate, from benchmarks.aligned_speech's cache."""
    from benchmarks.aligned_speech import cache_dir
    from keypoints.audio import load_audio

    return load_audio(cache_dir() / clip.wav, dataset.SAMPLE_RATE)


def copies_of(audio: np.ndarray, speech: np.ndarray, copies: int, seed: int
              ) -> list[tuple[np.ndarray, dict | None]]:
    """``copies`` versions (float32[N], augmentation dict or None) of one recording float32[N]
    at the corpus rate: the first clean, the others drawn from augment.draw_augmentation.
    ``speech`` bool[N] marks the sounding samples (the noise beds' SNR reference)."""
    rng = np.random.default_rng(seed)
    out: list[tuple[np.ndarray, dict | None]] = [(audio, None)]
    for _ in range(copies - 1):
        aug = augment.draw_augmentation(rng)
        out.append((augment.apply(audio, aug, rng, dataset.SAMPLE_RATE, speech), aug.to_dict()))
    return out[:copies]


def samples_mask(frames: np.ndarray, n_samples: int) -> np.ndarray:
    """bool[n_samples] of a per-feature-frame mask bool[T] (each frame covers one hop)."""
    mask = np.repeat(frames, dataset.FEATURES.hop_length)[:n_samples]
    return np.pad(mask, (0, n_samples - mask.size))
