"""A measured head (a tracked face) blended with the synthesised motion, frame by frame:
the engine's ``head="tracked"`` and ``"mix"`` modes."""

from __future__ import annotations

import numpy as np


class HeadBlend:
    """Measured head angles blended with synthesised ones, one video frame per :meth:`step`.

    The weight of the measurement follows its presence (1 while angles arrive, 0 while they
    do not) with time constant ``fade_s``; while it is missing the last measured angles fade
    out, so a lost face never makes the head jump.
    """

    def __init__(self, fps: float, fade_s: float, add_synth: bool) -> None:
        self._alpha = 1.0 if fade_s == 0 else 1.0 - float(np.exp(-1.0 / (fps * fade_s)))
        self._add_synth = add_synth
        self._weight = 0.0
        self._last = np.zeros(3)

    def step(self, synth_deg: np.ndarray, measured_deg: np.ndarray | None) -> np.ndarray:
        """synth_deg, measured_deg: float[3] (pitch, yaw, roll) degrees; measured None when
        there is no measurement for this frame. Returns float64[3] degrees."""
        present = measured_deg is not None and bool(np.all(np.isfinite(measured_deg)))
        if present:
            self._last = np.asarray(measured_deg, dtype=np.float64)
        self._weight += ((1.0 if present else 0.0) - self._weight) * self._alpha
        synth_gain = 1.0 if self._add_synth else 1.0 - self._weight
        return self._weight * self._last + synth_gain * np.asarray(synth_deg, np.float64)
