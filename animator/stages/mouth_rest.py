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
Pure numeric; O(window) memory, O(window) time per frame (a partial sort of ~1000 values).
"""

from __future__ import annotations

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
        self._buf = np.zeros((self._n_window, 2))  # ring of raw (open, wide)
        self._n = 0  # frames seen
        self.rest = NOMINAL_REST.copy()  # float64[2] (open, wide) in source units

    @property
    def calibrating(self) -> bool:
        """True while the first ``calibrate_s`` seconds are being taken as rest."""
        return self._n < self._n_calibrate

    def _learn(self) -> None:
        p = self.params
        n = min(self._n, self._n_window)
        opens, wides = self._buf[:n, 0], self._buf[:n, 1]
        k = min(n - 1, int(p.open_percentile / 100.0 * (n - 1)))
        rest_open = float(np.partition(opens, k)[k])
        if self._n < self._n_rise:
            rest_open = min(rest_open, NOMINAL_REST[0])
        closed = opens <= rest_open + p.closed_margin
        if int(closed.sum()) >= min(p.min_closed_frames, n):
            self.rest = np.array([rest_open, float(np.median(wides[closed]))])
        else:
            self.rest = np.array([rest_open, self.rest[1]])

    def step(self, features: np.ndarray) -> np.ndarray:
        """features: float[2] raw (open, wide) of one frame (open may be negative). Returns
        float64[2] (open, wide) relative to the rest (module docstring)."""
        open_raw, wide_raw = float(features[0]), float(features[1])
        self._buf[self._n % self._n_window] = open_raw, wide_raw
        self._n += 1
        n, n_cal = self._n, self._n_calibrate
        if n <= n_cal:
            if n >= min(self._n_min, n_cal):  # the median of the rest frames so far
                self.rest = np.median(self._buf[:n], axis=0)
        elif n > n_cal + self._n_window or (not n_cal and n >= self._n_min):
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
