"""The offline ``warp`` rig backend: one portrait, FaceMesh, a mesh warp per image.

FaceMesh gives the portrait's 3D landmarks (measured once: ``warp_source``). An image of the
rig is the portrait with its landmarks moved and rendered by one piecewise-affine warp
(``warp_source.draw``: expression edits, the head rotation about a neck pivot, the opened mouth
repainted, closed eyes given their lash line); every warp is bounded (``warp_guard``): one
that would move points by more than a fraction of the face or fold the mesh fails with the
reason instead of producing garbage. The rotation rendered is calibrated per portrait, pose
and expression by reading it back with FaceMesh (``warp_calibration``).

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
from animator.authoring.warp_calibration import (
    EXPR_ROUNDS,
    EXPR_TOLERANCE_DEG,
    POSE_ROUNDS,
    POSE_TOLERANCE_DEG,
    corrected_angles,
    read_pose,
    rotation_gains,
)
from animator.authoring.warp_guard import WarpGuardError
from animator.authoring.warp_mesh import warp_image
from animator.authoring.warp_source import (
    UNIT_GAINS,
    Source,
    as_rgba,
    draw,
    face_of,
    measure_source,
)
from animator.core.errors import AnimatorError
from animator.rig import REST_EXPRESSION, Expression, RigConfig
from keypoints.face import FaceObservation, FaceTracker

__all__ = ["NoHumanFace", "WarpBackend", "WarpError", "WarpGuardError", "warp_image"]

#: Default rig image size (pixels, square) of a whole-rig build.
DEFAULT_SIZE_PX = 512


class WarpError(AnimatorError):
    """A portrait the warp backend cannot use (unreadable, no face); names the problem."""


class NoHumanFace(WarpError):
    """A portrait that shows no human face (none at all, or an animal's): a build refuses
    it before writing anything."""


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
        self._sources: list[Source] = []
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
            rgba = read_image(portrait) if isinstance(portrait, Path) else as_rgba(portrait)
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
        neutral = face_of(config, REST_EXPRESSION)
        ref = read_pose(src, neutral, np.zeros(3), self.observe)
        if ref is None:
            return render
        for pose, want in wanted.items():
            if np.any(want):
                render[pose] = corrected_angles(src, neutral, render[pose], ref, want,
                                                POSE_ROUNDS, POSE_TOLERANCE_DEG, self.observe)
        return render

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
            face = face_of(prep.config, expr_id)
            ref = self._expr_ref(expr_id)
            if ref is not None:
                angles = corrected_angles(src, face, angles, ref, want, EXPR_ROUNDS,
                                          EXPR_TOLERANCE_DEG, self.observe)
        with self._lock:
            self._expr_angles[key] = angles
        return angles

    def _expr_ref(self, expr_id: str) -> np.ndarray | None:
        """The head pose FaceMesh reads off ``expr_id`` at the rest pose (cached)."""
        with self._lock:
            if expr_id in self._expr_refs:
                return self._expr_refs[expr_id]
        prep = self._prepared
        ref = read_pose(self._sources[prep.source], face_of(prep.config, expr_id),
                        prep.render_deg[prep.rest_pose], self.observe)
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
        state = self._planned(face_of(prep.config, REST_EXPRESSION),
                              ((REST_EXPRESSION, pose),))
        image, maps = draw(src, state.face, state.angles_deg, UNIT_GAINS,
                                 f"head layer @ {pose}", with_maps=True)
        layer = head_layer_at(image, self._matte, maps, src.layout)
        with self._lock:
            self._layers[pose] = layer
        return layer

    # --- sources and states -----------------------------------------------------------

    def _add_source(self, image: np.ndarray, human_check: bool = True) -> _State:
        image = as_rgba(image)
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
        src = measure_source(image, obs)
        with self._lock:
            self._sources.append(src)
            state = _State(len(self._sources) - 1, src.rest, (0.0, 0.0, 0.0))
            self._states[_digest(image)] = state
        return state

    def source_state(self, image: np.ndarray) -> _State:
        """What ``image`` shows: a remembered render, or a new source (as it is)."""
        image = as_rgba(image)
        with self._lock:
            state = self._states.get(_digest(image))
        return state if state is not None else self._add_source(image)

    # --- rendering --------------------------------------------------------------------

    def _gains(self, src_id: int) -> np.ndarray:
        """float64[2, 2]: the source's rotation gains (measured once; 1 without calibration)."""
        src = self._sources[src_id]
        if src.gains is None:
            src.gains = rotation_gains(src, self.observe) if self.calibrate else np.ones((2, 2))
        return src.gains

    def render(self, state: _State, what: str = "image") -> np.ndarray:
        """uint8[H, W, 4]: the image of ``state``, remembered for later steps."""
        src = self._sources[state.source]
        out = draw(src, state.face, state.angles_deg, self._gains(state.source), what)
        with self._lock:
            self._states.setdefault(_digest(out), state)
        return out

    def _render_planned(self, state: _State, what: str) -> np.ndarray:
        """uint8[H, W, 4]: the image of a whole-rig build's ``state`` (calibrated angles)."""
        return draw(self._sources[state.source], state.face, state.angles_deg, UNIT_GAINS,
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
            return self._render_planned(self._planned(face_of(config, expr.id),
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
            face = lerp_face(face_of(config, job.start_expr), face_of(config, job.end_expr),
                             job.t)
            state = self._planned(face, ((job.start_expr, job.start_pose),
                                         (job.end_expr, job.end_pose)), job.t)
            return self._render_planned(state, what)
        (t_a, img_a), (t_b, img_b) = job.left, job.right
        s = (job.t - t_a) / max(t_b - t_a, 1e-9)
        with self._lock:
            sa = self._states.get(_digest(as_rgba(img_a)))
            sb = self._states.get(_digest(as_rgba(img_b)))
        if sa is not None and sb is not None and sa.source == sb.source:
            angles = tuple(float((1 - s) * a + s * b)
                           for a, b in zip(sa.angles_deg, sb.angles_deg, strict=True))
            return self.render(_State(sa.source, lerp_face(sa.face, sb.face, s), angles), what)
        return self._dissolve(as_rgba(img_a), as_rgba(img_b), s)

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
