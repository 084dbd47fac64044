"""The ``toon`` rig backend: the built-in procedural character behind the RigBackend interface.

The toon is drawn from parameters, not edited from pixels: an expression or pose request
redraws the character with the expression's face (mouth shape, eyes, brows) at the pose's
angles, and a tween redraws it with the face and angles interpolated between the path's two
ends. Input images only set the output size: a square of the input's width. So it builds a
whole rig offline in seconds, and it is what the stage tests run on.
"""

from __future__ import annotations

import numpy as np

from animator.authoring.backend import TweenJob
from animator.authoring.face_params import Face, face_from_names, lerp_face
from animator.authoring.toon import render
from animator.rig import Expression, RigConfig


def _face(config: RigConfig, expr: Expression) -> Face:
    return face_from_names(config.mouth_shape(expr.id), expr.eyes, expr.brows)


def _angles(config: RigConfig, pose: str) -> np.ndarray:
    return config.pose_angles[pose]


def _size_of(image: np.ndarray) -> int:
    return int(image.shape[1])


class ToonBackend:
    """RigBackend drawing the toon (see the module docstring); thread safe (pure numpy)."""

    name = "toon"
    thread_safe = True

    def __init__(self, supersample: int = 3) -> None:
        self.supersample = supersample

    def expression(self, base: np.ndarray, expr: Expression, pose: str,
                   config: RigConfig) -> np.ndarray:
        return render(*_angles(config, pose), _face(config, expr), _size_of(base),
                      self.supersample)

    def pose(self, source: np.ndarray, expr: Expression, source_pose: str, target_pose: str,
             config: RigConfig) -> np.ndarray:
        return render(*_angles(config, target_pose), _face(config, expr), _size_of(source),
                      self.supersample)

    def tween(self, job: TweenJob, config: RigConfig) -> np.ndarray:
        exprs = config.expressions
        face = lerp_face(_face(config, exprs[job.start_expr]), _face(config, exprs[job.end_expr]),
                         job.t)
        a0, a1 = _angles(config, job.start_pose), _angles(config, job.end_pose)
        angles = (1.0 - job.t) * a0 + job.t * a1
        return render(*angles, face, _size_of(job.start), self.supersample)
