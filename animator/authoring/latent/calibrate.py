"""Closed-loop yaw: adjust the step along the directions until the decoded result measures
the requested angle.

The open-loop move (``apply_yaw`` with the requested angle) lands where the line says; a
decoder or a curved manifold can under- or over-turn the result. Here the step ``a`` (the
angle handed to ``apply_yaw``) is searched so that ``measure(decode(apply_yaw(z, a)))`` is
within ``tol_deg`` of the target: bracket by growing the step, then bisect. The measured yaw
is assumed to grow with the step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from animator.authoring.latent.directions import LatentDirections, LatentError, apply_yaw


@dataclass(frozen=True)
class CalibrationResult:
    """What the loop reached. step_deg: the angle given to ``apply_yaw``; measured_deg: what
    the estimator read on its decoded result; history: every (step, measured) tried."""

    target_deg: float
    source_yaw_deg: float
    step_deg: float
    measured_deg: float
    converged: bool
    iterations: int
    z: np.ndarray
    decoded: Any
    history: list[tuple[float, float]] = field(default_factory=list)

    @property
    def error_deg(self) -> float:
        return self.measured_deg - self.target_deg


def calibrate_yaw(z, directions: LatentDirections, decode: Callable[[np.ndarray], Any],
                  measure: Callable[[Any], float], target_deg: float,
                  source_yaw_deg: float = 0.0, tol_deg: float = 1.0, max_iter: int = 20,
                  max_gain: float = 3.0) -> CalibrationResult:
    """Search the step so that ``measure(decode(z'))`` is within ``tol_deg`` of ``target_deg``.

    z: float[D]; decode: float64[D] -> anything ``measure`` reads (an image, landmarks);
    measure: -> yaw in degrees. The step stays within ``max_gain`` times the requested move
    (and at least 1 degree). Returns the best result found (``converged`` says whether it is
    within tolerance).
    """
    if not tol_deg > 0 or max_iter < 1 or not max_gain >= 1:
        raise LatentError("need tol_deg > 0, max_iter >= 1 and max_gain >= 1")
    target, source = float(target_deg), float(source_yaw_deg)
    history: list[tuple[float, float]] = []
    cache: dict[float, tuple[float, np.ndarray, Any]] = {}

    def run(step: float) -> float:
        if step not in cache:
            moved = apply_yaw(z, directions, step, source)
            out = decode(moved)
            m = float(measure(out))
            if not np.isfinite(m):
                raise LatentError(f"the yaw estimator gave {m} at step {step:+.2f} deg")
            cache[step] = (m, moved, out)
            history.append((step, m))
        return cache[step][0] - target

    reach = max_gain * max(abs(target - source), 1.0)
    lo_lim, hi_lim = source - reach, source + reach
    step = target
    err = run(step)
    lo = hi = None  # steps with err < 0 and err > 0
    if err < 0:
        lo = step
    elif err > 0:
        hi = step
    grow = max(abs(err), 0.5)
    while abs(err) > tol_deg and (lo is None or hi is None) and len(history) < max_iter:
        step = float(np.clip(step - np.sign(err) * grow, lo_lim, hi_lim))
        if step in cache:  # pinned at the limit
            break
        err = run(step)
        if err < 0:
            lo = step if lo is None or step > lo else lo
        elif err > 0:
            hi = step if hi is None or step < hi else hi
        grow *= 2.0
    while abs(err) > tol_deg and lo is not None and hi is not None and len(history) < max_iter:
        step = 0.5 * (lo + hi)
        err = run(step)
        if err < 0:
            lo = step
        else:
            hi = step
    best = min(cache, key=lambda s: abs(cache[s][0] - target))
    m, moved, out = cache[best]
    return CalibrationResult(target, source, best, m, abs(m - target) <= tol_deg,
                             len(history), moved, out, history)
