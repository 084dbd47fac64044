"""Frame choices with residual head moves, shared by the compositor tests."""

from __future__ import annotations

import numpy as np

from animator.core.types import FrameChoice
from keypoints.assets import assets_dir

ASTRONAUT = assets_dir() / "characters" / "astronaut"


def choices(rig, n: int, seed: int = 0, max_deg: float = 6.0) -> list[FrameChoice]:
    """``n`` endpoint choices of ``rig`` with residual moves up to ``max_deg`` (one still)."""
    rng = np.random.default_rng(seed)
    exprs, poses = list(rig.config.expressions), rig.config.poses
    out = []
    for i in range(n):
        expr, pose = exprs[rng.integers(len(exprs))], poses[rng.integers(len(poses))]
        res = np.zeros(3) if i == 0 else rng.uniform(-max_deg, max_deg, 3)
        out.append(FrameChoice(pose, expr, rig.endpoint(expr, pose), 0.0, res))
    return out
