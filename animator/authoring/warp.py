"""The offline ``warp`` rig backend: one portrait, FaceMesh, a mesh warp per image.

FaceMesh gives the portrait's 3D landmarks. An image of the rig is the portrait with its
landmarks moved (``warp_face``: expression edits first, then the head rotation about a neck
pivot, rings of points carrying hair and background along with a falloff) and rendered by one
piecewise-affine warp (``warp_mesh``), the opened mouth repainted (``warp_mouth``).

Every image this backend returns is remembered by a digest of its pixels together with what
it shows (source portrait, face parameters, angles); when such an image comes back as the
input of another step (an expression turned to a pose, the two ends of a tween), the new image
is rendered from the original portrait in one warp, so edits never stack up blur. Unknown
inputs become new sources (their expression is taken as they are).

Yaw and pitch are calibrated per portrait: a 2D warp of FaceMesh's shallow depth under-turns
the face, so the backend renders +-CALIBRATION_DEG, measures the result with FaceMesh and
scales the rotation it renders until the measurement matches (two rounds).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

import numpy as np

from animator.authoring.backend import TweenJob
from animator.authoring.face_params import Face, face_from_names, lerp_face
from animator.authoring.warp_face import (
    FaceLayout,
    edit_points,
    face_layout,
    rest_gap_px,
    rotate_points,
)
from animator.authoring.warp_mesh import border_points, triangulate, warp_image, warp_with_mesh
from animator.authoring.warp_mouth import lip_colour, paint_mouth
from animator.core.errors import AnimatorError
from animator.rig import Expression, MouthShape, RigConfig
from keypoints.face import INNER_LIP_LOWER, INNER_LIP_UPPER, FaceObservation, FaceTracker

__all__ = ["WarpBackend", "WarpError", "warp_image"]

#: Angle (degrees) rendered on both sides to calibrate yaw and pitch.
CALIBRATION_DEG = 10.0
#: Allowed range of the calibrated rotation gains.
GAIN_RANGE = (0.6, 3.0)
#: The inner lips are held at least this far apart (mouth widths) when triangulating, so
#: closed lips still get triangles that can open.
_TOPOLOGY_GAP = 0.12


class WarpError(AnimatorError):
    """A portrait the warp backend cannot use (no face found); names the problem."""


@dataclass
class _Source:
    """A portrait and everything measured on it once."""

    image: np.ndarray  # uint8[H, W, 4]
    layout: FaceLayout
    tris: np.ndarray  # int32[T, 3] over layout points + border anchors
    anchors: np.ndarray  # float64[B, 2] border anchors
    lips: np.ndarray  # float32[4] lip colour
    rest: Face  # the portrait's own expression parameters
    pose_deg: np.ndarray  # float64[3] measured head pose of the portrait
    gains: np.ndarray | None = None  # float64[2, 2], see WarpBackend._gains


@dataclass(frozen=True)
class _State:
    """What a rendered image shows."""

    source: int
    face: Face
    angles_deg: tuple[float, float, float]


def _digest(image: np.ndarray) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    h.update(str(image.shape).encode())
    h.update(np.ascontiguousarray(image).tobytes())
    return h.digest()


def _as_rgba(image: np.ndarray) -> np.ndarray:
    if image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype != np.uint8:
        raise ValueError(f"expected uint8[H, W, 3|4], got {image.dtype}{list(image.shape)}")
    if image.shape[2] == 4:
        return np.ascontiguousarray(image)
    return np.dstack([image, np.full(image.shape[:2], 255, np.uint8)])


class WarpBackend:
    """RigBackend that makes every rig image by warping one portrait (see module docstring).

    ``calibrate``: measure and correct the yaw/pitch gain per portrait (needs FaceMesh on
    the results; off gives gain 1). Thread-safe: FaceMesh runs under a lock.
    """

    name = "warp"
    thread_safe = True

    def __init__(self, calibrate: bool = True) -> None:
        self.calibrate = calibrate
        self._lock = threading.RLock()
        self._tracker: FaceTracker | None = None
        self._sources: list[_Source] = []
        self._states: dict[bytes, _State] = {}

    # --- FaceMesh ---------------------------------------------------------------------

    def observe(self, image: np.ndarray) -> FaceObservation | None:
        """FaceMesh on an RGB(A) image (alpha ignored), or None without a face."""
        with self._lock:
            if self._tracker is None:
                self._tracker = FaceTracker(static_image_mode=True)
            return self._tracker.process(np.ascontiguousarray(image[..., :3]))

    def close(self) -> None:
        with self._lock:
            if self._tracker is not None:
                self._tracker.close()
                self._tracker = None

    # --- sources and states -----------------------------------------------------------

    def _add_source(self, image: np.ndarray) -> _State:
        obs = self.observe(image)
        if obs is None:
            raise WarpError("warp backend: no face found in the input image")
        h, w = image.shape[:2]
        layout = face_layout(obs.landmarks_px, (w, h))
        anchors = border_points(w, h)
        topo = layout.points[:, :2].copy()
        # Hold the inner lips apart for the triangulation only (connectivity, not positions).
        up = np.array([layout.mouth_axis[1], -layout.mouth_axis[0]])
        lack = max(0.0, _TOPOLOGY_GAP * layout.mouth_width_px - rest_gap_px(layout))
        for ids, sign in ((INNER_LIP_UPPER[1:-1], 0.5), (INNER_LIP_LOWER[1:-1], -0.5)):
            n = len(ids)
            profile = np.sin(np.linspace(0.0, np.pi, n + 2)[1:-1])
            topo[list(ids)] += sign * lack * profile[:, None] * up
        tris = triangulate(np.concatenate([topo, anchors]))
        rest = Face(MouthShape(rest_gap_px(layout) / layout.mouth_width_px, 1.0, 0.0))
        lips = lip_colour(image, layout.points[:478, :2])
        src = _Source(image, layout, tris, anchors, lips, rest, obs.head_pose_deg())
        with self._lock:
            self._sources.append(src)
            state = _State(len(self._sources) - 1, rest, (0.0, 0.0, 0.0))
            self._states[_digest(image)] = state
        return state

    def source_state(self, image: np.ndarray) -> _State:
        """What ``image`` shows: a remembered render, or a new source (as it is)."""
        image = _as_rgba(image)
        with self._lock:
            state = self._states.get(_digest(image))
        return state if state is not None else self._add_source(image)

    def source_pose_deg(self, image: np.ndarray) -> np.ndarray:
        """float64[3] FaceMesh head pose of the source portrait behind ``image``."""
        return self._sources[self.source_state(image).source].pose_deg

    # --- rendering --------------------------------------------------------------------

    def _gains(self, src_id: int) -> np.ndarray:
        """float64[2, 2]: rotation gains [axis (pitch, yaw), side (negative, positive)]."""
        src = self._sources[src_id]
        if src.gains is not None:
            return src.gains
        gains = np.ones((2, 2))
        if self.calibrate:
            base = src.pose_deg
            for _ in range(2):
                new = gains.copy()
                for axis in (0, 1):
                    for side, sign in ((0, -1.0), (1, 1.0)):
                        angles = [0.0, 0.0, 0.0]
                        angles[axis] = sign * CALIBRATION_DEG
                        obs = self.observe(self._draw(src, src.rest, angles, gains))
                        if obs is None:
                            continue
                        read = sign * (obs.head_pose_deg()[axis] - base[axis])
                        if read > 0.1 * CALIBRATION_DEG:
                            new[axis, side] = np.clip(gains[axis, side] * CALIBRATION_DEG
                                                      / read, *GAIN_RANGE)
                gains = new
        src.gains = gains
        return gains

    def _draw(self, src: _Source, face: Face, angles_deg, gains: np.ndarray) -> np.ndarray:
        layout = src.layout
        pts = edit_points(layout, face)
        pitch, yaw, roll = (float(a) for a in angles_deg)
        pitch *= gains[0, int(pitch > 0)]
        yaw *= gains[1, int(yaw > 0)]
        dst, depth = rotate_points(layout, pts, pitch, yaw, roll)
        src_all = np.concatenate([layout.points[:, :2], src.anchors])
        dst_all = np.concatenate([dst, src.anchors])
        z = np.concatenate([depth, np.full(len(src.anchors), depth.min() - 1.0)])
        out = warp_with_mesh(src.image, src_all, dst_all, src.tris, z)
        return paint_mouth(out, src.image, layout.points[:478, :2], dst[:478], src.lips)

    def render(self, state: _State) -> np.ndarray:
        """uint8[H, W, 4]: the image of ``state``, remembered for later steps."""
        src = self._sources[state.source]
        out = self._draw(src, state.face, state.angles_deg, self._gains(state.source))
        with self._lock:
            self._states.setdefault(_digest(out), state)
        return out

    # --- RigBackend -------------------------------------------------------------------

    def expression(self, base: np.ndarray, expr: Expression, pose: str,
                   config: RigConfig) -> np.ndarray:
        """``expr`` on ``base``'s face at ``base``'s angles; mouth to the config's shape."""
        state = self.source_state(base)
        face = face_from_names(config.mouth_shape(expr.id), expr.eyes, expr.brows)
        return self.render(_State(state.source, face, state.angles_deg))

    def pose(self, source: np.ndarray, expr: Expression, source_pose: str, target_pose: str,
             config: RigConfig) -> np.ndarray:
        """``source`` turned by the difference of the two poses' angles."""
        state = self.source_state(source)
        delta = config.pose_angles[target_pose] - config.pose_angles[source_pose]
        angles = tuple(float(a + d) for a, d in zip(state.angles_deg, delta, strict=True))
        return self.render(_State(state.source, state.face, angles))

    def tween(self, job: TweenJob, config: RigConfig) -> np.ndarray:
        """The frame at ``job.t``: rendered from the interpolated face parameters and angles
        when both neighbours are this backend's renders of one portrait; otherwise the
        neighbours' landmarks are interpolated, both warped onto them and cross-dissolved."""
        (t_a, img_a), (t_b, img_b) = job.left, job.right
        s = (job.t - t_a) / max(t_b - t_a, 1e-9)
        with self._lock:
            sa = self._states.get(_digest(_as_rgba(img_a)))
            sb = self._states.get(_digest(_as_rgba(img_b)))
        if sa is not None and sb is not None and sa.source == sb.source:
            angles = tuple(float((1 - s) * a + s * b)
                           for a, b in zip(sa.angles_deg, sb.angles_deg, strict=True))
            return self.render(_State(sa.source, lerp_face(sa.face, sb.face, s), angles))
        return self._dissolve(_as_rgba(img_a), _as_rgba(img_b), s)

    def _dissolve(self, img_a: np.ndarray, img_b: np.ndarray, s: float) -> np.ndarray:
        obs_a, obs_b = self.observe(img_a), self.observe(img_b)
        if obs_a is None or obs_b is None or img_a.shape != img_b.shape:
            mix = (1.0 - s) * img_a.astype(np.float32) + s * img_b.astype(np.float32)
            return np.clip(mix + 0.5, 0, 255).astype(np.uint8)
        pa, pb = obs_a.landmarks_px[:, :2], obs_b.landmarks_px[:, :2]
        mid = (1.0 - s) * pa + s * pb
        wa = warp_image(img_a, pa, mid).astype(np.float32)
        wb = warp_image(img_b, pb, mid).astype(np.float32)
        return np.clip((1.0 - s) * wa + s * wb + 0.5, 0, 255).astype(np.uint8)
