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

import bisect
import collections
import math
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
        #: the window of eye ratios per eye, in arrival order and sorted (the open level is
        #: their median: a sorted window keeps it O(window) memmove, not a sort, per frame)
        self._window: collections.deque[tuple[float, float]] = collections.deque()
        self._sorted: tuple[list[float], list[float]] = ([], [])
        self._n = 0
        self.open_level = np.full(2, np.nan)  # float64[2] eye ratio of open eyes
        self.closed = False
        self.n_blinks = 0  # times the eyes closed

    def _remember(self, left: float, right: float) -> tuple[float, float]:
        """Add this frame's ratios to the window (the oldest leaves a full one); returns the
        median per eye (np.median's value: the middle one, or the mean of the two)."""
        if len(self._window) == self._n_window:
            for values, old in zip(self._sorted, self._window.popleft(), strict=True):
                del values[bisect.bisect_left(values, old)]
        self._window.append((left, right))
        bisect.insort(self._sorted[0], left)
        bisect.insort(self._sorted[1], right)
        m = len(self._window) // 2
        if len(self._window) % 2:
            return self._sorted[0][m], self._sorted[1][m]
        (a, b), (c, d) = self._sorted[0][m - 1:m + 1], self._sorted[1][m - 1:m + 1]
        return (a + b) / 2, (c + d) / 2

    def step(self, ratios: np.ndarray | None) -> EyeState:
        """ratios: float[2] eye aspect ratios (left, right), or None / non-finite when the
        eyes were not measured this frame (then: eyes open, nothing learned)."""
        left, right = (math.nan, math.nan) if ratios is None else np.asarray(
            ratios, dtype=np.float64).tolist()
        if not (math.isfinite(left) and math.isfinite(right)):
            self.closed = False
            return EYES_OPEN
        p = self.params
        levels = self._remember(left, right)
        self._n += 1
        if self._n < self._n_min:
            return EYES_OPEN
        self.open_level = np.array(levels)
        # openness per eye: ratio / open level (an open level of ~0 reads as open: 0)
        o_left, o_right = (r / (v if v > 1e-6 else math.inf) for r, v in zip(
            (left, right), levels, strict=True))
        mean = (o_left + o_right) / 2
        if self.closed and mean > p.open_above:
            self.closed = False
        elif not self.closed and mean < p.close_below:
            self.closed = True
            self.n_blinks += 1
        span = p.closure_start - p.closure_full
        return EyeState(np.array([_unit((p.closure_start - o) / span)
                                  for o in (o_left, o_right)]), self.closed)


def _unit(x: float) -> float:
    """np.minimum(np.maximum(x, 0), 1) of one float (NaN stays NaN)."""
    x = x if x >= 0.0 or x != x else 0.0
    return x if x <= 1.0 or x != x else 1.0
