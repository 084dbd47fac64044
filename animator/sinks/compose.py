"""Turning a frame choice into pixels: the rig image over a background, scaled to the output
size, with the residual head angle applied as a small transform.

The residual (wanted angles minus the chosen pose's) keeps motion continuous between a
sparse rig's endpoints: roll is an in-plane rotation about the neck, which is exact; pitch
and yaw become small shifts, a first-order stand-in for the rotation they cannot show.
"""

from __future__ import annotations

from collections import OrderedDict

import cv2
import numpy as np

from animator.core.types import FrameChoice
from animator.imageio import read_rgb_over
from animator.rig import Rig

#: Neck pivot as a fraction of (width, height): rotations about it keep the shoulders put.
PIVOT_FRAC = (0.5, 0.78)
#: Shift per degree of yaw / pitch residual, as a fraction of the output width.
SHIFT_FRAC_PER_DEG = 0.004
#: Residuals below this (degrees) are not worth a resampling pass.
_MIN_RESIDUAL_DEG = 0.02


def output_size(rig_size: tuple[int, int], width_px: int) -> tuple[int, int]:
    """(width, height) of the output for a rig of ``rig_size``: ``width_px`` wide (made
    even) with the rig's aspect, the height rounded to even (H.264 4:2:0 needs even sizes)."""
    rw, rh = rig_size
    w = max(2, width_px - width_px % 2)
    h = max(2, round(rh * w / rw / 2) * 2)
    return w, h


def parse_color(text: str) -> tuple[int, int, int]:
    """'#rrggbb' or 'rrggbb' -> (r, g, b)."""
    s = text.lstrip("#")
    if len(s) != 6:
        raise ValueError(f"colour must be #rrggbb, got {text!r}")
    return int(s[0:2], 16), int(s[2:4], 16), int(s[4:6], 16)


def residual_matrix(residual_deg: np.ndarray, size: tuple[int, int]) -> np.ndarray | None:
    """float[2, 3] affine map for the residual (pitch, yaw, roll) at output ``size``, or
    None when it is negligible. roll > 0 turns the head clockwise on screen (towards the
    viewer's right), yaw > 0 shifts it right, pitch > 0 (chin up) shifts it up."""
    pitch, yaw, roll = (float(x) for x in residual_deg)
    if max(abs(pitch), abs(yaw), abs(roll)) < _MIN_RESIDUAL_DEG:
        return None
    w, h = size
    pivot = (PIVOT_FRAC[0] * w, PIVOT_FRAC[1] * h)
    m = cv2.getRotationMatrix2D(pivot, -roll, 1.0)  # OpenCV: positive = counter-clockwise
    m[0, 2] += SHIFT_FRAC_PER_DEG * w * yaw
    m[1, 2] -= SHIFT_FRAC_PER_DEG * w * pitch
    return m


class FrameCompositor:
    """Rig images -> uint8[H, W, 3] RGB output frames; decoded images are cached."""

    def __init__(self, rig: Rig, width_px: int = 512,
                 background_rgb: tuple[int, int, int] = (236, 240, 244),
                 cache_images: int = 512) -> None:
        self.rig = rig
        self.size = output_size(rig.image_size, width_px)
        self.background_rgb = background_rgb
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_images = cache_images

    def base_image(self, relpath: str) -> np.ndarray:
        """The rig image at ``relpath`` over the background at output size, uint8[H, W, 3]."""
        img = self._cache.get(relpath)
        if img is not None:
            self._cache.move_to_end(relpath)
            return img
        img = read_rgb_over(self.rig.image_path(relpath), self.background_rgb,
                            self.rig.image_size)
        if (img.shape[1], img.shape[0]) != self.size:
            img = cv2.resize(img, self.size, interpolation=cv2.INTER_AREA)
        self._cache[relpath] = img
        if len(self._cache) > self._cache_images:
            self._cache.popitem(last=False)
        return img

    def compose(self, choice: FrameChoice) -> np.ndarray:
        base = self.base_image(choice.image)
        m = residual_matrix(choice.residual_deg, self.size)
        if m is None:
            return base
        return cv2.warpAffine(base, m, self.size, flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
