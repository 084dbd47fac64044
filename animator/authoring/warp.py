"""The offline ``warp`` rig backend: one portrait, FaceMesh, a mesh warp per image.

FaceMesh gives the portrait's 3D landmarks. An image of the rig is the portrait with its
landmarks moved (``warp_face``: expression edits first, then the head rotation about a neck
pivot, rings of points carrying hair and background along with a falloff) and rendered by one
piecewise-affine warp (``warp_mesh``), the opened mouth repainted (``warp_mouth``), closed
eyes given their lash line (``warp_eyes``). Every warp
is bounded (``warp_guard``): one that would move points by more than a fraction of the face or
fold the mesh fails with the reason instead of producing garbage.

A whole-rig build (``prepare``) checks that the portrait shows a human face, crops it to head
and shoulders at the rig's size, and from then on renders every image from that portrait and
what the image shows (its expression, pose, tween position), never from other rig images:
an image is the same whether it is made in a fresh build or in a resumed one, and tweens
between poses are real intermediate rotations, not dissolves.

Without ``prepare`` (the seed-style stage commands on images made elsewhere), every image this
backend returns is remembered by a digest of its pixels together with what it shows; when such
an image comes back as the input of another step, the new image is rendered from the original
portrait in one warp, so edits never stack up blur. Unknown inputs become new sources (their
expression is taken as they are).

Yaw and pitch are calibrated per portrait: a 2D warp of FaceMesh's shallow depth under-turns
the face, so the backend renders +-CALIBRATION_DEG, measures the result with FaceMesh and
scales the rotation it renders until the measurement matches (two rounds).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from animator.authoring.backend import TweenJob
from animator.authoring.face_params import Face, face_from_names, lerp_face
from animator.authoring.head_layer import HeadLayer, head_layer_at, portrait_matte
from animator.authoring.imagefile import ImageFileError, read_image
from animator.authoring.portrait import PortraitError, find_human_face, prepare_portrait
from animator.authoring.warp_eyes import paint_closed_eyes
from animator.authoring.warp_face import (
    FACE_OVAL,
    FaceLayout,
    edit_points,
    face_layout,
    rest_gap_px,
    rotate_points,
)
from animator.authoring.warp_guard import WarpGuardError, check_warp, measure_warp
from animator.authoring.warp_mesh import border_points, triangulate, warp_image, warp_maps
from animator.authoring.warp_mouth import FaceColours, face_colours, paint_mouth
from animator.core.errors import AnimatorError
from animator.rig import REST_EXPRESSION, Expression, MouthShape, RigConfig
from keypoints.face import INNER_LIP_LOWER, INNER_LIP_UPPER, FaceObservation, FaceTracker

__all__ = ["NoHumanFace", "WarpBackend", "WarpError", "WarpGuardError", "warp_image"]

#: Angle (degrees) rendered on both sides to calibrate yaw and pitch.
CALIBRATION_DEG = 10.0
#: Allowed range of the calibrated rotation gains.
GAIN_RANGE = (0.6, 3.0)
#: The inner lips are held at least this far apart (mouth widths) when triangulating, so
#: closed lips still get triangles that can open.
_TOPOLOGY_GAP = 0.12
#: Default rig image size (pixels, square) of a whole-rig build.
DEFAULT_SIZE_PX = 512
#: Per-pose calibration of a whole-rig build: at most this many corrections, stopping when
#: pitch and yaw read within POSE_TOLERANCE_DEG.
POSE_ROUNDS = 3
POSE_TOLERANCE_DEG = 0.5
#: ... and per expression: corrected (at most EXPR_ROUNDS times) when read further off than
#: EXPR_TOLERANCE_DEG on any axis.
EXPR_ROUNDS = 2
EXPR_TOLERANCE_DEG = 1.5
#: Gains of 1: angles that are already what is rendered.
_UNIT = np.ones((2, 2))


class WarpError(AnimatorError):
    """A portrait the warp backend cannot use (unreadable, no face); names the problem."""


class NoHumanFace(WarpError):
    """A portrait that shows no human face (none at all, or an animal's): a build refuses
    it before writing anything."""


@dataclass
class _Source:
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
    gains: np.ndarray | None = None  # float64[2, 2], see WarpBackend._gains


@dataclass(frozen=True)
class _State:
    """What a rendered image shows."""

    source: int
    face: Face
    angles_deg: tuple[float, float, float]


@dataclass(frozen=True)
class _Prepared:
    """A whole-rig build: its source portrait, config, and the rotation rendered for each
    pose (float64[3] degrees, calibrated: FaceMesh reads the pose's angles off the result)."""

    source: int
    config: RigConfig
    render_deg: dict[str, np.ndarray]
    rest_pose: str


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


def _polygon_area(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def _face_of(config: RigConfig, expr_id: str) -> Face:
    expr = config.expressions[expr_id]
    return face_from_names(config.mouth_shape(expr_id), expr.eyes, expr.brows)


class WarpBackend:
    """RigBackend that makes every rig image by warping one portrait (see module docstring).

    ``calibrate``: measure and correct the yaw/pitch gain per portrait (needs FaceMesh on
    the results; off gives gain 1). ``size_px``/``crop``: the rig image width and whether a
    whole-rig build crops the portrait to head and shoulders. Thread-safe: FaceMesh runs
    under a lock.
    """

    name = "warp"
    thread_safe = True
    #: FaceMesh reads what this backend makes: a build verifies every image.
    verifiable = True
    #: Photos: full colour, lossy WebP (see animator/authoring/imagefile.py).
    image_ext = ".webp"

    def __init__(self, calibrate: bool = True, size_px: int = DEFAULT_SIZE_PX,
                 crop: bool = True) -> None:
        self.calibrate = calibrate
        self.size_px = int(size_px)
        self.crop = crop
        self._lock = threading.RLock()
        self._tracker: FaceTracker | None = None
        self._sources: list[_Source] = []
        self._states: dict[bytes, _State] = {}
        self._prepared: _Prepared | None = None
        self._matte: np.ndarray | None = None
        self._layers: dict[str, HeadLayer] = {}
        self._expr_angles: dict[tuple[str, str], np.ndarray] = {}
        self._expr_refs: dict[str, np.ndarray | None] = {}

    # --- FaceMesh ---------------------------------------------------------------------

    def observe(self, image: np.ndarray) -> FaceObservation | None:
        """FaceMesh on an RGB(A) image (alpha ignored), or None without a face."""
        with self._lock:
            if self._tracker is None:
                self._tracker = FaceTracker(static_image_mode=True)
            return self._tracker.process(np.ascontiguousarray(image[..., :3]))

    def _tracker_now(self) -> FaceTracker:
        with self._lock:
            if self._tracker is None:
                self._tracker = FaceTracker(static_image_mode=True)
            return self._tracker

    def close(self) -> None:
        with self._lock:
            if self._tracker is not None:
                self._tracker.close()
                self._tracker = None

    # --- a whole-rig build ----------------------------------------------------------------

    def prepare(self, portrait: Path | np.ndarray, config: RigConfig, rest_pose: str) -> None:
        """Start a whole-rig build from ``portrait`` (a file or uint8[H, W, 3|4]): check it
        shows a human face, crop and scale it, measure it and calibrate the rotation, so
        that every later image is rendered from it by what it shows. Raises WarpError (one
        line naming the portrait) when it cannot be used."""
        name = str(portrait) if isinstance(portrait, Path) else "portrait"
        try:
            rgba = read_image(portrait) if isinstance(portrait, Path) else _as_rgba(portrait)
            with self._lock:
                image = prepare_portrait(rgba, self.size_px, self.crop, self._tracker_now())
            state = self._add_source(image, human_check=False)
        except ImageFileError as exc:
            msg = str(exc)
            raise WarpError(msg if msg.startswith(name) else f"{name}: {msg}") from None
        except PortraitError as exc:
            raise NoHumanFace(f"{name}: {exc}") from None
        except WarpError as exc:
            raise NoHumanFace(f"{name}: {exc}") from None
        render = self._calibrate_poses(state.source, config, rest_pose)
        self._prepared = _Prepared(state.source, config, render, rest_pose)
        self._matte = None
        self._layers = {}
        self._expr_angles = {}
        self._expr_refs = {}

    def _calibrate_poses(self, src_id: int, config: RigConfig, rest_pose: str
                         ) -> dict[str, np.ndarray]:
        """The rotation to render for each pose of ``config`` so that FaceMesh reads the
        pose's angles (relative to the rest pose) off the neutral face: the per-axis gains
        first, then up to POSE_ROUNDS corrections per pose (a combined turn and nod is
        under-read differently from either alone, and on a face that is already turned a
        nod reads as some roll too)."""
        src = self._sources[src_id]
        gains = self._gains(src_id)
        rest = config.pose_angles[rest_pose]
        wanted = {p: config.pose_angles[p] - rest for p in config.poses}
        render = {}
        for pose, want in wanted.items():
            angles = want.copy()
            angles[0] *= gains[0, int(want[0] > 0)]
            angles[1] *= gains[1, int(want[1] > 0)]
            render[pose] = angles
        if not self.calibrate:
            return render
        neutral = _face_of(config, REST_EXPRESSION)
        ref = self._measure(src, neutral, np.zeros(3))
        if ref is None:
            return render
        for pose, want in wanted.items():
            if np.any(want):
                render[pose] = self._corrected(src, neutral, render[pose], ref, want,
                                               POSE_ROUNDS, POSE_TOLERANCE_DEG)
        return render

    def _measure(self, src: _Source, face: Face, angles: np.ndarray) -> np.ndarray | None:
        """float64[3] head pose FaceMesh reads off ``face`` rendered at ``angles`` (None:
        no face, or the warp is out of bounds)."""
        try:
            obs = self.observe(self._draw(src, face, angles, _UNIT, "calibration"))
        except WarpGuardError:
            return None
        return None if obs is None else obs.head_pose_deg()

    def _corrected(self, src: _Source, face: Face, angles: np.ndarray, ref: np.ndarray,
                   want: np.ndarray, rounds: int, tolerance_deg: float) -> np.ndarray:
        """``angles`` corrected (up to ``rounds`` times) until FaceMesh reads ``want``
        relative to ``ref`` off ``face`` within ``tolerance_deg`` on every axis; of the
        angles tried, those read closest to ``want`` (FaceMesh's own noise is ~1 degree)."""
        limit = GAIN_RANGE[1] * np.abs(want) + 2.0
        best, best_err = angles, np.inf
        for i in range(rounds + 1):
            got = self._measure(src, face, angles)
            if got is None:
                break
            err = (got - ref) - want
            worst = float(np.max(np.abs(err)))
            if worst < best_err:
                best, best_err = angles, worst
            if worst < tolerance_deg or i == rounds:
                break
            angles = np.clip(angles - err, -limit, limit)
        return best

    def _angles_for(self, expr_id: str, pose: str) -> np.ndarray:
        """float64[3]: the rotation to render ``expr_id`` at ``pose`` with: the pose's
        calibrated rotation, corrected for this expression when FaceMesh reads it more than
        EXPR_TOLERANCE_DEG off (an open jaw changes how a turned head reads). Cached;
        deterministic, so every job that needs it gets the same angles."""
        prep = self._prepared
        key = (expr_id, pose)
        with self._lock:
            got = self._expr_angles.get(key)
        if got is not None:
            return got
        angles = prep.render_deg[pose]
        want = prep.config.pose_angles[pose] - prep.config.pose_angles[prep.rest_pose]
        if self.calibrate and np.any(want):
            src = self._sources[prep.source]
            face = _face_of(prep.config, expr_id)
            ref = self._expr_ref(expr_id)
            if ref is not None:
                angles = self._corrected(src, face, angles, ref, want, EXPR_ROUNDS,
                                         EXPR_TOLERANCE_DEG)
        with self._lock:
            self._expr_angles[key] = angles
        return angles

    def _expr_ref(self, expr_id: str) -> np.ndarray | None:
        """The head pose FaceMesh reads off ``expr_id`` at the rest pose (cached)."""
        with self._lock:
            if expr_id in self._expr_refs:
                return self._expr_refs[expr_id]
        prep = self._prepared
        ref = self._measure(self._sources[prep.source], _face_of(prep.config, expr_id),
                            prep.render_deg[prep.rest_pose])
        with self._lock:
            self._expr_refs[expr_id] = ref
        return ref

    @property
    def portrait(self) -> np.ndarray:
        """uint8[H, W, 4]: the prepared portrait of a whole-rig build."""
        if self._prepared is None:
            raise RuntimeError("WarpBackend.prepare was not called")
        return self._sources[self._prepared.source].image

    def _planned(self, face: Face, ends: tuple[tuple[str, str], ...], t: float = 0.0
                 ) -> _State:
        """The state of ``face`` at the rotation of ``ends[0]`` (expression, pose), or a
        fraction ``t`` of the way to that of ``ends[1]`` (rendered with unit gains)."""
        angles = self._angles_for(*ends[0])
        if len(ends) > 1:
            angles = (1.0 - t) * angles + t * self._angles_for(*ends[1])
        return _State(self._prepared.source, face, tuple(float(a) for a in angles))

    def face_image(self, face: Face, expr_id: str, pose: str, what: str) -> np.ndarray:
        """uint8[H, W, 4]: ``face`` rendered at the rotation a whole-rig build uses for
        ``expr_id`` at ``pose`` (the mouth chart's mouths)."""
        if self._prepared is None:
            raise RuntimeError("WarpBackend.prepare was not called")
        return self._render_planned(self._planned(face, ((expr_id, pose),)), what)

    def head_layer(self, pose: str) -> HeadLayer:
        """The head layer of ``pose`` (matte of head, hair and neck; clean plate) for a
        whole-rig build: the portrait's matte carried by the neutral face's warp to the pose,
        and the neutral image at the pose with the head's place filled."""
        prep = self._prepared
        if prep is None:
            raise RuntimeError("WarpBackend.prepare was not called")
        with self._lock:
            if pose in self._layers:
                return self._layers[pose]
            if self._matte is None:
                src = self._sources[prep.source]
                self._matte = portrait_matte(src.image, src.layout)
        src = self._sources[prep.source]
        state = self._planned(_face_of(prep.config, REST_EXPRESSION),
                              ((REST_EXPRESSION, pose),))
        image, maps = self._draw(src, state.face, state.angles_deg, _UNIT,
                                 f"head layer @ {pose}", with_maps=True)
        layer = head_layer_at(image, self._matte, maps, src.layout)
        with self._lock:
            self._layers[pose] = layer
        return layer

    # --- sources and states -----------------------------------------------------------

    def _add_source(self, image: np.ndarray, human_check: bool = True) -> _State:
        image = _as_rgba(image)
        if human_check:
            try:
                with self._lock:
                    obs = find_human_face(np.ascontiguousarray(image[..., :3]),
                                          self._tracker_now())
            except PortraitError as exc:
                raise WarpError(f"warp backend: {exc} in the input image") from None
        else:
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
        topo_all = np.concatenate([topo, anchors])
        tris = triangulate(topo_all)
        rest = Face(MouthShape(rest_gap_px(layout) / layout.mouth_width_px, 1.0, 0.0))
        colours = face_colours(image, layout.points[:478, :2])
        area = _polygon_area(layout.points[list(FACE_OVAL), :2])
        src = _Source(image, layout, topo_all, tris, anchors, colours, rest,
                      obs.head_pose_deg(), area)
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
                        try:
                            image = self._draw(src, src.rest, angles, gains, "calibration")
                        except WarpGuardError:
                            continue
                        obs = self.observe(image)
                        if obs is None:
                            continue
                        read = sign * (obs.head_pose_deg()[axis] - base[axis])
                        if read > 0.1 * CALIBRATION_DEG:
                            new[axis, side] = np.clip(gains[axis, side] * CALIBRATION_DEG
                                                      / read, *GAIN_RANGE)
                gains = new
        src.gains = gains
        return gains

    def _draw(self, src: _Source, face: Face, angles_deg, gains: np.ndarray, what: str,
              with_maps: bool = False):
        """uint8[H, W, 4] image of ``face`` at ``angles_deg`` (and the warp's float32 maps
        when ``with_maps``); raises WarpGuardError naming ``what`` for a warp out of
        bounds."""
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

    def render(self, state: _State, what: str = "image") -> np.ndarray:
        """uint8[H, W, 4]: the image of ``state``, remembered for later steps."""
        src = self._sources[state.source]
        out = self._draw(src, state.face, state.angles_deg, self._gains(state.source), what)
        with self._lock:
            self._states.setdefault(_digest(out), state)
        return out

    def _render_planned(self, state: _State, what: str) -> np.ndarray:
        """uint8[H, W, 4]: the image of a whole-rig build's ``state`` (calibrated angles)."""
        return self._draw(self._sources[state.source], state.face, state.angles_deg, _UNIT,
                          what)

    # --- RigBackend -------------------------------------------------------------------

    def expression(self, base: np.ndarray, expr: Expression, pose: str,
                   config: RigConfig) -> np.ndarray:
        """``expr`` on ``base``'s face at ``base``'s angles; mouth to the config's shape."""
        face = face_from_names(config.mouth_shape(expr.id), expr.eyes, expr.brows)
        what = f"{expr.id} @ {pose}"
        if self._prepared is not None:
            return self._render_planned(self._planned(face, ((expr.id, pose),)), what)
        state = self.source_state(base)
        return self.render(_State(state.source, face, state.angles_deg), what)

    def pose(self, source: np.ndarray, expr: Expression, source_pose: str, target_pose: str,
             config: RigConfig) -> np.ndarray:
        """``source`` turned by the difference of the two poses' angles."""
        what = f"{expr.id} @ {target_pose}"
        if self._prepared is not None:
            return self._render_planned(self._planned(_face_of(config, expr.id),
                                                      ((expr.id, target_pose),)), what)
        state = self.source_state(source)
        delta = config.pose_angles[target_pose] - config.pose_angles[source_pose]
        angles = tuple(float(a + d) for a, d in zip(state.angles_deg, delta, strict=True))
        return self.render(_State(state.source, state.face, angles), what)

    def tween(self, job: TweenJob, config: RigConfig) -> np.ndarray:
        """The frame at ``job.t``: rendered from the interpolated face parameters and angles
        (in a whole-rig build, or when both neighbours are this backend's renders of one
        portrait); otherwise the neighbours' landmarks are interpolated, both warped onto
        them and cross-dissolved."""
        what = f"{job.path_id} @ {job.start_pose} t={job.t:.2f}"
        if self._prepared is not None:
            face = lerp_face(_face_of(config, job.start_expr), _face_of(config, job.end_expr),
                             job.t)
            state = self._planned(face, ((job.start_expr, job.start_pose),
                                         (job.end_expr, job.end_pose)), job.t)
            return self._render_planned(state, what)
        (t_a, img_a), (t_b, img_b) = job.left, job.right
        s = (job.t - t_a) / max(t_b - t_a, 1e-9)
        with self._lock:
            sa = self._states.get(_digest(_as_rgba(img_a)))
            sb = self._states.get(_digest(_as_rgba(img_b)))
        if sa is not None and sb is not None and sa.source == sb.source:
            angles = tuple(float((1 - s) * a + s * b)
                           for a, b in zip(sa.angles_deg, sb.angles_deg, strict=True))
            return self.render(_State(sa.source, lerp_face(sa.face, sb.face, s), angles), what)
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
