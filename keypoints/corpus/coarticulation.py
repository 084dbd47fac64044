"""Phoneme timings -> smooth mouth-shape trajectories (coarticulation), frame by frame.

Cohen-Massaro dominance blending: every segment s (a viseme over [start, end)) pulls each
shape parameter towards its target T_s with a dominance that is full inside the segment and
decays with the distance d outside it, D_s(t) = alpha_s * exp(-d / DECAY_S). The shape is
sum_s D_s T_s / sum_s D_s: neighbouring phonemes blend, strong visemes (closures, rounding)
win over weak ones (lingual consonants), and the lips start moving before a sound (anticipation)
and keep moving after it (carry-over). A Gaussian of SMOOTH_S then bounds the speed of the
lips (no steps), so opening and closing take 60-120 ms as real lips do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from keypoints.corpus.espeak import Phone
from keypoints.corpus.visemes import shape_array, visemes_of

DECAY_S = 0.035  # dominance e-folding distance outside a segment
#: e-folding distance of a sound's carry-over into a following pause: the lips settle at rest
#: within ~50 ms of the last sound (as an animator closes the mouth on the last sounding
#: frame), so a lip-motion silence mask can end with the sound. Anticipation out of a pause
#: keeps DECAY_S: lips may start moving before the sound.
CARRYOVER_INTO_PAUSE_S = 0.012
SMOOTH_S = 0.018  # standard deviation of the final Gaussian smoothing
_BLOCK_FRAMES = 512  # frames per block of the dominance computation (bounds memory)


@dataclass(frozen=True)
class Segment:
    """A viseme held over [start_s, end_s)."""

    viseme: str
    start_s: float
    end_s: float


def segments_from_phones(phones: tuple[Phone, ...] | list[Phone], end_s: float,
                         offset_s: float = 0.0) -> list[Segment]:
    """Phones (start times) of one utterance lasting end_s -> viseme segments shifted by
    offset_s. Soundless phones extend the previous segment; diphthongs are split in two."""
    segments: list[Segment] = []
    starts = [p.start_s for p in phones] + [end_s]
    for phone, start, stop in zip(phones, starts[:-1], starts[1:], strict=True):
        stop = max(stop, start)
        names = visemes_of(phone.name)
        if not names:
            if segments:
                last = segments[-1]
                segments[-1] = Segment(last.viseme, last.start_s, stop + offset_s)
            continue
        step = (stop - start) / len(names)
        for k, name in enumerate(names):
            segments.append(Segment(name, start + k * step + offset_s,
                                    start + (k + 1) * step + offset_s))
    return [s for s in segments if s.end_s > s.start_s]


def with_rest(segments: list[Segment], start_s: float, end_s: float) -> list[Segment]:
    """Segments sorted by start, with a rest segment filling every uncovered stretch of
    [start_s, end_s) (before, between and after them)."""
    out: list[Segment] = []
    t = start_s
    for s in sorted(segments, key=lambda s: s.start_s):
        if s.start_s > t:
            out.append(Segment("rest", t, s.start_s))
        out.append(s)
        t = max(t, s.end_s)
    if end_s > t:
        out.append(Segment("rest", t, end_s))
    return out


def shape_trajectory(segments: list[Segment], n_frames: int, frame_rate_hz: float) -> np.ndarray:
    """float64[n_frames, 4] (open, wide, round, tuck) at t = k / frame_rate_hz.

    Time not covered by any segment is rest (a pause segment is added for it).
    """
    horizon = (n_frames + 1) / frame_rate_hz
    padded = with_rest(segments, -1.0, horizon + 1.0)
    targets, dominance = shape_array([s.viseme for s in padded])  # [S, 4] each
    starts = np.array([s.start_s for s in padded])
    ends = np.array([s.end_s for s in padded])
    is_rest = np.array([s.viseme == "rest" for s in padded])
    out = np.empty((n_frames, 4), dtype=np.float64)
    for b in range(0, n_frames, _BLOCK_FRAMES):
        t = np.arange(b, min(n_frames, b + _BLOCK_FRAMES)) / frame_rate_hz
        # only segments within reach of this block matter (exp(-12) ~ 6e-6)
        reach = 12 * DECAY_S
        near = (ends > t[0] - reach) & (starts < t[-1] + reach)
        before = np.maximum(0.0, starts[near][None, :] - t[:, None])  # [n, S] seconds
        past = np.maximum(0.0, t[:, None] - ends[near][None, :])
        # inside a pause, every earlier sound fades CARRYOVER_INTO_PAUSE_S per e-fold from
        # the pause's start on (before it, at DECAY_S as everywhere else)
        k = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(padded) - 1)
        pause_start = np.where(is_rest[k], starts[k], np.inf)[:, None]  # [n, 1]
        in_pause = t[:, None] > pause_start
        ended = ends[near][None, :] <= pause_start
        into = np.maximum(0.0, t[:, None] - pause_start)
        decay = np.where(in_pause & ended,
                         np.maximum(0.0, pause_start - ends[near][None, :]) / DECAY_S
                         + into / CARRYOVER_INTO_PAUSE_S,
                         past / DECAY_S)
        weight = np.exp(-before / DECAY_S - decay)  # [n, S]
        w = weight[:, :, None] * dominance[near][None]  # [n, S, 4]
        out[b : b + t.size] = (w * targets[near][None]).sum(1) / w.sum(1)
    return gaussian_smooth(out, SMOOTH_S * frame_rate_hz)


def gaussian_smooth(x: np.ndarray, sigma_frames: float) -> np.ndarray:
    """float[T, C] smoothed along T with a Gaussian (edges held)."""
    if sigma_frames <= 0 or x.shape[0] == 0:
        return x
    half = int(np.ceil(3 * sigma_frames))
    k = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma_frames) ** 2)
    k /= k.sum()
    padded = np.concatenate([np.repeat(x[:1], half, 0), x, np.repeat(x[-1:], half, 0)])
    return np.stack([np.convolve(padded[:, c], k, mode="valid") for c in range(x.shape[1])],
                    axis=1)


def speech_mask(segments: list[Segment], n_frames: int, frame_rate_hz: float) -> np.ndarray:
    """bool[n_frames]: True where a frame time lies in a sounding (non-rest) segment."""
    mask = np.zeros(n_frames, dtype=bool)
    for s in segments:
        if s.viseme == "rest":
            continue
        lo = max(0, int(np.ceil(s.start_s * frame_rate_hz)))
        hi = min(n_frames, int(np.ceil(s.end_s * frame_rate_hz)))
        mask[lo:hi] = True
    return mask

