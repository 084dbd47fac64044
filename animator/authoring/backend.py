"""The interface every rig-building backend implements (warp, openai, toon, latent).

The stage orchestration (which images exist, which to make, worker pools, atomic writes,
"Done. Success: N, Failed: M") lives in ``animator/authoring/stages.py``; a backend only turns
input images into one output image. Images are ``uint8[H, W, 4]`` RGBA arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from animator.rig import Expression, RigConfig


@dataclass(frozen=True)
class TweenJob:
    """One tween frame to make at position ``t`` in (0, 1) between two rig images.

    start/end: the images at t = 0 and t = 1 with what they show (expression id, pose id);
    left/right: the nearest images already made on each side, (t, image), which are the
    endpoints at the first level of recursive midpoint subdivision.
    """

    path_id: str
    t: float
    start_expr: str
    start_pose: str
    end_expr: str
    end_pose: str
    start: np.ndarray
    end: np.ndarray
    left: tuple[float, np.ndarray]
    right: tuple[float, np.ndarray]


class RigBackend(Protocol):
    """Makes rig images. Implementations may hold caches (e.g. the portrait's landmarks);
    they must be safe to call from several threads at once, or say so in ``thread_safe``.

    Optional, used by a whole-rig build (``stages.build_rig``) when present (the warp backend
    has them all): ``prepare(portrait_path, config, rest_pose)`` is called before anything
    is written and may refuse the portrait (an AnimatorError with one line);
    ``image_ext`` (".png" when absent) is the format of the images; ``verifiable = True``
    means FaceMesh can measure them, so the build verifies each; ``head_layer(pose)``
    returns the pose's matte and clean plate (``head_layer.HeadLayer``).
    """

    name: str
    thread_safe: bool

    def expression(self, base: np.ndarray, expr: Expression, pose: str,
                   config: RigConfig) -> np.ndarray:
        """``expr`` made from ``base``, the neutral face at ``pose``."""
        ...

    def pose(self, source: np.ndarray, expr: Expression, source_pose: str, target_pose: str,
             config: RigConfig) -> np.ndarray:
        """``source`` (expression ``expr`` at ``source_pose``) turned to ``target_pose``."""
        ...

    def tween(self, job: TweenJob, config: RigConfig) -> np.ndarray:
        """The in-between image of ``job``."""
        ...
