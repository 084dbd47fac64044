"""Lip-keypoint scoring shared by the MappingNet benchmarks: keypoints from a model, sampled
at video frames, the speaking state, and the scores (correlation, speaking F1 with a collar
around true boundaries, onset/offset delays). Pure functions over arrays; times in seconds
unless a name says ms.
"""

from __future__ import annotations

import numpy as np

from animator.stages.speaking import SpeakingDetector, SpeakingParams
from keypoints.mappingnet import MappingNet
from keypoints.stream import AudioLipStream

#: Video frame rate (Hz) the speaking state is scored at.
FPS = 25.0
#: Video frames within this many seconds of a true speech boundary are not scored.
COLLAR_S = 0.1
#: Onsets and offsets are timed only at pauses at least this long (s).
MIN_PAUSE_S = 0.5


# --- running a model --------------------------------------------------------------------------

def lip_stream(model: MappingNet, samples: np.ndarray) -> tuple[np.ndarray, int]:
    """float32[N] -> (keypoints float32[T, K, 3] at 100 Hz, non-finite frames replaced)."""
    points, bad, _ = lip_stream_voice(model, samples)
    return points, bad


def lip_stream_voice(model: MappingNet, samples: np.ndarray
                     ) -> tuple[np.ndarray, int, np.ndarray]:
    """float32[N] -> (keypoints float32[T, K, 3] at 100 Hz, non-finite frames replaced, the
    voice-activity cue float[T] of the frames' prosody)."""
    points, bad, voice, _ = lip_stream_prosody(model, samples)
    return points, bad, voice


def lip_stream_prosody(model: MappingNet, samples: np.ndarray
                       ) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    """float32[N] -> :func:`lip_stream_voice`'s (keypoints, non-finite frames, voice cue) and
    the frames' prosody loudness_db float[T]."""
    stream = AudioLipStream(model)
    frames = stream.push(samples) + stream.flush()
    if not frames:
        return (np.zeros((0, len(model.keypoint_names), 3), np.float32), stream.n_nonfinite,
                np.zeros(0), np.zeros(0))
    return (np.stack([f.points for f in frames]), stream.n_nonfinite,
            np.array([f.prosody.voice for f in frames]),
            np.array([f.prosody.loudness_db for f in frames]))


def named(points: np.ndarray, names: tuple[str, ...], name: str) -> np.ndarray:
    return points[:, names.index(name)]


def opening(points: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    return named(points, names, "upper_lip")[:, 1] - named(points, names, "lower_lip")[:, 1]


def width(points: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    return np.linalg.norm(named(points, names, "left_corner")
                          - named(points, names, "right_corner"), axis=1)


def video_indices(n_lip_frames: int, frame_rate_hz: float) -> np.ndarray:
    """int[n_video]: the lip frame nearest each video frame time i / FPS (ties: earlier)."""
    n_video = int(np.floor((n_lip_frames - 1) / frame_rate_hz * FPS)) + 1 if n_lip_frames else 0
    t = np.arange(n_video) / FPS
    return np.minimum(np.ceil(t * frame_rate_hz - 0.5).astype(int), n_lip_frames - 1)


def speaking_state(inner_lips: np.ndarray, params: SpeakingParams,
                   voice: np.ndarray | None = None) -> np.ndarray:
    """float[n_video, 2, 3] upper/lower lip per video frame (and the voice cue float[n_video]
    at those frames, or None: lips only) -> float[n_video] speaking state."""
    detector = SpeakingDetector(FPS, params)
    if voice is None:
        return np.array([detector.step(x) for x in inner_lips])
    return np.array([detector.step(x, float(v)) for x, v in zip(inner_lips, voice, strict=True)])


# --- metrics ----------------------------------------------------------------------------------

def correlation(a: np.ndarray, b: np.ndarray) -> float:
    if a.size < 2 or np.std(a) == 0 or np.std(b) == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def boundary_times_s(speech: np.ndarray, frame_rate_hz: float) -> np.ndarray:
    """Times (s) of the changes of ``speech`` (bool[T] at frame_rate_hz): halfway between the
    last frame before and the first frame after each change."""
    return (np.flatnonzero(np.diff(speech.astype(np.int8))) + 0.5) / frame_rate_hz


def scored_frames(n_video: int, edges_s: np.ndarray) -> np.ndarray:
    """bool[n_video]: video frames (t = i / FPS) at least COLLAR_S from every true boundary."""
    t = np.arange(n_video) / FPS
    keep = np.ones(n_video, dtype=bool)
    for e in edges_s:
        keep &= np.abs(t - e) >= COLLAR_S
    return keep


def f1_score(pred: np.ndarray, truth: np.ndarray, edges_s: np.ndarray
             ) -> tuple[float, int, int, int]:
    """(F1 of the speech class, tp, fp, fn) over the scored frames."""
    keep = scored_frames(truth.size, edges_s)
    p, t = pred[keep], truth[keep]
    tp, fp, fn = int(np.sum(p & t)), int(np.sum(p & ~t)), int(np.sum(~p & t))
    return (2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0), tp, fp, fn


def boundary_delays(pred: np.ndarray, speech: np.ndarray, frame_rate_hz: float,
                    offset_after_s: float = 0.8, min_pause_s: float = MIN_PAUSE_S
                    ) -> tuple[list[float], list[float]]:
    """Delays in ms from the true onsets/offsets (``speech`` bool[T] at frame_rate_hz) at
    pauses >= ``min_pause_s`` to the mask's crossings (``pred`` bool per video frame, t = i / FPS).

    Onset: first upward crossing within [onset - 0.3 s, onset + 0.6 s]; offset: first downward
    crossing within [offset - 0.3 s, offset + offset_after_s]; missing crossings are skipped (and
    counted by the F1)."""
    edges = boundary_times_s(speech, frame_rate_hz)
    rising = speech[np.flatnonzero(np.diff(speech.astype(np.int8))) + 1]
    step = np.diff(pred.astype(np.int8))
    up = (np.flatnonzero(step == 1) + 1) / FPS
    down = (np.flatnonzero(step == -1) + 1) / FPS
    end_s = speech.size / frame_rate_hz
    onsets, offsets = [], []
    for k, (e, is_onset) in enumerate(zip(edges, rising, strict=True)):
        if is_onset:  # the pause before it runs from the previous edge (or the start)
            if e - (edges[k - 1] if k else 0.0) < min_pause_s:
                continue
            hits = up[(up >= e - 0.3) & (up <= e + 0.6)]
            if hits.size:
                onsets.append((hits[0] - e) * 1000)
        else:  # the pause after it lasts until the next edge (or the end)
            if (edges[k + 1] if k + 1 < edges.size else end_s) - e < min_pause_s:
                continue
            hits = down[(down >= e - 0.3) & (down <= e + offset_after_s)]
            if hits.size:
                offsets.append((hits[0] - e) * 1000)
    return onsets, offsets
