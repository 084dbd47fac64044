"""The resting mouth of one face, learned from the face itself, and mouth features relative
to it.

A face tracker measures lips in a population unit (keypoints.face: the mouth width at rest
taken as a fixed share of the eye distance), but real faces differ: a closed mouth at rest
measures 0.85-1.15 of that unit, and some faces rest with the lips slightly parted (or, on
touching lips, FaceMesh reports a small negative gap). Read against a fixed rest, a narrow
closed mouth looks rounded and a parted one looks open. :class:`MouthRest` learns the rest
continuously over a sliding window, robust to talking:

* resting opening: a low percentile of the opening (talking opens the mouth; it closes
  often enough, between words and on m/b/p, for the low end to be the rest);
* resting width: the median width of the frames whose opening is within a margin of the
  resting opening (closed-lip frames; talking changes the width both ways);
* optionally, the first ``calibrate_s`` seconds are taken as rest outright (the user was
  asked to rest their face: their median is the rest) for as long as the learning window
  (``window_s``) lasts; learning from the face takes over after that.

Relative features: open = (opening - rest opening) / rest width, never negative, and
wide = width / rest width, both in mouth widths at rest, so any face at rest reads (0, 1),
the rig's rest mouth. A small dead zone keeps tracker noise at rest exactly at rest.
Pure numeric; O(window) memory; per frame a few bisections and list inserts in sorted views
of the window (they give np.partition's and np.median's values exactly).
"""

from __future__ import annotations

import bisect
import collections
import math
from dataclasses import dataclass

import numpy as np

#: The rest in a keypoint source's own units before anything is learned: closed, width 1.
NOMINAL_REST = np.array([0.0, 1.0])


@dataclass(frozen=True)
class MouthRestParams:
    #: the rest is learned over the last this many seconds.
    window_s: float = 30.0
    #: percentile (0-100) of the opening taken as the resting opening.
    open_percentile: float = 10.0
    #: frames whose opening is within this of the resting opening (source units) count as
    #: closed; their median width is the resting width.
    closed_margin: float = 0.03
    #: the learned rest replaces the nominal one once this many seconds were seen ...
    min_s: float = 0.5
    #: ... but the resting opening may rise above the nominal (closed) one only after this
    #: many: a face that starts out talking, or waiting with parted lips, must not lift the
    #: rest so that later openings read shut (lips parted at rest still show, slightly open,
    #: until then; ``calibrate_s`` settles it at once).
    open_rise_s: float = 5.0
    #: ... and the width is learned from at least this many closed frames (else it holds).
    min_closed_frames: int = 8
    #: dead zone (relative units): openings below it read 0, widths within it of 1 read 1;
    #: beyond it the features continue smoothly (soft threshold). The width's dead zone is
    #: wide for a closed mouth (closed lips vary in width, pressed, relaxed, between words:
    #: -0.14..+0.12 of the face's rest from the 2nd to the 98th percentile over 18 people)
    #: and narrows to ``wide_dead_open`` as the mouth opens (where width tells the vowel).
    open_dead: float = 0.02
    wide_dead: float = 0.14
    wide_dead_open: float = 0.03
    #: opening (relative, after the gain) from which the open dead zone applies in full.
    open_full: float = 0.15
    #: relative openings are multiplied by this: real talking rarely opens past 0.35 rest
    #: widths (95th percentile over 18 people), a rig's open vowel is drawn at about 0.55.
    open_gain: float = 1.6

    def __post_init__(self) -> None:
        if not self.window_s > 0 or min(self.min_s, self.open_rise_s) < 0:
            raise ValueError("window_s must be > 0, min_s and open_rise_s >= 0")
        if not 0 <= self.open_percentile <= 100:
            raise ValueError("open_percentile must be in [0, 100]")
        if min(self.closed_margin, self.open_dead, self.wide_dead, self.wide_dead_open) < 0 \
                or not self.open_full > 0 or not self.open_gain > 0:
            raise ValueError("closed_margin and the dead zones must be >= 0, open_full and "
                             "open_gain > 0")
        if self.min_closed_frames < 1:
            raise ValueError("min_closed_frames must be >= 1")


def _median(values: list[float]) -> float:
    """np.median of sorted ``values``: the middle one, or the mean of the two."""
    m = len(values) // 2
    return values[m] if len(values) % 2 else (values[m - 1] + values[m]) / 2


class _Window:
    """The last frames' raw (open, wide), kept sorted so that the rest's order statistics
    cost a bisection, not a partition of the whole window, per frame: ``pairs`` sorted by
    opening, ``wides`` sorted, and ``closed_wides`` the sorted widths of the first
    ``n_closed`` pairs (the frames at most a threshold open, see :meth:`close_at`)."""

    def __init__(self) -> None:
        self._order: collections.deque[tuple[float, float]] = collections.deque()
        self.pairs: list[tuple[float, float]] = []
        self.wides: list[float] = []
        self.closed_wides: list[float] = []
        self.n_closed = 0

    def push(self, open_raw: float, wide_raw: float, n_max: int) -> None:
        """Add a frame; the oldest leaves once there are ``n_max``."""
        if len(self._order) == n_max:
            old = self._order.popleft()
            i = bisect.bisect_left(self.pairs, old)
            del self.pairs[i]
            del self.wides[bisect.bisect_left(self.wides, old[1])]
            if i < self.n_closed:
                del self.closed_wides[bisect.bisect_left(self.closed_wides, old[1])]
                self.n_closed -= 1
        pair = (open_raw, wide_raw)
        self._order.append(pair)
        i = bisect.bisect_right(self.pairs, pair)
        self.pairs.insert(i, pair)
        bisect.insort(self.wides, wide_raw)
        if i < self.n_closed:  # inside the closed prefix: it joins it
            bisect.insort(self.closed_wides, wide_raw)
            self.n_closed += 1

    def close_at(self, max_open: float) -> int:
        """Make ``closed_wides`` the widths of the frames at most ``max_open`` open (the
        prefix of ``pairs`` grows or shrinks by the frames between the thresholds); returns
        how many there are."""
        n = bisect.bisect_right(self.pairs, (max_open, math.inf))
        while self.n_closed < n:
            bisect.insort(self.closed_wides, self.pairs[self.n_closed][1])
            self.n_closed += 1
        while self.n_closed > n:
            self.n_closed -= 1
            wide = self.pairs[self.n_closed][1]
            del self.closed_wides[bisect.bisect_left(self.closed_wides, wide)]
        return n


def _soft(x: float, dead: float) -> float:
    """x pulled towards 0 by ``dead`` (0 inside the dead zone), sign kept."""
    return float(np.sign(x)) * max(0.0, abs(x) - dead)


class MouthRest:
    """Raw mouth features (open, wide) in, features relative to this face's rest out, one
    video frame per :meth:`step`.

    fps: frames per second of the steps; calibrate_s: the first this many seconds are the
    face at rest (0: learn from whatever comes).
    """

    def __init__(self, fps: float, params: MouthRestParams | None = None,
                 calibrate_s: float = 0.0) -> None:
        if not fps > 0 or not calibrate_s >= 0:
            raise ValueError("fps must be > 0 and calibrate_s >= 0")
        self.params = p = params or MouthRestParams()
        self._n_window = max(1, round(p.window_s * fps))
        self._n_min = max(1, round(p.min_s * fps))
        self._n_rise = round(p.open_rise_s * fps)
        self._n_calibrate = round(calibrate_s * fps)
        self._window = _Window()  # the last n_window raw (open, wide), sorted views of them
        self._n = 0  # frames seen
        self.rest = NOMINAL_REST.copy()  # float64[2] (open, wide) in source units

    @property
    def calibrating(self) -> bool:
        """True while the first ``calibrate_s`` seconds are being taken as rest."""
        return self._n < self._n_calibrate

    def _learn(self) -> None:
        p, w = self.params, self._window
        n = len(w.pairs)
        k = min(n - 1, int(p.open_percentile / 100.0 * (n - 1)))
        rest_open = w.pairs[k][0]  # the k-th smallest opening (np.partition's)
        if self._n < self._n_rise:
            rest_open = min(rest_open, float(NOMINAL_REST[0]))
        n_closed = w.close_at(rest_open + p.closed_margin)
        if n_closed >= min(p.min_closed_frames, n):
            self.rest = np.array([rest_open, _median(w.closed_wides)])
        else:
            self.rest = np.array([rest_open, self.rest[1]])

    def step(self, features: np.ndarray) -> np.ndarray:
        """features: float[2] raw (open, wide) of one frame (open may be negative; a
        non-finite one is not learned from). Returns float64[2] (open, wide) relative to the
        rest (module docstring)."""
        open_raw, wide_raw = float(features[0]), float(features[1])
        if math.isfinite(open_raw) and math.isfinite(wide_raw):
            self._window.push(open_raw, wide_raw, self._n_window)
        self._n += 1
        n, n_cal = self._n, self._n_calibrate
        if n <= n_cal:
            if n >= min(self._n_min, n_cal) and self._window.pairs:  # the rest frames' median
                self.rest = np.array([_median([o for o, _ in self._window.pairs]),
                                      _median(self._window.wides)])
        elif self._window.pairs and (n > n_cal + self._n_window
                                     or (not n_cal and n >= self._n_min)):
            self._learn()
        return self.relative(open_raw, wide_raw)

    def relative(self, open_raw: float, wide_raw: float) -> np.ndarray:
        """float64[2] (open, wide) of raw features against the current rest."""
        p = self.params
        width = self.rest[1] if self.rest[1] > 1e-6 else 1.0
        open_rel = p.open_gain * max(0.0, _soft((open_raw - self.rest[0]) / width,
                                                 p.open_dead))
        s = min(1.0, open_rel / p.open_full)
        wide_rel = 1.0 + _soft(wide_raw / width - 1.0,
                               p.wide_dead + s * (p.wide_dead_open - p.wide_dead))
        return np.array([open_rel, wide_rel])
