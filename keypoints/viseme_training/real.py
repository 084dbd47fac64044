"""Real recordings with phone times as shape-model examples (keypoints.corpus.real_clips: the
clip list, the clean and augmented copies), their truth from the sound classes of the labels
(keypoints.visemes.frame_truth)."""

from __future__ import annotations

import numpy as np

from keypoints.corpus import dataset, real_clips
from keypoints.features import log_mel
from keypoints.viseme_training.data import VisemeExample
from keypoints.visemes import Sound, frame_truth


def examples_of(audio: np.ndarray, sounds: list[Sound], copies: int, seed: int, name: str
                ) -> list[VisemeExample]:
    """``copies`` examples of one recording (float32[N] at the corpus rate): the first clean,
    the others augmented."""
    cfg = dataset.FEATURES
    allowed, canonical = frame_truth(sounds, dataset.n_frames(audio.size), cfg.frame_rate_hz)
    ref = real_clips.samples_mask(~allowed[:, -1], audio.size)
    out = []
    for x, aug in real_clips.copies_of(audio, ref, copies, seed):
        feats = log_mel(x, cfg)
        t = min(feats.shape[1], len(canonical))
        out.append(VisemeExample(feats[:, :t], allowed[:t], canonical[:t],
                                 {"kind": "real", "clip": name, "augmentation": aug}))
    return out


def real_examples(names: tuple[str, ...], copies: int, seed: int) -> list[VisemeExample]:
    """The named development clips (benchmarks.aligned_speech, from its cache folder)."""
    from benchmarks.aligned_speech import cache_dir, clip_sounds

    out: list[VisemeExample] = []
    for i, clip in enumerate(real_clips.dev_clips(names)):
        audio, sounds = clip_sounds(clip, cache_dir(), dataset.SAMPLE_RATE)
        out += examples_of(audio, sounds, copies, seed * 1000 + i, clip.name)
    return out
