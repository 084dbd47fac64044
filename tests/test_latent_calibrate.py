"""Closed-loop yaw in the landmark space: the step is adjusted until the geometric estimator
reads the requested angle within 1 degree."""

from __future__ import annotations

import numpy as np
import pytest

from animator.authoring.latent import geometry
from animator.authoring.latent.calibrate import calibrate_yaw
from animator.authoring.latent.directions import DirectionFitter, LatentError, apply_yaw
from animator.authoring.latent.synthetic import (
    closed_loop_proof,
    facemesh_closed_loop_proof,
    landmark_setup,
)


@pytest.mark.parametrize("read_gain", [1.0, 0.7])
def test_closed_loop_reaches_the_requested_yaw(read_gain):
    proof = closed_loop_proof(seed=5, fit_range=10.0, read_gain=read_gain)
    for row in proof["per_target"]:
        assert row["converged"]
        assert abs(row["closed_loop"] - row["target"]) <= 1.0, row
    far = [r for r in proof["per_target"] if abs(r["target"]) == 30.0]
    assert all(abs(r["open_loop"] - r["target"]) > 1.0 for r in far)  # the loop was needed


def test_closed_loop_on_facemesh_landmarks_with_the_face_trackers_head_pose():
    proof = facemesh_closed_loop_proof(seed=7, n=600)
    assert abs(proof["source_reads"]) < 0.5
    for row in proof["per_target"]:
        assert row["converged"] and abs(row["closed_loop"] - row["target"]) <= 1.0, row
    assert any(abs(r["open_loop"] - r["target"]) > 1.0 for r in proof["per_target"])


@pytest.fixture(scope="module")
def landmarks():
    setup = landmark_setup(seed=6, n=1500, n_points=40)
    dirs = DirectionFitter(bin_edges=np.arange(-10.0, 10.1, 2.5)).fit(setup["Z"], setup["yaw"])
    space = setup["space"]
    z0 = space.encode(setup["source_px"])[0]
    return dirs, space, z0, space.decode(z0)[0]


def test_result_reports_what_it_reached(landmarks):
    dirs, space, z0, ref = landmarks
    result = calibrate_yaw(z0, dirs, lambda z: space.decode(z)[0],
                           lambda p: geometry.estimate_yaw_deg(p, ref), 25.0, tol_deg=0.2)
    assert result.converged and abs(result.error_deg) <= 0.2
    assert result.iterations == len(result.history) >= 2
    np.testing.assert_allclose(result.z, apply_yaw(z0, dirs, result.step_deg))
    assert geometry.estimate_yaw_deg(result.decoded, ref) == pytest.approx(result.measured_deg)
    assert result.step_deg > 25.0  # the tangent line under-turns: a larger step was needed


def test_from_a_turned_source(landmarks):
    dirs, space, z0, ref = landmarks
    z_src = apply_yaw(z0, dirs, 10.0)

    def measure(p):
        return geometry.estimate_yaw_deg(p, ref)

    result = calibrate_yaw(z_src, dirs, lambda z: space.decode(z)[0], measure, -15.0,
                           source_yaw_deg=10.0)
    assert result.converged and abs(result.measured_deg + 15.0) <= 1.0


def test_unreachable_target_is_reported_not_hidden(landmarks):
    dirs, space, z0, ref = landmarks
    result = calibrate_yaw(z0, dirs, lambda z: space.decode(z)[0], lambda p: 0.0, 20.0,
                           max_iter=8)
    assert not result.converged and result.measured_deg == 0.0
    assert result.iterations <= 8
    with pytest.raises(LatentError, match="estimator gave nan"):
        calibrate_yaw(z0, dirs, lambda z: z, lambda p: float("nan"), 10.0)
    with pytest.raises(LatentError, match="tol_deg"):
        calibrate_yaw(z0, dirs, lambda z: z, lambda p: 0.0, 10.0, tol_deg=0.0)
