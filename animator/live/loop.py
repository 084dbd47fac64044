"""The one loop, live and offline: a source -> the :class:`~animator.engine.Engine` -> sinks,
one tick at a time.

Each tick the loop asks its source for what arrived (:class:`Reading`: lip frames, maybe a
measured head), feeds the engine, and offers the frames it decided to every sink, each in its
own thread. What differs between live and offline is only the clock and the sinks' mailboxes:

- live (:class:`LiveLoop`): a wall clock (:class:`~animator.live.clock.FrameClock`), sources
  read at each tick (:class:`LiveInputs`: the newest audio lips or face), and one-slot mailboxes:
  a slow sink only drops its own frames, each sink shows the newest frame.
- offline (``animator.render``): an as-fast-as-possible clock
  (:class:`~animator.live.clock.FastClock`), a file source, and queues: every frame reaches
  every sink in order, and the loop waits while a sink's queue is full, so an encoder runs on
  the other core with bounded memory.

Live inputs older than ``stale_s`` (face lost, device unplugged, audio underrun) are replaced
by the rest mouth and a missing head measurement by None: the engine then goes on with idle
motion, and recovers as soon as data returns. Everything kept per tick is O(1): the loop can
run for hours.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from animator.core import shutdown
from animator.core.errors import warn_input
from animator.core.mailbox import SinkWorker
from animator.core.types import Frame, LiveFrame, Sink
from animator.engine import Engine
from animator.live.clock import FastClock, FrameClock
from animator.live.realtime import realtime_settings
from keypoints.lips import REQUIRED_NAMES, LipFrame, rest_points
from keypoints.stream import AudioLipStream

#: Inputs older than this (seconds) count as lost.
STALE_S = 0.25


class AudioInput(Protocol):
    sample_rate: int

    def read(self) -> np.ndarray: ...


class FaceInput(Protocol):
    def latest(self) -> Any: ...  # animator.sources.camera.Observation | None


@dataclass(frozen=True)
class Reading:
    """What a source delivers for one tick."""

    lips: Sequence[LipFrame]  # lip frames to feed the engine, in time order
    head_deg: np.ndarray | None = None  # float[3] head measured for the frames decided
    #: centre sample of the audio lips shown (see LiveFrame), None without fresh audio
    audio_sample: int | None = None
    camera_frame: int | None = None  # camera frame the lips/head come from, or None
    eyes: np.ndarray | None = None  # float[2] eye ratios measured for those frames
    #: the source has ended and its media lasts ``end_s`` seconds: the loop finishes the
    #: engine (the last frames, or every frame in the reference modes) and stops
    end_s: float | None = None


class Source(Protocol):
    """Where the loop's lips (and head) come from: ``read`` is called once per tick."""

    def read(self, index: int, now_s: float) -> Reading: ...

    def drop_backlog(self) -> None: ...


class FrameLoop:
    """Steps ``engine`` with ``source`` once per tick and hands the decided frames to
    ``sinks``. ``step(index, now_s)`` is the whole per-tick work; :meth:`run` drives it from
    a clock.

    queue_size: None (live): one-slot mailboxes, the newest frame only is shown. A number
    (offline): each sink's queue holds that many frames, every frame is shown in order.
    A sink whose ``inline`` attribute is true runs in the loop's thread (cheap work that
    never blocks: a collector, the web page's hand-off to its clients' mailboxes); the
    others get a thread each (each thread woken per frame costs CPU: a context switch or
    more and a GIL hand-over).
    """

    def __init__(self, engine: Engine, source: Source, sinks: Sequence[Sink] = (), *,
                 queue_size: int | None = None) -> None:
        self.engine = engine
        self.source = source
        self.fps = engine.config.fps
        self._queued = queue_size is not None
        self._inline = [s for s in sinks if getattr(s, "inline", False)]
        self._n_inline = 0  # frames handed to the inline sinks
        self._workers = [(s, SinkWorker(s.send, f"sink-{s.name}", queue_size))
                         for s in sinks if not getattr(s, "inline", False)]
        self.finished = False  # the source ended and the engine gave its last frames
        self.n_ticks = 0
        self.last_step_s = 0.0  # compute time of the last step (wall clock), seconds
        #: CPU time this thread spent in the last step, seconds: below ``last_step_s`` when
        #: the thread waited (for a core the machine gave to others, for the GIL, or for
        #: room in a sink's queue)
        self.last_step_cpu_s = 0.0

    def drop_backlog(self) -> None:
        self.source.drop_backlog()

    def step(self, index: int, now_s: float, due_s: float | None = None) -> list[Frame]:
        """Tick ``index`` at clock time ``now_s``: feed the engine what the source holds and
        offer the frames to the sinks. Returns the frames shown (live: the newest one)."""
        t0, cpu0 = time.perf_counter(), time.thread_time()
        reading = self.source.read(index, now_s)
        frames = self.engine.push(reading.lips, reading.head_deg, reading.eyes)
        if reading.end_s is not None:
            frames += self.engine.finish(reading.end_s, reading.head_deg, reading.eyes)
            self.finished = True
        # live: more than one only after skipped ticks, and a one-slot mailbox keeps the newest
        shown = frames if self._queued else frames[-1:]
        for frame in shown:
            # offline, the frame's own media time; live, the tick's due time
            due = frame.t_s if self._queued else (now_s if due_s is None else due_s)
            live = LiveFrame(frame, due, reading.audio_sample, reading.camera_frame,
                             time.perf_counter())
            for sink in self._inline:
                sink.send(live)
            self._n_inline += 1
            for _, worker in self._workers:
                worker.offer(live)
        self.n_ticks += 1
        self.last_step_s = time.perf_counter() - t0
        self.last_step_cpu_s = time.thread_time() - cpu0
        return shown

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
        """{sink name: {handled, dropped}}: an inline sink handles every frame shown (and
        drops what it reports in its own ``n_dropped``, e.g. the web page's slow clients)."""
        stats = {s.name: {"handled": self._n_inline, "dropped": getattr(s, "n_dropped", 0)}
                 for s in self._inline if getattr(s, "name", None)}
        stats.update({s.name: {"handled": w.n_handled, "dropped": w.n_dropped}
                      for s, w in self._workers})
        return stats

    def run(self, clock: FrameClock | FastClock, *, stop: threading.Event | None = None,
            duration_s: float | None = None,
            on_tick: Callable[[Frame], None] | None = None) -> None:
        """Step on ``clock``'s schedule until the source ends, ``stop`` is set, ``duration_s``
        has passed (clock seconds since the first tick), or a sink asks to stop.
        ``on_tick`` is called with every frame shown. KeyboardInterrupt propagates (the
        caller's context managers release the devices)."""
        self.drop_backlog()
        with realtime_settings():
            while not self.finished and (stop is None or not stop.is_set()):
                shutdown.check()  # SIGTERM ends the run like Ctrl-C
                tick = clock.wait()
                if duration_s is not None and tick.due_s - clock.start_s >= duration_s:
                    clock.stop_before(tick, math.ceil(duration_s / clock.period_s - 1e-9))
                    return
                shown = self.step(tick.index, tick.due_s + tick.late_s, tick.due_s)
                if on_tick is not None:
                    for frame in shown:
                        on_tick(frame)
                if not self.poll_sinks():
                    return

    def close(self) -> None:
        """Stop the sink threads. Live: a blocked sink is abandoned after a short wait.
        Offline: every queued frame is handled first, and a sink's failure is raised."""
        for _, worker in self._workers:
            worker.close(timeout_s=None if self._queued else 1.0)
        if self._queued:
            for _, worker in self._workers:
                if worker.error is not None:
                    raise worker.error

    def abandon(self) -> None:
        """Stop the sink threads without handling what is still queued (the run failed)."""
        for _, worker in self._workers:
            worker.abandon()
        for _, worker in self._workers:
            worker.close(timeout_s=1.0)

    def __enter__(self) -> FrameLoop:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is not None and self._queued:
            self.abandon()
        else:
            self.close()


class LiveInputs:
    """The live source: each tick, the newest lips from the microphone (through MappingNet)
    or the face, stamped with the tick's time, and the newest measured head.

    audio + lip_stream: lips from speech (MappingNet); face: lips (when there is no audio)
    and head angles (``Engine`` head modes ``tracked``/``mix``) from a tracked camera.
    mirror: the avatar moves like the user's reflection (yaw and roll negated, the user's
    left eye drives the avatar's right one). rest_lips(names): the keypoints fed while the lip
    source is silent or lost (the engine's resting mouth).
    """

    def __init__(self, fps: float, *, audio: AudioInput | None = None,
                 lip_stream: AudioLipStream | None = None, face: FaceInput | None = None,
                 mirror: bool = True, stale_s: float = STALE_S,
                 rest_lips: Callable[[tuple[str, ...]], np.ndarray] = rest_points) -> None:
        if (audio is None) != (lip_stream is None):
            raise ValueError("audio needs a lip_stream (and a lip_stream needs audio)")
        self.fps = fps
        self.audio, self.lip_stream, self.face = audio, lip_stream, face
        self._mirror = np.array([1.0, -1.0, -1.0]) if mirror else np.ones(3)
        self._stale_s = stale_s
        self._rest_lips = rest_lips
        names = lip_stream.model.keypoint_names if lip_stream is not None else REQUIRED_NAMES
        self._names: tuple[str, ...] = tuple(names)
        self._lips: np.ndarray | None = None  # newest fresh lip keypoints float32[K, 3]
        self._lips_s = -np.inf  # when they arrived
        self._lips_sample: int | None = None
        self._prosody = None  # the speech's prosody at the newest lips (audio only)
        self._viseme: str | None = None  # the mouth shape heard there (a shape model)
        self._audio_offset = 0  # source samples dropped before the first tick
        self._lips_camera: int | None = None
        self._head: np.ndarray | None = None  # newest measured head, float[3] degrees
        self._head_s = -np.inf
        self._head_camera: int | None = None
        self._eyes: np.ndarray | None = None  # newest eye ratios float[2] (left, right)
        #: mirrored, the user's left eye drives the avatar's right one
        self._eye_order = [1, 0] if mirror else [0, 1]
        self._warned_nonfinite = False
        self._started = False
        self.n_stale = 0  # ticks shown with rest lips because the lip source was silent

    # --- devices --------------------------------------------------------------------------

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
            self._prosody, self._viseme = newest.prosody, newest.viseme
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
            self._prosody = self._viseme = None
            self._lips_camera, self._lips_sample = obs.frame_number, None

    def drop_backlog(self) -> None:
        """Discard what the sources delivered before the first tick (while the other
        devices and sinks were opening): a live avatar starts from the present."""
        if self.audio is not None and not self._started:
            self._audio_offset += len(self.audio.read())
        if self.face is not None:
            self.face.latest()

    def read(self, index: int, now_s: float) -> Reading:
        """One lip frame for tick ``index`` (stamped ``index / fps``) with what the devices
        hold at ``now_s`` (clock seconds), and the head measured within ``stale_s``."""
        self._started = True
        self._pull_audio(now_s)
        self._pull_face(now_s)
        fresh = self._lips is not None and now_s - self._lips_s <= self._stale_s
        points = self._lips if fresh else self._rest_lips(self._names)
        if not fresh:
            self.n_stale += 1
        face_fresh = now_s - self._head_s <= self._stale_s
        head = self._head if face_fresh else None
        camera = self._lips_camera if fresh else None
        if camera is None and head is not None:
            camera = self._head_camera
        prosody, viseme = (self._prosody, self._viseme) if fresh else (None, None)
        return Reading([LipFrame(index / self.fps, points, self._names, prosody, viseme)], head,
                       self._lips_sample if fresh else None, camera,
                       self._eyes if face_fresh else None)


class LiveLoop(FrameLoop):
    """The loop in live mode: :class:`LiveInputs` as the source, one-slot mailboxes."""

    def __init__(self, engine: Engine, sinks: Sequence[Sink] = (), *,
                 audio: AudioInput | None = None, lip_stream: AudioLipStream | None = None,
                 face: FaceInput | None = None, mirror: bool = True,
                 stale_s: float = STALE_S) -> None:
        super().__init__(engine, LiveInputs(engine.config.fps, audio=audio,
                                            lip_stream=lip_stream, face=face, mirror=mirror,
                                            stale_s=stale_s, rest_lips=engine.rest_lips),
                         sinks)

    @property
    def n_stale(self) -> int:
        return self.source.n_stale

    def __enter__(self) -> LiveLoop:
        return self
