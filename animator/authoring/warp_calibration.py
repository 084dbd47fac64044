"""Calibrating the warp's head rotation by reading it back with FaceMesh.

A 2D warp of FaceMesh's shallow depth under-turns the face: rendered at 10 degrees of yaw, a
portrait reads as maybe 6. So the rotation actually rendered is found by measurement: per
portrait, a gain for each axis and side (:func:`rotation_gains`: render +-CALIBRATION_DEG,
read, scale; two rounds); per pose and expression, a few corrections until FaceMesh reads the
wanted angles (:func:`corrected_angles`). ``observe`` is FaceMesh (image -> observation or
None), passed in so that the caller owns the tracker and its lock.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from animator.authoring.face_params import Face
from animator.authoring.warp_guard import WarpGuardError
from animator.authoring.warp_source import UNIT_GAINS, Source, draw
from keypoints.face import FaceObservation

Observe = Callable[[np.ndarray], FaceObservation | None]

#: Angle (degrees) rendered on both sides to calibrate yaw and pitch.
CALIBRATION_DEG = 10.0
#: Allowed range of the calibrated rotation gains.
GAIN_RANGE = (0.6, 3.0)
#: Per-pose calibration of a whole-rig build: at most this many corrections, stopping when
#: pitch and yaw read within POSE_TOLERANCE_DEG.
POSE_ROUNDS = 3
POSE_TOLERANCE_DEG = 0.5
#: ... and per expression: corrected (at most EXPR_ROUNDS times) when read further off than
#: EXPR_TOLERANCE_DEG on any axis.
EXPR_ROUNDS = 2
EXPR_TOLERANCE_DEG = 1.5


def rotation_gains(src: Source, observe: Observe) -> np.ndarray:
    """float64[2, 2]: rotation gains [axis (pitch, yaw), side (negative, positive)] that make
    FaceMesh read +-CALIBRATION_DEG off the portrait's own face rendered at that angle."""
    gains = np.ones((2, 2))
    base = src.pose_deg
    for _ in range(2):
        new = gains.copy()
        for axis in (0, 1):
            for side, sign in ((0, -1.0), (1, 1.0)):
                angles = [0.0, 0.0, 0.0]
                angles[axis] = sign * CALIBRATION_DEG
                try:
                    image = draw(src, src.rest, angles, gains, "calibration")
                except WarpGuardError:
                    continue
                obs = observe(image)
                if obs is None:
                    continue
                read = sign * (obs.head_pose_deg()[axis] - base[axis])
                if read > 0.1 * CALIBRATION_DEG:
                    new[axis, side] = np.clip(gains[axis, side] * CALIBRATION_DEG / read,
                                              *GAIN_RANGE)
        gains = new
    return gains


def read_pose(src: Source, face: Face, angles: np.ndarray, observe: Observe
              ) -> np.ndarray | None:
    """float64[3] head pose FaceMesh reads off ``face`` rendered at ``angles`` (None: no
    face, or the warp is out of bounds)."""
    try:
        obs = observe(draw(src, face, angles, UNIT_GAINS, "calibration"))
    except WarpGuardError:
        return None
    return None if obs is None else obs.head_pose_deg()


def corrected_angles(src: Source, face: Face, angles: np.ndarray, ref: np.ndarray,
                     want: np.ndarray, rounds: int, tolerance_deg: float,
                     observe: Observe) -> np.ndarray:
    """``angles`` corrected (up to ``rounds`` times) until FaceMesh reads ``want`` relative
    to ``ref`` off ``face`` within ``tolerance_deg`` on every axis; of the angles tried,
    those read closest to ``want`` (FaceMesh's own noise is ~1 degree)."""
    limit = GAIN_RANGE[1] * np.abs(want) + 2.0
    best, best_err = angles, np.inf
    for i in range(rounds + 1):
        got = read_pose(src, face, angles, observe)
        if got is None:
            break
        err = (got - ref) - want
        worst = float(np.max(np.abs(err)))
        if worst < best_err:
            best, best_err = angles, worst
        if worst < tolerance_deg or i == rounds:
            break
        angles = np.clip(angles - err, -limit, limit)
    return best
