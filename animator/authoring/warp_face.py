"""Moving FaceMesh landmarks: expression edits, the rings around the face, head rotation.

Pure numeric: everything works on float64[N, 3] point sets in image pixels (x right, y down,
z = mediapipe depth in pixels, larger = farther from the viewer). ``FaceLayout`` holds what
is measured once on the portrait (mouth frame, eye lines, face size, the rings of extra points
around the face oval); ``edit_points`` moves points as an expression says (mouth opening and
width from ``MouthShape``, eyelids, brows); ``rotate_points`` turns them about a neck pivot
and projects orthographically. Expression edits come first, rotation second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from animator.authoring.face_params import Face
from animator.authoring.warp_guard import WarpGuardError
from animator.core.geometry import rotation_matrix, smoothstep
from keypoints.face import (
    CHIN,
    FOREHEAD,
    INNER_LIP_LOWER,
    INNER_LIP_UPPER,
    LOWER_LIP_INNER,
    MOUTH_CORNER_LEFT,
    MOUTH_CORNER_RIGHT,
    UPPER_LIP_INNER,
)

#: FaceMesh face-oval landmarks in order around the face.
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378,
             400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54,
             103, 67, 109)
#: Eyes: (corner a, corner b, lid landmarks, iris landmarks), the character's right then left.
EYES = (
    (33, 133, (7, 163, 144, 145, 153, 154, 155, 246, 161, 160, 159, 158, 157, 173),
     (468, 469, 470, 471, 472)),
    (362, 263, (382, 381, 380, 374, 373, 390, 249, 398, 384, 385, 386, 387, 388, 466),
     (473, 474, 475, 476, 477)),
)
#: Brows, inner end first (character's right, left).
BROWS = ((55, 65, 52, 53, 46, 107, 66, 105, 63, 70), (285, 295, 282, 283, 276, 336, 296, 334,
                                                       293, 300))
#: The opening field moves the inner-lip midpoints apart by ~1 px per px of requested gap;
#: a smaller gain means the lips are not where the field expects them (see _opening_field).
MIN_OPENING_GAIN = 0.5

#: Rings of extra points around the face oval: (scale about the oval centre, how much of the
#: head motion they follow). Hair and the near background move with the head, the far
#: background barely; the image border (added by the mesh) never moves.
RINGS: tuple[tuple[float, float], ...] = ((1.18, 1.0), (1.45, 0.8), (1.85, 0.4), (2.5, 0.12))


@dataclass(frozen=True)
class FaceLayout:
    """What the edits need to know about one portrait's face, measured on its landmarks.

    points: float64[M, 3] the control points (478 landmarks, then the ring points);
    follow: float64[M] how much of the head rotation each point takes (1 on the face);
    mouth_centre_px, mouth_axis (unit float[2] towards the character's left, image axes);
    mouth_width_px: corner distance at rest (the unit of MouthShape);
    face_width_px, face_height_px; pivot_px: float[3] rotation centre in the neck.
    """

    points: np.ndarray
    follow: np.ndarray
    mouth_centre_px: np.ndarray
    mouth_axis: np.ndarray
    mouth_width_px: float
    face_width_px: float
    face_height_px: float
    pivot_px: np.ndarray


def face_layout(landmarks_px: np.ndarray, size: tuple[int, int]) -> FaceLayout:
    """Layout of a face from its FaceMesh landmarks (float[478, 3] pixels) in an image of
    ``size`` (width, height): adds the rings and picks the neck pivot."""
    lm = np.asarray(landmarks_px, np.float64)
    oval = lm[list(FACE_OVAL)]
    centre = oval[:, :2].mean(0)
    face_w = float(np.ptp(oval[:, 0]))
    face_h = float(np.linalg.norm(lm[FOREHEAD, :2] - lm[CHIN, :2]))
    rings, follow = [], []
    for scale, weight in RINGS:
        ring = oval.copy()
        ring[:, :2] = centre + (oval[:, :2] - centre) * scale
        ring[:, 2] = oval[:, 2] + (scale - 1.0) * 0.3 * face_w  # further back as it widens
        rings.append(ring)
        # Below the chin the rings are the neck and collar: they stay with the body.
        below = smoothstep(lm[CHIN, 1], lm[CHIN, 1] + 0.35 * face_h, ring[:, 1])
        follow.append(weight * (1.0 - 0.85 * below))
    points = np.concatenate([lm, *rings])
    # Flatten the depth relief towards the face edge: FaceMesh's depth falls steeply at the
    # silhouette, and a steep depth slope folds the mesh under yaw (a jagged cheek edge).
    half = np.array([0.5 * face_w, 0.5 * np.ptp(oval[:, 1])])
    r = np.sqrt((((points[:, :2] - centre) / half) ** 2).sum(1))
    edge_z = float(oval[:, 2].mean())
    points[:, 2] = np.where(np.arange(len(points)) < 478,
                            edge_z + (points[:, 2] - edge_z) * (1.0 - smoothstep(0.5, 1.0, r)),
                            points[:, 2])
    w, h = size
    inside = ((points[:, 0] > 1) & (points[:, 0] < w - 2) & (points[:, 1] > 1)
              & (points[:, 1] < h - 2))
    inside[:478] = True
    keep = np.nonzero(inside)[0]
    follow_all = np.concatenate([np.ones(478), *follow])
    corner_r, corner_l = lm[MOUTH_CORNER_RIGHT, :2], lm[MOUTH_CORNER_LEFT, :2]
    axis = (corner_l - corner_r) / np.linalg.norm(corner_l - corner_r)
    pivot = np.array([centre[0], lm[CHIN, 1] + 0.3 * face_h,
                      float(oval[:, 2].mean()) + 0.45 * face_w])
    return FaceLayout(points[keep], follow_all[keep], 0.5 * (corner_l + corner_r), axis,
                      float(np.linalg.norm(corner_l - corner_r)), face_w, face_h, pivot)


# --- the mouth ----------------------------------------------------------------------------

def _mouth_coords(layout: FaceLayout, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                   np.ndarray, np.ndarray]:
    """(u, v_gap, v_corner, up): point coordinates in half mouth widths: u along the mouth
    (to the character's left), v_gap up from the middle of the inner-lip gap, v_corner up
    from the corner line; ``up`` the unit image vector pointing up the face."""
    lm = layout.points
    axis = layout.mouth_axis
    up = np.array([axis[1], -axis[0]])
    half = 0.5 * layout.mouth_width_px
    gap_mid = 0.5 * (lm[UPPER_LIP_INNER, :2] + lm[LOWER_LIP_INNER, :2])
    rel = pts[:, :2] - layout.mouth_centre_px
    u = rel @ axis / half
    v_corner = rel @ up / half
    v_gap = (pts[:, :2] - gap_mid) @ up / half
    return u, v_gap, v_corner, up


def _opening_field(layout: FaceLayout, pts: np.ndarray, roundness: float,
                   side: np.ndarray | None = None) -> np.ndarray:
    """float64[N]: downward displacement (pixels along -up) per pixel of extra gap, before
    the gain that makes the inner-lip gap exact. Upper lip rises a little, the lower lip and
    jaw drop; the corners stay; the neck below the chin stays.

    side: int[N], +1 for points that belong to the upper lip, -1 to the lower lip, 0 to be
    placed by position. Touching lips can put the inner upper-lip landmark *below* the lower
    one (FaceMesh does, by a fraction of a pixel): position alone would then move both lips
    together and the gap could never open (``lip_sides``)."""
    lm = layout.points
    u, v, _, up = _mouth_coords(layout, pts)
    if side is not None:
        v = np.where(side > 0, np.maximum(v, 0.0), np.where(side < 0, np.minimum(v, -1e-9), v))
    u_in = 0.5 * (abs(_mouth_coords(layout, lm[[INNER_LIP_UPPER[0]]])[0][0])
                  + abs(_mouth_coords(layout, lm[[INNER_LIP_UPPER[-1]]])[0][0]))
    expo = 1.2 - 0.6 * roundness  # a U-shaped opening; rounder lips open rounder
    lip = np.clip(1.0 - (u / max(u_in, 0.3)) ** 2, 0.0, 1.0) ** expo
    jaw = np.exp(-(u / 2.2) ** 2)
    v_chin = _mouth_coords(layout, lm[[CHIN]])[1][0]
    neck = smoothstep(v_chin - 1.0, v_chin, v)  # 1 down to the chin, 0 a half-width below
    s = smoothstep(0.0, 0.6, -v)
    upper = -0.2 * lip * np.exp(-(np.maximum(v, 0.0) / 0.7) ** 2)
    lower = 0.8 * (lip * (1.0 - s) + jaw * s) * neck
    return np.where(v >= 0.0, upper, lower)


def _mouth_displacement(layout: FaceLayout, pts: np.ndarray, shape_open: float,
                        shape_wide: float, shape_round: float, rest_gap_px: float) -> np.ndarray:
    """float64[N, 2] image displacement that gives the mouth the target inner-lip gap
    (shape_open mouth widths), corner distance (shape_wide) and corner lift."""
    lm = layout.points
    u, _, vc, up = _mouth_coords(layout, pts)
    width = layout.mouth_width_px
    half = 0.5 * width
    # Opening: scaled so that the inner-lip midpoints end exactly shape_open apart.
    field = _opening_field(layout, pts, shape_round, lip_sides(len(pts)))
    mid = _opening_field(layout, lm[[UPPER_LIP_INNER, LOWER_LIP_INNER]], shape_round,
                         np.array([1, -1]))
    per_px = mid[1] - mid[0]  # ~1 by construction of the field (0.8 down + 0.2 up)
    if not per_px > MIN_OPENING_GAIN:
        raise WarpGuardError(f"the mouth cannot be opened: the lip geometry gives a gain of "
                             f"{per_px:.3g} (at least {MIN_OPENING_GAIN} expected)")
    extra = shape_open * width - rest_gap_px
    disp = -np.outer(field * extra / per_px, up)
    # Width: stretch along the mouth, corners move by (wide - 1) half widths.
    lateral = np.exp(-(np.maximum(np.abs(u) - 1.0, 0.0) / 0.9) ** 2) * np.exp(-(vc / 0.9) ** 2)
    disp += np.outer((shape_wide - 1.0) * half * np.clip(u, -1.0, 1.0) * lateral,
                     layout.mouth_axis)
    # Corner lift: wider = smile (corners up), narrower and closed unrounded = frown.
    closed = float(np.clip(1.0 - shape_open / 0.25, 0.0, 1.0))
    if shape_wide >= 1.0:
        lift = 0.9 * (shape_wide - 1.0) * (1.0 - shape_round)
    else:
        lift = 3.0 * (shape_wide - 1.0) * max(0.0, 1.0 - shape_round / 0.15) * closed
    corner = (np.minimum(u * u, 1.0) * np.exp(-(np.maximum(np.abs(u) - 1.0, 0.0) / 0.8) ** 2)
              * np.exp(-(vc / 0.7) ** 2))
    disp += np.outer(lift * width * corner, up)
    # Rounded lips (a pucker) pull the corners level with the gap: no smile left in 'uw'.
    corner_v = np.mean(_mouth_coords(layout, lm[[MOUTH_CORNER_LEFT, MOUTH_CORNER_RIGHT]])[1])
    disp -= np.outer(0.8 * shape_round * corner_v * half * corner, up)
    return disp


def lip_sides(n_points: int) -> np.ndarray:
    """int8[n_points]: +1 on the inner upper-lip landmarks, -1 on the inner lower-lip ones
    (corners excluded), 0 elsewhere: which side of the mouth gap a lip point belongs to,
    by identity rather than position (see ``_opening_field``)."""
    side = np.zeros(n_points, np.int8)
    side[list(INNER_LIP_UPPER[1:-1])] = 1
    side[list(INNER_LIP_LOWER[1:-1])] = -1
    return side


def rest_gap_px(layout: FaceLayout) -> float:
    """Inner-lip gap of the portrait in pixels (along the face's up direction)."""
    lm = layout.points
    up = np.array([layout.mouth_axis[1], -layout.mouth_axis[0]])
    return max(0.0, float((lm[UPPER_LIP_INNER, :2] - lm[LOWER_LIP_INNER, :2]) @ up))


# --- eyes and brows -----------------------------------------------------------------------

def _eye_displacement(layout: FaceLayout, pts: np.ndarray, eye_open: float) -> np.ndarray:
    """float64[N, 2]: eyelids moved to ``eye_open`` times their rest aperture (0 = closed,
    lids meeting low; > 1 wider); skin above and below follows with a falloff."""
    lm = layout.points
    disp = np.zeros((len(pts), 2))
    closure = 1.0 - eye_open
    if abs(closure) < 1e-6:
        return disp
    for a, b, lids, _ in EYES:
        pa, pb = lm[a, :2], lm[b, :2]
        axis = pb - pa
        length = float(np.linalg.norm(axis))
        axis = axis / length
        up = np.array([axis[1], -axis[0]])
        if up[1] > 0:
            up = -up
        lid_t = (lm[list(lids), :2] - pa) @ axis / length
        lid_h = (lm[list(lids), :2] - pa) @ up
        upper = lid_h > 0
        order_u, order_l = np.argsort(lid_t[upper]), np.argsort(lid_t[~upper])
        tu = np.concatenate([[0.0], lid_t[upper][order_u], [1.0]])
        hu = np.concatenate([[0.0], lid_h[upper][order_u], [0.0]])
        tl = np.concatenate([[0.0], lid_t[~upper][order_l], [1.0]])
        hl = np.concatenate([[0.0], lid_h[~upper][order_l], [0.0]])
        t = (pts[:, :2] - pa) @ axis / length
        h = (pts[:, :2] - pa) @ up
        tc = np.clip(t, 0.0, 1.0)
        h_up, h_lo = np.interp(tc, tu, hu), np.interp(tc, tl, hl)
        new_up = (1.0 - closure) * h_up + closure * 0.6 * h_lo
        new_lo = (1.0 - 0.4 * closure) * h_lo
        span = np.maximum(h_up - h_lo, 1e-6)
        frac = np.clip((h - h_lo) / span, 0.0, 1.0)
        inside = h_lo + frac * span
        inside_new = new_lo + frac * (new_up - new_lo)
        reach = 0.35 * length
        fall = np.where(h > h_up, np.exp(-((h - h_up) / reach) ** 2),
                        np.where(h < h_lo, np.exp(-((h_lo - h) / reach) ** 2), 1.0))
        lateral = np.exp(-(np.maximum(np.abs(t - 0.5) - 0.5, 0.0) / 0.2) ** 2)
        dh = np.where(h > h_up, new_up - h_up,
                      np.where(h < h_lo, new_lo - h_lo, inside_new - inside))
        disp += np.outer(dh * fall * lateral, up)
    return disp


def _brow_displacement(layout: FaceLayout, pts: np.ndarray, brow_raise: float,
                       brow_furrow: float) -> np.ndarray:
    """float64[N, 2]: brows raised (up by a third of an eye width) and/or furrowed (inner
    ends down and towards the nose); the forehead follows, the eyelids stay."""
    lm = layout.points
    disp = np.zeros((len(pts), 2))
    if abs(brow_raise) < 1e-6 and abs(brow_furrow) < 1e-6:
        return disp
    eye_w = float(np.mean([np.linalg.norm(lm[a, :2] - lm[b, :2]) for a, b, _, _ in EYES]))
    axis = layout.mouth_axis
    up = np.array([axis[1], -axis[0]])
    centre_x = 0.5 * (lm[EYES[0][1], :2] + lm[EYES[1][0], :2])
    handles, moves = [], []
    for brow in BROWS:
        bp = lm[list(brow), :2]
        inner_dist = np.linalg.norm(bp - centre_x, axis=1)
        inner = 1.0 - (inner_dist - inner_dist.min()) / max(np.ptp(inner_dist), 1e-6)
        towards = centre_x - bp
        towards /= np.maximum(np.linalg.norm(towards, axis=1, keepdims=True), 1e-6)
        move = (brow_raise * 0.32 * eye_w * (0.8 + 0.2 * inner))[:, None] * up
        move += (brow_furrow * eye_w * inner)[:, None] * (-0.18 * up + 0.12 * towards)
        handles.append(bp)
        moves.append(move)
    hp, mv = np.concatenate(handles), np.concatenate(moves)
    sigma = 0.55 * eye_w
    d2 = ((pts[:, None, :2] - hp[None]) ** 2).sum(-1)
    w = np.exp(-d2 / sigma ** 2)
    disp = (w @ mv) / np.maximum(w.sum(1, keepdims=True), 1.0)
    # The eyelids and eyes do not move with the brows.
    for _, _, lids, iris in EYES:
        for i in (*lids, *iris):
            if i < len(pts):
                disp[i] = 0.0
    return disp


def edit_points(layout: FaceLayout, face: Face) -> np.ndarray:
    """float64[M, 3]: the layout's control points with the expression ``face`` applied
    (mouth to face.mouth's absolute opening and width, eyes, brows); z unchanged."""
    pts = layout.points.copy()
    m = face.mouth
    disp = _mouth_displacement(layout, pts, m.open, m.wide, m.round, rest_gap_px(layout))
    disp += _eye_displacement(layout, pts, face.eye_open)
    disp += _brow_displacement(layout, pts, face.brow_raise, face.brow_furrow)
    pts[:, :2] += disp
    return pts


def rotate_points(layout: FaceLayout, pts: np.ndarray, pitch_deg: float, yaw_deg: float,
                  roll_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """(float64[M, 2] image positions, float64[M] depth towards the viewer): ``pts``
    (float[M, 3], image pixels + mediapipe z) turned about the neck pivot, each point by
    its ``follow`` share of the rotation, projected orthographically."""
    world = pts * np.array([1.0, -1.0, -1.0])
    pivot = layout.pivot_px * np.array([1.0, -1.0, -1.0])
    rot = rotation_matrix(pitch_deg, yaw_deg, roll_deg)
    turned = (world - pivot) @ rot.T + pivot
    f = layout.follow[:, None]
    moved = world + f * (turned - world)
    return moved[:, :2] * np.array([1.0, -1.0]), moved[:, 2]


def inner_lip_polygon(points_2d: np.ndarray) -> np.ndarray:
    """float64[20, 2]: the inner-lip outline (upper lip left to right, lower back)."""
    return np.concatenate([points_2d[list(INNER_LIP_UPPER)],
                           points_2d[list(INNER_LIP_LOWER[-2:0:-1])]])
