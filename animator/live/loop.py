"""The live loop: sources -> the same :class:`~animator.engine.Engine` as offline -> sinks,
one frame per tick of a fixed schedule.

Each tick the loop takes what the sources delivered since the last one (audio samples through
MappingNet, or the newest face observation), feeds the engine exactly one lip frame stamped
with the tick's time, and offers the decided frame to every sink (each in its own thread, so
a slow sink only drops its own frames). Lips older than ``stale_s`` (face lost, device
unplugged, audio underrun) are replaced by the rest mouth and a missing head measurement by
None: the engine then goes on with idle motion, and recovers as soon as data returns.
Everything kept per tick is O(1): the loop can run for hours.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from animator.core import shutdown
from animator.core.errors import warn_input
from animator.core.mailbox import SinkWorker
from animator.core.types import Frame, LiveFrame, Sink
from animator.engine import Engine
from animator.live.clock import FrameClock
from animator.live.realtime import realtime_settings
from keypoints.lips import REQUIRED_NAMES, LipFrame
from keypoints.stream import AudioLipStream

#: Inputs older than this (seconds) count as lost.
STALE_S = 0.25


class AudioInput(Protocol):
    sample_rate: int

    def read(self) -> np.ndarray: ...


class FaceInput(Protocol):
    def latest(self) -> Any: ...  # animator.sources.camera.Observation | None


class LiveLoop:
    """Steps the engine once per tick. ``step(index, now_s)`` is the whole per-frame work
    (pure apart from the sources' ``read``/``latest``); :meth:`run` drives it from a clock.

    audio + lip_stream: lips from speech (MappingNet); face: lips (when there is no audio)
    and head angles (``Engine`` head modes ``tracked``/``mix``) from a tracked camera.
    mirror: the avatar moves like the user's reflection (yaw and roll negated).
    """

    def __init__(self, engine: Engine, sinks: Sequence[Sink] = (), *,
                 audio: AudioInput | None = None, lip_stream: AudioLipStream | None = None,
                 face: FaceInput | None = None, mirror: bool = True,
                 stale_s: float = STALE_S) -> None:
        if (audio is None) != (lip_stream is None):
            raise ValueError("audio needs a lip_stream (and a lip_stream needs audio)")
        self.engine = engine
        self.fps = engine.config.fps
        self.audio, self.lip_stream, self.face = audio, lip_stream, face
        self._mirror = np.array([1.0, -1.0, -1.0]) if mirror else np.ones(3)
        self._stale_s = stale_s
        names = lip_stream.model.keypoint_names if lip_stream is not None else REQUIRED_NAMES
        self._names: tuple[str, ...] = tuple(names)
        self._lips: np.ndarray | None = None  # newest fresh lip keypoints float32[K, 3]
        self._lips_s = -np.inf  # when they arrived
        self._lips_sample: int | None = None
        self._prosody = None  # the speech's prosody at the newest lips (audio only)
        self._audio_offset = 0  # source samples dropped before the first tick
        self._lips_camera: int | None = None
        self._head: np.ndarray | None = None  # newest measured head, float[3] degrees
        self._head_s = -np.inf
        self._head_camera: int | None = None
        self._eyes: np.ndarray | None = None  # newest eye ratios float[2] (left, right)
        #: mirrored, the user's left eye drives the avatar's right one
        self._eye_order = [1, 0] if mirror else [0, 1]
        self._workers = [(s, SinkWorker(s.send, f"sink-{s.name}")) for s in sinks]
        self._warned_nonfinite = False
        self.n_ticks = 0
        self.n_stale = 0  # ticks shown with rest lips because the lip source was silent
        self.last_step_s = 0.0  # compute time of the last step (wall clock), seconds
        #: CPU time this thread spent in the last step, seconds: below ``last_step_s`` when
        #: the thread waited (for a core the machine gave to others, or for the GIL)
        self.last_step_cpu_s = 0.0

    # --- sources --------------------------------------------------------------------------

    def _pull_audio(self, now_s: float) -> None:
        if self.audio is None:
            return
        # one frame per tick shows the newest lips only: the model runs for those alone
        newest = self.lip_stream.push_newest(self.audio.read())
        if self.lip_stream.n_nonfinite and not self._warned_nonfinite:
            self._warned_nonfinite = True  # once: the summary has the count
            warn_input(f"{self.lip_stream.model.path}: the model gave non-finite keypoints "
                       f"(NaN/inf); the avatar holds the last good lips")
        if newest is not None:
            self._lips, self._lips_s, self._names = newest.points, now_s, newest.names
            self._prosody = newest.prosody
            hop = self.lip_stream.model.feature_config.hop_length
            self._lips_sample = self._audio_offset + (self.lip_stream.n_frames - 1) * hop
            self._lips_camera = None

    def _pull_face(self, now_s: float) -> None:
        if self.face is None:
            return
        obs = self.face.latest()
        if obs is None or obs.face is None:
            return
        self._head = np.asarray(obs.face.head_pose_deg(), dtype=np.float64) * self._mirror
        self._head_s, self._head_camera = now_s, obs.frame_number
        self._eyes = np.asarray(obs.face.eye_openness(), dtype=np.float64)[self._eye_order]
        if self.audio is None:
            lf = obs.face.lip_frame(obs.capture_s)
            self._lips, self._lips_s, self._names = lf.points, now_s, tuple(lf.names)
            self._prosody = None
            self._lips_camera, self._lips_sample = obs.frame_number, None

    # --- one tick -------------------------------------------------------------------------

    def drop_backlog(self) -> None:
        """Discard what the sources delivered before the first tick (while the other
        devices and sinks were opening): a live avatar starts from the present."""
        if self.audio is not None and self.n_ticks == 0:
            self._audio_offset += len(self.audio.read())
        if self.face is not None:
            self.face.latest()

    def step(self, index: int, now_s: float, due_s: float | None = None) -> Frame:
        """Decide frame ``index`` (time index / fps) with what the sources hold at ``now_s``
        (clock seconds) and offer it to the sinks. Returns the engine's frame."""
        t0, cpu0 = time.perf_counter(), time.thread_time()
        self._pull_audio(now_s)
        self._pull_face(now_s)
        fresh = self._lips is not None and now_s - self._lips_s <= self._stale_s
        points = self._lips if fresh else self.engine.rest_lips(self._names)
        if not fresh:
            self.n_stale += 1
        face_fresh = now_s - self._head_s <= self._stale_s
        head = self._head if face_fresh else None
        eyes = self._eyes if face_fresh else None
        prosody = self._prosody if fresh else None
        frames = self.engine.push([LipFrame(index / self.fps, points, self._names, prosody)],
                                  head, eyes)
        frame = frames[-1]  # more than one only after skipped ticks: show the newest
        camera = self._lips_camera if fresh else None
        if camera is None and head is not None:
            camera = self._head_camera
        live = LiveFrame(frame, now_s if due_s is None else due_s,
                         self._lips_sample if fresh else None, camera, time.perf_counter())
        for _, worker in self._workers:
            worker.offer(live)
        self.n_ticks += 1
        self.last_step_s = time.perf_counter() - t0
        self.last_step_cpu_s = time.thread_time() - cpu0
        return frame

    def poll_sinks(self) -> bool:
        """Run the sinks' UI work in this thread; False when one asks to stop. A sink whose
        thread failed raises its error here."""
        go_on = True
        for sink, worker in self._workers:
            if worker.error is not None:
                raise worker.error
            poll = getattr(sink, "poll", None)
            if poll is not None and poll() is False:
                go_on = False
        return go_on

    def sink_stats(self) -> dict[str, dict[str, int]]:
        return {s.name: {"handled": w.n_handled, "dropped": w.n_dropped}
                for s, w in self._workers}

    def run(self, clock: FrameClock, *, stop: threading.Event | None = None,
            duration_s: float | None = None,
            on_tick: Callable[[Frame], None] | None = None) -> None:
        """Step on ``clock``'s schedule until ``stop`` is set, ``duration_s`` has passed (clock
        seconds since the first tick), or a sink asks to stop. KeyboardInterrupt propagates
        (the caller's context managers release the devices)."""
        self.drop_backlog()
        with realtime_settings():
            while stop is None or not stop.is_set():
                shutdown.check()  # SIGTERM ends the run like Ctrl-C
                tick = clock.wait()
                if duration_s is not None and tick.due_s - clock.start_s >= duration_s:
                    return
                frame = self.step(tick.index, tick.due_s + tick.late_s, tick.due_s)
                if on_tick is not None:
                    on_tick(frame)
                if not self.poll_sinks():
                    return

    def close(self) -> None:
        """Stop the sink threads (a blocked sink is abandoned after a short wait)."""
        for _, worker in self._workers:
            worker.close(timeout_s=1.0)

    def __enter__(self) -> LiveLoop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
