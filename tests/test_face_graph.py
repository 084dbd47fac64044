"""keypoints.face_graph: FaceMesh in the calling thread gives the stock solution's landmarks
bit for bit on real faces, starts no thread, and leaves the caller's frames alone."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from benchmarks.realdata import realdata_dir
from keypoints.face import FaceTracker
from keypoints.face_graph import APPLICATION_THREAD, CallerThreadFaceMesh, landmark_rows

TALKING = realdata_dir() / "talking_faces"
OPTIONS = {"max_num_faces": 1, "refine_landmarks": True}


def rgb_frames(name: str, n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(TALKING / name))
    out = []
    while len(out) < n:
        ok, bgr = cap.read()
        if not ok:
            break
        out.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    assert len(out) == n
    return out


def stock_landmarks(frames: list[np.ndarray], static: bool) -> list[np.ndarray | None]:
    """What ``mp.solutions.face_mesh.FaceMesh`` (thread pool, process()) returns."""
    import mediapipe as mp

    out = []
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=static, **OPTIONS) as mesh:
        for rgb in frames:
            found = mesh.process(rgb).multi_face_landmarks
            out.append(None if not found else np.array(
                [(p.x, p.y, p.z) for p in found[0].landmark], np.float32))
    return out


def threads_now() -> set[str]:
    return set(os.listdir("/proc/self/task"))


@pytest.mark.parametrize(("clip", "n", "static"), [("news_4.mp4", 60, False),
                                                     ("bbaf2n.mpg", 40, False),
                                                     ("lrwp9a.mpg", 6, True)])
def test_same_landmarks_as_the_stock_solution_without_a_thread(clip, n, static):
    frames = rgb_frames(clip, n)
    frames.append(np.full_like(frames[0], 128))  # no face: both give None, tracking resumes
    frames.extend(frames[:3])
    want = stock_landmarks(frames, static)
    before = threads_now()
    with CallerThreadFaceMesh(static_image_mode=static, **OPTIONS) as mesh:
        got = [mesh.landmarks(rgb) for rgb in frames]
        assert threads_now() <= before  # the graph ran here: no pool, no XNNPACK workers
        # and the solution's own process() still reads the same graph
        again = mesh.process(frames[0]).multi_face_landmarks[0]
    assert [g is None for g in got] == [w is None for w in want] == [False] * n + [True] + [
        False] * 3
    for g, w in zip(got, want, strict=True):
        assert g is None or (g.shape == (478, 3) and np.array_equal(g, w))
    assert np.array(
        [(p.x, p.y, p.z) for p in again.landmark], np.float32).shape == (478, 3)


def test_the_graph_runs_in_the_caller_with_the_solutions_options():
    with CallerThreadFaceMesh(static_image_mode=False, min_detection_confidence=0.7,
                              **OPTIONS) as mesh:
        (executor,) = mesh.graph_config.executor
        assert (executor.name, executor.type) == ("", APPLICATION_THREAD)
        # FaceMesh's side inputs arrived unchanged (tracking, iris refinement, one face)
        assert set(mesh._input_side_packets) == {"num_faces", "with_attention",
                                                 "use_prev_landmarks"}
    with pytest.raises(RuntimeError):
        mesh.landmarks(np.zeros((8, 8, 3), np.uint8))


def test_the_callers_frame_is_shared_not_changed_nor_locked():
    rgb = rgb_frames("news_4.mp4", 1)[0]
    copy = rgb.copy()
    with FaceTracker() as tracker:
        obs = tracker.process(rgb)
        assert obs is not None and obs.landmarks_px.shape == (478, 3)
        assert rgb.flags.writeable and np.array_equal(rgb, copy)
        rgb[:] = 0  # the caller may reuse its buffer at once
        assert tracker.process(rgb) is None
        # a strided view (not C-contiguous) is copied first, then read as usual
        assert tracker.process(np.ascontiguousarray(copy[:, ::-1])[:, ::-1]) is not None


def test_landmark_rows_reads_other_layouts_by_parsing():
    from mediapipe.framework.formats.landmark_pb2 import NormalizedLandmarkList

    odd = NormalizedLandmarkList()
    odd.landmark.add(x=0.25, y=-1.5, z=0.0)  # z = 0 is left off the wire
    odd.landmark.add(x=1.0, y=2.0, z=3.0, visibility=0.9)
    assert np.array_equal(landmark_rows(odd.SerializeToString()),
                          [[0.25, -1.5, 0.0], [1.0, 2.0, 3.0]])
    assert landmark_rows(b"").shape == (0, 3)


def test_measures_are_computed_once_exactly_and_handed_out_as_copies():
    """``measure`` (the camera thread's) gives what the lazy reads give, bit for bit, and
    the head fit against the cached reference statistics is ``similarity_fit``'s."""
    from keypoints.face import FaceObservation, load_reference, similarity_fit

    ref = load_reference()
    with FaceTracker() as tracker:
        faces = [tracker.process(rgb) for rgb in rgb_frames("news_2.mp4", 12)]
    for obs in faces:
        lazy = FaceObservation(obs.landmarks_px, obs.image_size)
        obs.measure()
        assert {"_angles", "_eyes", "_lips"} <= set(vars(obs))
        for a, b in [(obs.head_pose_deg(), lazy.head_pose_deg()),
                     (obs.eye_openness(), lazy.eye_openness()),
                     (obs.lip_frame(0.5).points, lazy.lip_frame(0.5).points)]:
            assert np.array_equal(a, b)
        scale, rot, shift = similarity_fit(ref.points[ref.rigid],
                                           obs.world_points()[ref.rigid])
        assert scale == obs.head_fit()[0]
        assert np.array_equal(rot, obs.head_fit()[1]) and np.array_equal(shift,
                                                                          obs.head_fit()[2])
        head = obs.head_pose_deg()
        head[:] = 0  # a copy: the next reader gets the measure
        assert np.array_equal(obs.head_pose_deg(), lazy.head_pose_deg())
        lips = obs.lip_frame(1.0)
        assert lips.t_s == 1.0 and lips.names == lazy.lip_frame(0.0).names


def test_similarity_fit_matches_the_textbook_form_also_for_a_reflection():
    """The plain-float determinant sign and the identity shortcut give the numbers of
    Umeyama's form with ``np.linalg.det`` and the diag matrix, bit for bit."""
    from animator.core.geometry import rotation_matrix
    from keypoints.face import similarity_fit

    def textbook(src, dst):
        w = np.ones(len(src)) / len(src)
        mu_s, mu_d = w @ src, w @ dst
        a, b = src - mu_s, dst - mu_d
        u, sig, vt = np.linalg.svd((b * w[:, None]).T @ a)
        fix = np.diag([1.0, 1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
        rot = u @ fix @ vt
        scale = float((sig * np.diag(fix)).sum() / float(w @ (a ** 2).sum(1)))
        return scale, rot, mu_d - scale * rot @ mu_s

    rng = np.random.default_rng(3)
    src = rng.normal(size=(40, 3))
    turned = 2.0 * src @ rotation_matrix(5.0, -9.0, 14.0).T + 0.01 * rng.normal(size=(40, 3))
    for dst in (turned, turned * np.array([-1.0, 1.0, 1.0])):  # the second one is mirrored
        got, want = similarity_fit(src, dst), textbook(src, dst)
        assert got[0] == want[0] and np.array_equal(got[1], want[1])
        assert np.array_equal(got[2], want[2]) and np.linalg.det(got[1]) > 0
