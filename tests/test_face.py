"""keypoints.face: FaceMesh tracking, head pose signs and lip keypoints on a real photo."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from animator.core.geometry import angles_from_matrix, rotation_matrix
from benchmarks.realdata import realdata_dir
from keypoints.face import FaceTracker, landmark_array, load_reference, similarity_fit
from keypoints.lips import REQUIRED_NAMES

PHOTO = (Path(__file__).resolve().parents[1] / "assets" / "characters" / "astronaut"
         / "endpoints" / "neutral__center.webp")


def read_photo(size_px: int = 320) -> np.ndarray:
    bgr = cv2.imread(str(PHOTO), cv2.IMREAD_COLOR)
    assert bgr is not None, f"{PHOTO} missing"
    return cv2.cvtColor(cv2.resize(bgr, (size_px, size_px), interpolation=cv2.INTER_AREA),
                        cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def tracker():
    with FaceTracker(static_image_mode=True) as t:
        yield t


def test_rotation_round_trip():
    for angles in [(5.0, -12.0, 3.0), (-8.0, 10.0, -7.0), (0.0, 0.0, 20.0)]:
        np.testing.assert_allclose(angles_from_matrix(rotation_matrix(*angles)), angles,
                                   atol=1e-9)
    # Signs: yaw > 0 turns the nose (+z) to +x; roll > 0 tips the top (+y) to +x.
    assert rotation_matrix(0, 10, 0)[0, 2] > 0
    assert rotation_matrix(0, 0, 10)[0, 1] > 0
    assert rotation_matrix(10, 0, 0)[1, 2] > 0


def test_similarity_fit_recovers_a_transform():
    rng = np.random.default_rng(1)
    src = rng.normal(size=(50, 3))
    rot = rotation_matrix(7.0, -4.0, 12.0)
    dst = 3.5 * src @ rot.T + np.array([1.0, -2.0, 0.5])
    scale, got, shift = similarity_fit(src, dst)
    assert scale == pytest.approx(3.5)
    np.testing.assert_allclose(got, rot, atol=1e-9)
    np.testing.assert_allclose(shift, [1.0, -2.0, 0.5], atol=1e-9)


def test_reference_face_is_symmetric_and_complete():
    ref = load_reference()
    assert ref.points.shape == (478, 3)
    assert 100 < len(ref.rigid) < 478
    # The two outer eye corners sit at the same height and depth, one unit apart.
    a, b = ref.points[33], ref.points[263]
    assert np.linalg.norm(a - b) == pytest.approx(1.0, abs=1e-3)
    assert abs(a[1] - b[1]) < 1e-3 and abs(a[2] - b[2]) < 1e-3 and a[0] < 0 < b[0]


def test_finds_the_face_and_not_a_blank(tracker):
    obs = tracker.process(read_photo())
    assert obs is not None
    assert obs.landmarks_px.shape == (478, 3) and obs.landmarks_px.dtype == np.float32
    assert obs.image_size == (320, 320)
    # The face is in the upper middle of the head-and-shoulders picture.
    centre = obs.landmarks_px[:, :2].mean(0)
    assert 100 < centre[0] < 220 and 60 < centre[1] < 200
    assert tracker.process(np.full((320, 320, 3), 128, np.uint8)) is None


def test_landmarks_read_from_wire_bytes_equal_the_attribute_read(tracker):
    from mediapipe.framework.formats.landmark_pb2 import NormalizedLandmarkList

    result = tracker._mesh.process(read_photo())  # FaceMesh's own message, as process gets it
    real = result.multi_face_landmarks[0]
    slow = np.array([(p.x, p.y, p.z) for p in real.landmark], np.float32)
    assert len(real.SerializeToString()) == 17 * 478  # the layout the fast read takes
    assert np.array_equal(landmark_array(real), slow) and slow.shape == (478, 3)
    # other layouts take the attribute path: a zero z, an unset z, visibility set
    odd = NormalizedLandmarkList()
    odd.landmark.add(x=0.25, y=-1.5, z=0.0)
    odd.landmark.add(x=0.5, y=0.75)
    odd.landmark.add(x=1.0, y=2.0, z=3.0, visibility=0.9)
    assert np.array_equal(landmark_array(odd), [[0.25, -1.5, 0.0], [0.5, 0.75, 0.0],
                                                [1.0, 2.0, 3.0]])
    one = NormalizedLandmarkList()
    one.landmark.add(x=0.125, y=0.5, z=-2.0)
    assert np.array_equal(landmark_array(one), [[0.125, 0.5, -2.0]])
    assert landmark_array(NormalizedLandmarkList()).shape == (0, 3)


def test_in_plane_rotation_reads_as_roll_with_the_contract_sign(tracker):
    img = read_photo()
    base = tracker.process(img).head_pose_deg()
    h, w = img.shape[:2]
    for roll in (10.0, -10.0):
        # Roll > 0 tips the head to the viewer's right: clockwise on screen, which is a
        # negative angle for OpenCV.
        m = cv2.getRotationMatrix2D((w / 2, h / 2), -roll, 1.0)
        turned = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
        delta = tracker.process(turned).head_pose_deg() - base
        assert delta[2] == pytest.approx(roll, abs=1.5)
        assert abs(delta[0]) < 2.5 and abs(delta[1]) < 2.5


def test_mirror_image_negates_yaw_and_roll(tracker):
    img = read_photo()
    # Tilt and turn the picture a little first so that the signs are clearly non-zero.
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), -8.0, 1.0)
    tilted = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
    a = tracker.process(tilted).head_pose_deg()
    b = tracker.process(np.ascontiguousarray(tilted[:, ::-1])).head_pose_deg()
    assert a[2] > 5 and b[2] < -5
    assert b[2] == pytest.approx(-a[2], abs=1.5)
    assert b[1] == pytest.approx(-a[1], abs=1.5)
    assert b[0] == pytest.approx(a[0], abs=1.5)


def test_lip_frame_has_the_contract_names_and_units(tracker):
    obs = tracker.process(read_photo())
    frame = obs.lip_frame(1.25)
    assert frame.t_s == 1.25
    assert set(REQUIRED_NAMES) <= set(frame.names)
    assert frame.points.shape == (len(frame.names), 3) and frame.points.dtype == np.float32
    left, right = frame.point("left_corner"), frame.point("right_corner")
    # Origin between the corners, x towards the character's left, unit = rest mouth width.
    np.testing.assert_allclose((left + right) / 2, 0.0, atol=1e-5)
    assert left[0] > 0 > right[0]
    # The astronaut smiles with her lips shut: wider than a mouth at rest, not open.
    assert 1.2 < np.linalg.norm(left - right) < 1.7
    # y up: the upper lip is above (or level with) the lower one; the shipped neutral is shut.
    assert frame.point("upper_lip")[1] >= frame.point("lower_lip")[1] - 0.02
    assert obs.mouth_open() < 0.15


TALKING = realdata_dir() / "talking_faces"


def read_video_frame(path: Path, index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    for _ in range(index + 1):  # read, not seek: MPEG seeking may land a frame off
        ok, bgr = cap.read()
    cap.release()
    assert ok, f"{path}: no frame {index}"
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def test_real_closed_mouths_read_about_one_rest_width_and_eyes_open(tracker):
    """GRID speakers before they speak (frame 2: lips shut, eyes open; many others wait with
    parted lips): the population rest width puts each within 15 % of 1; a blink (bbaf2n
    frame 52) reads as closed eyes."""
    widths = []
    for name in ("bbaf2n.mpg", "sbwe5n.mpg", "lrwp9a.mpg"):
        obs = tracker.process(read_video_frame(TALKING / name, 2))
        frame = obs.lip_frame(0.0)
        widths.append(float(np.linalg.norm(frame.point("left_corner")
                                           - frame.point("right_corner"))))
        assert obs.mouth_open() < 0.05
        assert np.all(obs.eye_openness() > 0.18)
    assert all(0.85 < w < 1.15 for w in widths), widths
    shut = tracker.process(read_video_frame(TALKING / "bbaf2n.mpg", 52)).eye_openness()
    assert np.all(shut < 0.12), shut


def test_tracker_closes(tracker):
    t = FaceTracker(static_image_mode=True)
    with t:
        pass
    with pytest.raises(RuntimeError):
        t.process(read_photo(64))
    with pytest.raises(ValueError):
        tracker.process(np.zeros((8, 8), np.uint8))


def test_native_notice_filter_keeps_other_stderr_lines():
    """In a fresh process (the filter owns fd 2 while any tracker is open in this one)."""
    import subprocess
    import sys

    script = """if True:
        import os
        from keypoints.native_log import native_notices_filtered
        with native_notices_filtered():
            os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n")
            os.write(2, b"W0000 00:00:1795316494.212567   27534 inference_feedback_manager"
                        b".cc:114] Feedback manager requires a model\\n")
            os.write(2, b"a real problem\\n")
            with native_notices_filtered():  # nested blocks share the filter
                os.write(2, b"another line")
        os.write(2, b"; after")
        raise SystemExit(3)
    """
    res = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert res.returncode == 3
    assert res.stderr == b"a real problem\nanother line; after"
