"""Lip frames with non-finite keypoints (a model or tracker glitch): each stands for the last
finite one before it (the rest mouth before the first), so one bad frame never reaches the
stages. Pure numeric."""

from __future__ import annotations

import math

import numpy as np

from keypoints.lips import LipFrame


def all_finite(lips: list[LipFrame]) -> bool:
    """True when every keypoint of ``lips`` is finite: one cheap test for a whole push (a
    sum of squares is finite only if every value is; a finite one that overflows reads
    False, and :func:`finite_stand_ins` then looks at each frame)."""
    try:
        flat = np.concatenate([lf.points for lf in lips], axis=0).ravel()
    except ValueError:  # keypoint arrays of different shapes
        return False
    return math.isfinite(flat.dot(flat))


def finite_stand_ins(lips: list[LipFrame], last_good: LipFrame | None
                     ) -> tuple[list[LipFrame | None], int]:
    """Per lip frame, the last one up to it with finite keypoints (``last_good`` before the
    first of ``lips``; None: none yet), and how many of ``lips`` are not finite."""
    if all_finite(lips):
        return lips, 0
    good, out, n_bad = last_good, [], 0
    for lf in lips:
        if bool(np.isfinite(lf.points).all()):
            good = lf
        else:
            n_bad += 1
        out.append(good)
    return out, n_bad
