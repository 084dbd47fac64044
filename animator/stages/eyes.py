"""Blinks: a detector that makes the eyes' state of a frame from measured eye openness.

The selector only needs :class:`~animator.core.types.EyeState`: per-eye closure for
receivers that animate eyelids (VMC) and ``closed``, the decision to show the rig's
eyes-closed frames. A tracked face gives it through :class:`BlinkDetector`; anything else
that makes an ``EyeState`` (e.g. an idle-blink generator when there is no face) feeds the
same input.

:class:`BlinkDetector` takes eye aspect ratios (lid gap over eye width, per eye, as
keypoints.face measures them) and judges them against this face's own open-eye level (the
median over a sliding window: eyes are open most of the time; people differ by a factor of
two in the raw ratio). ``closed`` switches on when the mean openness of both eyes falls
below ``close_below`` and off only when it rises above ``open_above``: tracker noise around
one threshold cannot make the avatar flicker. Pure numeric.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from animator.core.types import EYES_OPEN, EyeState


@dataclass(frozen=True)
class BlinkParams:
    #: the open-eye level is the median eye ratio over the last this many seconds ...
    window_s: float = 10.0
    #: ... once at least this many seconds were measured (no blinks before).
    min_s: float = 0.3
    #: eyes count as closed when the mean openness (ratio / open level) drops below this ...
    close_below: float = 0.5
    #: ... and as open again only when it rises above this.
    open_above: float = 0.7
    #: closure per eye: 0 at this openness and above ...
    closure_start: float = 0.8
    #: ... 1 at this openness and below (linear between).
    closure_full: float = 0.3

    def __post_init__(self) -> None:
        if not self.window_s > 0 or not self.min_s >= 0:
            raise ValueError("window_s must be > 0 and min_s >= 0")
        if not 0 < self.close_below < self.open_above:
            raise ValueError("need 0 < close_below < open_above")
        if not self.closure_full < self.closure_start:
            raise ValueError("need closure_full < closure_start")


class BlinkDetector:
    """Eye aspect ratios in, :class:`EyeState` out, one video frame per :meth:`step`.

    fps: frames per second of the steps; calibrate_s: the first this many seconds are the
    eyes open at rest: they set the open level and stay in the window until pushed out.
    """

    def __init__(self, fps: float, params: BlinkParams | None = None,
                 calibrate_s: float = 0.0) -> None:
        if not fps > 0 or not calibrate_s >= 0:
            raise ValueError("fps must be > 0 and calibrate_s >= 0")
        self.params = p = params or BlinkParams()
        self._n_window = max(1, round(p.window_s * fps))
        self._n_min = max(1, round(p.min_s * fps), round(calibrate_s * fps))
        self._buf = np.zeros((self._n_window, 2))  # ring of eye ratios
        self._n = 0
        self.open_level = np.full(2, np.nan)  # float64[2] eye ratio of open eyes
        self.closed = False
        self.n_blinks = 0  # times the eyes closed

    def step(self, ratios: np.ndarray | None) -> EyeState:
        """ratios: float[2] eye aspect ratios (left, right), or None / non-finite when the
        eyes were not measured this frame (then: eyes open, nothing learned)."""
        if ratios is None or not np.all(np.isfinite(ratios)):
            self.closed = False
            return EYES_OPEN
        p = self.params
        self._buf[self._n % self._n_window] = ratios
        self._n += 1
        if self._n < self._n_min:
            return EYES_OPEN
        n = min(self._n, self._n_window)
        self.open_level = np.median(self._buf[:n], axis=0)
        level = np.where(self.open_level > 1e-6, self.open_level, np.inf)
        openness = np.asarray(ratios, dtype=np.float64) / level
        mean = float(openness.mean())
        if self.closed and mean > p.open_above:
            self.closed = False
        elif not self.closed and mean < p.close_below:
            self.closed = True
            self.n_blinks += 1
        span = p.closure_start - p.closure_full
        closure = np.minimum(np.maximum((p.closure_start - openness) / span, 0.0), 1.0)
        return EyeState(closure, self.closed)
