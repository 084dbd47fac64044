"""Rendering the toon: rays cast per pixel through the rotated head's ellipsoids, cel shading, the
face texture, supersampled edges."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from animator.authoring.face_params import (
    Face,
    face_from_names,
)
from animator.authoring.toon.shapes import (
    BODY_BLOBS,
    FACE_BLOBS,
    HAIR,
    HAIR_SHINE,
    HALF_W,
    HEAD_BLOBS,
    LIGHT_DIR,
    LINE,
    PIVOT,
    SHADOW_TINT,
    TOP_Y,
    Blob,
)
from animator.authoring.toon.texture import TEX_HALF_U, TEX_HALF_V, paint_face
from animator.core.geometry import rotation_matrix, smoothstep
from animator.rig import (
    MouthShape,
)

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
        facing = smoothstep(0.05, 0.3, normal_local[..., 2])
        keep = (facing * on_face[sl])[..., None]
        base[sl] = base[sl] * (1.0 - sampled[..., 3:4] * keep) + sampled[..., :3] * keep

    # Cel shading: a soft two-tone band from the light direction, plus a gentle gradient.
    ndl = frame.normal @ LIGHT_DIR
    lit = smoothstep(-0.05, 0.2, ndl)[..., None]
    shade = (0.94 + 0.08 * ndl)[..., None]
    rgb = base * (SHADOW_TINT * (1.0 - lit) + lit) * shade
    # A hair sheen: a lighter band where the hair faces the light squarely.
    hair_ids = [i for i, b in enumerate(blobs) if b.colour is HAIR]
    sheen = 0.7 * smoothstep(0.9, 0.98, ndl) * np.isin(frame.blob, hair_ids)
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
