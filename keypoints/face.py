"""Faces in images: mediapipe FaceMesh landmarks, head pose, and lip keypoints.

``FaceTracker`` wraps mediapipe FaceMesh (refine_landmarks: 478 points, bundled in the
wheel, nothing downloaded) as a context manager; ``process`` returns a ``FaceObservation``.

Head pose: the observed 3D landmarks (x, y in pixels, mediapipe's z in pixels) are aligned to
a symmetric reference face (``face_reference.json``, see ``keypoints/face_reference.py``) by a
least-squares similarity transform (Umeyama) over the landmarks that expressions do not move
(forehead, temples, nose, cheekbones: no lips, jaw, eyelids or brows), and the rotation is
read as (pitch, yaw, roll) in the project's convention (ARCHITECTURE.md, "Angles").

World axes here: x to the viewer's right, y up, z towards the viewer (a face looking at the
camera faces +z, its own left is +x). Image pixels have y down and mediapipe's z grows away
from the camera, so a landmark (x_px, y_px, z_px) is the world point (x_px, -y_px, -z_px).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

import numpy as np

from animator.core.geometry import angles_from_matrix
from keypoints.lips import LipFrame
from keypoints.native_log import native_notices_filtered

N_LANDMARKS = 478
#: Landmark indices (mediapipe FaceMesh topology).
UPPER_LIP_INNER = 13
LOWER_LIP_INNER = 14
MOUTH_CORNER_RIGHT = 61  # the character's right corner (the viewer's left)
MOUTH_CORNER_LEFT = 291  # the character's left corner
EYE_OUTER_RIGHT = 33
EYE_OUTER_LEFT = 263
FOREHEAD = 10
CHIN = 152
NOSE_TIP = 1
#: Eyes: (outer corner, inner corner, three (upper lid, lower lid) pairs), the character's
#: left eye first. Used for the eye aspect ratio (lid gap over eye width).
EYE_LEFT = (263, 362, ((387, 373), (386, 374), (385, 380)))
EYE_RIGHT = (33, 133, ((160, 144), (159, 145), (158, 153)))
#: Mouth width at rest (corner to corner, lips closed) in outer eye-corner distances: the
#: median over 18 real people (GRID and news clips, webcam clips from package test data:
#: 0.44-0.60, so each face is calibrated further downstream). The reference face's own
#: ratio (0.71, a smiling portrait) read every closed mouth as 0.73 wide.
REST_MOUTH_WIDTH_EYES = 0.52
#: Inner-lip contour from the right inner corner (78) to the left one (308).
INNER_LIP_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
INNER_LIP_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
#: Outer-lip contour, same order (61 to 291).
OUTER_LIP_UPPER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
OUTER_LIP_LOWER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)

#: Lip keypoint names of ``lip_frame`` and their landmarks. The first four are the contract's.
LIP_KEYPOINTS: tuple[tuple[str, int], ...] = (
    ("upper_lip", UPPER_LIP_INNER),
    ("lower_lip", LOWER_LIP_INNER),
    ("left_corner", MOUTH_CORNER_LEFT),
    ("right_corner", MOUTH_CORNER_RIGHT),
    ("upper_lip_outer", 0),
    ("lower_lip_outer", 17),
    ("upper_lip_left", 311),
    ("upper_lip_right", 81),
    ("lower_lip_left", 402),
    ("lower_lip_right", 178),
)

_LIP_NAMES = tuple(n for n, _ in LIP_KEYPOINTS)
_LIP_ROWS = [i for _, i in LIP_KEYPOINTS]

REFERENCE_PATH = Path(__file__).with_name("face_reference.json")
#: World <- mediapipe pixel axes (y and z flip).
_FLIP = np.array([1.0, -1.0, -1.0])
#: per eye (left, right): outer and inner corner, then the upper and the lower lid rows of
#: its lid pairs (one fancy index each instead of a Python loop over the pairs)
_EYE_ROWS = tuple((outer, inner, [a for a, _ in pairs], [b for _, b in pairs])
                  for outer, inner, pairs in (EYE_LEFT, EYE_RIGHT))


class FaceReferenceError(Exception):
    """The reference face file is missing or malformed (a broken installation)."""


# --- rotations ----------------------------------------------------------------------------

def similarity_fit(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None
                   ) -> tuple[float, np.ndarray, np.ndarray]:
    """(scale, rot float64[3, 3], shift float64[3]) minimising the weighted squared error of
    ``scale * rot @ src_i + shift - dst_i`` (Umeyama); src, dst float[N, 3]."""
    return _fit_onto(_SourceStats.of(src, weights), dst)


@dataclass(frozen=True)
class _SourceStats:
    """What :func:`similarity_fit` computes from ``src`` alone: normalised weights w[N], the
    weighted mean mu[3], the centred points centred[N, 3] and their weighted variance (kept
    for the reference face, which is the source of every head fit)."""

    w: np.ndarray
    mu: np.ndarray
    centred: np.ndarray
    var: float

    @classmethod
    def of(cls, src: np.ndarray, weights: np.ndarray | None = None) -> _SourceStats:
        w = np.ones(len(src)) if weights is None else np.asarray(weights, np.float64)
        w = w / w.sum()
        mu = w @ src
        centred = src - mu
        return cls(w, mu, centred, float(w @ (centred ** 2).sum(1)))


def _det3(m: np.ndarray) -> float:
    """Determinant of a 3 x 3 matrix in plain floats (for its sign: ~20x cheaper than
    ``np.linalg.det``'s LU, and exact in sign for the orthogonal matrices of an SVD)."""
    (a, b, c), (d, e, f), (g, h, i) = m.tolist()
    return a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)


def _fit_onto(s: _SourceStats, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    mu_d = s.w @ dst
    b = dst - mu_d
    cov = (b * s.w[:, None]).T @ s.centred
    u, sig, vt = np.linalg.svd(cov)
    if _det3(u) * _det3(vt) < 0:  # a reflection: flip the weakest axis (Umeyama)
        fix = np.diag([1.0, 1.0, -1.0])
        rot = u @ fix @ vt
        scale = float((sig * np.diag(fix)).sum() / s.var)
    else:  # u @ identity @ vt, sig * (1, 1, 1): the same numbers without the products
        rot = u @ vt
        scale = float(sig.sum() / s.var)
    return scale, rot, mu_d - scale * rot @ s.mu


# --- the reference face -------------------------------------------------------------------

@dataclass(frozen=True)
class FaceReference:
    """A symmetric frontal face: ``points`` float64[478, 3] in world axes (x to the face's
    own left, y up, z towards the viewer), unit = distance of the outer eye corners;
    ``rigid`` int[M]: the landmarks used for head pose; ``mouth_width``: corner distance of
    the reference in its units (a smiling portrait: not a mouth at rest)."""

    points: np.ndarray
    rigid: np.ndarray
    mouth_width: float


@cache
def load_reference(path: Path = REFERENCE_PATH) -> FaceReference:
    """The shipped reference face (cached)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        points = np.asarray(raw["points"], np.float64)
        rigid = np.asarray(raw["rigid"], np.int64)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FaceReferenceError(f"{path}: unreadable reference face ({exc})") from None
    if points.shape != (N_LANDMARKS, 3) or rigid.ndim != 1 or len(rigid) < 10:
        raise FaceReferenceError(f"{path}: reference face has the wrong shape")
    width = float(np.linalg.norm(points[MOUTH_CORNER_LEFT] - points[MOUTH_CORNER_RIGHT]))
    return FaceReference(points, rigid, width)


@cache
def _rigid_stats() -> tuple[np.ndarray, _SourceStats]:
    """(rigid landmark indices, source statistics of the reference's rigid points)."""
    ref = load_reference()
    return ref.rigid, _SourceStats.of(ref.points[ref.rigid])


# --- observations -------------------------------------------------------------------------

@dataclass(frozen=True)
class FaceObservation:
    """One face found in one image.

    landmarks_px: float32[478, 3]; x, y in pixels (y down); z in pixels (mediapipe's depth x
    image width, smaller = nearer the camera).
    image_size: (width, height) of the image.
    """

    landmarks_px: np.ndarray
    image_size: tuple[int, int]

    def world_points(self) -> np.ndarray:
        """float64[478, 3] landmarks in world axes (x right, y up, z to viewer), pixels."""
        return self._world.copy()

    @cached_property
    def _world(self) -> np.ndarray:
        """:meth:`world_points`, made once for the head fit, the lips and the eyes (read
        only here: a live tick reads all three from one observation)."""
        return self.landmarks_px.astype(np.float64) * _FLIP

    @cached_property
    def _fit(self) -> tuple[float, np.ndarray, np.ndarray]:
        idx, stats = _rigid_stats()
        return _fit_onto(stats, self._world[idx])

    def head_fit(self) -> tuple[float, np.ndarray, np.ndarray]:
        """(scale px per reference unit, rot float64[3, 3], shift float64[3]): the reference
        face placed on this one in world axes (see ``similarity_fit``); computed once."""
        return self._fit

    def measure(self) -> None:
        """Compute the head pose, the eye openness and the lip keypoints now (each is
        computed once, later calls copy it): the camera thread calls this right after
        tracking, while it is awake, so that the live loop's tick only reads them."""
        for name in ("_angles", "_eyes", "_lips"):
            getattr(self, name)

    def head_pose_deg(self) -> np.ndarray:
        """float64[3] (pitch, yaw, roll) in degrees with the contract's signs."""
        return self._angles.copy()

    @cached_property
    def _angles(self) -> np.ndarray:
        return angles_from_matrix(self.head_fit()[1])

    def lip_frame(self, t_s: float) -> LipFrame:
        """Lip keypoints (see ``LIP_KEYPOINTS``) in the face-normalised frame of the lip
        contract: origin at the mouth centre (midpoint of the corners), head rotation removed,
        x to the face's own left, y up, unit = the mouth width at rest, taken as the eye-corner
        distance times ``REST_MOUTH_WIDTH_EYES`` (so a wide smile reads wide). That is a
        population figure: one face's own rest is learned downstream
        (animator.stages.mouth_rest)."""
        return LipFrame(float(t_s), self._lips.copy(), _LIP_NAMES)

    @cached_property
    def _lips(self) -> np.ndarray:
        scale, rot, _ = self.head_fit()
        world = self._world
        centre = 0.5 * (world[MOUTH_CORNER_LEFT] + world[MOUTH_CORNER_RIGHT])
        local = (world[_LIP_ROWS] - centre) @ rot / (scale * REST_MOUTH_WIDTH_EYES)
        return local.astype(np.float32)

    def mouth_open(self) -> float:
        """Inner-lip gap in mouth widths at rest (the ``open`` feature of animator.stages.mouth)."""
        frame = self.lip_frame(0.0)
        return max(0.0, float(frame.point("upper_lip")[1] - frame.point("lower_lip")[1]))

    def eye_openness(self) -> np.ndarray:
        """float64[2] eye aspect ratios (the character's left eye, then right): the mean
        upper-to-lower lid distance over the corner-to-corner width, head rotation removed
        (about 0.2-0.35 open, near 0 closed; FaceMesh may put the lids slightly past each
        other on a closed eye, so it can be a little negative)."""
        return self._eyes.copy()

    @cached_property
    def _eyes(self) -> np.ndarray:
        _, rot, _ = self.head_fit()
        world = self._world
        out = np.empty(2)
        for k, (outer, inner, upper, lower) in enumerate(_EYE_ROWS):
            gap = world[outer] - world[inner]
            width = math.sqrt(gap.dot(gap))  # np.linalg.norm of a vector, without its checks
            up = (world[upper] - world[lower]) @ rot[:, 1]  # lid pairs: upper minus lower
            out[k] = float(up.mean()) / width if width > 0 else np.nan
        return out


# --- the tracker --------------------------------------------------------------------------

def landmark_array(landmarks) -> np.ndarray:
    """float32[N, 3] (x, y, z) of a mediapipe ``NormalizedLandmarkList`` message (read from
    its wire bytes, see ``keypoints.face_graph.landmark_rows``)."""
    from keypoints.face_graph import landmark_rows

    return landmark_rows(landmarks.SerializeToString())


class FaceTracker:
    """mediapipe FaceMesh over RGB frames; use as a context manager (always closes).

    static_image_mode: True for unrelated still images, False for video (tracks between
    frames: faster). The graph runs in the thread that calls ``process`` (see
    ``keypoints.face_graph``: the same landmarks as the stock solution, no thread pool).
    Not thread-safe: one tracker per thread.
    """

    def __init__(self, static_image_mode: bool = False, min_detection_confidence: float = 0.5):
        from keypoints.face_graph import CallerThreadFaceMesh  # heavy: mediapipe

        # mediapipe's native notices would clutter a terminal whose errors are one line each.
        self._quiet = native_notices_filtered()
        self._quiet.__enter__()
        try:
            self._mesh = CallerThreadFaceMesh(
                static_image_mode=static_image_mode, max_num_faces=1, refine_landmarks=True,
                min_detection_confidence=min_detection_confidence)
        except BaseException:
            self._quiet.__exit__(None, None, None)
            raise

    def process(self, rgb: np.ndarray) -> FaceObservation | None:
        """The face in ``rgb`` (uint8[H, W, 3]), or None when there is none."""
        if self._mesh is None:
            raise RuntimeError("FaceTracker is closed")
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected uint8[H, W, 3] RGB, got {rgb.dtype}{list(rgb.shape)}")
        found = self._mesh.landmarks(np.ascontiguousarray(rgb))
        if found is None:
            return None
        h, w = rgb.shape[:2]
        pts = found * np.float32(w)
        pts[:, 1] *= np.float32(h / w)
        return FaceObservation(pts, (w, h))

    def close(self) -> None:
        if self._mesh is not None:
            self._mesh.close()
            self._mesh = None
            self._quiet.__exit__(None, None, None)

    def __enter__(self) -> FaceTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
