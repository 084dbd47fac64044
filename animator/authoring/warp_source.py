"""A portrait measured once for the warp backend, and one image drawn from it.

:func:`measure_source` takes a portrait and FaceMesh's reading of it to everything a warp
needs (the face layout, a triangulation over it and the image border, the face's colours, its
own expression and pose); :func:`draw` renders that portrait with a face (expression
parameters) at head angles: landmarks edited and rotated (``warp_face``), the warp checked
(``warp_guard``), one piecewise-affine remap (``warp_mesh``), the mouth and closed eyes
repainted (``warp_mouth``, ``warp_eyes``). Pure apart from cv2's remap: the same source, face
and angles give the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from animator.authoring.face_params import Face, face_from_names
from animator.authoring.warp_eyes import paint_closed_eyes
from animator.authoring.warp_face import (
    FACE_OVAL,
    FaceLayout,
    edit_points,
    face_layout,
    rest_gap_px,
    rotate_points,
)
from animator.authoring.warp_guard import check_warp, measure_warp
from animator.authoring.warp_mesh import border_points, triangulate, warp_maps
from animator.authoring.warp_mouth import FaceColours, face_colours, paint_mouth
from animator.rig import MouthShape, RigConfig
from keypoints.face import INNER_LIP_LOWER, INNER_LIP_UPPER, FaceObservation

#: The inner lips are held at least this far apart (mouth widths) when triangulating, so
#: closed lips still get triangles that can open.
TOPOLOGY_GAP = 0.12
#: Gains of 1 (float64[axis (pitch, yaw), side (negative, positive)]): angles that are
#: already what is rendered.
UNIT_GAINS = np.ones((2, 2))


@dataclass
class Source:
    """A portrait and everything measured on it once."""

    image: np.ndarray  # uint8[H, W, 4]
    layout: FaceLayout
    topo: np.ndarray  # float64[M + B, 2]: where the triangulation was made
    tris: np.ndarray  # int32[T, 3] over layout points + border anchors
    anchors: np.ndarray  # float64[B, 2] border anchors
    colours: FaceColours  # lips, teeth, tongue, cavity, lashes of this face
    rest: Face  # the portrait's own expression parameters
    pose_deg: np.ndarray  # float64[3] measured head pose of the portrait
    face_area_px2: float
    gains: np.ndarray | None = None  # float64[2, 2], see warp_calibration.rotation_gains


def as_rgba(image: np.ndarray) -> np.ndarray:
    """uint8[H, W, 4] (opaque alpha added to RGB); ValueError for any other array."""
    if image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype != np.uint8:
        raise ValueError(f"expected uint8[H, W, 3|4], got {image.dtype}{list(image.shape)}")
    if image.shape[2] == 4:
        return np.ascontiguousarray(image)
    return np.dstack([image, np.full(image.shape[:2], 255, np.uint8)])


def polygon_area(poly: np.ndarray) -> float:
    """Area (square pixels) of the polygon float[N, 2] (shoelace formula)."""
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def face_of(config: RigConfig, expr_id: str) -> Face:
    """The face parameters of the rig expression ``expr_id``."""
    expr = config.expressions[expr_id]
    return face_from_names(config.mouth_shape(expr_id), expr.eyes, expr.brows)


def measure_source(image: np.ndarray, obs: FaceObservation) -> Source:
    """The portrait uint8[H, W, 4] with FaceMesh's observation of it, measured."""
    h, w = image.shape[:2]
    layout = face_layout(obs.landmarks_px, (w, h))
    anchors = border_points(w, h)
    topo = layout.points[:, :2].copy()
    # Hold the inner lips apart for the triangulation only (connectivity, not positions).
    up = np.array([layout.mouth_axis[1], -layout.mouth_axis[0]])
    lack = max(0.0, TOPOLOGY_GAP * layout.mouth_width_px - rest_gap_px(layout))
    for ids, sign in ((INNER_LIP_UPPER[1:-1], 0.5), (INNER_LIP_LOWER[1:-1], -0.5)):
        n = len(ids)
        profile = np.sin(np.linspace(0.0, np.pi, n + 2)[1:-1])
        topo[list(ids)] += sign * lack * profile[:, None] * up
    topo_all = np.concatenate([topo, anchors])
    tris = triangulate(topo_all)
    rest = Face(MouthShape(rest_gap_px(layout) / layout.mouth_width_px, 1.0, 0.0))
    colours = face_colours(image, layout.points[:478, :2])
    area = polygon_area(layout.points[list(FACE_OVAL), :2])
    return Source(image, layout, topo_all, tris, anchors, colours, rest,
                  obs.head_pose_deg(), area)


def draw(src: Source, face: Face, angles_deg, gains: np.ndarray, what: str,
         with_maps: bool = False):
    """uint8[H, W, 4] image of ``face`` at ``angles_deg`` (pitch, yaw, roll; each of pitch
    and yaw scaled by its gain for the side it turns to), and the warp's float32 maps when
    ``with_maps``; raises WarpGuardError naming ``what`` for a warp out of bounds."""
    import cv2

    layout = src.layout
    pts = edit_points(layout, face)
    pitch, yaw, roll = (float(a) for a in angles_deg)
    pitch *= gains[0, int(pitch > 0)]
    yaw *= gains[1, int(yaw > 0)]
    dst, depth = rotate_points(layout, pts, pitch, yaw, roll)
    src_all = np.concatenate([layout.points[:, :2], src.anchors])
    dst_all = np.concatenate([dst, src.anchors])
    check_warp(measure_warp(src.topo, src_all, dst_all, src.tris, 478,
                            layout.face_height_px, src.face_area_px2), what)
    z = np.concatenate([depth, np.full(len(src.anchors), depth.min() - 1.0)])
    h, w = src.image.shape[:2]
    maps = warp_maps(src_all, dst_all, src.tris, (w, h), z)
    out = cv2.remap(src.image, *maps, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    out = paint_mouth(out, src.image, layout.points[:478, :2], dst[:478], src.colours)
    out = paint_closed_eyes(out, dst[:478], face.eye_open, src.colours)
    return (out, maps) if with_maps else out
