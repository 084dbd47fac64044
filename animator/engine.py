"""The one streaming loop: lip frames in, one rig frame choice per video frame out.

Live mode and the offline renderer run this same code; offline is this loop fed from a
file as fast as it goes. For the same input and seed, a whole-file run and a run fed in
chunks of any size give the same frames. The ``reference`` speaking and motion modes (the
seed pipeline's algorithms, reproduced exactly) need the whole clip (the seed normalises by
the clip and squeezes time into whole seconds), so with either of them the loop holds its
frames until :meth:`Engine.finish`.

Head motion is synthesised (``head="synth"``, the default), or follows measured head angles
handed to :meth:`Engine.push` (``"tracked"``), or both added (``"mix"``); a tracked head that
goes missing fades into the synthesised idle motion and back when it returns.

Lips from a face (``mouth_rest``): mouth features are read against the resting mouth
learned from that face (animator.stages.mouth_rest), so any face at rest shows the rig's rest
mouth. Eyes: measured eye ratios handed to :meth:`Engine.push` go through a blink detector
(animator.stages.eyes) whose :class:`~animator.core.types.EyeState` reaches the selector (the rig's
eyes-closed frames) and the frame (per-eye closure for the sinks); while no face is measured,
idle blinks (animator.stages.idle_blinks, their own seeded stream) close the eyes now and
then. A frame's ``eyes.closed`` is what it shows: a blink never shuts a talking mouth, so a
blink the mouth does not allow is not counted closed (and an idle one ends there).

Expressions on cue (animator.stages.face_cue): ``expression`` from the first frame, a timed
``expression_track`` (by frame time, so chunking changes nothing) and :meth:`Engine.cue`
(live controls, from any thread: taken at the next frame).
"""

from __future__ import annotations

import bisect
import collections
import threading
from collections.abc import Iterable

import numpy as np

from animator.core.types import EyeState, Frame
from animator.engine_config import EngineConfig  # noqa: F401  (re-exported: the engine's API)
from animator.rig import Rig
from animator.stages.eyes import BlinkDetector
from animator.stages.face_cue import ExpressionTrack
from animator.stages.finite_lips import finite_stand_ins
from animator.stages.head_blend import HeadBlend
from animator.stages.idle_blinks import IdleBlinks
from animator.stages.motion import MotionParams, MotionSynth, reference_head_motion
from animator.stages.mouth import mouth_rows, open_wide_w
from animator.stages.mouth_rest import MouthRest
from animator.stages.mouth_shapes import shown_mouth, shown_shape
from animator.stages.selection import FrameSelector
from animator.stages.speaking import SpeakingDetector, read_ahead, reference_speaking_weights
from keypoints.lips import LipFrame, rest_points
from keypoints.prosody import Prosody

#: Lips at rest, used until the first finite keypoint frame: (x, y, z) upper, lower; mouth
#: features (open, wide). The per-frame path works on Python floats (numpy costs more than
#: the maths on vectors this small); frames get arrays.
_REST_LIPS = ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0))
_REST_MOUTH = (0.0, 1.0)
#: Second entropy word of the idle blinks' generator ([seed, this]).
_IDLE_BLINK_STREAM = 0xB1


def rig_extent_deg(rig: Rig) -> np.ndarray:
    """float[3]: the largest |angle| among the rig's poses, per axis."""
    return np.max(np.abs(np.stack(list(rig.config.pose_angles.values()))), axis=0)


class Engine:
    """Lip frames (any source, any rate) -> video frames at ``config.fps``."""

    def __init__(self, rig: Rig, config: EngineConfig | None = None) -> None:
        self.rig = rig
        self.config = config = config or EngineConfig()
        self._fps, self._talk = config.fps, config.select_params.talk_speaking
        self._open_gain = config.shown_open_gain
        self._rng = np.random.default_rng(config.seed)
        params = config.motion_params or MotionParams().scaled_to_extent(rig_extent_deg(rig))
        self._motion = MotionSynth(config.fps, self._rng, params, config.motion_gain)
        self._speaking = SpeakingDetector(config.fps, config.speaking_params)
        #: offline: each frame takes the speaking state this many frames ahead (the causal
        #: state is late by its onset confirmation and hangover); the frames wait here
        self._lead_frames = round(config.speaking_lead_s * config.fps)
        self._waiting: collections.deque = collections.deque()
        self._last_mask = 0.0
        unknown = [e for e in (config.expression, *(c[2] for c in config.expression_track))
                   if e not in rig.config.expressions]
        if unknown:
            raise ValueError(f"unknown expression {unknown[0]!r} (the rig has: "
                             f"{', '.join(rig.config.expressions)})")
        self._selector = FrameSelector(rig, config.fps, config.select_params, config.expression)
        self._track = (ExpressionTrack(config.expression_track, config.expression)
                       if config.expression_track else None)
        self._cued: str | None = None  # set by cue() from any thread, taken by the next frame
        self._cue_lock = threading.Lock()
        # idle blinks draw from a stream of their own: the head motion stays as it was
        self._idle = (None if config.idle_blinks is None else IdleBlinks(
            config.fps, np.random.default_rng([config.seed, _IDLE_BLINK_STREAM]),
            config.idle_blinks))
        self._eyes_can_close = True  # the previous frame could have shown closed eyes
        self._idle_eyes = False  # this frame's eyes come from the idle blinks
        self._pause = True  # the previous frame's speaking mask was low (a pause in speech)
        self._deferred = config.motion == "reference" or config.speaking == "reference"
        self._head = (None if config.head == "synth"
                      else HeadBlend(config.fps, config.head_fade_s, config.head == "mix"))
        self._blink = BlinkDetector(config.fps, config.blink_params, config.calibrate_s)
        self._rest = (None if config.mouth_rest is None
                      else MouthRest(config.fps, config.mouth_rest, config.calibrate_s))
        # deferred frames: (lips, mouth, prosody, eyes measured)
        self._held: list[tuple[np.ndarray, np.ndarray, Prosody | None, np.ndarray | None]] = []
        self._next_index = 0
        # (t, lip frame whose keypoints stand for t, prosody, shape) of the lip frame before the
        # kept ones: its own keypoints, or the last finite ones before them (None: rest)
        self._prev: tuple[float, LipFrame | None, Prosody | None, str | None] | None = None
        #: lip frames (and finite stand-ins) from the one before the next video frame's time
        self._lips: tuple[list[LipFrame], list[LipFrame | None]] = ([], [])
        self._good: LipFrame | None = None  # last lip frame with finite keypoints
        self._sampled: dict[int, tuple[LipFrame, tuple]] = {}
        #: (keypoint names, rows of the mouth's points in them) of the last lips sampled
        self._rows: tuple[tuple[str, ...] | None, tuple[int, int, int, int]] = (None, (0,) * 4)
        #: video frame index -> the mouth shape of its lip frame (None: the lips carry none)
        self._visemes: dict[int, str | None] = {}
        self.n_nonfinite = 0

    @property
    def streaming(self) -> bool:
        """True when frames come out as lips go in (False in the reference modes)."""
        return not self._deferred

    def _sample(self, frame: LipFrame | None) -> tuple[tuple, tuple[float, float]]:
        """(lips: (x, y, z) upper, lower; mouth: (open, wide)) of a finite lip frame (None:
        the rest mouth), Python floats. Computed only for the lip frames a video frame shows
        (one in four at 100 Hz keypoints and 25 fps), and once for each."""
        if frame is None:
            return _REST_LIPS, _REST_MOUTH
        hit = self._sampled.get(id(frame))
        if hit is not None and hit[0] is frame:
            return hit[1]
        if frame.names is not self._rows[0]:
            self._rows = (frame.names, mouth_rows(frame.names))
        points, (upper, lower, left, right) = frame.points.tolist(), self._rows[1]
        value = ((points[upper], points[lower]),
                 open_wide_w(points[upper], points[lower], points[left], points[right]))
        self._sampled = {id(frame): (frame, value)}  # consecutive video frames share lips
        return value

    @property
    def mouth_rest(self) -> np.ndarray | None:
        """float64[2] resting (open, wide) learned so far in the lips' units, or None."""
        return None if self._rest is None else self._rest.rest

    def rest_lips(self, names: tuple[str, ...]) -> np.ndarray:
        """float32[K, 3] lip keypoints of the resting mouth in the lips' units (the learned
        rest with ``mouth_rest``): what to feed while the lip source is silent or lost."""
        points = rest_points(names)
        if self._rest is not None:
            rest_open, rest_wide = self._rest.rest
            for name, axis, value in (("left_corner", 0, rest_wide / 2),
                                      ("right_corner", 0, -rest_wide / 2),
                                      ("upper_lip", 1, rest_open / 2),
                                      ("lower_lip", 1, -rest_open / 2)):
                if name in names:
                    points[names.index(name), axis] = value
        return points

    def push(self, lips: Iterable[LipFrame], head_deg: np.ndarray | None = None,
             eyes: np.ndarray | None = None) -> list[Frame]:
        """Feed lip frames in time order (by ``t_s``, never decreasing: video frames find their
        lip frame by bisection); returns the video frames now decided.

        head_deg: float[3] measured head angles (degrees) for the frames decided by this call,
        or None when there is no measurement; used in the ``tracked`` and ``mix`` head modes.
        eyes: float[2] measured eye aspect ratios (the character's left, right) for those
        frames, or None (eyes shown open).
        The measurements are arguments of each call: none outlives it. A lip frame whose
        keypoints are not all finite counts in ``n_nonfinite`` and stands for the last finite
        one (the rest mouth before the first).
        """
        lips = list(lips)
        ready = self._map(lips, self._good_frames(lips), end=False) if lips else []
        return self._process([(i, *self._sample(frame), pro) for i, frame, pro in ready],
                             head_deg, eyes)

    def _map(self, lips: list[LipFrame], good: list[LipFrame | None], end: bool
             ) -> list[tuple[int, LipFrame | None, Prosody | None]]:
        """(video frame index, lip frame, prosody) of the frames the lips received so far
        decide. Each takes the lip frame nearest its time t (ties: the earlier one) and the
        shape of the one nearest t + shape_lead_s, decided by the first lip frame at or after
        that (at the ``end``: all up to the last lip frame): found by bisection, and only the
        lip frames a video frame shows are looked at (one in four at 100 Hz and 25 fps)."""
        lips, good = self._lips[0] + lips, self._lips[1] + good
        times, fps, lead = [lf.t_s for lf in lips], self._fps, self.config.shape_lead_s
        i, ready, wait = self._next_index, [], 0.0 if end else max(0.0, lead - 1e-9)
        while i / fps + wait <= times[-1]:
            src = self._nearest(lips, good, times, i / fps)
            shape = src if lead == 0 else self._nearest(lips, good, times,
                                                        min(i / fps + lead, times[-1]))
            ready.append((i, src[1], src[2]))
            self._visemes[i] = shape[3]
            i += 1
        if (k := max(0, bisect.bisect_left(times, i / fps) - 1)) > 0:  # kept: lips[k:]
            self._prev = self._entry(lips[k - 1], good[k - 1])
        self._next_index, self._good, self._lips = i, good[-1], (lips[k:], good[k:])
        return ready

    def _nearest(self, lips: list[LipFrame], good: list[LipFrame | None], times: list[float],
                 t: float) -> tuple[float, LipFrame | None, Prosody | None, str | None]:
        """The entry of the lip frame nearest t (ties: the earlier one)."""
        j = bisect.bisect_left(times, t)
        if j == 0:
            prev = self._prev
            if prev is not None and not (times[0] - t) < (t - prev[0]):
                return prev
        elif not (times[j] - t) < (t - times[j - 1]):
            j -= 1
        return lips[j].t_s, good[j], lips[j].prosody, lips[j].viseme

    @staticmethod
    def _entry(lf: LipFrame, good: LipFrame | None
               ) -> tuple[float, LipFrame | None, Prosody | None, str | None]:
        """(t, the lip frame whose keypoints stand for time t, prosody, mouth shape)."""
        return lf.t_s, good, lf.prosody, lf.viseme

    def _good_frames(self, lips: list[LipFrame]) -> list[LipFrame | None]:
        """Per lip frame, the last one up to it with finite keypoints (None: none yet);
        counts the others in ``n_nonfinite``."""
        good, n_bad = finite_stand_ins(lips, self._good)
        self.n_nonfinite += n_bad
        return good

    def finish(self, duration_s: float, head_deg: np.ndarray | None = None,
               eyes: np.ndarray | None = None) -> list[Frame]:
        """End of stream: video frames up to ``round(duration_s * fps)`` in all (at least
        one), the last lips held; then, in the reference modes, every frame of the clip.

        head_deg, eyes: what was measured for those last frames (as in :meth:`push`)."""
        n_total = max(1, round(duration_s * self.config.fps))
        ready = self._map([], [], end=True) if self._lips[0] else []
        held = self._entry(self._lips[0][-1], self._lips[1][-1]) if self._lips[0] else None
        last = ((*self._sample(held[1]), held[2]) if held is not None
                else (_REST_LIPS, _REST_MOUTH, None))
        tail = [(i, *self._sample(frame), pro) for i, frame, pro in ready]
        tail += [(i, *last) for i in range(self._next_index, n_total)]
        for i in range(self._next_index, n_total):
            self._visemes[i] = held[3] if held is not None else None
        self._next_index = max(self._next_index, n_total)
        out = self._process(tail, head_deg, eyes) + self._flush_lead()
        if self._deferred:
            out = self._run_deferred()
        return out

    def _process(self, items: list[tuple[int, np.ndarray, np.ndarray, Prosody | None]],
                 head_deg: np.ndarray | None, eyes: np.ndarray | None) -> list[Frame]:
        """items: (video frame index, lips, mouth, prosody or None) per frame; head_deg and
        eyes: what was measured for them (None: nothing)."""
        if self._deferred:
            self._held.extend((*item[1:], eyes) for item in items)
            return []
        out, speaking, motion, head = [], self._speaking.step, self._motion.step, self._head
        lead, waiting = self._lead_frames, self._waiting
        for item in items:  # the voice cue joins the lips' speaking state
            mask = speaking(item[1], None if item[3] is None else item[3].voice)
            if lead:  # the state of frame i + lead is frame i's (offline look-ahead)
                self._last_mask = mask
                waiting.append(item)
                if len(waiting) <= lead:
                    continue
                item = waiting.popleft()
            i, _, mouth, pro = item
            angles = motion(mask, None if pro is None else pro.accent)
            if head is not None:
                angles = head.step(angles, head_deg)
            out.append(self._decide(i, angles, mask, mouth, eyes))
        return out

    def _flush_lead(self) -> list[Frame]:
        """The frames still waiting for the state ``lead`` frames ahead at the end: nothing
        follows them, so they keep the last state decided (a clip cut inside speech ends
        speaking)."""
        out, waiting = [], self._waiting
        mask = self._last_mask
        while waiting:
            i, _, mouth, pro = waiting.popleft()
            angles = self._motion.step(mask, None if pro is None else pro.accent)
            out.append(self._decide(i, angles, mask, mouth, None))
        return out

    def _run_deferred(self) -> list[Frame]:
        held, self._held = self._held, []
        n = len(held)
        lips = np.stack([h[0] for h in held]) if n else np.zeros((0, 2, 3))
        if self.config.speaking == "reference":
            masks = reference_speaking_weights(lips)
        else:
            masks = read_ahead(np.array([self._speaking.step(
                h[0], None if h[2] is None else h[2].voice) for h in held]), self._lead_frames)
        if self.config.motion == "reference":
            angles = reference_head_motion(n, self.config.fps, self._rng) * masks[:, None]
        else:
            accents = [None if h[2] is None else h[2].accent for h in held]
            angles = np.array([self._motion.step(m, a)
                               for m, a in zip(masks, accents, strict=True)]).reshape(n, 3)
        return [self._decide(i, angles[i], float(masks[i]), held[i][1], held[i][3])
                for i in range(n)]

    @property
    def expressions(self) -> list[str]:
        """The expressions :meth:`cue` accepts (the rig's, in its order)."""
        return list(self.rig.config.expressions)

    @property
    def cued(self) -> str:
        """The expression cued now (``neutral`` without a cue)."""
        return self._cued or self._selector.cued

    def cue(self, expression: str) -> None:
        """Hold ``expression`` while the mouth rests, from the next frame on; safe to call
        from any thread (live controls). ValueError for a name the rig does not have."""
        if expression not in self.rig.config.expressions:
            raise ValueError(f"unknown expression {expression!r}")
        with self._cue_lock:
            self._cued = expression

    def _eye_state(self, eyes: np.ndarray | None) -> EyeState:
        """This frame's eyes: measured ratios through the blink detector while a face is
        measured; otherwise idle blinks (when enabled)."""
        measured = eyes is not None and bool(np.all(np.isfinite(eyes)))
        state = self._blink.step(eyes if measured else None)
        self._idle_eyes = self._idle is not None and not measured
        if self._idle is None:
            return state
        if measured:
            self._idle.pause()
            return state
        return self._idle.step(self._eyes_can_close, self._pause)

    def _decide(self, i: int, angles: tuple | np.ndarray, mask: float,
                mouth: tuple | np.ndarray, eyes_measured: np.ndarray | None) -> Frame:
        """angles: float[3] degrees, mouth: float[2] (Python floats or arrays)."""
        if self._rest is not None:
            mouth = self._rest.step(mouth)
        t_s = i / self._fps
        if self._track is not None:
            changed = self._track.step(t_s)
            if changed is not None:
                self._selector.cue(changed)
        if self._cued is not None:  # (a cue from another thread: taken under the lock)
            with self._cue_lock:
                cued, self._cued = self._cued, None
            self._selector.cue(cued)
        eyes = self._eye_state(eyes_measured)
        heard = self._visemes.pop(i, None)
        mouth = shown_mouth(heard, mouth, self._open_gain, self.config.shape_closes_mouth)
        shape = shown_shape(heard, mouth, mask, self._talk)
        choice = self._selector.step(angles, mouth, eyes.closed, mask, shape)
        self._eyes_can_close = self._selector.eyes_can_close
        self._pause = mask < self._talk
        if eyes.closed and not self._eyes_can_close:  # not shown: the mouth (or face) won
            eyes = EyeState(eyes.closure, False)
            if self._idle_eyes:
                self._idle.interrupt()
        return Frame(i, t_s, np.array(angles), mask, np.array(mouth), choice, eyes, shape)
