"""The toon's flat face features (eyes, brows, mouth, blush) painted with OpenCV into the front
texture projected onto the skull."""

from __future__ import annotations

import math

import cv2
import numpy as np

from animator.authoring.face_params import (
    Face,
)
from animator.authoring.toon.shapes import (
    BLUSH,
    BROW,
    EYE_WHITE,
    IRIS,
    IRIS_DARK,
    LINE,
    LIPS,
    MOUTH_INSIDE,
    PUPIL,
    TEETH,
    TONGUE,
)
from animator.rig import (
    MouthShape,
)

# --- the face texture ---------------------------------------------------------------------

#: The face texture covers u in [-TEX_HALF_U, TEX_HALF_U], v in [-TEX_HALF_V, TEX_HALF_V]
#: (head-local x, y of the skull seen from the front).
TEX_HALF_U, TEX_HALF_V = 1.05, 1.1
#: Mouth: centre (head units) and width at rest (the unit of MouthShape).
MOUTH_CENTRE_UV = (0.0, -0.5)
MOUTH_WIDTH_REST = 0.4
EYE_CENTRE_UV = (0.37, 0.02)  # the character's left eye; the right one is mirrored
EYE_RADII = (0.15, 0.19)
_SHIFT_BITS = 4  # sub-pixel precision of cv2 drawing


class _Canvas:
    """An RGBA float canvas in texture (u, v) units; shapes are painted as anti-aliased
    coverage masks and composited, so edges never pick up a dark fringe."""

    def __init__(self, half_u: float, half_v: float, px_per_unit: float):
        self.half_u, self.half_v, self.ppu = half_u, half_v, px_per_unit
        self.w, self.h = int(round(2 * half_u * px_per_unit)), int(round(2 * half_v * px_per_unit))
        self.rgb = np.zeros((self.h, self.w, 3), np.float32)
        self.alpha = np.zeros((self.h, self.w), np.float32)

    def _px(self, pts_uv: np.ndarray) -> np.ndarray:
        pts = np.asarray(pts_uv, np.float64).reshape(-1, 2)
        col = (pts[:, 0] + self.half_u) * self.ppu
        row = (self.half_v - pts[:, 1]) * self.ppu
        return np.round(np.stack([col, row], 1) * (1 << _SHIFT_BITS)).astype(np.int32)

    def _blank(self) -> np.ndarray:
        return np.zeros((self.h, self.w), np.uint8)

    def poly_mask(self, pts_uv: np.ndarray) -> np.ndarray:
        """float32[h, w] coverage of a filled polygon."""
        m = self._blank()
        cv2.fillPoly(m, [self._px(pts_uv)], 255, cv2.LINE_AA, _SHIFT_BITS)
        return m.astype(np.float32) / 255.0

    def stroke_mask(self, pts_uv: np.ndarray, width: float, closed: bool = False) -> np.ndarray:
        """float32[h, w] coverage of a round-capped polyline ``width`` texture units wide."""
        m = self._blank()
        thick = max(1, int(round(width * self.ppu)))
        cv2.polylines(m, [self._px(pts_uv)], closed, 255, thick, cv2.LINE_AA, _SHIFT_BITS)
        return m.astype(np.float32) / 255.0

    def paint(self, mask: np.ndarray, colour: np.ndarray, opacity: float = 1.0) -> None:
        """Composite ``colour`` with coverage ``mask`` (rgb is kept premultiplied)."""
        x, y, w, h = cv2.boundingRect((mask > 0).astype(np.uint8))
        if w == 0 or h == 0:
            return
        sl = (slice(y, y + h), slice(x, x + w))  # only touch the covered box: much faster
        m = mask[sl] * opacity
        self.rgb[sl] = self.rgb[sl] * (1.0 - m[..., None]) + colour * m[..., None]
        self.alpha[sl] = self.alpha[sl] * (1.0 - m) + m

    def soft_ellipse_mask(self, cu: float, cv_: float, ru: float, rv: float) -> np.ndarray:
        """float32[h, w] Gaussian falloff around an ellipse centre (1 at the centre, about
        0.14 at the radii), evaluated only within 3 radii."""
        m = np.zeros((self.h, self.w), np.float32)
        c0, c1 = (int(np.clip((c + self.half_u) * self.ppu, 0, self.w)) for c in
                  (cu - 3 * ru, cu + 3 * ru))
        r0, r1 = (int(np.clip((self.half_v - v) * self.ppu, 0, self.h)) for v in
                  (cv_ + 3 * rv, cv_ - 3 * rv))
        u = (np.arange(c0, c1, dtype=np.float32) + 0.5) / self.ppu - self.half_u
        v = self.half_v - (np.arange(r0, r1, dtype=np.float32) + 0.5) / self.ppu
        d2 = ((u[None, :] - cu) / ru) ** 2 + ((v[:, None] - cv_) / rv) ** 2
        m[r0:r1, c0:c1] = np.exp(-2.0 * d2)
        return m


def _ellipse_pts(cx: float, cy: float, rx: float, ry: float, n: int = 64) -> np.ndarray:
    a = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
    return np.stack([cx + rx * np.cos(a), cy + ry * np.sin(a)], 1)


def _corner_lift(shape: MouthShape) -> float:
    """How far the mouth corners rise above its centre (mouth-width units; < 0 droop).

    MouthShape carries no explicit smile, so it is read from the width: a mouth wider than at
    rest is a smile (corners up), a closed unrounded mouth narrower than at rest a frown. A
    small constant keeps the resting face friendly.
    """
    closed = float(np.clip(1.0 - shape.open / 0.25, 0.0, 1.0))
    if shape.wide >= 1.0:
        return 0.04 + 1.3 * (shape.wide - 1.0) * (1.0 - float(np.clip(shape.round, 0.0, 1.0)))
    # Narrowing by rounding (on the way to 'uw') is a pucker, not a frown: any rounding
    # quickly cancels the droop.
    flat = float(np.clip(1.0 - shape.round / 0.15, 0.0, 1.0)) ** 2
    return 0.04 + 4.0 * (shape.wide - 1.0) * flat * closed


def mouth_outline(shape: MouthShape, n: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """(upper float64[n, 2], lower float64[n, 2]): the inner-lip edges in mouth units (origin
    at the mouth centre, unit = mouth width at rest, y up), from corner to corner.

    ``wide`` sets the corner distance, ``open`` the gap at the middle (more of it below the
    corner line, a cartoon 'D'), ``round`` narrows the gap's ends into an 'O'.
    """
    rnd = float(np.clip(shape.round, 0.0, 1.0))
    opening = max(shape.open, 0.0) + 0.14 * rnd  # pursed lips still show a small hole
    half_w = 0.5 * max(shape.wide, 0.05) * (1.0 - 0.35 * rnd)
    s = -np.cos(np.linspace(0.0, math.pi, n))  # denser near the corners
    lift = _corner_lift(shape)
    centre = lift * s ** 2 - 0.35 * lift * (1.0 - s ** 2) * min(1.0, 4.0 * opening)
    profile = (1.0 - s ** 2) ** (0.8 - 0.3 * rnd)
    upper = centre + opening * (0.32 + 0.18 * rnd) * profile
    lower = centre - opening * (0.68 - 0.18 * rnd) * profile
    x = s * half_w
    return np.stack([x, upper], 1), np.stack([x, lower], 1)


def _paint_mouth(cv: _Canvas, shape: MouthShape) -> None:
    cu, cvv = MOUTH_CENTRE_UV
    k = MOUTH_WIDTH_REST

    def to_uv(pts: np.ndarray) -> np.ndarray:
        return np.stack([cu + k * pts[:, 0], cvv + k * pts[:, 1]], 1)

    upper, lower = mouth_outline(shape)
    rnd = float(np.clip(shape.round, 0.0, 1.0))
    if rnd > 0.0:  # pursed lips: a soft lip ring around the hole
        ring = np.concatenate([upper, lower[::-1]])
        centre = ring.mean(0)
        grow = np.array([0.2, 0.24]) * rnd
        lip = centre + (ring - centre) * (1.0 + grow / np.maximum(np.ptp(ring, 0), 0.05))
        lip_mask = cv.poly_mask(to_uv(lip))
        cv.paint(lip_mask, LIPS, rnd)
        cv.paint(cv.stroke_mask(to_uv(lip), 0.018, closed=True), LINE, 0.5 * rnd)
    inside = cv.poly_mask(to_uv(np.concatenate([upper, lower[::-1]])))
    cv.paint(inside, MOUTH_INSIDE)
    gap = float(np.max(upper[:, 1] - lower[:, 1]))
    if gap > 0.02:
        # Upper teeth: a band hanging from the upper lip; tongue: a mound on the lower lip.
        teeth_h = min(0.1, 0.45 * gap)
        band = np.concatenate([upper, (upper - [0.0, teeth_h])[::-1]])
        cv.paint(cv.poly_mask(to_uv(band)) * inside, TEETH)
        tx, ty = 0.0, float(lower[len(lower) // 2, 1])
        tongue = _ellipse_pts(tx, ty + 0.02, 0.55 * float(np.ptp(upper[:, 0])) / 2, 0.42 * gap)
        cv.paint(cv.poly_mask(to_uv(tongue)) * inside, TONGUE)
    # The lip line: one closed stroke, so a closed mouth is a line and opening is continuous.
    outline = np.concatenate([upper, lower[::-1]])
    cv.paint(cv.stroke_mask(to_uv(outline), 0.028, closed=True), LINE)
    lift = _corner_lift(shape)
    if lift > 0.08 and gap < 0.3:  # smile dimples at the corners
        for side in (-1.0, 1.0):
            corner = upper[-1] if side > 0 else upper[0]
            a = np.linspace(-0.9, 0.9, 9)
            r = 0.07
            arc = np.stack([corner[0] + side * (0.02 + r * (1 - np.cos(a)) * 0.6),
                            corner[1] + r * np.sin(a)], 1)
            cv.paint(cv.stroke_mask(to_uv(arc), 0.02), LINE, min(1.0, (lift - 0.08) * 8))


def _paint_eye(cv: _Canvas, side: float, face: Face, gaze_uv: tuple[float, float]) -> None:
    """One eye; ``side`` +1 for the character's left (viewer's right), -1 for its right."""
    ex, ey = side * EYE_CENTRE_UV[0], EYE_CENTRE_UV[1]
    rx, ry = EYE_RADII
    e = max(face.eye_open, 0.0)
    # The aperture: between a lid curve above and one below; closing squeezes both towards a
    # line slightly below the centre (a happy, relaxed closed eye).
    s = np.linspace(-1.0, 1.0, 41)
    x = ex + s * rx * (1.0 + 0.06 * max(e - 1.0, 0.0))
    dome = np.sqrt(1.0 - s ** 2)
    rest = ey - 0.25 * ry
    top = rest + (ry * 1.25 * min(e, 1.35) * dome) - 0.04 * ry * (1 - s ** 2) * (e < 0.05)
    bot = rest - ry * 0.75 * min(e, 1.3) * dome
    top_pts, bot_pts = np.stack([x, top], 1), np.stack([x, bot], 1)
    aperture = np.concatenate([top_pts, bot_pts[::-1]])
    open_mask = cv.poly_mask(aperture)
    cv.paint(open_mask, EYE_WHITE)
    # Iris and pupil, looking at the viewer (gaze offset), clipped to the aperture.
    ix, iy = ex + gaze_uv[0], ey + gaze_uv[1] - 0.03
    iris_r = 0.72 * rx
    cv.paint(cv.poly_mask(_ellipse_pts(ix, iy, iris_r, iris_r * 1.08)) * open_mask, IRIS_DARK)
    cv.paint(cv.poly_mask(_ellipse_pts(ix, iy - 0.01, iris_r * 0.82, iris_r * 0.88))
             * open_mask, IRIS)
    cv.paint(cv.poly_mask(_ellipse_pts(ix, iy, iris_r * 0.45, iris_r * 0.5)) * open_mask,
             PUPIL)
    for dx, dy, r in ((-0.35, 0.4, 0.24), (0.3, -0.32, 0.11)):
        glint = _ellipse_pts(ix + dx * iris_r, iy + dy * iris_r, r * iris_r, r * iris_r)
        cv.paint(cv.poly_mask(glint) * open_mask, EYE_WHITE)
    # Outline: a thick lash line on the upper lid, a thin lower line, a lash flick outside.
    cv.paint(cv.stroke_mask(top_pts, 0.042), LINE)
    cv.paint(cv.stroke_mask(bot_pts, 0.016), LINE, min(1.0, 0.4 + e))
    outer = top_pts[-1] if side > 0 else top_pts[0]
    flick = np.array([outer, outer + [side * 0.06, 0.045]])
    cv.paint(cv.stroke_mask(flick, 0.03), LINE)


def _paint_brow(cv: _Canvas, side: float, face: Face) -> None:
    """A tapered, arched brow above the eye; raise lifts and arches, furrow drops the inner
    end and pulls it inwards."""
    ex, ey = side * EYE_CENTRE_UV[0], EYE_CENTRE_UV[1]
    s = np.linspace(-1.0, 1.0, 25)  # -1 inner end, +1 outer end
    half_len = 0.15
    x = side * (abs(ex) - 0.01 - 0.025 * face.brow_furrow + s * half_len)
    arch = (0.045 + 0.03 * face.brow_raise) * (1.0 - s ** 2)
    tilt = (-0.1 * face.brow_furrow + 0.02 * face.brow_raise) * (1.0 - s) / 2.0
    y = ey + 0.25 + 0.08 * face.brow_raise + arch + tilt
    width = 0.055 * (1.0 - 0.55 * s ** 2) * (1.0 - 0.25 * (s > 0) * s)
    d = np.gradient(np.stack([x, y], 1), axis=0)
    normal = np.stack([-d[:, 1], d[:, 0]], 1) / np.linalg.norm(d, axis=1, keepdims=True)
    centre = np.stack([x, y], 1)
    poly = np.concatenate([centre + normal * width[:, None] / 2,
                           (centre - normal * width[:, None] / 2)[::-1]])
    cv.paint(cv.poly_mask(poly), BROW)


def paint_face(face: Face, gaze_uv: tuple[float, float], px_per_unit: float) -> _Canvas:
    """The face texture (blush, eyes, brows, mouth) at ``px_per_unit`` texture pixels per head
    unit; ``gaze_uv`` shifts the irises (head units) so the eyes keep looking at the viewer."""
    cv = _Canvas(TEX_HALF_U, TEX_HALF_V, px_per_unit)
    for side in (-1.0, 1.0):
        cv.paint(cv.soft_ellipse_mask(side * 0.56, -0.3, 0.17, 0.1), BLUSH, 0.4)
    for side in (-1.0, 1.0):
        _paint_eye(cv, side, face, gaze_uv)
        _paint_brow(cv, side, face)
    _paint_mouth(cv, face.mouth)
    return cv
