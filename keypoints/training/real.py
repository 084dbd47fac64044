"""Real recordings with phone times as lip-model examples (keypoints.corpus.real_clips: the clip
list, the clean and augmented copies). Their targets come from the aligner's phone times by the
corpus' own path (keypoints.corpus.labelled -> coarticulation -> visemes), as espeak's speech
gets them.

The talking faces' audio is refused: benchmarks.mappingnet scores the model on it.
"""

from __future__ import annotations

import numpy as np

from keypoints.corpus import dataset, real_clips
from keypoints.corpus.coarticulation import Segment
from keypoints.corpus.labelled import segments_of
from keypoints.features import log_mel
from keypoints.training.data import Example

FACES_REFUSED = ("its audio is a talking face that benchmarks.mappingnet scores (audio -> lip "
                 "r): train the lip model on other development clips")


def examples_of(audio: np.ndarray, segments: list[Segment], copies: int, seed: int, name: str
                ) -> list[Example]:
    """``copies`` examples of one recording (float32[N] at the corpus rate) whose sounds are
    ``segments``: the first clean, the others augmented, all with the same targets."""
    keypoints, speech = dataset.targets(segments, audio.size)
    ref = real_clips.samples_mask(speech, audio.size)
    out = []
    for x, aug in real_clips.copies_of(audio, ref, copies, seed):
        feats = log_mel(x, dataset.FEATURES)
        t = min(feats.shape[1], keypoints.shape[0])
        out.append(Example(feats[:, :t], keypoints[:t], speech[:t],
                           {"kind": "real", "clip": name, "augmentation": aug}))
    return out


def real_examples(names: tuple[str, ...], copies: int, seed: int) -> list[Example]:
    """The named development clips (benchmarks.aligned_speech, from its cache folder)."""
    from benchmarks.aligned_speech import cache_dir, clip_intervals

    clips = real_clips.dev_clips(names, real_clips.talking_face_clips(), FACES_REFUSED)
    out: list[Example] = []
    for i, clip in enumerate(clips):
        segments = segments_of(clip_intervals(clip, cache_dir()), clip.notation)
        out += examples_of(real_clips.clip_audio(clip), segments, copies, seed * 1000 + i,
                           clip.name)
    return out
