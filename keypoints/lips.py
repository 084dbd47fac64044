"""The lip keypoint frame shared by every keypoint source (MappingNet, FaceMesh).

Coordinates are in a face-normalised frame: origin at the mouth centre, unit = mouth width
at rest (corner to corner), x towards the character's left, y up, z towards the viewer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from keypoints.prosody import Prosody

#: Names every keypoint source must provide (inner-lip midpoints and the two corners).
REQUIRED_NAMES: tuple[str, ...] = ("upper_lip", "lower_lip", "left_corner", "right_corner")


@dataclass(frozen=True)
class LipFrame:
    """One frame of lip keypoints.

    t_s: time of the frame centre in seconds from the start of the stream.
    points: float32[K, 3] in mouth-width units (see module docstring).
    names: K keypoint names, aligned with ``points``.
    prosody: the speech's prosody at this frame when the lips come from audio, else None.
    viseme: the mouth shape (one of keypoints.visemes.SHAPES: A-H, X) heard at this frame
    when a viseme model runs beside the lips, else None.
    """

    t_s: float
    points: np.ndarray
    names: tuple[str, ...]
    prosody: Prosody | None = None
    viseme: str | None = None

    def point(self, name: str) -> np.ndarray:
        """float32[3] of the named keypoint."""
        return self.points[self.names.index(name)]


def missing_names(names: tuple[str, ...] | list[str]) -> list[str]:
    """The required keypoint names absent from ``names`` (empty when complete)."""
    return [n for n in REQUIRED_NAMES if n not in names]

def rest_points(names: tuple[str, ...]) -> np.ndarray:
    """float32[K, 3]: a closed mouth at rest width (all zeros but the corners at x = +-0.5)."""
    points = np.zeros((len(names), 3), dtype=np.float32)
    for name, x in (("left_corner", 0.5), ("right_corner", -0.5)):
        if name in names:
            points[names.index(name), 0] = x
    return points
