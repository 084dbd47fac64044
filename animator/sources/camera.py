"""Camera in for live mode: a webcam (index) or a video file played in real time as if it
were one, with the face tracked in the capture thread.

:class:`Camera` reads frames in its own thread and keeps only the newest; a video file is
paced by its frame rate (``loop`` starts it again at its end). :class:`TrackedCamera` runs a
face tracker on each captured frame in that same thread, so the frame loop only picks up the
newest observation and never waits for FaceMesh; the head pose, eyes and lips are computed
there too (``FaceObservation.measure``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from animator.core.errors import LiveError
from animator.core.mailbox import LatestSlot

#: A webcam that stops delivering is reopened after this many seconds.
REOPEN_S = 1.0
#: Video files with frames up to this size are decoded by the capture thread alone: FFmpeg's
#: own decoder threads add wake-ups (a 700 x 700 H.264 clip at 30 fps: ~6.3 -> ~5.7 % of a
#: core, the same frames). Bigger frames keep FFmpeg's threads so that decoding keeps up.
ONE_DECODER_THREAD_MAX_PX = 1280 * 720


@dataclass(frozen=True)
class CapturedFrame:
    number: int  # frames captured so far, from 0
    capture_s: float  # clock time the frame was read, seconds
    rgb: np.ndarray  # uint8[H, W, 3]


def parse_camera(text: str) -> int | Path:
    """'0' -> device index 0; anything else -> a video file path."""
    return int(text) if text.isdigit() else Path(text)


class Camera:
    """cv2.VideoCapture of a device index or a video file, in a thread; ``latest()`` returns
    the newest frame not yet returned, or None. Use as a context manager."""

    def __init__(self, source: int | str | Path, *, loop: bool = False,
                 now: Callable[[], float] = time.perf_counter) -> None:
        self.source = source if isinstance(source, int) else Path(source)
        self.is_file = not isinstance(self.source, int)
        if self.is_file and not self.source.is_file():
            raise LiveError(f"{self.source}: video file not found")
        self._loop = loop
        self._now = now
        self._slot: LatestSlot[CapturedFrame] = LatestSlot()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cap: cv2.VideoCapture | None = None
        self.n_captured = 0
        self.ended = False  # a file reached its end (without ``loop``)

    def _open(self) -> cv2.VideoCapture:
        if self.is_file:
            cap = cv2.VideoCapture(str(self.source), cv2.CAP_ANY, [cv2.CAP_PROP_N_THREADS, 1])
            size = cap.get(cv2.CAP_PROP_FRAME_WIDTH) * cap.get(cv2.CAP_PROP_FRAME_HEIGHT)
            if not cap.isOpened() or size > ONE_DECODER_THREAD_MAX_PX:
                cap.release()
                cap = cv2.VideoCapture(str(self.source))
        else:
            cap = cv2.VideoCapture(self.source)
        if not cap.isOpened():
            cap.release()
            what = "video file" if self.is_file else "camera"
            raise LiveError(f"cannot open {what} {self.source}")
        return cap

    def __enter__(self) -> Camera:
        self._cap = self._open()
        self._thread = threading.Thread(target=self._run, name="camera", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._slot.close()
        if self._thread is not None:
            self._thread.join(2.0)
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def _run(self) -> None:
        cap = self._cap
        fps = cap.get(cv2.CAP_PROP_FPS) if self.is_file else 0.0
        period = 1.0 / fps if fps and fps > 0 else 1.0 / 30.0
        start = self._now()
        n_file = 0  # frames read from the file since ``start``
        while not self._stop.is_set():
            if self.is_file:  # pace like a device: frame n is available at start + n / fps
                wait = start + n_file * period - self._now()
                if wait > 0 and self._stop.wait(wait):
                    return
            ok, bgr = cap.read()
            if not ok:
                if self.is_file and self._loop:
                    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    continue
                if self.is_file:
                    self.ended = True
                    return
                cap.release()  # a webcam that stopped (unplugged): reopen until it is back
                while not self._stop.wait(REOPEN_S):
                    try:
                        cap = self._cap = self._open()
                        break
                    except LiveError:
                        continue
                continue
            n_file += 1
            self._deliver(CapturedFrame(self.n_captured, self._now(),
                                        cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
            self.n_captured += 1

    def _deliver(self, frame: CapturedFrame) -> None:
        self._slot.put(frame)

    def latest(self) -> CapturedFrame | None:
        return self._slot.take(timeout_s=0.0)


@dataclass(frozen=True)
class Observation:
    """A face tracked in one camera frame (``face`` None: no face found)."""

    frame_number: int
    capture_s: float
    tracked_s: float  # clock time the tracker finished, seconds
    face: Any  # keypoints.face.FaceObservation | None


class TrackedCamera(Camera):
    """A :class:`Camera` whose ``latest()`` returns :class:`Observation`\\ s: the tracker
    (``keypoints.face.FaceTracker`` unless one is given) runs in the capture thread."""

    def __init__(self, source: int | str | Path, *, tracker: Any = None, loop: bool = False,
                 now: Callable[[], float] = time.perf_counter) -> None:
        super().__init__(source, loop=loop, now=now)
        self._tracker = tracker
        self._own_tracker = tracker is None
        self._obs: LatestSlot[Observation] = LatestSlot()

    def __enter__(self) -> TrackedCamera:
        if self._tracker is None:
            from keypoints.face import FaceTracker

            self._tracker = FaceTracker(static_image_mode=False)
        try:
            super().__enter__()
        except BaseException:
            self._close_tracker()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._obs.close()
        super().__exit__(*exc)
        self._close_tracker()

    def _close_tracker(self) -> None:
        if self._own_tracker and self._tracker is not None:
            self._tracker.close()
            self._tracker = None

    def _deliver(self, frame: CapturedFrame) -> None:
        face = self._tracker.process(frame.rgb)
        measure = getattr(face, "measure", None)
        if measure is not None:  # head, eyes and lips now, while this thread is awake and
            measure()  # warm: the loop's tick then only reads them (~0.6 ms cold there)
        self._obs.put(Observation(frame.number, frame.capture_s, self._now(), face))

    def latest(self) -> Observation | None:  # type: ignore[override]
        return self._obs.take(timeout_s=0.0)
