"""The webcam path with the real FaceTracker: a clip rendered from the toon character played
as a webcam; the face disappears for a while and comes back."""

from __future__ import annotations

import numpy as np
import pytest

from animator.engine import Engine, EngineConfig
from animator.live.clock import FrameClock
from animator.live.loop import LiveLoop
from animator.rig import load_rig
from animator.sources.camera import TrackedCamera
from benchmarks.live import make_face_video
from keypoints.assets import default_rig_dir

FPS = 30.0


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("cam") / "face.avi"
    return make_face_video(path, 4.5, FPS, width=320, blank=(1.5, 3.0))


def test_face_lost_goes_idle_and_tracking_resumes(clip):
    rig = load_rig(default_rig_dir())
    frames = []

    class Recorder:
        name = "recorder"

        def send(self, live):
            pass

    with TrackedCamera(clip) as cam:
        loop = LiveLoop(Engine(rig, EngineConfig(fps=FPS, head="tracked")), [Recorder()],
                        face=cam)
        with loop:
            loop.run(FrameClock(FPS), duration_s=4.5, on_tick=frames.append)
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
