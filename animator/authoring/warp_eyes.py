"""Closed eyes after a mesh warp: the lash line where the lids meet.

The warp closes an eye by moving the upper lid down onto the lower one; the eye's own
triangles collapse and are not drawn (``warp_mesh``), so lid skin meets lid skin. What a
closed eye shows besides is the line of the lashes along the seam: drawn here, anti-aliased,
in the portrait's own lash colour, stronger the more the eye is closed. Images uint8[H, W, C],
points float[478, 2] image pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

from animator.authoring.warp_face import EYES
from animator.authoring.warp_mouth import FaceColours

_SHIFT_BITS = 4
#: Eyes more open than this (share of their rest aperture) get no lash line.
MAX_OPEN = 0.5
#: Lash line thickness (share of the eye's width) and its opacity when fully closed.
LASH_WIDTH = 0.05
LASH_OPACITY = 0.85


def paint_closed_eyes(image: np.ndarray, dst_pts_px: np.ndarray, eye_open: float,
                      colours: FaceColours) -> np.ndarray:
    """``image`` with a lash line along each eye's closed seam (the warped upper lid), for
    ``eye_open`` below MAX_OPEN; unchanged otherwise."""
    if eye_open >= MAX_OPEN:
        return image
    strength = LASH_OPACITY * (1.0 - eye_open / MAX_OPEN) ** 2
    h, w = image.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    for a, b, lids, _ in EYES:
        seam = dst_pts_px[[a, *lids[7:], b]]
        width = float(np.linalg.norm(dst_pts_px[a] - dst_pts_px[b]))
        thick = max(1, int(round(LASH_WIDTH * width)))
        pts = np.round(seam * (1 << _SHIFT_BITS)).astype(np.int32)
        cv2.polylines(mask, [pts], False, 255, thick, cv2.LINE_AA, _SHIFT_BITS)
    alpha = (cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), 0.6)
             * strength)[..., None]
    out = image.astype(np.float32)
    out[..., :3] += alpha * (colours.lash - out[..., :3])
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
