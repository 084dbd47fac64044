"""Yaw directions: recovery on known ground truth, the leak of a correlated attribute, the
per-side split on a curved path, the .npz file, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from animator.authoring.latent.directions import (
    DirectionFitter,
    LatentDirections,
    LatentError,
    apply_yaw,
    weighted_line_fit,
    yaw_step,
)
from animator.authoring.latent.synthetic import (
    EDGES_30,
    curvature_proof,
    direction_scores,
    landmark_setup,
    leak_data,
    turn_errors,
)


@pytest.fixture(scope="module")
def leak():
    return leak_data(np.random.default_rng(3))


def test_weighted_line_fit_is_exact_on_a_line():
    x = np.array([1.0, 4.0, 7.0, 12.0])
    a, b = np.array([0.5, -2.0, 3.0]), np.array([0.1, 0.0, -0.3])
    slope, intercept, res, r2 = weighted_line_fit(x, a + x[:, None] * b, np.full(4, 0.25))
    np.testing.assert_allclose(slope, b, atol=1e-12)
    np.testing.assert_allclose(intercept, a, atol=1e-12)
    assert np.abs(res).max() < 1e-12 and r2 == pytest.approx(1.0)


def test_weights_pull_the_line_towards_heavy_bins():
    x = np.array([0.0, 1.0, 2.0])
    y = np.array([[0.0], [1.0], [4.0]])
    light = weighted_line_fit(x, y, np.array([0.45, 0.45, 0.1]))[0][0]
    heavy = weighted_line_fit(x, y, np.array([0.1, 0.1, 0.8]))[0][0]
    assert heavy > light


def test_matched_fit_recovers_the_yaw_direction_and_naive_fit_leaks_light(leak):
    fitter = DirectionFitter(bin_edges=EDGES_30)
    matched = direction_scores(
        fitter.fit(leak["embeddings"], leak["yaw"], leak["groups"], match="centre"),
        leak["d_yaw"], leak["d_light"])
    naive = direction_scores(fitter.fit(leak["embeddings"], leak["yaw"]), leak["d_yaw"],
                             leak["d_light"])
    for side in ("positive", "negative"):
        assert matched[side]["cos_yaw"] >= 0.97
        assert matched[side]["leak_light"] <= 0.02
        assert naive[side]["leak_light"] > 0.2  # light correlated with yaw leaks in
        assert naive[side]["cos_yaw"] < matched[side]["cos_yaw"] - 0.03


def test_matching_on_any_single_light_group_removes_the_leak(leak):
    for group in ("left", "right"):
        dirs = DirectionFitter(bin_width_deg=6.0).fit(leak["embeddings"], leak["yaw"],
                                                      leak["groups"], match=group)
        sc = direction_scores(dirs, leak["d_yaw"], leak["d_light"])
        assert all(v["leak_light"] <= 0.05 and v["cos_yaw"] >= 0.97 for v in sc.values())
        assert dirs.match == group


def test_slope_magnitude_is_per_degree(leak):
    dirs = DirectionFitter(bin_edges=EDGES_30).fit(leak["embeddings"], leak["yaw"],
                                                   leak["groups"], match="centre")
    for fit in (dirs.positive, dirs.negative):
        assert float(fit.slope @ leak["d_yaw"]) == pytest.approx(leak["s"], rel=0.03)
        assert fit.r2 > 0.9
        assert fit.centroids.shape == (6, 64) and fit.residuals.shape == (6, 64)
        assert fit.weights.sum() == pytest.approx(1.0)
    assert np.all(dirs.positive.bin_edges >= 0) and np.all(dirs.negative.bin_edges <= 0)


def test_two_lines_beat_one_on_a_curved_path():
    proof = curvature_proof(seed=1)
    two, one = proof["two_lines"], proof["one_line"]
    assert two["mean_rms"] < 0.8 * one["mean_rms"]
    big = [i for i, r in enumerate(two["per_angle"]) if abs(r["target"]) >= 25]
    for i in big:
        assert two["per_angle"][i]["rms"] < one["per_angle"][i]["rms"]
    assert two["max_yaw_error"] < 1.0 < one["max_yaw_error"]


def test_apply_moves_along_each_side_and_across_zero():
    setup = landmark_setup(seed=2, n=1500, n_points=30)
    dirs = DirectionFitter(bin_edges=EDGES_30).fit(setup["Z"], setup["yaw"])
    z = np.zeros(dirs.dim)
    np.testing.assert_allclose(apply_yaw(z, dirs, 10.0), 10.0 * dirs.positive.slope)
    np.testing.assert_allclose(apply_yaw(z, dirs, -10.0), -10.0 * dirs.negative.slope)
    np.testing.assert_allclose(yaw_step(dirs, -5.0, 10.0),
                               -10.0 * dirs.positive.slope - 5.0 * dirs.negative.slope)
    np.testing.assert_allclose(yaw_step(dirs, 7.0, 7.0), 0.0)
    batch = apply_yaw(np.ones((3, dirs.dim)), dirs, 5.0)
    assert batch.shape == (3, dirs.dim)
    rows = turn_errors(dirs, setup, [-20.0, 20.0])
    assert all(abs(r["measured"] - r["target"]) < 1.0 for r in rows)
    with pytest.raises(LatentError, match="does not match"):
        apply_yaw(np.zeros(dirs.dim + 1), dirs, 5.0)


def test_npz_round_trip(tmp_path, leak):
    dirs = DirectionFitter(bin_width_deg=7.5).fit(leak["embeddings"], leak["yaw"],
                                                  leak["groups"], match="left", space="test")
    path = tmp_path / "dirs.npz"
    dirs.save(path)
    back = LatentDirections.load(path)
    assert back.match == "left" and back.space == "test"
    for side in ("positive", "negative"):
        a, b = dirs.side(side), back.side(side)
        for key in ("slope", "intercept", "bin_edges", "bin_angles", "centroids", "counts",
                    "weights", "residuals"):
            np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
        assert a.r2 == b.r2
    assert "positive" in back.summary() and "R^2" in back.summary()
    naive = DirectionFitter().fit(leak["embeddings"], leak["yaw"])
    naive.save(path)
    assert LatentDirections.load(path).match is None


def test_bad_files_are_refused(tmp_path):
    with pytest.raises(LatentError, match="not found"):
        LatentDirections.load(tmp_path / "nope.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(LatentError, match="junk.npz"):
        LatentDirections.load(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(LatentError, match="not a latent directions file"):
        LatentDirections.load(tmp_path / "other.npz")


def _simple(n=200, dim=4, lo=-30, hi=30, seed=0):
    rng = np.random.default_rng(seed)
    yaw = rng.uniform(lo, hi, n)
    return rng.standard_normal((n, dim)) + yaw[:, None] * 0.1, yaw


def test_errors_name_the_problem():
    Z, yaw = _simple()
    with pytest.raises(LatentError, match="at least 3 needed"):
        DirectionFitter(bin_width_deg=15.0).fit(Z, yaw)
    with pytest.raises(LatentError, match="negative side"):
        DirectionFitter().fit(*_simple(lo=1, hi=30))
    gap = (np.abs(yaw) < 10) | (np.abs(yaw) >= 15)
    with pytest.raises(LatentError, match=r"empty yaw bin.*\[\+10, \+15\)"):
        DirectionFitter(bin_width_deg=5.0).fit(Z[gap], yaw[gap])
    dropped = DirectionFitter(bin_width_deg=5.0, on_empty="drop").fit(Z[gap], yaw[gap])
    assert len(dropped.positive.bin_angles) == 5
    bad = Z.copy()
    bad[7, 2] = np.nan
    with pytest.raises(LatentError, match="non-finite.*row 7"):
        DirectionFitter().fit(bad, yaw)
    yaw_inf = yaw.copy()
    yaw_inf[3] = np.inf
    with pytest.raises(LatentError, match="non-finite"):
        DirectionFitter().fit(Z, yaw_inf)
    with pytest.raises(LatentError, match="one angle per embedding"):
        DirectionFitter().fit(Z, yaw[:-1])
    with pytest.raises(LatentError, match="needs group labels"):
        DirectionFitter().fit(Z, yaw, match="left")
    with pytest.raises(LatentError, match="no sample has group 'up'"):
        DirectionFitter().fit(Z, yaw, np.array(["left"] * len(yaw)), match="up")
    with pytest.raises(LatentError, match="straddles yaw 0"):
        DirectionFitter(bin_edges=[-30, -15, -5, 5, 15, 30]).fit(Z, yaw)


@pytest.mark.parametrize("params, message", [
    ({"bin_width_deg": 0.0}, "bin_width_deg"),
    ({"bin_edges": [0, 10, 5]}, "strictly increasing"),
    ({"min_bins": 1}, "min_bins"),
    ({"weights": "huge"}, "weights"),
    ({"on_empty": "ignore"}, "on_empty"),
])
def test_parameters_are_validated(params, message):
    Z, yaw = _simple()
    with pytest.raises(LatentError, match=message):
        DirectionFitter(**params).fit(Z, yaw)
