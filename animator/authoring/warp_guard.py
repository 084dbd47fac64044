"""Bounds every mesh warp must keep, so that a warp that goes wrong fails with a reason
instead of producing garbage (a smear from the top of the image to the bottom, a face turned
inside out).

Two measures of a warp from control points ``ref`` (the positions the triangulation was made
on) to ``dst`` (where they go), pure numeric, pixels:

- displacement: how far any control point moves, in face heights. Expressions and the small
  head turns of a rig move points by a fraction of a face height (measured on the shared
  portraits: at most ~0.25); a bad landmark fit or a gain gone wrong moves them by many.
- folds: triangles whose orientation flips between ``ref`` and ``dst``. A turning nose hides
  a little of the cheek behind it and the far cheek turns behind the face's silhouette
  (occlusion, drawn in depth order): on the shared portraits up to 15 % of the face's area
  folds for a head already turned 34 degrees and asked to turn and nod further, a few % for a
  frontal one. Only triangles touching the face may fold, and only that much; elsewhere
  (hair, background, the image border) nothing may.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Largest control-point displacement, in face heights (forehead to chin).
MAX_SHIFT_FACE_HEIGHTS = 0.6
#: Largest folded (flipped) destination area on the face, as a fraction of the face's area.
MAX_FACE_FOLD_FRACTION = 0.25
#: Largest folded area off the face, as a fraction of the face's area (rounding slivers).
MAX_OUTER_FOLD_FRACTION = 0.02


class WarpGuardError(Exception):
    """A warp that breaks the bounds above; the message says which and by how much."""


@dataclass(frozen=True)
class WarpMeasure:
    """What ``measure_warp`` found: largest displacement (face heights), folded area on and
    off the face (fractions of the face's area)."""

    max_shift_face_heights: float
    face_fold_fraction: float
    outer_fold_fraction: float


def signed_areas(points_px: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """float64[T]: signed area of each triangle (px^2; the sign gives the orientation)."""
    p = np.asarray(points_px, np.float64)[tris]
    e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    return 0.5 * (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])


def measure_warp(ref_px: np.ndarray, src_px: np.ndarray, dst_px: np.ndarray,
                 tris: np.ndarray, n_face: int, face_height_px: float,
                 face_area_px2: float) -> WarpMeasure:
    """Measure a warp of control points from src_px to dst_px (float[N, 2]; the first
    ``n_face`` are the face's landmarks); tris int[T, 3] were made on ref_px (the source
    positions, or a variant of them with the same orientation: closed lips held apart)."""
    ref = np.asarray(ref_px, np.float64)
    dst = np.asarray(dst_px, np.float64)
    src = np.asarray(src_px, np.float64)
    shift = float(np.max(np.linalg.norm(dst - src, axis=1))) if len(src) else 0.0
    a_ref, a_dst = signed_areas(ref, tris), signed_areas(dst, tris)
    flipped = (np.sign(a_ref) * a_dst) < 0
    on_face = np.any(tris < n_face, axis=1)  # touching the face: its silhouette may fold
    folded = np.abs(a_dst) * flipped
    area = max(face_area_px2, 1.0)
    return WarpMeasure(shift / max(face_height_px, 1.0), float(folded[on_face].sum()) / area,
                       float(folded[~on_face].sum()) / area)


def check_warp(measure: WarpMeasure, what: str = "warp") -> None:
    """Raise WarpGuardError naming ``what`` when ``measure`` breaks a bound."""
    if not np.isfinite(measure.max_shift_face_heights):
        raise WarpGuardError(f"{what}: non-finite control points")
    if measure.max_shift_face_heights > MAX_SHIFT_FACE_HEIGHTS:
        raise WarpGuardError(f"{what}: a point moves {measure.max_shift_face_heights:.2f} face "
                             f"heights (at most {MAX_SHIFT_FACE_HEIGHTS} allowed)")
    if measure.face_fold_fraction > MAX_FACE_FOLD_FRACTION:
        raise WarpGuardError(f"{what}: {100 * measure.face_fold_fraction:.1f} % of the face "
                             f"folds over (at most {100 * MAX_FACE_FOLD_FRACTION:g} % allowed)")
    if measure.outer_fold_fraction > MAX_OUTER_FOLD_FRACTION:
        raise WarpGuardError(f"{what}: the mesh folds off the face "
                             f"({100 * measure.outer_fold_fraction:.2f} % of the face's area)")
