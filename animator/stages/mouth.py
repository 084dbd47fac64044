"""Mouth features from lip keypoints, and their place on the rig's speech paths.

Features are (open, wide) in mouth widths at rest: ``open`` = inner-lip gap (upper lip y
minus lower lip y, never negative), ``wide`` = corner-to-corner distance. Each speech path
runs in feature space from the rest mouth to one expression's mouth shape; a frame's
features are placed on the nearest path at the position t of their projection, so the mouth
opens gradually through the path's tween frames instead of jumping between endpoints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from keypoints.lips import LipFrame

#: the keypoints the mouth features read, in the order of :func:`mouth_rows`
MOUTH_POINTS = ("upper_lip", "lower_lip", "left_corner", "right_corner")


def mouth_rows(names: tuple[str, ...]) -> tuple[int, int, int, int]:
    """Rows of ``MOUTH_POINTS`` in keypoints named ``names``."""
    return tuple(names.index(n) for n in MOUTH_POINTS)  # type: ignore[return-value]


def mouth_features(frame: LipFrame, rows: tuple[int, int, int, int] | None = None
                   ) -> np.ndarray:
    """float64[2] (open, wide) of one lip frame (rows: ``mouth_rows(frame.names)``, when the
    caller knows them)."""
    upper, lower, left, right = rows or mouth_rows(frame.names)
    p = frame.points
    open_w = max(0.0, float(p[upper, 1] - p[lower, 1]))
    gap = p[left] - p[right]
    wide_w = float(np.sqrt(gap.dot(gap)))  # np.linalg.norm's arithmetic, without its checks
    return np.array([open_w, wide_w])


@dataclass(frozen=True)
class PathPlacement:
    """Where a mouth sits: on ``path`` (index into the mapper's paths) at position ``t``
    in [0, 1] from the rest mouth, ``distance`` away from the path in feature units."""

    path: int
    t: float
    distance: float


class MouthPaths:
    """Segments from a rest shape to target shapes in (open, wide) feature space.

    rest: float[2]; targets: float[P, 2]. Pure geometry; knows nothing of images.
    """

    def __init__(self, rest: np.ndarray, targets: np.ndarray) -> None:
        self.rest = np.asarray(rest, dtype=np.float64).reshape(2)
        self.targets = np.asarray(targets, dtype=np.float64).reshape(-1, 2)
        if len(self.targets) == 0:
            raise ValueError("need at least one speech path")
        self._dirs = self.targets - self.rest  # [P, 2]
        self._len2 = np.einsum("pd,pd->p", self._dirs, self._dirs)
        if np.any(self._len2 <= 1e-12):
            raise ValueError("a speech path's target shape equals the rest shape")

    def place_all(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions t[P] in [0, 1] and distances d[P] of ``features`` (float[2]) to every
        path."""
        rel = np.asarray(features, dtype=np.float64) - self.rest
        # minimum/maximum and einsum: np.clip and np.linalg.norm cost more than the maths on
        # arrays this small (this runs every frame).
        t = np.minimum(np.maximum(self._dirs @ rel / self._len2, 0.0), 1.0)
        off = t[:, None] * self._dirs - rel
        return t, np.sqrt(np.einsum("pd,pd->p", off, off))

    def place(self, features: np.ndarray) -> PathPlacement:
        """The nearest path; ties go to the lower index."""
        t, dist = self.place_all(features)
        best = int(np.argmin(dist))
        return PathPlacement(best, float(t[best]), float(dist[best]))
