"""Idle blinks: eyes that close now and then at a natural, random rhythm when no face drives
them (speech, a file, a lost webcam face).

People blink about 10-20 times a minute at rest, 2-6 s apart, the lids shut for
100-150 ms, now and then twice in a row. :class:`IdleBlinks` draws that rhythm from a seeded
generator, one video frame per :meth:`IdleBlinks.step`, so the same seed gives the same blinks
whether a file is fed whole or in chunks, and live mode runs the same code.

A blink on a rig image replaces the whole face with the rig's eyes-closed frame, which has
the rest mouth: it can only show while the mouth rests. So a blink that falls due during
speech waits for a pause (as people blink at phrase ends; at most ``pause_wait_s``, then for
any frame whose mouth rests: ``can_close``), and a blink whose eyes cannot be shown any more
because the mouth opened is ended at once (:meth:`IdleBlinks.interrupt`): the lids open
instead of flickering shut again.
Pure numeric: the output is an :class:`~animator.core.types.EyeState` per frame, the same
input as tracked blinks (closure per eye for VMC receivers, ``closed`` for the image).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from animator.core.types import EYES_OPEN, EyeState


@dataclass(frozen=True)
class IdleBlinkParams:
    #: seconds from one blink's start to the next: ``min + (max - min) * Beta(a, b)``, a
    #: right-skewed spread like measured inter-blink intervals (mean 3.8 s: ~16 a minute).
    interval_min_s: float = 2.0
    interval_max_s: float = 6.0
    interval_beta: tuple[float, float] = (2.0, 2.5)
    #: the lids are shut (the eyes-closed image) for a time drawn uniformly in this range ...
    closed_s: tuple[float, float] = (0.10, 0.15)
    #: ... after closing for this long and before opening for this long (closure ramps for
    #: receivers that animate eyelids, e.g. VMC; the image shows open eyes meanwhile).
    closing_s: float = 0.05
    opening_s: float = 0.10
    #: probability that a blink is followed by a second one ...
    double_p: float = 0.1
    #: ... this long after the first one's lids opened (uniform in the range).
    double_gap_s: tuple[float, float] = (0.12, 0.25)
    #: a blink that falls due during speech waits up to this long for a pause (people blink
    #: at phrase ends), then takes the first frame whose mouth rests.
    pause_wait_s: float = 2.0
    #: a pause counts once the speech has paused this long (the speaking mask drops for a
    #: frame or two inside words).
    pause_min_s: float = 0.2
    #: a blink cut by the mouth before its lids were shown shut is tried again this much
    #: later (it was not seen).
    retry_s: float = 0.25

    def __post_init__(self) -> None:
        if not 0 < self.interval_min_s <= self.interval_max_s:
            raise ValueError("need 0 < interval_min_s <= interval_max_s")
        if not (min(self.interval_beta) > 0 and 0 < self.closed_s[0] <= self.closed_s[1]):
            raise ValueError("interval_beta must be > 0 and closed_s a range > 0")
        if not min(self.closing_s, self.opening_s, self.pause_wait_s, self.pause_min_s,
                   self.retry_s) >= 0:
            raise ValueError("closing_s, opening_s, pause_wait_s, pause_min_s and retry_s "
                             "must be >= 0")
        if not (0 <= self.double_p <= 1 and 0 < self.double_gap_s[0] <= self.double_gap_s[1]):
            raise ValueError("need 0 <= double_p <= 1 and double_gap_s a range > 0")


class IdleBlinks:
    """A blink schedule, one video frame per :meth:`step`.

    fps: frame rate of the steps; rng: the generator every draw comes from (seeded by the
    caller; nothing else draws from it, so blinks never change the other random streams).
    """

    def __init__(self, fps: float, rng: np.random.Generator,
                 params: IdleBlinkParams | None = None) -> None:
        if not fps > 0:
            raise ValueError("fps must be > 0")
        self.params = params or IdleBlinkParams()
        self.fps = fps
        self._rng = rng
        self._n = 0  # frames stepped
        # closure per frame of the blink in flight, from its next frame on (empty: none)
        self._profile: list[float] = []
        self._due = self._interval()  # frame time (s) the next blink falls due
        self._second = False  # the blink that falls due is the second of a double
        self._shut_shown = 0  # frames of the blink in flight shown shut
        self._was_second = False  # the blink in flight was a double's second
        self._paused = 0  # frames the speech has paused for (capped)
        self._pause_min = max(1, self._frames(self.params.pause_min_s))
        self.n_blinks = 0  # blinks shown (started, less those cut before shown shut)

    def _frames(self, seconds: float) -> int:
        return round(seconds * self.fps)

    def _interval(self) -> float:
        p = self.params
        return p.interval_min_s + (p.interval_max_s - p.interval_min_s) * float(
            self._rng.beta(*p.interval_beta))

    def _start(self, t_s: float) -> None:
        """Start a blink at frame time t_s and schedule the next one."""
        p = self.params
        n_close = self._frames(p.closing_s)
        n_shut = max(1, self._frames(float(self._rng.uniform(*p.closed_s))))
        n_open = self._frames(p.opening_s)
        self._profile = ([(k + 1) / (n_close + 1) for k in range(n_close)] + [1.0] * n_shut
                         + [1.0 - (k + 1) / (n_open + 1) for k in range(n_open)])
        self.n_blinks += 1
        self._shut_shown = 0
        self._was_second = self._second
        end_s = t_s + len(self._profile) / self.fps
        if not self._second and self._rng.random() < p.double_p:
            self._second = True
            self._due = end_s + float(self._rng.uniform(*p.double_gap_s))
        else:
            self._second = False
            self._due = t_s + self._interval()

    def step(self, can_close: bool = True, pause: bool = True) -> EyeState:
        """This frame's eyes. can_close: the eyes-closed image could be shown now (the mouth
        rests): a blink that falls due starts only then; pause: the speech pauses (a blink
        due waits for one up to ``pause_wait_s``)."""
        t_s = self._n / self.fps
        self._n += 1
        self._paused = min(self._paused + 1, self._pause_min) if pause else 0
        if not self._profile and t_s >= self._due and can_close and (
                self._paused >= self._pause_min or self._second
                or t_s >= self._due + self.params.pause_wait_s):
            self._start(t_s)
        if not self._profile:
            return EYES_OPEN
        closure = self._profile.pop(0)
        shut = closure >= 1.0
        self._shut_shown += shut
        return EyeState(np.full(2, closure), shut)

    def interrupt(self) -> None:
        """The frame just stepped could not show closed eyes (the mouth opened): open the
        lids from here instead of closing them again later in this blink; a blink never seen
        shut is tried again ``retry_s`` later."""
        n_open = self._frames(self.params.opening_s)
        self._profile = [1.0 - (k + 1) / (n_open + 1) for k in range(n_open)]
        self._shut_shown -= 1  # that frame was not shown shut
        if self._shut_shown <= 0:
            self.n_blinks -= 1
            self._second = self._was_second
            self._due = self._n / self.fps + self.params.retry_s
        else:
            self._second = False

    def pause(self) -> None:
        """Something else drives the eyes this frame (a tracked face): no idle blink in flight,
        and the next one falls due an interval after the eyes are idle again."""
        self._n += 1
        self._profile = []
        self._second = False
        self._due = self._n / self.fps + self.params.interval_min_s
