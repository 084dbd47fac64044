"""Frame schedules for the loop: live mode's wall clock and offline's as-fast-as-possible one.

:class:`FrameClock` (live): tick i is due at ``start + i / fps``. A tick that comes late (the
loop was busy, the machine stalled) is served at once, and ticks that were missed entirely are
skipped rather than bunched up: the schedule never drifts and never tries to catch up with a
burst of frames.

:class:`FastClock` (offline): every tick at once, none skipped, stamped with the media time
``i / fps``; the loop runs as fast as its source and sinks let it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Tick:
    index: int  # frame number on the schedule (skipped ticks leave gaps)
    due_s: float  # when it was due, clock seconds
    late_s: float  # how late it is served (>= 0), seconds


class FrameClock:
    """``wait()`` sleeps until the next tick is due and returns it.

    now / sleep: the clock (seconds) and the sleep function; replaced in tests.
    """

    def __init__(self, fps: float, now: Callable[[], float] = time.perf_counter,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not fps > 0:
            raise ValueError("fps must be > 0")
        self.period_s = 1.0 / fps
        self._now = now
        self._sleep = sleep
        self.start_s: float | None = None
        self._next = 0
        self.n_late = 0  # ticks served more than one period after they were due
        self.n_skipped = 0  # ticks never served because the loop was too far behind
        self.max_late_s = 0.0

    def wait(self) -> Tick:
        now = self._now()
        if self.start_s is None:
            self.start_s = now
        due = self.start_s + self._next * self.period_s
        if now < due:
            self._sleep(due - now)
            now = self._now()
        total_late = max(0.0, now - due)
        behind = int((total_late + 1e-9) // self.period_s)  # 1e-9: float noise
        if behind > 0:  # whole periods missed: skip to the newest tick that is due
            self.n_skipped += behind
            self._next += behind
            due += behind * self.period_s
        late = max(0.0, now - due)
        if total_late > self.period_s:
            self.n_late += 1
        self.max_late_s = max(self.max_late_s, total_late)
        tick = Tick(self._next, due, late)
        self._next += 1
        return tick

    def stop_before(self, tick: Tick, n_due: int) -> None:
        """The schedule ended with ticks 0 .. n_due - 1 and ``tick`` (the one just returned,
        index >= n_due) is not served: the ticks skipped on the way to it from n_due on were
        never due, so they do not count as skipped."""
        self.n_skipped -= max(0, tick.index - n_due)


class FastClock:
    """Ticks 0, 1, 2, ... at once, due at media time ``i / fps`` (seconds), never late or
    skipped: offline rendering, where the sinks' queues set the pace."""

    def __init__(self, fps: float) -> None:
        if not fps > 0:
            raise ValueError("fps must be > 0")
        self.period_s = 1.0 / fps
        self.start_s = 0.0
        self._next = 0
        self.n_late = 0
        self.n_skipped = 0
        self.max_late_s = 0.0

    def wait(self) -> Tick:
        tick = Tick(self._next, self._next * self.period_s, 0.0)
        self._next += 1
        return tick

    def stop_before(self, tick: Tick, n_due: int) -> None:
        """Nothing is ever skipped."""
