"""Painting the inside of a mouth that a mesh warp has opened.

Closed or nearly closed lips give zero-area triangles, so a warp alone smears the lip edge
across a new opening. Instead the opening (the warped inner-lip outline) is repainted: the
portrait's own mouth interior (teeth, if it showed any) moves with the upper lip, as upper
teeth do, and only the newly revealed gap gets a dark cavity with a hint of tongue at the
bottom; every edge is feathered. Images are uint8[H, W, C] (C = 3 or 4), points float[478, 2]
image pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

from animator.authoring.warp_face import inner_lip_polygon
from keypoints.face import (
    INNER_LIP_UPPER,
    LOWER_LIP_INNER,
    OUTER_LIP_LOWER,
    OUTER_LIP_UPPER,
    UPPER_LIP_INNER,
)

_SHIFT_BITS = 4
#: Cavity colour = lip colour x CAVITY_SHADE; the tongue (TONGUE_SHADE x lip colour) shows
#: at the bottom of the opening, blended in by up to TONGUE_MIX.
CAVITY_SHADE = 0.3
#: A mouth interior is dark red whatever the lip colour reads as: the cavity is mixed halfway
#: towards this RGB, so a greyish photo does not get a grey hole.
CAVITY_RGB = (92, 26, 34)
TONGUE_SHADE = 0.85
TONGUE_MIX = 0.6
#: Lips opened less than this (inner gap over the opening's width) are left to the warp.
MIN_GAP = 0.05


def _poly_mask(shape: tuple[int, int], poly_px: np.ndarray) -> np.ndarray:
    """float32[H, W] anti-aliased coverage of a polygon."""
    m = np.zeros(shape, np.uint8)
    pts = np.round(np.asarray(poly_px) * (1 << _SHIFT_BITS)).astype(np.int32)
    cv2.fillPoly(m, [pts], 255, cv2.LINE_AA, _SHIFT_BITS)
    return m.astype(np.float32) / 255.0


def _area(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def _fit_affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """float64[2, 3] least-squares affine map of src points (float[N, 2]) onto dst."""
    homog = np.concatenate([src, np.ones((len(src), 1))], 1)
    sol, *_ = np.linalg.lstsq(homog, dst, rcond=None)
    return sol.T


def lip_colour(image: np.ndarray, pts_px: np.ndarray) -> np.ndarray:
    """float32[C]: median colour of the lips (between the outer and inner lip outlines)."""
    outer = np.concatenate([pts_px[list(OUTER_LIP_UPPER)], pts_px[list(OUTER_LIP_LOWER[-2:0:-1])]])
    ring = _poly_mask(image.shape[:2], outer) - _poly_mask(image.shape[:2],
                                                           inner_lip_polygon(pts_px))
    sel = ring > 0.5
    if sel.sum() < 4:
        return np.array([150, 70, 70, 255][: image.shape[2]], np.float32)
    return np.median(image[sel].astype(np.float32), axis=0)


def paint_mouth(warped: np.ndarray, source: np.ndarray, src_pts_px: np.ndarray,
                dst_pts_px: np.ndarray, lips: np.ndarray) -> np.ndarray:
    """``warped`` with its mouth opening repainted (see module docstring).

    source: the unwarped image; src_pts_px/dst_pts_px: float[478, 2] landmarks before/after;
    lips: float[C] lip colour of the source (``lip_colour``), which tints the cavity.
    """
    dst_poly = inner_lip_polygon(dst_pts_px)
    gap_px = float(np.linalg.norm(dst_pts_px[UPPER_LIP_INNER] - dst_pts_px[LOWER_LIP_INNER]))
    width_px = float(np.ptp(dst_poly[:, 0]))
    if _area(dst_poly) < 2.0 or gap_px < MIN_GAP * width_px:
        return warped
    h, w = warped.shape[:2]
    pad = int(np.ceil(0.1 * width_px + 4))
    x0, y0 = (np.floor(dst_poly.min(0)).astype(int) - pad).clip(0)
    x1, y1 = np.ceil(dst_poly.max(0)).astype(int) + pad
    x1, y1 = min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return warped
    box = (y1 - y0, x1 - x0)
    shift = np.array([x0, y0], np.float64)
    feather = max(0.6, 0.012 * width_px)

    opening = _poly_mask(box, dst_poly - shift)
    opening = cv2.GaussianBlur(opening, (0, 0), feather)

    # The cavity: dark lip colour, a little lighter towards the bottom (tongue).
    c = source.shape[2]
    cavity = np.empty(box + (c,), np.float32)
    cavity[:] = lips * CAVITY_SHADE
    cavity[..., :3] = 0.5 * cavity[..., :3] + 0.5 * np.array(CAVITY_RGB[: min(c, 3)], np.float32)
    lower_mid = dst_pts_px[LOWER_LIP_INNER] - shift
    yy, xx = np.mgrid[0:box[0], 0:box[1]].astype(np.float32)
    tongue = np.exp(-(((xx - lower_mid[0]) / (0.3 * width_px)) ** 2
                      + ((yy - lower_mid[1]) / (0.5 * gap_px)) ** 2))
    cavity += (tongue * TONGUE_MIX)[..., None] * (lips * TONGUE_SHADE - cavity)
    centre_x = 0.5 * (dst_poly[:, 0].min() + dst_poly[:, 0].max()) - shift[0]
    sides = 0.55 + 0.45 * np.exp(-((xx - centre_x) / (0.35 * width_px)) ** 2)
    cavity[..., :3] *= sides[..., None]  # darker towards the cheeks
    if c == 4:
        cavity[..., 3] = 255.0

    # The portrait's own interior, moved with the upper lip.
    src_poly = inner_lip_polygon(src_pts_px)
    fill = cavity
    if _area(src_poly) >= 2.0:
        ids = list(INNER_LIP_UPPER) + list(OUTER_LIP_UPPER)
        aff = _fit_affine(src_pts_px[ids], dst_pts_px[ids] - shift)
        teeth = cv2.warpAffine(source, aff, (box[1], box[0]), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
        inner = _poly_mask(source.shape[:2], src_poly)
        inner = cv2.erode(inner, np.ones((3, 3), np.uint8))  # drop the lip-edge pixels
        inner_box = cv2.warpAffine(inner, aff, (box[1], box[0]), flags=cv2.INTER_LINEAR)
        inner_box = cv2.GaussianBlur(inner_box, (0, 0), feather)[..., None]
        fill = cavity * (1.0 - inner_box) + teeth * inner_box

    region = warped[y0:y1, x0:x1].astype(np.float32)
    m = opening[..., None]
    out = warped.copy()
    out[y0:y1, x0:x1] = np.clip(region * (1.0 - m) + fill * m + 0.5, 0, 255).astype(np.uint8)
    return out
