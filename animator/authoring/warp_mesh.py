"""Piecewise-affine image warping over a triangle mesh (one backward ``cv2.remap``).

A mesh is a set of control points with a fixed triangulation (made once, on the source
positions). To warp, every destination pixel is assigned the triangle that covers it (the
triangles are rasterised in depth order, far first, so a fold shows the nearer surface, as a
turning nose hides the cheek behind it) and mapped back into the source image by that
triangle's affine map. Points on the image border are added by ``warp_image`` and never move,
so the background at the edges stays put and nothing tears.

Units: pixels, x to the right, y down (image coordinates).
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import distance_transform_edt
from scipy.spatial import Delaunay

_SHIFT_BITS = 4  # sub-pixel precision of the triangle rasteriser
#: Triangles smaller than this (px^2) in the destination are not rasterised (collapsed
#: regions: a closed eye, closed lips); their neighbours cover the pixels.
_MIN_AREA_PX2 = 0.05
#: ... nor those squeezed below this share of their source area (the white of an eye that
#: closes would otherwise show as a dotted seam of slivers between the lids).
_MIN_AREA_SHARE = 0.08


def border_points(width_px: int, height_px: int, n_per_side: int = 8) -> np.ndarray:
    """float64[4 n, 2]: fixed anchors evenly spaced on the centres of the outermost pixels
    (corners included), so that the mesh covers the whole image."""
    x1, y1 = width_px - 1.0, height_px - 1.0
    xs, ys = np.linspace(0.0, x1, n_per_side + 1), np.linspace(0.0, y1, n_per_side + 1)
    top = np.stack([xs[:-1], np.zeros(n_per_side)], 1)
    right = np.stack([np.full(n_per_side, x1), ys[:-1]], 1)
    bottom = np.stack([xs[:0:-1], np.full(n_per_side, y1)], 1)
    left = np.stack([np.zeros(n_per_side), ys[:0:-1]], 1)
    return np.concatenate([top, right, bottom, left])


def triangulate(points_px: np.ndarray) -> np.ndarray:
    """int32[T, 3]: Delaunay triangles of float[N, 2] points (duplicates get no triangle)."""
    return Delaunay(np.asarray(points_px, np.float64)).simplices.astype(np.int32)


def _affines_dst_to_src(src: np.ndarray, dst: np.ndarray, tris: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray]:
    """(float64[T, 2, 3] affine maps taking destination to source pixels, float64[T] signed
    destination areas)."""
    d = dst[tris]  # T, 3, 2
    s = src[tris]
    e1, e2 = d[:, 1] - d[:, 0], d[:, 2] - d[:, 0]
    area = 0.5 * (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    homog = np.concatenate([d, np.ones((len(tris), 3, 1))], 2)  # T, 3, 3 rows [x y 1]
    ok = np.abs(area) > 1e-9
    inv = np.zeros_like(homog)
    inv[ok] = np.linalg.inv(homog[ok])
    # src = homog @ A^T  =>  A^T = inv(homog) @ src
    aff = np.transpose(inv @ s, (0, 2, 1))
    return aff, area


def warp_maps(src_px: np.ndarray, dst_px: np.ndarray, tris: np.ndarray, size: tuple[int, int],
              depth: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(map_x, map_y) float32[H, W] for ``cv2.remap``: where each destination pixel samples
    the source. src_px, dst_px: float[N, 2]; tris: int[T, 3] (covering the image in the
    destination); size (width, height); depth: optional float[N], larger = nearer the viewer
    (nearer triangles win where the destination mesh folds)."""
    width, height = size
    src = np.asarray(src_px, np.float64)
    dst = np.asarray(dst_px, np.float64)
    aff, area = _affines_dst_to_src(src, dst, tris)
    order = np.arange(len(tris))
    if depth is not None:
        order = np.argsort(np.asarray(depth, np.float64)[tris].mean(1), kind="stable")
    ids = np.full((height, width), -1, np.int32)
    corners = np.round(dst * (1 << _SHIFT_BITS)).astype(np.int32)
    p = src[tris]
    src_area = 0.5 * np.abs((p[:, 1, 0] - p[:, 0, 0]) * (p[:, 2, 1] - p[:, 0, 1])
                            - (p[:, 1, 1] - p[:, 0, 1]) * (p[:, 2, 0] - p[:, 0, 0]))
    skip = (np.abs(area) < _MIN_AREA_PX2) | (np.abs(area) < _MIN_AREA_SHARE * src_area)
    for t in order:
        if skip[t]:
            continue
        cv2.fillConvexPoly(ids, corners[tris[t]], int(t), cv2.LINE_8, _SHIFT_BITS)
    missing = ids < 0
    if missing.any():  # rasteriser slivers: take the nearest covered pixel's triangle
        _, (iy, ix) = distance_transform_edt(missing, return_indices=True)
        ids = ids[iy, ix]
    a = aff[ids]  # H, W, 2, 3
    xs = np.arange(width, dtype=np.float64)[None, :]
    ys = np.arange(height, dtype=np.float64)[:, None]
    map_x = a[..., 0, 0] * xs + a[..., 0, 1] * ys + a[..., 0, 2]
    map_y = a[..., 1, 0] * xs + a[..., 1, 1] * ys + a[..., 1, 2]
    # The outermost pixels are the anchors' lines: they stay exactly where they are (the
    # rasteriser leaves some of them to a neighbouring triangle's extrapolation).
    edge = np.zeros((height, width), bool)
    edge[[0, -1], :] = True
    edge[:, [0, -1]] = True
    map_x[edge] = np.broadcast_to(xs, map_x.shape)[edge]
    map_y[edge] = np.broadcast_to(ys, map_y.shape)[edge]
    return map_x.astype(np.float32), map_y.astype(np.float32)


def warp_with_mesh(image: np.ndarray, src_px: np.ndarray, dst_px: np.ndarray, tris: np.ndarray,
                   depth: np.ndarray | None = None) -> np.ndarray:
    """``image`` (uint8[H, W, C]) warped so that src_px[i] lands on dst_px[i]; the mesh must
    cover the image (include ``border_points``)."""
    h, w = image.shape[:2]
    map_x, map_y = warp_maps(src_px, dst_px, tris, (w, h), depth)
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def warp_image(image: np.ndarray, src_pts_px: np.ndarray, dst_pts_px: np.ndarray,
               depth: np.ndarray | None = None) -> np.ndarray:
    """``image`` (uint8[H, W, C]) warped piecewise-affinely so that each src_pts_px[i]
    (float[N, 2], pixels) lands on dst_pts_px[i], with fixed anchors on the image border.

    The triangulation is Delaunay on the source points (plus the anchors); points outside the
    image are dropped. ``depth`` (float[N], larger = nearer) orders overlapping triangles.
    """
    h, w = image.shape[:2]
    src = np.asarray(src_pts_px, np.float64).reshape(-1, 2)
    dst = np.asarray(dst_pts_px, np.float64).reshape(-1, 2)
    if src.shape != dst.shape:
        raise ValueError(f"src and dst points differ in shape: {src.shape} vs {dst.shape}")
    inside = ((src[:, 0] > 0) & (src[:, 0] < w - 1) & (src[:, 1] > 0) & (src[:, 1] < h - 1))
    anchors = border_points(w, h)
    src_all = np.concatenate([src[inside], anchors])
    dst_all = np.concatenate([dst[inside], anchors])
    z = None
    if depth is not None:
        d = np.asarray(depth, np.float64)[inside]
        z = np.concatenate([d, np.full(len(anchors), d.min() - 1.0 if len(d) else 0.0)])
    return warp_with_mesh(image, src_all, dst_all, triangulate(src_all), z)
