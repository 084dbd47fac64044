"""Painting the inside of a mouth that a mesh warp has opened.

Closed or nearly closed lips give zero-area triangles, so a warp alone smears the lip edge
across a new opening. Instead the opening (the warped inner-lip outline) is repainted as a
mouth interior whose every colour comes from the portrait itself (``face_colours``):

- upper teeth under the upper lip, in the colour of the whites of the eyes (the same enamel-
  like white under the same light, so a painting gets painted teeth and a black-and-white
  photo grey ones), shaded darker towards the mouth corners and under the lip; the lower
  incisors, in shadow, just above the lower lip;
- a dark cavity, mixed from the darkest tones of the face and the lips in shadow;
- the tongue at the bottom, a darker lip colour, lit at its top;
- the portrait's own fine grain, so the paint does not look smoother than the photo.

When the portrait already shows some of its mouth interior (teeth), that part moves with the
upper lip, as upper teeth do, and only the newly revealed gap is painted; every edge is
feathered. Images are uint8[H, W, C] (C = 3 or 4), points float[478, 2] image pixels.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from animator.authoring.warp_face import EYES, FACE_OVAL, inner_lip_polygon
from animator.core.geometry import smoothstep
from keypoints.face import (
    INNER_LIP_LOWER,
    INNER_LIP_UPPER,
    LOWER_LIP_INNER,
    OUTER_LIP_LOWER,
    OUTER_LIP_UPPER,
    UPPER_LIP_INNER,
)

_SHIFT_BITS = 4
#: Lips opened less than this (inner gap over the opening's width) are left to the warp.
MIN_GAP = 0.05
#: Upper teeth height (fraction of the opening's width), at most this share of the gap.
TEETH_HEIGHT = 0.13
TEETH_MAX_SHARE = 0.7
#: Tongue height (fraction of the opening's width), at most this share of the gap.
TONGUE_HEIGHT = 0.2
TONGUE_MAX_SHARE = 0.42
#: Lower teeth height (fraction of the opening's width), at most this share of the gap.
LOWER_TEETH_HEIGHT = 0.06
LOWER_TEETH_MAX_SHARE = 0.28
#: The tongue's half width (half mouth widths).
TONGUE_HALF_WIDTH = 0.62
#: The painted opening reaches this far over the inner lip line (share of its width): the
#: dark seam of closed lips, stretched along the warped lip edge, is painted over.
OPENING_GROW = 0.025
#: Fewest sclera (or eye) pixels for an eye colour; fewer and the skin stands in.
MIN_SCLERA_PX = 12
#: Seed of the grain pattern (fixed: the same portrait always gets the same grain).
GRAIN_SEED = 11


@dataclass(frozen=True)
class FaceColours:
    """float32[3] RGB colours of one face's mouth and lashes, all taken from its portrait,
    and the standard deviation (grey levels) of the portrait's fine grain on the face."""

    lips: np.ndarray
    teeth: np.ndarray
    tongue: np.ndarray
    cavity: np.ndarray
    lash: np.ndarray
    grain: float


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


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)


def lip_colour(image: np.ndarray, pts_px: np.ndarray) -> np.ndarray:
    """float32[3]: median RGB of the lips (between the outer and inner lip outlines)."""
    outer = np.concatenate([pts_px[list(OUTER_LIP_UPPER)], pts_px[list(OUTER_LIP_LOWER[-2:0:-1])]])
    ring = _poly_mask(image.shape[:2], outer) - _poly_mask(image.shape[:2],
                                                           inner_lip_polygon(pts_px))
    sel = ring > 0.5
    if sel.sum() < 4:
        return np.array([150, 70, 70], np.float32)
    return np.median(image[sel][:, :3].astype(np.float32), axis=0)


def _eye_polygon(pts_px: np.ndarray, eye: tuple) -> np.ndarray:
    a, b, lids, _ = eye
    lower, upper = lids[:7], lids[7:]
    return pts_px[[a, *lower, b, *upper[::-1]]]


def sclera_colour(image: np.ndarray, pts_px: np.ndarray) -> np.ndarray | None:
    """float32[3]: the whites of the eyes (the brighter half of the pixels between the lids,
    the irises left out), or None when too few show."""
    h, w = image.shape[:2]
    samples = []
    for eye in EYES:
        mask = _poly_mask((h, w), _eye_polygon(pts_px, eye)) > 0.9
        iris = pts_px[list(eye[3])]
        centre = iris[0]
        radius = float(np.mean(np.linalg.norm(iris[1:] - centre, axis=1)))
        yy, xx = np.ogrid[:h, :w]
        mask &= (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 > (1.2 * radius) ** 2
        samples.append(image[mask][:, :3].astype(np.float32))
    px = np.concatenate(samples)
    if len(px) < MIN_SCLERA_PX:
        return None
    bright = px[_luma(px) >= np.percentile(_luma(px), 50)]
    return np.median(bright, axis=0)


def _at_luma(rgb: np.ndarray, luma: float) -> np.ndarray:
    """``rgb`` scaled to the luminance ``luma`` (its hue and saturation kept)."""
    return np.clip(rgb * (luma / max(float(_luma(rgb[None])[0]), 1.0)), 0, 255)


def _teeth(sclera: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """Teeth: as bright as the whites of the eyes, a little warmer (ivory in the portrait's
    own palette: half the skin's hue at the sclera's luminance)."""
    luma = float(_luma(sclera[None])[0])
    return np.clip(0.5 * sclera + 0.5 * _at_luma(skin, luma), 0, 255)


def face_colours(image: np.ndarray, pts_px: np.ndarray) -> FaceColours:
    """The mouth colours of the face whose landmarks are ``pts_px`` (float[478, 2]) in
    ``image`` (uint8[H, W, C]): see the module docstring."""
    h, w = image.shape[:2]
    lips = lip_colour(image, pts_px)
    face = _poly_mask((h, w), pts_px[list(FACE_OVAL)]) > 0.5
    face_px = image[face][:, :3].astype(np.float32)
    if len(face_px) < 16:
        face_px = image[..., :3].reshape(-1, 3).astype(np.float32)
    luma = _luma(face_px)
    dark = np.median(face_px[luma <= np.percentile(luma, 3)], axis=0)
    skin = np.median(face_px, axis=0)
    sclera = sclera_colour(image, pts_px)
    if sclera is None:  # eyes too small or closed: a light, less saturated skin
        grey = _luma(skin[None])[0]
        sclera = np.clip(1.25 * (0.4 * skin + 0.6 * grey), 0, 255)
    teeth = _teeth(sclera, skin)
    # The cavity: the lips' hue in the darkness of the face's darkest tones (a dark red in a
    # colour photo, a dark grey in a black-and-white one, never the blue of dark hair).
    lips_luma = float(_luma(lips[None])[0])
    cavity = _at_luma(lips, float(np.clip(0.6 * _luma(dark[None])[0], 0.12 * lips_luma,
                                          0.3 * lips_luma)))
    tongue = _at_luma(lips, 0.75 * lips_luma)  # the lips' colour, in the mouth's shade
    grey = cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY)
    grey = grey.astype(np.float32)
    fine = grey - cv2.GaussianBlur(grey, (0, 0), 1.5)
    mad = float(np.median(np.abs(fine[face] - np.median(fine[face])))) if face.any() else 0.0
    return FaceColours(lips.astype(np.float32), teeth.astype(np.float32),
                       tongue.astype(np.float32), cavity.astype(np.float32),
                       lash_colour(image, pts_px, dark).astype(np.float32), 1.4826 * mad)


def lash_colour(image: np.ndarray, pts_px: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """float32[3]: the lashes' colour (the darkest tenth of the pixels around the eyes)."""
    h, w = image.shape[:2]
    mask = np.zeros((h, w), bool)
    for eye in EYES:
        mask |= cv2.dilate(_poly_mask((h, w), _eye_polygon(pts_px, eye)),
                           np.ones((3, 3), np.uint8)) > 0.5
    px = image[mask][:, :3].astype(np.float32)
    if len(px) < MIN_SCLERA_PX:
        return fallback
    return np.median(px[_luma(px) <= np.percentile(_luma(px), 10)], axis=0)


def mouth_interior(box: tuple[int, int], shift: np.ndarray, dst_pts_px: np.ndarray,
                   colours: FaceColours) -> np.ndarray:
    """float32[h, w, 3] RGB interior of the opening given by ``dst_pts_px`` (float[478, 2]),
    painted over a box of ``box`` (h, w) pixels whose top-left is ``shift`` (x, y)."""
    pts = dst_pts_px - shift
    left, right = pts[INNER_LIP_UPPER[-1]], pts[INNER_LIP_UPPER[0]]
    centre = 0.5 * (left + right)
    axis = left - right
    width = max(float(np.linalg.norm(axis)), 1.0)
    axis /= width
    up = np.array([axis[1], -axis[0]])
    if up[1] > 0:  # image y grows down: "up" must point to smaller y
        up = -up
    half = 0.5 * width
    yy, xx = np.mgrid[0:box[0], 0:box[1]].astype(np.float32)
    rel_x, rel_y = xx - centre[0], yy - centre[1]
    u = (rel_x * axis[0] + rel_y * axis[1]) / half
    v = rel_x * up[0] + rel_y * up[1]

    def edge(ids: tuple[int, ...]) -> np.ndarray:
        p = pts[list(ids)] - centre
        pu, pv = p @ axis / half, p @ up
        order = np.argsort(pu)
        return np.interp(u, pu[order], pv[order])

    top, bottom = edge(INNER_LIP_UPPER), edge(INNER_LIP_LOWER)
    gap = np.maximum(top - bottom, 0.0)
    below_top, above_bottom = top - v, v - bottom
    au = np.abs(u)

    fill = np.empty(box + (3,), np.float32)
    fill[:] = colours.cavity
    fill *= (0.65 + 0.35 * np.exp(-(u / 0.6) ** 2))[..., None]  # deeper towards the cheeks

    # The tongue: a dome behind the lower lip, in its shadow at the bottom, lit on top.
    tongue_h = (np.minimum(TONGUE_MAX_SHARE * gap, TONGUE_HEIGHT * width)
                * np.sqrt(np.clip(1.0 - (u / TONGUE_HALF_WIDTH) ** 2, 0.0, 1.0)))
    tongue = 1.0 - smoothstep(tongue_h - 0.8, tongue_h + 0.8, above_bottom)
    tongue *= tongue_h > 0.8
    up_share = np.clip(above_bottom / np.maximum(tongue_h, 1.0), 0.0, 1.0)
    lit = 0.55 + 0.25 * up_share + 0.3 * np.exp(-(u / 0.4) ** 2) * up_share ** 2
    fill += tongue[..., None] * (colours.tongue * lit[..., None] - fill)

    # Lower incisors just above the lower lip, in front of the tongue, in shadow.
    low_h = np.minimum(LOWER_TEETH_MAX_SHARE * gap, LOWER_TEETH_HEIGHT * width)
    low = 1.0 - smoothstep(low_h - 0.6, low_h + 0.6, above_bottom)
    low *= np.exp(-(np.maximum(au - 0.35, 0.0) / 0.15) ** 2) * (low_h > 0.8)
    low_shade = 0.6 * (0.6 + 0.4 * np.exp(-(u / 0.4) ** 2))
    fill += low[..., None] * (colours.teeth * low_shade[..., None] - fill)

    teeth_h = np.minimum(TEETH_MAX_SHARE * gap, TEETH_HEIGHT * width) * (1.0 - 0.2 * u * u)
    teeth = 1.0 - smoothstep(teeth_h - 0.7, teeth_h + 0.7, below_top)
    teeth *= np.exp(-(np.maximum(au - 0.5, 0.0) / 0.22) ** 2)  # they recede into the dark
    shade = (0.55 + 0.45 * np.exp(-(u / 0.6) ** 2)) * (0.78 + 0.22 * smoothstep(
        0.0, 2.5, below_top))  # darker towards the corners and just under the lip
    px = u * half  # pixels along the mouth from its middle
    for at, depth in ((0.0, 0.22), (0.27 * half, 0.12), (-0.27 * half, 0.12)):
        shade *= 1.0 - depth * np.exp(-((px - at) / 0.7) ** 2)  # the gaps between incisors
    fill += teeth[..., None] * (colours.teeth * shade[..., None] - fill)

    if colours.grain > 0.3:  # fixed in image space: the grain does not boil between frames
        x0, y0 = (int(v) for v in shift)
        tile = _grain_tile()
        rows = (y0 + np.arange(box[0])) % tile.shape[0]
        cols = (x0 + np.arange(box[1])) % tile.shape[1]
        fill += colours.grain * tile[np.ix_(rows, cols)][..., None]
    return fill


@functools.cache
def _grain_tile() -> np.ndarray:
    """float32[256, 256] unit Gaussian noise, tiled over the image (always the same)."""
    return np.random.default_rng(GRAIN_SEED).normal(0.0, 1.0, (256, 256)).astype(np.float32)


def paint_mouth(warped: np.ndarray, source: np.ndarray, src_pts_px: np.ndarray,
                dst_pts_px: np.ndarray, colours: FaceColours) -> np.ndarray:
    """``warped`` with its mouth opening repainted (see module docstring).

    source: the unwarped image; src_pts_px/dst_pts_px: float[478, 2] landmarks before/after;
    colours: the face's colours (``face_colours`` of the source).
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
    grow = int(round(OPENING_GROW * width_px))
    if grow > 0:
        opening = cv2.dilate(opening, cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                                                (2 * grow + 1, 2 * grow + 1)))
    opening = cv2.GaussianBlur(opening, (0, 0), feather)

    c = warped.shape[2]
    fill = np.empty(box + (c,), np.float32)
    fill[..., :3] = mouth_interior(box, shift, dst_pts_px, colours)
    if c == 4:
        fill[..., 3] = 255.0

    # The portrait's own interior, moved with the upper lip.
    src_poly = inner_lip_polygon(src_pts_px)
    if _area(src_poly) >= 2.0:
        ids = list(INNER_LIP_UPPER) + list(OUTER_LIP_UPPER)
        aff = _fit_affine(src_pts_px[ids], dst_pts_px[ids] - shift)
        own = cv2.warpAffine(source, aff, (box[1], box[0]), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
        inner = _poly_mask(source.shape[:2], src_poly)
        inner = cv2.erode(inner, np.ones((3, 3), np.uint8))  # drop the lip-edge pixels
        inner_box = cv2.warpAffine(inner, aff, (box[1], box[0]), flags=cv2.INTER_LINEAR)
        inner_box = cv2.GaussianBlur(inner_box, (0, 0), feather)[..., None]
        fill = fill * (1.0 - inner_box) + own * inner_box

    region = warped[y0:y1, x0:x1].astype(np.float32)
    m = opening[..., None]
    out = warped.copy()
    out[y0:y1, x0:x1] = np.clip(region * (1.0 - m) + fill * m + 0.5, 0, 255).astype(np.uint8)
    return out
