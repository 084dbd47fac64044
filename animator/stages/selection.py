"""Frame choice: the rig image for given head angles and mouth features, with hysteresis.

* :class:`PoseSelector`: nearest pose endpoint in angle space (a scan for small rigs, a scipy
  KD-tree for large ones); a switch needs the new pose to be closer by a margin and the
  current one held for a minimum time, so a slowly varying angle near a boundary does not
  flicker.
* :class:`MouthSelector`: the nearest speech path and the position on it; the path changes
  freely near the rest mouth (where all paths meet) and only by a margin elsewhere.
* :class:`FrameSelector`: both, bound to a rig: returns the image to show and the residual
  angle (wanted minus the chosen pose's) that the renderer applies as a small transform;
  while the eyes are closed (``eyes_closed``, see animator.stages.eyes) and the rig has eyes-closed
  frames, those are shown for the current pose. A cued expression (:meth:`FrameSelector.cue`,
  animator.stages.face_cue) is the face shown while the mouth rests; speech keeps the mouth.
  A mouth chart (``Rig.mouths``) shows the rest face (or the blink) at the pose with the
  mouth image of the frame's shape over it.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np

from animator.core.types import FrameChoice
from animator.rig import REST_EXPRESSION, BasePath, Rig
from animator.stages.face_cue import FaceCue, FaceView, blink_of
from animator.stages.mouth import MouthPaths, PathPlacement, argmin_first


@dataclass(frozen=True)
class SelectParams:
    #: a new pose must be closer than the current one by this much (degrees) ...
    pose_margin_deg: float = 1.5
    #: ... and the current pose must have been shown for at least this long.
    pose_min_hold_s: float = 0.3
    #: a new speech path must be closer than the current one by this much (mouth widths) ...
    mouth_margin: float = 0.03
    #: ... unless the mouth is this close to rest on the current path (paths meet there).
    mouth_free_t: float = 0.2
    #: the residual transform never exceeds this (degrees per axis).
    max_residual_deg: float = 10.0
    #: eyes-closed frames (drawn with the rest mouth) replace a frame only while the mouth is
    #: within this of rest on its path: a blink never shuts a talking mouth.
    blink_mouth_max_t: float = 0.375
    #: a cued expression: the mouth talks while the speaking mask is at least this, or while
    #: it is open beyond ``blink_mouth_max_t`` on its path ...
    talk_speaking: float = 0.5
    #: ... and the cued face returns once it has rested for this long (seconds).
    cue_hold_s: float = 0.3
    #: seconds per tween sequence walked when the face changes (animator.stages.face_cue).
    cue_tween_s: float = 0.2


#: Up to this many poses a vectorised scan beats the KD-tree: scipy's per-query overhead is
#: ~16 us against ~5 us for the scan of an 11-pose rig (2-core EPYC); the tree wins on big rigs.
BRUTE_FORCE_MAX_POSES = 64


class PoseSelector:
    """Nearest pose with hysteresis. angles_deg: float[P, 3] (pitch, yaw, roll)."""

    def __init__(self, angles_deg: np.ndarray, fps: float, params: SelectParams) -> None:
        self.angles_deg = np.asarray(angles_deg, dtype=np.float64).reshape(-1, 3)
        self._rows = [tuple(r) for r in self.angles_deg.tolist()]
        self._tree = None
        if len(self.angles_deg) > BRUTE_FORCE_MAX_POSES:
            # imported here: scipy.spatial costs ~0.2 s of start-up that small rigs never use
            from scipy.spatial import cKDTree

            self._tree = cKDTree(self.angles_deg)
        self._params = params
        self._min_hold_frames = round(params.pose_min_hold_s * fps)
        self._current: int | None = None
        self._held_frames = 0

    def nearest(self, angles_deg: np.ndarray | tuple[float, float, float]) -> int:
        """Index of the nearest pose, without hysteresis (ties: the lower index)."""
        if self._tree is not None:
            return int(self._tree.query(angles_deg)[1])
        return self._scan(*_floats(angles_deg))

    def _scan(self, a: float, b: float, c: float) -> int:
        """Index of the pose nearest (a, b, c) degrees by a scan (ties: the lower index)."""
        best, low = 0, math.inf
        for k, (p, y, r) in enumerate(self._rows):  # a scan in Python floats: few poses
            d2 = (p - a) * (p - a) + (y - b) * (y - b) + (r - c) * (r - c)
            if d2 < low or (d2 != d2 and low == low):  # the first NaN wins, as np.argmin
                best, low = k, d2
        return best

    def step(self, angles_deg: np.ndarray | tuple[float, float, float]) -> int:
        """Index of the pose to show for ``angles_deg`` (float[3])."""
        angles_deg = _floats(angles_deg)
        nearest = self.nearest(angles_deg) if self._tree is not None else self._scan(
            *angles_deg)
        if self._current is None:
            self._current = nearest
        elif nearest != self._current and self._held_frames >= self._min_hold_frames:
            d_cur = math.dist(angles_deg, self._rows[self._current])
            d_new = math.dist(angles_deg, self._rows[nearest])
            if d_cur - d_new > self._params.pose_margin_deg:
                self._current = nearest
                self._held_frames = 0
        self._held_frames += 1
        return self._current


def _floats(values: np.ndarray | tuple[float, ...] | list[float]) -> tuple | list:
    """A small vector as Python floats (arrays converted; tuples and lists as they are)."""
    return values.tolist() if isinstance(values, np.ndarray) else values


class MouthSelector:
    """Nearest speech path with hysteresis."""

    def __init__(self, paths: MouthPaths, params: SelectParams) -> None:
        self.paths = paths
        self._params = params
        self._current: int | None = None

    def step(self, features: np.ndarray | tuple[float, float]) -> PathPlacement:
        """features: float[2] (open, wide) in mouth widths."""
        t, dist = self.paths.place_lists(float(features[0]), float(features[1]))
        best = argmin_first(dist)
        cur = self._current
        keep = (cur is not None and best != cur and t[cur] >= self._params.mouth_free_t
                and dist[cur] - dist[best] <= self._params.mouth_margin)
        chosen = cur if keep else best
        self._current = chosen
        return PathPlacement(chosen, t[chosen], dist[chosen])


@dataclass(frozen=True)
class SpeechPath:
    """From the rest expression to ``target``; ``base_path`` holds the tweens (None: the
    rig has no base path between them, so the image jumps at t = 0.5)."""

    target: str
    base_path: BasePath | None
    reversed: bool  # the base path runs target -> rest


def speech_paths(rig: Rig) -> list[SpeechPath]:
    """The expressions the mouth can reach: same eyes and brows as the rest face, a mouth
    shape of their own; with the base path between them and rest when the rig has one."""
    cfg = rig.config
    rest = cfg.expressions[REST_EXPRESSION]
    rest_shape = cfg.mouth_shape(REST_EXPRESSION).as_array()
    out = []
    for eid, expr in cfg.expressions.items():
        if eid == REST_EXPRESSION or (expr.eyes, expr.brows) != (rest.eyes, rest.brows):
            continue
        if np.allclose(cfg.mouth_shape(eid).as_array(), rest_shape):
            continue
        found, rev = None, False
        for bp in cfg.base_paths:
            if (bp.start, bp.end) == (REST_EXPRESSION, eid):
                found, rev = bp, False
                break
            if (bp.start, bp.end) == (eid, REST_EXPRESSION) and found is None:
                found, rev = bp, True
        out.append(SpeechPath(eid, found, rev))
    return out


def _clamp(x: float, lim: float) -> float:
    """np.minimum(np.maximum(x, -lim), lim) of one float (NaN stays NaN)."""
    x = x if x >= -lim or x != x else -lim
    return x if x <= lim or x != x else lim


def _nearest(ts: list[float], t: float) -> int:
    """Index of the entry of ``ts`` nearest ``t``, the first of equally near ones (``ts``
    sorted: bisection, then the neighbours; the same as a scan of all of them)."""
    k = bisect.bisect_left(ts, t)
    lo, hi = k - 1 if k > 0 else 0, k + 1 if k < len(ts) else len(ts)
    while lo > 0 and ts[lo - 1] == ts[lo]:  # repeated positions: the first of them
        lo -= 1
    best = lo
    for j in range(lo + 1, hi):  # the first of the nearest (as min() with a key)
        if abs(ts[j] - t) < abs(ts[best] - t):
            best = j
    return best


def eyes_closed_expression(rig: Rig) -> str | None:
    """The rig's eyes-closed expression (``RigConfig.blink_expression``), or None."""
    return rig.config.blink_expression()


class FrameSelector:
    """Pose and mouth selection bound to a rig."""

    def __init__(self, rig: Rig, fps: float, params: SelectParams | None = None,
                 expression: str = REST_EXPRESSION) -> None:
        self.rig = rig
        self.params = params or SelectParams()
        cfg = rig.config
        self.poses = list(cfg.poses)
        self._pose_angles = np.stack([cfg.pose_angles[p] for p in self.poses])
        self._pose_rows = self._pose_angles.astype(np.float64).tolist()
        self._max_residual = self.params.max_residual_deg
        self._pose = PoseSelector(self._pose_angles, fps, self.params)
        self.paths = speech_paths(rig)
        self._mouth: MouthSelector | None = None
        if self.paths:
            targets = np.stack([cfg.mouth_shape(p.target).as_array() for p in self.paths])
            self._mouth = MouthSelector(
                MouthPaths(cfg.mouth_shape(REST_EXPRESSION).as_array(), targets), self.params)
        self._frames_cache: dict[tuple[str, int], tuple[list[float], list[str]]] = {}
        self.eyes_closed_expression = eyes_closed_expression(rig)
        self._face = FaceCue(cfg, fps, self.params.cue_tween_s, self.params.cue_hold_s,
                             expression)
        self._blink_of = {e: blink_of(cfg, e) for e in cfg.expressions}
        #: whether the frame last chosen could have shown closed eyes (the mouth rests and
        #: the face shown has an eyes-closed image; rigs without one: the mouth rests)
        self.eyes_can_close = True

    def cue(self, expression: str) -> None:
        """Hold ``expression`` while the mouth rests, from the next frame on (ValueError for
        a name the rig does not have)."""
        self._face.cue(expression)

    @property
    def cued(self) -> str:
        """The expression cued (``neutral`` when none was)."""
        return self._face.target

    def _tween_table(self, pose: str, k: int) -> tuple[list[float], list[str]]:
        """(t positions from rest, image paths) available on speech path k at ``pose``."""
        key = (pose, k)
        if key not in self._frames_cache:
            path = self.paths[k]
            seq = (self.rig.sequences.get((path.base_path.id, pose))
                   if path.base_path is not None else None)
            if seq is None:
                frames = [(0.0, self.rig.endpoint(REST_EXPRESSION, pose)),
                          (1.0, self.rig.endpoint(path.target, pose))]
            else:
                frames = [((1.0 - t) if path.reversed else t, rel) for t, rel in seq.frames]
            frames.sort()
            self._frames_cache[key] = ([t for t, _ in frames], [rel for _, rel in frames])
        return self._frames_cache[key]

    def _leg_image(self, view: FaceView, pose: str) -> str:
        """The image of a face in transition: the tween nearest its position on the leg's
        base path at ``pose`` (the nearer endpoint where the pose has no tweens)."""
        seq = self.rig.sequences.get((view.leg.path.id, pose))
        if seq is None:
            return self.rig.endpoint(view.expression, pose)
        t = view.path_t
        return min(seq.frames, key=lambda f: abs(f[0] - t))[1]

    def _residual_deg(self, angles_deg: tuple | list, pose_idx: int) -> np.ndarray:
        """float64[3] wanted angles minus the pose's, clamped to +-max_residual_deg
        (np.minimum(np.maximum(x, -lim), lim) on Python floats: NaN passed through)."""
        lim, (a, b, c), (p, y, r) = self._max_residual, angles_deg, self._pose_rows[pose_idx]
        return np.array((_clamp(a - p, lim), _clamp(b - y, lim), _clamp(c - r, lim)))

    def step(self, angles_deg: np.ndarray, mouth: np.ndarray,
             eyes_closed: bool = False, speaking: float = 0.0, shape: str = "X"
             ) -> FrameChoice:
        """angles_deg: float[3] wanted head angles; mouth: float[2] (open, wide);
        eyes_closed: show the rig's eyes-closed frame (if it has one) unless the mouth talks;
        speaking: the speaking mask in [0, 1] (whether a cued face may show); shape: the
        mouth shape (A-H, X) a mouth chart shows."""
        angles_deg = _floats(angles_deg)
        pose_idx = self._pose.step(angles_deg)
        pose = self.poses[pose_idx]
        residual = self._residual_deg(angles_deg, pose_idx)
        if self.rig.mouths:  # a mouth chart: the face at rest (or blinking) + the shape's mouth
            self.eyes_can_close = True  # the mouth is drawn over the blink too
            blink = self.eyes_closed_expression if eyes_closed else None
            face = blink or REST_EXPRESSION
            return FrameChoice(pose, face, self.rig.endpoint(face, pose), 0.0, residual,
                               self.rig.mouths[shape])
        place = self._mouth.step(mouth) if self._mouth is not None else None
        rests = place is None or place.t < self.params.blink_mouth_max_t
        view = self._face.step(not rests or speaking >= self.params.talk_speaking)
        blink = self.eyes_closed_expression
        if view is not None:  # a cued face while the mouth rests
            face_blink = self._blink_of[view.expression] if view.leg is None else None
            self.eyes_can_close = view.leg is None and (face_blink is not None or blink is None)
            if view.leg is not None:
                return FrameChoice(pose, view.expression, self._leg_image(view, pose), 0.0,
                                   residual)
            shown = face_blink if eyes_closed and face_blink is not None else view.expression
            return FrameChoice(pose, shown, self.rig.endpoint(shown, pose), 0.0, residual)
        self.eyes_can_close = rests
        if eyes_closed and blink is not None and rests:
            return FrameChoice(pose, blink, self.rig.endpoint(blink, pose), 0.0, residual)
        if place is None:
            return FrameChoice(pose, REST_EXPRESSION, self.rig.endpoint(REST_EXPRESSION, pose),
                               0.0, residual)
        ts, rels = self._tween_table(pose, place.path)
        i = _nearest(ts, place.t)
        expression = self.paths[place.path].target if ts[i] >= 0.5 else REST_EXPRESSION
        return FrameChoice(pose, expression, rels[i], place.t, residual)
