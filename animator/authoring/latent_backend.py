"""The ``latent`` rig backend: turns a portrait's head in yaw by moving its embedding along
fitted latent directions (see ``animator.authoring.latent``) and decoding it.

Poses that differ from the source in pitch or roll are refused (the directions are yaw
directions); expressions and tweens go to a delegate backend when one is given.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from animator.authoring.backend import RigBackend, TweenJob
from animator.authoring.latent.calibrate import calibrate_yaw
from animator.authoring.latent.directions import LatentDirections, LatentError, apply_yaw
from animator.authoring.latent.spaces import LatentSpace
from animator.rig import Expression, RigConfig


class LatentBackend:
    """RigBackend for yaw targets.

    directions: fitted :class:`LatentDirections` or the path of their .npz; space: the
    encoder/decoder (``encode_image``/``decode_image``) the directions were fitted in;
    measure_yaw: optional estimator ``uint8[H, W, 3] -> yaw degrees`` for closed-loop
    calibration within ``tol_deg`` (the reached angle of the last call is kept in
    ``last_calibration``); delegate: a backend for ``expression`` and ``tween``.
    Images are ``uint8[H, W, 4]`` RGBA; the source's alpha is kept.
    """

    name = "latent"

    def __init__(self, directions: LatentDirections | str | os.PathLike, space: LatentSpace,
                 *, measure_yaw: Callable[[np.ndarray], float] | None = None,
                 tol_deg: float = 1.0, delegate: RigBackend | None = None) -> None:
        if not isinstance(directions, LatentDirections):
            directions = LatentDirections.load(directions)
        if directions.dim != space.dim:
            raise LatentError(f"the directions have D = {directions.dim} but the space "
                              f"'{space.name}' has D = {space.dim}")
        self.directions, self.space = directions, space
        self.measure_yaw, self.tol_deg, self.delegate = measure_yaw, tol_deg, delegate
        self.thread_safe = measure_yaw is None  # an estimator (mediapipe) may not be
        self.last_calibration = None

    @classmethod
    def from_files(cls, directions, *, encoder=None, decoder=None, pca=None,
                   landmarks: bool = False, delegate: RigBackend | None = None
                   ) -> LatentBackend:
        """From a directions .npz and one space: an ONNX pair (``encoder`` + ``decoder``), a
        PCA .npz (``pca``) or the FaceMesh landmark space (``landmarks``; images decode
        through the warp backend's mesh warp)."""
        from animator.authoring.latent.commands import open_space
        from animator.authoring.latent.spaces import LandmarkSpace

        if landmarks and (encoder or decoder or pca):
            raise LatentError("choose one latent space: landmarks, an ONNX pair or a PCA file")
        space = LandmarkSpace() if landmarks else open_space(encoder, decoder, pca)
        if space is None:
            raise LatentError("the latent backend needs a space: --encoder/--decoder, --pca "
                              "or landmarks")
        return cls(directions, space, delegate=delegate)

    def pose(self, source: np.ndarray, expr: Expression, source_pose: str, target_pose: str,
             config: RigConfig) -> np.ndarray:
        angles = {}
        for pose in (source_pose, target_pose):
            if pose not in config.pose_angles:
                raise LatentError(f"pose '{pose}' has no angles in the rig config")
            angles[pose] = config.pose_angles[pose]
        src, dst = angles[source_pose], angles[target_pose]
        if abs(src[0] - dst[0]) > 1e-6 or abs(src[2] - dst[2]) > 1e-6:
            raise LatentError(f"latent backend turns yaw only: '{target_pose}' differs from "
                              f"'{source_pose}' in pitch or roll; make it with another backend")
        image = np.asarray(source)
        if image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype != np.uint8:
            raise LatentError(f"source image must be uint8 H x W x 3|4, not {image.dtype} "
                              f"{image.shape}")
        z, context = self.space.encode_image(image)
        if self.measure_yaw is None:
            rgb = self.space.decode_image(apply_yaw(z, self.directions, dst[1], src[1]), context)
        else:
            res = calibrate_yaw(z, self.directions,
                                lambda zz: self.space.decode_image(zz, context),
                                self.measure_yaw, float(dst[1]), float(src[1]),
                                tol_deg=self.tol_deg)
            self.last_calibration = res
            rgb = res.decoded
        alpha = image[..., 3] if image.shape[2] == 4 else np.full(image.shape[:2], 255,
                                                                   np.uint8)
        return np.dstack([rgb[..., :3], alpha])

    def expression(self, base: np.ndarray, expr: Expression, pose: str,
                   config: RigConfig) -> np.ndarray:
        if self.delegate is None:
            raise LatentError("latent backend makes head poses only: give it a delegate "
                              "backend for expressions")
        return self.delegate.expression(base, expr, pose, config)

    def tween(self, job: TweenJob, config: RigConfig) -> np.ndarray:
        if self.delegate is None:
            raise LatentError("latent backend makes head poses only: give it a delegate "
                              "backend for tween frames")
        return self.delegate.tween(job, config)
