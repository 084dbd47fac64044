"""Latent-direction head rotation (seed 002, made general).

Embeddings of many face images with known yaw are binned by yaw, per side (yaw > 0 and
yaw < 0 separately); a line is fitted through the bins' centroids by weighted linear
regression on the angle; its slope is the latent direction per degree. A source is turned by
moving its embedding along its side's direction and decoding it.

- ``directions``: the fit (:class:`DirectionFitter`), its result (:class:`LatentDirections`,
  saved as .npz) and :func:`apply_yaw`;
- ``spaces``: encoders/decoders behind one small interface (ONNX pair, PCA, FaceMesh
  landmarks) and the geometric yaw helpers;
- ``calibrate``: closed-loop step adjustment against a yaw estimator.
"""

from animator.authoring.latent.directions import (
    SIDES,
    DirectionFitter,
    LatentDirections,
    LatentError,
    SideFit,
    apply_yaw,
)

__all__ = ["SIDES", "DirectionFitter", "LatentDirections", "LatentError", "SideFit",
           "apply_yaw"]
