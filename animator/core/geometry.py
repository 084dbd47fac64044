"""Geometry shared by the trackers, the rig builders and the compositor: head rotations in the
project's angle convention (see animator/core/types.py) and the smoothstep easing."""

from __future__ import annotations

import math

import numpy as np


def rotation_matrix(pitch_deg: float, yaw_deg: float, roll_deg: float) -> np.ndarray:
    """float64[3, 3] taking head-local vectors to world vectors (x right, y up, z to viewer).

    yaw > 0 turns the nose (+z) towards +x (viewer's right); pitch > 0 lifts the nose (+y);
    roll > 0 tips the top of the head (+y) towards +x (the character's own left shoulder).
    Applied in the order yaw, then pitch, then roll: R = Rz(roll) Rx(pitch) Ry(yaw).
    """
    p, y, r = (math.radians(a) for a in (pitch_deg, yaw_deg, roll_deg))
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    # pitch > 0 lifts the nose: a rotation about x by -pitch.
    rx = np.array([[1, 0, 0], [0, math.cos(p), math.sin(p)], [0, -math.sin(p), math.cos(p)]])
    # roll > 0 moves the top of the head to +x: a rotation about z by -roll.
    rz = np.array([[math.cos(r), math.sin(r), 0], [-math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return rz @ rx @ ry


def angles_from_matrix(rot: np.ndarray) -> np.ndarray:
    """float64[3] (pitch, yaw, roll) degrees of a rotation made by :func:`rotation_matrix`."""
    pitch = math.asin(float(np.clip(-rot[2, 1], -1.0, 1.0)))
    yaw = math.atan2(-rot[2, 0], rot[2, 2])
    roll = math.atan2(rot[0, 1], rot[1, 1])
    return np.degrees([pitch, yaw, roll])


def smoothstep(edge0: float | np.ndarray, edge1: float | np.ndarray,
               x: np.ndarray) -> np.ndarray:
    """0 below ``edge0``, 1 above ``edge1``, the cubic 3t^2 - 2t^3 between (elementwise)."""
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)
