"""The webcam path with the real FaceTracker: a clip rendered from the toon character played
as a webcam; the face disappears for a while and comes back."""

from __future__ import annotations

import numpy as np
import pytest

from animator.engine import Engine, EngineConfig
from animator.live.camera import TrackedCamera
from animator.live.clock import FrameClock
from animator.live.loop import LiveLoop
from animator.rig import load_rig
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
    # FaceMesh reads the toon's face as looking up ~15 deg: the avatar mirrors that.
    assert np.median(pitch[face]) > 8 and np.median(pitch[back]) > 8
    assert np.abs(pitch[lost]).max() < 3  # idle motion while the face is gone
    assert np.all(opening[lost] == 0)  # the rest mouth
    assert opening[face | back].max() > 0.05  # the toon speaks in the clip
