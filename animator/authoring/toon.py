"""The built-in procedural cartoon character ("toon") and the builder of its rig folder.

The head is a handful of ellipsoids (skull, hair shell and tuft, nose, ears; neck and torso
stay put) ray-cast per pixel in head-local coordinates: rotating the head by pitch/yaw/roll
about a pivot in the neck is just rotating the rays, occlusion is exact, and the normals give
cel shading. Flat features (eyes, brows, mouth, blush) are painted with OpenCV into a front
texture that is projected onto the skull and culled where the surface turns away. Everything
is drawn at ``supersample`` times the output size and averaged down for smooth edges.

Units: head units (skull radius about 1) in 3D, degrees for angles, pixels where named ``_px``.
Axes: x to the viewer's right, y up, z towards the viewer; the character faces +z, so its own
left is +x. Angle conventions follow the project's contract (ARCHITECTURE.md, "Angles").
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from animator.authoring.face_params import (
    Face,
    face_from_names,
    lerp_face,
    midpoint_ts,
)
from animator.core.outputs import OutputError, atomic_output
from animator.rig import (
    CONFIG_NAME,
    MANIFEST_NAME,
    SEQUENCES_DIR,
    MouthShape,
    RigConfig,
    endpoint_relpath,
    sequence_dirname,
    sequence_manifest,
    tween_filename,
    write_rig_metadata,
)

#: The rig config shipped with this module (poses, expressions, base paths, pose angles).
CONFIG_PATH = Path(__file__).with_name("toon_expressions.json")

# --- look ---------------------------------------------------------------------------------


def _rgb(hex_code: str) -> np.ndarray:
    """float32[3] in 0..1 from '#rrggbb'."""
    return np.array([int(hex_code[i:i + 2], 16) / 255.0 for i in (1, 3, 5)], np.float32)


SKIN = _rgb("#ffd3b4")
HAIR = _rgb("#6b3a26")
HAIR_SHINE = _rgb("#9a5a3a")
SHIRT = _rgb("#2fb3a6")
COLLAR = _rgb("#f4f1e8")
LINE = _rgb("#3b2626")
EYE_WHITE = _rgb("#ffffff")
IRIS = _rgb("#3a8fd6")
IRIS_DARK = _rgb("#1f5c99")
PUPIL = _rgb("#1d1b2a")
BROW = _rgb("#4e2a1c")
MOUTH_INSIDE = _rgb("#6e1f2f")
TONGUE = _rgb("#ec7a86")
TEETH = _rgb("#ffffff")
LIPS = _rgb("#e88a82")
BLUSH = _rgb("#ff8f8f")
#: Multiplier of a colour in the shadow band of the cel shading (warm, slightly purple).
SHADOW_TINT = np.array([0.9, 0.77, 0.76], np.float32)
#: Direction towards the light, world coordinates (upper left, in front).
LIGHT_DIR = np.array([-0.45, 0.6, 0.66], np.float32) / np.linalg.norm([-0.45, 0.6, 0.66])

#: The world window the output image shows (head units): x from -HALF_W to +HALF_W, y from
#: TOP_Y down to TOP_Y - 2 HALF_W. The head (radius ~1.1 with hair) leaves wide margins so
#: +-15 deg poses and small extra shifts/rotations stay inside the frame; the torso runs off
#: the bottom edge (a bust: replicating the bottom rows extends it).
HALF_W = 2.05
TOP_Y = 1.72
#: Rotation pivot: in the neck, below and behind the face centre (head units).
PIVOT = np.array([0.0, -1.05, -0.2], np.float32)


# --- geometry -----------------------------------------------------------------------------


def rotation_matrix(pitch_deg: float, yaw_deg: float, roll_deg: float) -> np.ndarray:
    """float64[3, 3] taking head-local vectors to world vectors (x right, y up, z to viewer).

    yaw > 0 turns the nose (+z) towards +x (viewer's right); pitch > 0 lifts the nose (+y);
    roll > 0 tips the top of the head (+y) towards +x (the character's own left shoulder).
    Applied in the order yaw, then pitch, then roll.
    """
    p, y, r = (math.radians(a) for a in (pitch_deg, yaw_deg, roll_deg))
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    # pitch > 0 lifts the nose: a rotation about x by -pitch.
    rx = np.array([[1, 0, 0], [0, math.cos(p), math.sin(p)], [0, -math.sin(p), math.cos(p)]])
    # roll > 0 moves the top of the head to +x: a rotation about z by -roll.
    rz = np.array([[math.cos(r), math.sin(r), 0], [-math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return rz @ rx @ ry


def _yaw_only(deg: float) -> np.ndarray:
    return rotation_matrix(0.0, deg, 0.0)


@dataclass(frozen=True, eq=False)
class Blob:
    """An ellipsoid part of the character.

    ``rot`` (float[3, 3]) takes the ellipsoid's own axes to its group's axes; ``line_group``:
    outlines are drawn only where two different line groups (or the background) meet;
    ``keep`` optionally accepts/rejects hits given the hit on the unit sphere (float[..., 3]),
    which is how the hair shell gets its hairline.
    """

    name: str
    centre: tuple[float, float, float]
    radii: tuple[float, float, float]
    colour: np.ndarray
    line_group: int
    rot: np.ndarray = field(default_factory=lambda: np.eye(3))
    keep: Callable[[np.ndarray], np.ndarray] | None = None


def _hair_keep(unit: np.ndarray) -> np.ndarray:
    """bool[...]: where the hair shell exists, given hit points on its unit sphere.

    The hairline height (unit-sphere y) is a function of the azimuth around the head: a
    side-swept fringe of pointed locks at the front, above the ears at the sides, down to the
    nape at the back.
    """
    x, y, z = unit[..., 0], unit[..., 1], unit[..., 2]
    az = np.arctan2(x, z)  # 0 at the front, +-pi at the back; > 0 on the character's left
    cos_az = np.cos(az)
    base = -0.16 + 0.6 * cos_az  # front 0.44, sides -0.16, back -0.76
    # Pointed locks over the forehead, swept towards the character's right (viewer's left).
    front = np.clip((cos_az - 0.25) / 0.75, 0.0, 1.0)
    phase = (az + 0.12) * 5.0 / math.pi
    saw = np.abs(phase - np.round(phase)) * 2.0  # 0 at a lock tip, 1 between locks
    locks = 0.2 * (1.0 - saw) ** 1.8 * front
    sweep = 0.1 * np.clip(-az, -1.0, 1.0) * front  # higher on the viewer's right
    # Fuller sides: hair comes down over the temples, just above the ears.
    temples = 0.16 * np.exp(-(((np.abs(az) - 1.15) / 0.35) ** 2))
    return y > base - locks + sweep - temples


SKULL = Blob("skull", (0.0, 0.0, 0.0), (1.0, 1.04, 0.96), SKIN, 0)
CHEEKS = Blob("cheeks", (0.0, -0.3, 0.06), (0.9, 0.72, 0.86), SKIN, 0)
NOSE = Blob("nose", (0.0, -0.2, 0.9), (0.13, 0.1, 0.12), SKIN, 0)
HEAD_BLOBS: tuple[Blob, ...] = (
    SKULL,
    CHEEKS,
    NOSE,
    Blob("ear_left", (0.96, -0.1, -0.08), (0.18, 0.25, 0.1), SKIN, 1, _yaw_only(25.0)),
    Blob("ear_right", (-0.96, -0.1, -0.08), (0.18, 0.25, 0.1), SKIN, 2, _yaw_only(-25.0)),
    Blob("hair", (0.0, 0.1, -0.04), (1.07, 1.06, 1.05), HAIR, 3, keep=_hair_keep),
    Blob("tuft", (0.12, 1.08, 0.05), (0.1, 0.24, 0.08), HAIR, 4,
         rotation_matrix(0.0, 0.0, 28.0)),
)
BODY_BLOBS: tuple[Blob, ...] = (
    Blob("neck", (0.0, -1.05, -0.16), (0.3, 0.45, 0.28), SKIN, 5),
    Blob("collar", (0.0, -1.38, -0.2), (0.44, 0.15, 0.38), COLLAR, 6),
    Blob("torso", (0.0, -1.97, -0.4), (1.42, 0.62, 0.66), SHIRT, 7),
)
#: Which blobs take the painted face texture.
FACE_BLOBS = ("skull", "cheeks")


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


# --- ray casting --------------------------------------------------------------------------


def _intersect(origin: np.ndarray, direction: np.ndarray, blob: Blob) -> np.ndarray:
    """float32[...]: ray parameter of the visible hit on ``blob`` (NaN where missed).

    origin float32[..., 3] and direction float32[3] are in the blob's group coordinates.
    A blob with ``keep`` shows its back wall where the front one is cut away.
    """
    rot = np.asarray(blob.rot, np.float32)
    radii = np.asarray(blob.radii, np.float32)
    q = ((origin - np.asarray(blob.centre, np.float32)) @ rot) / radii
    dq = (direction @ rot) / radii
    a = float(dq @ dq)
    b = 2.0 * (q @ dq)
    c = np.einsum("...i,...i->...", q, q) - 1.0
    disc = b * b - 4.0 * a * c
    root = np.sqrt(np.maximum(disc, 0.0))
    t_near = (-b - root) / (2.0 * a)
    t_near[disc < 0] = np.nan
    if blob.keep is None:
        return t_near
    t_far = (-b + root) / (2.0 * a)
    t_far[disc < 0] = np.nan
    near_ok = blob.keep(q + t_near[..., None] * dq)
    far_ok = blob.keep(q + t_far[..., None] * dq)
    return np.where(near_ok, t_near, np.where(far_ok, t_far, np.nan)).astype(np.float32)


def _blob_normal(points: np.ndarray, blob: Blob) -> np.ndarray:
    """float32[..., 3] unit outward normals (group coordinates) at surface ``points``."""
    rot = np.asarray(blob.rot, np.float32)
    radii = np.asarray(blob.radii, np.float32)
    grad = ((points - np.asarray(blob.centre, np.float32)) @ rot) / radii ** 2
    n = grad @ rot.T
    return n / np.linalg.norm(n, axis=-1, keepdims=True)


@dataclass
class _Frame:
    """Per-pixel buffers of a ray-cast picture (all at the supersampled resolution)."""

    depth: np.ndarray  # float32[n, n], world z of the visible surface (-inf: background)
    blob: np.ndarray  # int16[n, n], index into the blob list (-1: background)
    normal: np.ndarray  # float32[n, n, 3], world unit normal
    local: np.ndarray  # float32[n, n, 3], hit point in its group's coordinates


def _cast(frame: _Frame, xs: np.ndarray, ys: np.ndarray, blobs: Sequence[Blob],
          first_index: int, rot: np.ndarray) -> None:
    """Ray-cast ``blobs`` (a group rotated by ``rot`` about PIVOT) into ``frame``.

    xs float32[n] and ys float32[n] are the world x of the pixel columns and y of the rows.
    Each blob is only cast over its screen bounding box.
    """
    rot32 = rot.astype(np.float32)
    z_far = np.float32(10.0)
    direction = -rot32[2, :]  # R^T (0, 0, -1): the view ray in group coordinates
    for k, blob in enumerate(blobs):
        centre_w = PIVOT + rot32 @ (np.asarray(blob.centre, np.float32) - PIVOT)
        reach = max(blob.radii) * 1.02
        cols = np.nonzero(np.abs(xs - centre_w[0]) <= reach)[0]
        rows = np.nonzero(np.abs(ys - centre_w[1]) <= reach)[0]
        if len(cols) == 0 or len(rows) == 0:
            continue
        c0, c1, r0, r1 = cols[0], cols[-1] + 1, rows[0], rows[-1] + 1
        gx, gy = np.meshgrid(xs[c0:c1], ys[r0:r1])
        world = np.stack([gx, gy, np.full_like(gx, z_far)], -1)
        origin = PIVOT + (world - PIVOT) @ rot32  # R^T (world - pivot), row vectors
        t = _intersect(origin, direction, blob)
        z = z_far - t
        sub_depth = frame.depth[r0:r1, c0:c1]
        win = np.isfinite(z) & (z > sub_depth)
        if not win.any():
            continue
        hit = origin[win] + t[win][:, None] * direction
        n_world = _blob_normal(hit, blob) @ rot32.T
        if blob.keep is not None:  # seen from inside (back wall of the shell): flip
            n_world = np.where(n_world[:, 2:3] < 0, -n_world, n_world)
        sub_depth[win] = z[win]
        frame.blob[r0:r1, c0:c1][win] = first_index + k
        frame.normal[r0:r1, c0:c1][win] = n_world
        frame.local[r0:r1, c0:c1][win] = hit


def _smooth_skin_normals(frame: _Frame, blobs: Sequence[Blob], head_rot: np.ndarray) -> None:
    """Blend the skull and cheek normals near their seam (in place), so the union of the two
    ellipsoids shades as one smooth head instead of showing a crease.

    Each blob's gradient is weighted by exp(-k f), f = its implicit value at the hit point
    (0 on its surface, growing outside), so far from the seam one blob's normal wins.
    """
    ids = [i for i, b in enumerate(blobs) if b.name in FACE_BLOBS]
    on = np.isin(frame.blob, ids)
    if not on.any():
        return
    pts = frame.local[on]
    total = np.zeros_like(pts)
    for i in ids:
        b = blobs[i]
        rot = np.asarray(b.rot, np.float32)
        radii = np.asarray(b.radii, np.float32)
        q = ((pts - np.asarray(b.centre, np.float32)) @ rot) / radii
        f = np.einsum("...i,...i->...", q, q) - 1.0
        grad = (q / radii) @ rot.T
        grad /= np.linalg.norm(grad, axis=-1, keepdims=True)
        total += np.exp(-8.0 * np.maximum(f, 0.0))[:, None] * grad
    n = total / np.linalg.norm(total, axis=-1, keepdims=True)
    frame.normal[on] = n @ head_rot.astype(np.float32).T


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _edges(labels: np.ndarray) -> np.ndarray:
    """bool[h, w]: pixels with a 4-neighbour of another label (both sides of a boundary)."""
    e = np.zeros(labels.shape, bool)
    dv = labels[1:, :] != labels[:-1, :]
    dh = labels[:, 1:] != labels[:, :-1]
    e[1:, :] |= dv
    e[:-1, :] |= dv
    e[:, 1:] |= dh
    e[:, :-1] |= dh
    return e


def _disc(radius_px: float) -> np.ndarray:
    r = max(1, int(round(radius_px)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def render(pitch_deg: float, yaw_deg: float, roll_deg: float, face: Face, size_px: int = 512,
           supersample: int = 3) -> np.ndarray:
    """uint8[size_px, size_px, 4] RGBA picture of the toon (transparent background).

    The continuous-parameter form of draw_head: tweens pass interpolated Face values.
    """
    n = size_px * supersample
    px_per_unit = n / (2.0 * HALF_W)
    xs = ((np.arange(n, dtype=np.float32) + 0.5) / px_per_unit - HALF_W).astype(np.float32)
    ys = (TOP_Y - (np.arange(n, dtype=np.float32) + 0.5) / px_per_unit).astype(np.float32)
    frame = _Frame(np.full((n, n), -np.inf, np.float32), np.full((n, n), -1, np.int16),
                   np.zeros((n, n, 3), np.float32), np.zeros((n, n, 3), np.float32))
    head_rot = rotation_matrix(pitch_deg, yaw_deg, roll_deg)
    blobs = BODY_BLOBS + HEAD_BLOBS
    _cast(frame, xs, ys, BODY_BLOBS, 0, np.eye(3))
    _cast(frame, xs, ys, HEAD_BLOBS, len(BODY_BLOBS), head_rot)

    _smooth_skin_normals(frame, blobs, head_rot)
    hit = frame.blob >= 0
    colours = np.stack([b.colour for b in blobs] + [np.zeros(3, np.float32)])
    base = colours[frame.blob]  # index -1 picks the trailing zero colour

    # Face texture, projected from the front onto the skull; culled where the skull turns
    # away (local normal z small), which hides far-side features under yaw.
    face_ids = [i for i, b in enumerate(blobs) if b.name in FACE_BLOBS]
    on_face = np.isin(frame.blob, face_ids)
    if on_face.any():
        r0, r1 = np.nonzero(on_face.any(1))[0][[0, -1]]
        c0, c1 = np.nonzero(on_face.any(0))[0][[0, -1]]
        sl = (slice(r0, r1 + 1), slice(c0, c1 + 1))
        # Gaze: rotate the irises back towards the viewer (cancel part of the head turn).
        gaze = (-0.2 * math.sin(math.radians(yaw_deg)),
                -0.2 * math.sin(math.radians(pitch_deg)))
        tex = paint_face(face, gaze, px_per_unit)
        local = frame.local[sl]
        map_x = ((local[..., 0] + TEX_HALF_U) * tex.ppu - 0.5).astype(np.float32)
        map_y = ((TEX_HALF_V - local[..., 1]) * tex.ppu - 0.5).astype(np.float32)
        tex_rgba = np.dstack([tex.rgb, tex.alpha])
        sampled = cv2.remap(tex_rgba, map_x, map_y, cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        normal_local = frame.normal[sl] @ head_rot.astype(np.float32)  # world -> local
        facing = _smoothstep(0.05, 0.3, normal_local[..., 2])
        keep = (facing * on_face[sl])[..., None]
        base[sl] = base[sl] * (1.0 - sampled[..., 3:4] * keep) + sampled[..., :3] * keep

    # Cel shading: a soft two-tone band from the light direction, plus a gentle gradient.
    ndl = frame.normal @ LIGHT_DIR
    lit = _smoothstep(-0.05, 0.2, ndl)[..., None]
    shade = (0.94 + 0.08 * ndl)[..., None]
    rgb = base * (SHADOW_TINT * (1.0 - lit) + lit) * shade
    # A hair sheen: a lighter band where the hair faces the light squarely.
    hair_ids = [i for i, b in enumerate(blobs) if b.colour is HAIR]
    sheen = 0.7 * _smoothstep(0.9, 0.98, ndl) * np.isin(frame.blob, hair_ids)
    rgb = rgb * (1.0 - sheen[..., None]) + HAIR_SHINE * sheen[..., None]

    # Outlines between line groups and against the background (drawn on both sides, so the
    # silhouette line also widens the opaque area a little: a sticker look).
    groups = np.array([b.line_group for b in blobs] + [-1], np.int16)[frame.blob]
    scale = supersample * size_px / 512.0
    silhouette = cv2.dilate(_edges(hit).astype(np.uint8), _disc(1.5 * scale)) > 0
    inner = _edges(groups) & hit
    inner = cv2.dilate(inner.astype(np.uint8), _disc(1.1 * scale)) > 0
    line = silhouette | inner
    rgb[line] = LINE
    alpha = (hit | line).astype(np.float32)

    # Average down with premultiplied alpha (no dark fringes on the edges).
    premul = np.dstack([rgb * alpha[..., None], alpha])
    small = cv2.resize(premul, (size_px, size_px), interpolation=cv2.INTER_AREA)
    a_small = small[..., 3:4]
    rgb_small = np.where(a_small > 1e-4, small[..., :3] / np.maximum(a_small, 1e-4), 0.0)
    out = np.dstack([rgb_small, a_small])
    return np.round(np.clip(out, 0.0, 1.0) * 255.0).astype(np.uint8)


def draw_head(pitch_deg: float, yaw_deg: float, roll_deg: float, mouth: MouthShape, eyes: str,
              brows: str, size_px: int = 512) -> np.ndarray:
    """uint8[size_px, size_px, 4] RGBA toon head at the given pose and expression.

    Angles in degrees (ARCHITECTURE.md conventions); ``eyes`` one of neutral / wide / squint /
    blink_closed, ``brows`` one of neutral / raise / furrow. Pure and deterministic.
    """
    return render(pitch_deg, yaw_deg, roll_deg, face_from_names(mouth, eyes, brows), size_px)


# --- the rig folder -----------------------------------------------------------------------

#: PNG encoding: a 256-entry palette with per-entry alpha keeps a 512 px image near 17 kB
#: instead of ~50 kB as full RGBA. Opaque pixels get a median-cut palette, mapped without
#: dithering (dither noise doubled the file size; the remaining banding is faint); partly
#: transparent pixels, which in the toon are only the anti-aliased rim of the outline, get LINE
#: at ALPHA_LEVELS alpha steps (255 / (ALPHA_LEVELS + 1) apart).
OPAQUE_COLOURS = 239
ALPHA_LEVELS = 16
PNG_COMPRESS_LEVEL = 9


def encode_png(rgba: np.ndarray) -> bytes:
    """PNG bytes of a toon picture, uint8[H, W, 4] RGBA; deterministic for equal input.

    Lossy in colour (OPAQUE_COLOURS opaque colours) and, for partly transparent
    pixels, in the colour too (they become LINE); fully transparent stays transparent.
    """
    rgba = np.ascontiguousarray(rgba)
    alpha = rgba[..., 3]
    opaque = alpha == 255
    n_opaque = OPAQUE_COLOURS
    transparent = n_opaque + ALPHA_LEVELS  # palette index of the fully transparent entry
    rgb = rgba[..., :3].copy()
    line = np.round(LINE * 255).astype(np.uint8)
    rgb[~opaque] = line  # the palette should not spend entries on hidden colours
    rgb_img = Image.fromarray(rgb, "RGB")
    pal_img = rgb_img.quantize(n_opaque, method=Image.Quantize.MEDIANCUT,
                               dither=Image.Dither.NONE)
    idx = np.asarray(rgb_img.quantize(palette=pal_img, dither=Image.Dither.NONE))
    index = np.full(alpha.shape, transparent, np.uint8)
    index[opaque] = idx[opaque]
    partial = (alpha > 0) & ~opaque
    level = np.clip(np.round(alpha[partial] / 255.0 * (ALPHA_LEVELS + 1)) - 1, 0,
                    ALPHA_LEVELS - 1)
    index[partial] = (n_opaque + level).astype(np.uint8)

    palette = np.zeros((transparent + 1, 3), np.uint8)
    used = np.asarray(pal_img.getpalette()[: 3 * n_opaque], np.uint8).reshape(-1, 3)
    palette[: len(used)] = used
    palette[n_opaque:transparent] = line
    trns = np.full(transparent + 1, 255, np.uint8)
    steps = np.arange(1, ALPHA_LEVELS + 1) / (ALPHA_LEVELS + 1)
    trns[n_opaque:transparent] = np.round(steps * 255).astype(np.uint8)
    trns[transparent] = 0
    out = Image.fromarray(index, "P")
    out.putpalette(palette.tobytes())
    buf = io.BytesIO()
    out.save(buf, "PNG", compress_level=PNG_COMPRESS_LEVEL, optimize=False,
             transparency=trns.tobytes())
    return buf.getvalue()


@dataclass(frozen=True)
class _Job:
    """One image to draw: where it goes and what it shows."""

    relpath: str
    angles_deg: tuple[float, float, float]  # pitch, yaw, roll
    face: Face
    size_px: int


def _render_job(job: _Job) -> bytes:
    return encode_png(render(*job.angles_deg, job.face, job.size_px))


def load_toon_config(path: str | Path = CONFIG_PATH) -> dict:
    """The raw rig config dict (default: the one shipped with this module)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def plan_rig(config: RigConfig, size_px: int, depth: int
             ) -> tuple[list[_Job], list[tuple[str, dict]]]:
    """(images to draw, manifests to write as (relpath, dict)) for a whole rig folder.

    Endpoints for every expression x pose; for every base path x pose, the tweens at
    midpoint_ts(depth), drawn from the interpolated face parameters of the two ends.
    """
    faces = {eid: face_from_names(config.mouth_shape(eid), e.eyes, e.brows)
             for eid, e in config.expressions.items()}
    angles = {p: tuple(float(a) for a in config.pose_angles[p]) for p in config.poses}
    jobs = [_Job(endpoint_relpath(eid, pose), angles[pose], faces[eid], size_px)
            for eid in config.expressions for pose in config.poses]
    manifests = []
    for bp in config.base_paths:
        for pose in config.poses:
            folder = f"{SEQUENCES_DIR}/{sequence_dirname(bp.id, pose)}"
            ts = midpoint_ts(depth)
            for t in ts:
                face = lerp_face(faces[bp.start], faces[bp.end], t)
                jobs.append(_Job(f"{folder}/{tween_filename(t)}", angles[pose], face, size_px))
            if ts:
                manifests.append((f"{folder}/{MANIFEST_NAME}",
                                  sequence_manifest(bp.id, bp.start, bp.end, pose, ts)))
    return jobs, manifests


def build_toon_rig(outdir: str | Path, *, size_px: int = 512, depth: int = 2,
                   overwrite: bool = False, progress: bool = True,
                   config: dict | None = None, workers: int | None = None) -> int:
    """Draw the toon rig folder into ``outdir``; returns the number of images written.

    ``config`` is a raw rig config dict (default: toon_expressions.json next to this module),
    e.g. a subset of its poses. Tween sequences hold 2**depth - 1 frames each (endpoint copies
    are not written: the loader adds them). ``workers`` processes draw in parallel (default:
    up to 2); the output is byte-identical whatever the count. Refuses a folder that already
    holds a rig unless ``overwrite``.
    """
    from tqdm import tqdm  # only the builder needs it

    outdir = Path(outdir)
    if config is None:
        config_text = CONFIG_PATH.read_text(encoding="utf-8")
        raw = json.loads(config_text)
    else:
        raw = config
        config_text = json.dumps(raw, indent=2) + "\n"
    parsed = RigConfig.from_dict(raw, str(CONFIG_PATH) if config is None else "config")
    if (outdir / CONFIG_NAME).exists() and not overwrite:
        raise OutputError(f"{outdir}: already holds a rig ({CONFIG_NAME}); "
                          f"pass --overwrite to redraw it")
    jobs, manifests = plan_rig(parsed, size_px, depth)
    for folder in sorted({str(Path(j.relpath).parent) for j in jobs}):
        (outdir / folder).mkdir(parents=True, exist_ok=True)

    n_workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    show = progress and sys.stderr.isatty()
    bar = tqdm(total=len(jobs), desc="toon rig", unit="img", disable=not show)
    written = 0
    pool = ProcessPoolExecutor(n_workers) if n_workers > 1 else None
    try:
        results = pool.map(_render_job, jobs, chunksize=1) if pool else map(_render_job, jobs)
        for job, png in zip(jobs, results, strict=True):
            with atomic_output(outdir / job.relpath) as tmp:
                tmp.write_bytes(png)
            written += 1
            bar.update(1)
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    write_rig_metadata(outdir, manifests, config_text)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m animator.authoring.toon OUTDIR``: draw the built-in toon rig."""
    ap = argparse.ArgumentParser(prog="python -m animator.authoring.toon",
                                 description="Draw the built-in procedural toon rig folder.")
    ap.add_argument("outdir", help="rig folder to write")
    ap.add_argument("--size", type=int, default=512, help="image size in pixels (square)")
    ap.add_argument("--depth", type=int, default=2,
                    help="tween subdivision depth: 2**depth - 1 tweens per path and pose")
    ap.add_argument("--overwrite", action="store_true", help="redraw an existing rig folder")
    ap.add_argument("--workers", type=int, default=None, help="drawing processes (default 2)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    try:
        n = build_toon_rig(args.outdir, size_px=args.size, depth=args.depth,
                           overwrite=args.overwrite, progress=not args.no_progress,
                           workers=args.workers)
    except (OutputError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {n} images to {args.outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
