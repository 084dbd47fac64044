"""A clip decoded ahead into memory, played as a webcam (``benchmarks.live --camera memory``).

A video file as the camera (``--camera file``, what ``animator live --camera FILE`` does)
costs its decoding on every frame: ~1.3-2 ms of CPU for a 700 x 700 H.264 frame at 30 fps on
this machine, ~4-6 % of a core, paid by the benchmark and by nobody using a real webcam. Here
every frame is decoded before the run and each read hands out a copy of one (as a capture
buffer is copied out of the driver's), so the figure leaves out the file's decoding but not
a capture's copy, its BGR -> RGB conversion, FaceMesh and everything after. A real webcam adds
its own capture cost (a V4L2 dequeue, an MJPEG decode or a YUYV conversion) instead.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from animator.sources.camera import TrackedCamera


class MemoryCapture:
    """The part of ``cv2.VideoCapture`` that ``animator.sources.camera.Camera`` uses, over
    BGR frames uint8[H, W, 3] held in memory at ``fps``."""

    def __init__(self, frames: list[np.ndarray], fps: float) -> None:
        if not frames:
            raise ValueError("no frames")
        self._frames, self._fps, self._next = frames, fps, 0

    @classmethod
    def decode(cls, path: Path, max_frames: int = 900) -> MemoryCapture:
        """The first ``max_frames`` frames of a video file (900: 30 s at 30 fps, ~1.3 GB
        at 700 x 700; the timing clip, news_4, has ~200)."""
        cap = cv2.VideoCapture(str(path))
        fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
        frames = []
        while len(frames) < max_frames:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(bgr)
        cap.release()
        return cls(frames, fps)

    def isOpened(self) -> bool:  # noqa: N802 (cv2's name)
        return True

    def get(self, prop: int) -> float:
        return self._fps if prop == cv2.CAP_PROP_FPS else 0.0

    def set(self, prop: int, value: float) -> bool:
        if prop == cv2.CAP_PROP_POS_FRAMES:
            self._next = int(value)
            return True
        return False

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self._next >= len(self._frames):
            return False, None
        self._next += 1
        return True, self._frames[self._next - 1].copy()

    def release(self) -> None:
        pass


class MemoryTrackedCamera(TrackedCamera):
    """A :class:`TrackedCamera` of a video file whose frames come from a
    :class:`MemoryCapture` decoded when it is made (not timed)."""

    def __init__(self, source: Path, **kwargs) -> None:
        super().__init__(source, **kwargs)
        self._memory = MemoryCapture.decode(self.source)

    def _open(self) -> MemoryCapture:
        self._memory.set(cv2.CAP_PROP_POS_FRAMES, 0)
        return self._memory
