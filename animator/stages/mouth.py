"""Mouth features from lip keypoints, and their place on the rig's speech paths.

Features are (open, wide) in mouth widths at rest: ``open`` = inner-lip gap (upper lip y
minus lower lip y, never negative), ``wide`` = corner-to-corner distance. Each speech path
runs in feature space from the rest mouth to one expression's mouth shape; a frame's
features are placed on the nearest path at the position t of their projection, so the mouth
opens gradually through the path's tween frames instead of jumping between endpoints.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from keypoints.lips import LipFrame

#: the keypoints the mouth features read, in the order of :func:`mouth_rows`
MOUTH_POINTS = ("upper_lip", "lower_lip", "left_corner", "right_corner")
#: Openings (mouth widths) up to this read as closed lips (the closed shape's threshold,
#: animator.stages.mouth_shapes.CLOSED_OPEN, and the benchmarks' CLOSED_W).
OPEN_KNEE_W = 0.05
#: Lips predicted from audio open wider than this knee are shown opened further, x this
#: (:func:`expanded_open`). A lip model trained on squared error pulls its openings towards
#: their mean: on the talking faces of ../shared/realdata the speakers' own inner-lip gap
#: (FaceMesh) at the 50th-99th percentiles is the predicted one expanded about the knee by
#: 1.7-1.8 (`python -m benchmarks.mouth_range` fits it at the 95th). Below the knee nothing
#: changes, so closed lips stay closed; the speaking state reads the lips unscaled.
AUDIO_OPEN_GAIN = 1.75


def expanded_open(open_w: float, gain: float) -> float:
    """The opening shown for ``open_w`` (mouth widths): unchanged up to OPEN_KNEE_W, above it
    the part beyond the knee x ``gain`` (continuous, monotonic; gain 1: unchanged)."""
    if open_w <= OPEN_KNEE_W or gain == 1.0:
        return open_w
    return OPEN_KNEE_W + gain * (open_w - OPEN_KNEE_W)


def mouth_rows(names: tuple[str, ...]) -> tuple[int, int, int, int]:
    """Rows of ``MOUTH_POINTS`` in keypoints named ``names``."""
    return tuple(names.index(n) for n in MOUTH_POINTS)  # type: ignore[return-value]


def mouth_features(frame: LipFrame, rows: tuple[int, int, int, int] | None = None
                   ) -> np.ndarray:
    """float64[2] (open, wide) of one lip frame (rows: ``mouth_rows(frame.names)``, when the
    caller knows them)."""
    upper, lower, left, right = rows or mouth_rows(frame.names)
    p = frame.points.tolist()
    return np.array(open_wide_w(p[upper], p[lower], p[left], p[right]))


def open_wide_w(upper: list[float], lower: list[float], left: list[float],
                right: list[float]) -> tuple[float, float]:
    """(open, wide) in mouth widths of the four mouth points ((x, y, z) each, Python floats):
    the inner-lip gap (never negative) and the corner-to-corner distance, in double
    precision (numpy on the float32 keypoints computed them in float32: they differ from
    those by float32 rounding, ~1e-8 mouth widths)."""
    dx, dy, dz = left[0] - right[0], left[1] - right[1], left[2] - right[2]
    return max(0.0, upper[1] - lower[1]), math.sqrt(dx * dx + dy * dy + dz * dz)


class PathPlacement(NamedTuple):
    """Where a mouth sits: on ``path`` (index into the mapper's paths) at position ``t``
    in [0, 1] from the rest mouth, ``distance`` away from the path in feature units (a
    named tuple: made every frame, cheaper than a frozen dataclass)."""

    path: int
    t: float
    distance: float


class MouthPaths:
    """Segments from a rest shape to target shapes in (open, wide) feature space.

    rest: float[2]; targets: float[P, 2]. Pure geometry; knows nothing of images. The
    per-frame placement works on Python floats: numpy costs more than the maths on arrays
    this small.
    """

    def __init__(self, rest: np.ndarray, targets: np.ndarray) -> None:
        self.rest = np.asarray(rest, dtype=np.float64).reshape(2)
        self.targets = np.asarray(targets, dtype=np.float64).reshape(-1, 2)
        if len(self.targets) == 0:
            raise ValueError("need at least one speech path")
        dirs = self.targets - self.rest  # [P, 2]
        len2 = np.einsum("pd,pd->p", dirs, dirs)
        if np.any(len2 <= 1e-12):
            raise ValueError("a speech path's target shape equals the rest shape")
        self._rest_open, self._rest_wide = self.rest.tolist()
        #: per path (direction open, direction wide, squared length)
        self._paths = [(d[0], d[1], n) for d, n in zip(dirs.tolist(), len2.tolist(),
                                                       strict=True)]

    def place_lists(self, open_w: float, wide_w: float) -> tuple[list[float], list[float]]:
        """Positions t in [0, 1] and distances of the mouth (open_w, wide_w) to every path."""
        ro, rw = open_w - self._rest_open, wide_w - self._rest_wide
        ts, dists = [], []
        for do, dw, n in self._paths:
            t = (do * ro + dw * rw) / n
            t = 0.0 if t < 0.0 else (1.0 if t > 1.0 else t)  # NaN stays NaN, as in numpy
            eo, ew = t * do - ro, t * dw - rw
            ts.append(t)
            dists.append(math.sqrt(eo * eo + ew * ew))
        return ts, dists

    def place_all(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions t[P] in [0, 1] and distances d[P] of ``features`` (float[2]) to every
        path."""
        t, d = self.place_lists(float(features[0]), float(features[1]))
        return np.array(t), np.array(d)

    def place(self, features: np.ndarray) -> PathPlacement:
        """The nearest path; ties go to the lower index."""
        t, dist = self.place_lists(float(features[0]), float(features[1]))
        best = argmin_first(dist)
        return PathPlacement(best, t[best], dist[best])


def argmin_first(values: list[float]) -> int:
    """Index of the smallest value, the first of equal ones; a NaN wins (as np.argmin)."""
    best, low = 0, values[0]
    for k, v in enumerate(values):
        if v < low or (v != v and low == low):
            best, low = k, v
    return best
