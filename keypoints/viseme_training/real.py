"""Real recordings with phone times as training examples (an option of the recipe: none by
default): each recording once clean and ``copies - 1`` times through the corpus' augmentation
(noise, rooms, band limits, gain), seeded, so that a few seconds of real voices weigh enough
against hours of synthetic speech (the training loop draws crops in proportion to length).

Only development clips of benchmarks.aligned_speech may be named, never the scored ones; the
clips trained on must then be left out of any development figure.
"""

from __future__ import annotations

import numpy as np

from keypoints.corpus import augment, dataset
from keypoints.features import log_mel
from keypoints.viseme_training.data import VisemeExample
from keypoints.visemes import Sound, frame_truth


def examples_of(audio: np.ndarray, sounds: list[Sound], copies: int, seed: int, name: str
                ) -> list[VisemeExample]:
    """``copies`` examples of one recording (float32[N] at the corpus rate): the first clean,
    the others augmented."""
    cfg = dataset.FEATURES
    allowed, canonical = frame_truth(sounds, dataset.n_frames(audio.size), cfg.frame_rate_hz)
    ref = np.repeat(~allowed[:, -1], cfg.hop_length)[: audio.size]
    if ref.size < audio.size:
        ref = np.pad(ref, (0, audio.size - ref.size))
    rng = np.random.default_rng(seed)
    out = []
    for k in range(copies):
        aug = None if k == 0 else augment.draw_augmentation(rng)
        x = audio if aug is None else augment.apply(audio, aug, rng, cfg.sample_rate, ref)
        feats = log_mel(x, cfg)
        t = min(feats.shape[1], len(canonical))
        out.append(VisemeExample(feats[:, :t], allowed[:t], canonical[:t],
                                 {"kind": "real", "clip": name,
                                  "augmentation": aug.to_dict() if aug else None}))
    return out


def real_examples(names: tuple[str, ...], copies: int, seed: int) -> list[VisemeExample]:
    """The named development clips (benchmarks.aligned_speech, from its cache folder)."""
    from benchmarks.aligned_speech import CLIPS, cache_dir, clip_sounds

    by_name = {c.name: c for c in CLIPS}
    out: list[VisemeExample] = []
    for i, name in enumerate(names):
        clip = by_name.get(name)
        if clip is None or not clip.dev:
            raise ValueError(f"{name}: not a development clip of benchmarks.aligned_speech")
        audio, sounds = clip_sounds(clip, cache_dir(), dataset.SAMPLE_RATE)
        out += examples_of(audio, sounds, copies, seed * 1000 + i, name)
    return out
