"""The webcam path with the real FaceTracker: a clip rendered from the toon character played
as a webcam; the face disappears for a while and comes back.

The loop is stepped on the clip's own schedule (tick i sees camera frame i, tracked when it is
asked for), so what is tested is the loop's and engine's behaviour, never how fast this machine
runs FaceMesh (the threaded camera itself is tested in test_live_sources.py)."""

from __future__ import annotations

import numpy as np
import pytest

from animator.engine import Engine, EngineConfig
from animator.live.loop import LiveLoop
from animator.rig import default_rig_dir, load_rig
from animator.sources.camera import Observation
from benchmarks.live import make_face_video

FPS = 30.0


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("cam") / "face.avi"
    return make_face_video(path, 4.5, FPS, width=320, blank=(1.5, 3.0))


class ClipCamera:
    """The clip as a camera whose newest frame at tick i is frame i, tracked on demand."""

    def __init__(self, path, tracker) -> None:
        import cv2

        cap = cv2.VideoCapture(str(path))
        self._frames = []
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            self._frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        cap.release()
        self._tracker = tracker
        self.tick = 0

    def latest(self) -> Observation | None:
        i = min(self.tick, len(self._frames) - 1)
        t = i / FPS
        return Observation(i, t, t, self._tracker.process(self._frames[i]))


def test_face_lost_goes_idle_and_tracking_resumes(clip):
    from keypoints.face import FaceTracker

    rig = load_rig(default_rig_dir())
    frames = []
    with FaceTracker() as tracker:
        cam = ClipCamera(clip, tracker)
        loop = LiveLoop(Engine(rig, EngineConfig(fps=FPS, head="tracked")), [], face=cam)
        with loop:
            for i in range(round(4.5 * FPS)):
                cam.tick = i
                frames.extend(loop.step(i, i / FPS))
    t = np.array([f.t_s for f in frames])
    pitch = np.array([f.angles_deg[0] for f in frames])
    opening = np.array([f.mouth[0] for f in frames])
    face, lost, back = (t >= 0.8) & (t < 1.5), (t >= 2.4) & (t < 3.0), t >= 3.9
    # The avatar's pitch follows what FaceMesh reads on the clip itself (mirroring keeps
    # pitch), whatever that reading is.
    measured = _clip_pitch_deg(clip, FPS)
    tm = np.arange(len(measured)) / FPS
    for seg, (a, b) in ((face, (0.8, 1.5)), (back, (3.9, 4.5))):
        want = np.nanmedian(measured[(tm >= a) & (tm < b)])
        assert abs(np.median(pitch[seg]) - want) < 3
    assert np.abs(pitch[lost]).max() < 3  # idle motion while the face is gone
    assert np.all(opening[lost] == 0)  # the rest mouth
    assert opening[face | back].max() > 0.05  # the toon speaks in the clip


def _clip_pitch_deg(path, fps: float) -> np.ndarray:
    """FaceMesh's pitch reading of every frame of the clip (NaN where no face)."""
    import cv2

    from keypoints.face import FaceTracker

    cap = cv2.VideoCapture(str(path))
    out = []
    with FaceTracker() as tracker:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            obs = tracker.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            out.append(np.nan if obs is None else obs.head_pose_deg()[0])
    cap.release()
    return np.array(out)
