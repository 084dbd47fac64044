"""A measured head (a tracked face) blended with the synthesised motion, frame by frame:
the engine's ``head="tracked"`` and ``"mix"`` modes."""

from __future__ import annotations

import math

import numpy as np


class HeadBlend:
    """Measured head angles blended with synthesised ones, one video frame per :meth:`step`.

    The weight of the measurement follows its presence (1 while angles arrive, 0 while they
    do not) with time constant ``fade_s``; while it is missing the last measured angles fade
    out, so a lost face never makes the head jump.
    """

    def __init__(self, fps: float, fade_s: float, add_synth: bool) -> None:
        self._alpha = 1.0 if fade_s == 0 else 1.0 - math.exp(-1.0 / (fps * fade_s))
        self._add_synth = add_synth
        self._weight = 0.0
        self._last = (0.0, 0.0, 0.0)  # the last measured angles (degrees)

    def step(self, synth_deg: np.ndarray | tuple[float, float, float],
             measured_deg: np.ndarray | None) -> tuple[float, float, float]:
        """synth_deg, measured_deg: float[3] (pitch, yaw, roll) degrees; measured None when
        there is no measurement for this frame. Returns (pitch, yaw, roll) degrees, Python
        floats."""
        present = False
        if measured_deg is not None:
            measured = tuple(np.asarray(measured_deg, dtype=np.float64).tolist())
            present = all(map(math.isfinite, measured))
            if present:
                self._last = measured
        self._weight += ((1.0 if present else 0.0) - self._weight) * self._alpha
        w, g = self._weight, (1.0 if self._add_synth else 1.0 - self._weight)
        s = synth_deg.tolist() if isinstance(synth_deg, np.ndarray) else synth_deg
        return (w * self._last[0] + g * s[0], w * self._last[1] + g * s[1],
                w * self._last[2] + g * s[2])
