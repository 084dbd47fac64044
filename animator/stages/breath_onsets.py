"""Breaths before speech, found with look-ahead (offline only).

The causal speaking state (animator.stages.speaking) switches on when the lips move while the
voice cue (keypoints.voice_activity) is up. An audible breath before a phrase lifts the cue
and, often, the lips: on real recordings (the GRID clips of benchmarks.speaking_dev) the state
then starts 150-350 ms before the first word. Live, nothing can tell a breath from the
unvoiced start of a word without hearing what follows. A renderer that has the whole file can:
a phrase's first vowel is the loudest sound of its first second, and no word starts with more
than ~200 ms of sound much quieter than its vowel, while a breath is 15-25 dB quieter than the
vowels after it.

:func:`breath_frames` marks, on the video-frame grid, the frames between the start of each
stretch of voice cue and ``lead_s`` before its first loud frame (within ``nucleus_db`` of the
loudest of the stretch's first ``window_s``); the offline renderer mutes the cue there
(animator.render.onset_lookahead), so the causal state starts at most ``lead_s`` before the
vowel. Every decision reads at most ``window_s`` ahead (:func:`horizon_frames`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BreathParams:
    """Parameters of :func:`breath_frames` (seconds, dB, cue share in [0, 1]).

    Chosen on the development clips of benchmarks.speaking_dev (the scored GRID clip left
    out) and the synthetic *training* split of benchmarks.mappingnet: 15 dB / 0.2 s / 1 s
    leave every clip and condition as it was except the breath openings (12 dB / 0.16 s cut
    one more dev frame and cost the clean synthetic set 0.001 F1; 0.6-1.5 s windows read the
    same; a whole-stretch window cut a sonnet's soft line start)."""

    #: a frame is the stretch's first loud frame within this of its loudest in ``window_s``
    nucleus_db: float = 15.0
    #: the cue is kept this long before the first loud frame (an unvoiced onset: s, f, h, p)
    lead_s: float = 0.2
    #: how far past a stretch's start its loudest frame is looked for
    window_s: float = 1.0
    #: cue-up frames closer than this belong to one stretch (a stop closure, a short pause)
    merge_s: float = 0.3
    #: the cue counts as up at this share of speech-like feature frames
    cue_on: float = 0.5

    def __post_init__(self) -> None:
        if self.nucleus_db <= 0 or self.lead_s < 0 or self.window_s <= 0 or self.merge_s < 0:
            raise ValueError("nucleus_db and window_s must be > 0, lead_s and merge_s >= 0")
        if not 0 < self.cue_on <= 1:
            raise ValueError("cue_on must be in (0, 1]")


def _frames(seconds: float, fps: float) -> int:
    return int(round(seconds * fps))


def horizon_frames(fps: float, params: BreathParams = BreathParams()) -> int:
    """How many frames past frame i :func:`breath_frames` reads to decide frame i."""
    return _frames(params.window_s, fps)


def context_frames(fps: float, params: BreathParams = BreathParams()) -> int:
    """How many frames before frame i it reads (a stretch starting before i may reach it)."""
    return _frames(params.window_s, fps) + _frames(params.merge_s, fps) + 1


def muted_voice(voice: np.ndarray, loudness_db: np.ndarray, fps: float,
                params: BreathParams = BreathParams()) -> np.ndarray:
    """float64[n]: ``voice`` (per video frame) with the :func:`breath_frames` at 0: the cue
    an offline render's engine is fed (animator.render.onset_lookahead does it on lip frames,
    as they arrive)."""
    out = np.array(voice, dtype=np.float64)
    out[breath_frames(voice, loudness_db, fps, params)] = 0.0
    return out


def breath_frames(voice: np.ndarray, loudness_db: np.ndarray, fps: float,
                  params: BreathParams = BreathParams()) -> np.ndarray:
    """bool[n]: the video frames whose cue is a breath (or a noise) before speech.

    voice: float[n], the voice cue of each video frame's lip frame; loudness_db: float[n], its
    speech-band loudness (keypoints.prosody.Prosody.loudness_db); fps: video frames per second.
    A slice of the arrays gives the same marks as the whole for every frame at least
    :func:`context_frames` after its start and :func:`horizon_frames` before its end.
    """
    voice = np.asarray(voice, dtype=np.float64)
    loud = np.asarray(loudness_db, dtype=np.float64)
    if voice.shape != loud.shape or voice.ndim != 1:
        raise ValueError(f"voice and loudness_db must be float[n] alike, got {voice.shape} "
                         f"and {loud.shape}")
    marks = np.zeros(voice.size, dtype=bool)
    up = np.flatnonzero(voice >= params.cue_on)
    if not up.size:
        return marks
    merge, lead = _frames(params.merge_s, fps), _frames(params.lead_s, fps)
    window = max(1, _frames(params.window_s, fps))
    starts = np.concatenate([up[:1], up[1:][np.diff(up) > merge]])
    for a in starts:
        seg = loud[a:a + window]
        first_loud = a + int(np.argmax(seg >= seg.max() - params.nucleus_db))
        if first_loud - lead > a:
            marks[a:first_loud - lead] = True
    return marks
