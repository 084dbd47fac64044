"""benchmarks.memory_camera: a clip decoded ahead plays as a webcam with the file's frames,
each read a copy, in a loop."""

from __future__ import annotations

import cv2
import numpy as np

from benchmarks.memory_camera import MemoryCapture, MemoryTrackedCamera
from benchmarks.realdata import realdata_dir
from tests.waiting import wait_for

CLIP = realdata_dir() / "talking_faces" / "sbwe5n.mpg"


def test_memory_capture_reads_the_files_frames_as_copies_and_rewinds():
    cap = MemoryCapture.decode(CLIP, max_frames=10)
    plain = cv2.VideoCapture(str(CLIP))
    assert cap.isOpened() and cap.get(cv2.CAP_PROP_FPS) == plain.get(cv2.CAP_PROP_FPS) == 25
    first = []
    for _ in range(10):
        ok, got = cap.read()
        _, want = plain.read()
        assert ok and np.array_equal(got, want)
        first.append(got)
    assert cap.read() == (False, None)  # the end, as a file's
    assert cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    again = cap.read()[1]
    assert np.array_equal(again, first[0]) and again is not first[0]
    again[:] = 0  # the reader owns its copy
    assert cap.set(cv2.CAP_PROP_POS_FRAMES, 0) and cap.read()[1].any()


def test_memory_tracked_camera_loops_the_clip_through_the_tracker():
    class Tracker:
        def __init__(self):
            self.means = []

        def process(self, rgb):
            self.means.append(float(rgb.mean()))

    tracker = Tracker()
    with MemoryTrackedCamera(CLIP, tracker=tracker, loop=True) as cam:
        n = len(cam._memory._frames)
        wait_for(lambda: len(tracker.means) > n + 2, 20, "a second pass over the clip")
    assert n == 75
    assert tracker.means[n:n + 2] == tracker.means[:2]  # started again at its first frame
