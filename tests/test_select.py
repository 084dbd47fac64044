import numpy as np
import pytest

from animator.rig import DEFAULT_MOUTH_SHAPES, endpoint_relpath, load_rig
from animator.stages.mouth import MouthPaths
from animator.stages.selection import FrameSelector, PoseSelector, SelectParams, speech_paths

GRID = np.array([[0, 0, 0], [0, 12, 0], [0, -12, 0], [8, 0, 0], [-8, 0, 0]], dtype=float)


def _switches(choices):
    return int(np.count_nonzero(np.diff(choices)))


def test_pose_hysteresis_limits_switches_on_a_slow_noisy_angle():
    """Yaw drifting slowly across the centre/left boundary (6 deg) with 0.5 deg noise: the
    nearest pose alone flickers; the selector switches at most a few times."""
    fps = 25
    rng = np.random.default_rng(0)
    t = np.arange(10 * fps) / fps
    yaw = 6 + 1.0 * np.sin(2 * np.pi * 0.1 * t) + 0.5 * rng.standard_normal(len(t))
    angles = np.stack([np.zeros_like(yaw), yaw, np.zeros_like(yaw)], axis=1)
    nearest = np.argmin(np.linalg.norm(angles[:, None] - GRID[None], axis=2), axis=1)
    sel = PoseSelector(GRID, fps, SelectParams())
    chosen = [sel.step(a) for a in angles]
    assert _switches(nearest) > 30  # the naive choice flickers
    assert _switches(chosen) <= 10  # at most one a second
    assert _switches(chosen) * 5 < _switches(nearest)
    # The minimum hold is respected.
    runs = np.diff(np.flatnonzero(np.diff(chosen) != 0))
    assert np.all(runs >= SelectParams().pose_min_hold_s * fps)


def test_pose_selector_follows_clear_moves():
    sel = PoseSelector(GRID, 25, SelectParams())
    path = [[0, 0, 0]] * 10 + [[0, 12, 0]] * 10 + [[-8, 0, 0]] * 10
    chosen = [sel.step(np.array(a, float)) for a in path]
    assert chosen[9] == 0 and chosen[19] == 1 and chosen[29] == 4


def test_mouth_paths_projection():
    rest = np.array([0.0, 1.0])
    paths = MouthPaths(rest, np.array([[0.6, 1.0], [0.2, 1.2]]))
    place = paths.place(np.array([0.3, 1.0]))
    assert place.path == 0 and place.t == pytest.approx(0.5) and place.distance < 1e-12
    place = paths.place(np.array([0.1, 1.1]))
    assert place.path == 1 and place.t == pytest.approx(0.5)
    assert paths.place(np.array([2.0, 1.0])).t == 1.0  # clipped at the target
    with pytest.raises(ValueError):
        MouthPaths(rest, np.array([[0.0, 1.0]]))


def test_speech_paths_of_the_seed_rig(reference_rig):
    rig = load_rig(reference_rig)
    paths = {p.target: p for p in speech_paths(rig)}
    # happy_soft squints, surprised_ah raises brows, blink_closed has the rest mouth.
    assert set(paths) == {"speaking_ah", "speaking_ee", "speaking_uw"}
    assert paths["speaking_ah"].base_path.id == "neutral_to_speaking_ah"
    assert paths["speaking_uw"].reversed  # the seed's speaking_uw_to_neutral runs backwards


def _shape(mouth):
    s = DEFAULT_MOUTH_SHAPES[mouth]
    return np.array([s["open"], s["wide"]])


def test_frame_selector_walks_the_tweens(reference_rig):
    rig = load_rig(reference_rig)
    sel = FrameSelector(rig, 25)
    zero = np.zeros(3)
    rest, ah = _shape("neutral"), _shape("ah")
    c = sel.step(zero, rest)
    assert c.image == endpoint_relpath("neutral", "center") and c.expression == "neutral"
    c = sel.step(zero, rest + 0.5 * (ah - rest))
    assert c.image == "sequences/neutral_to_speaking_ah__center/050.png"
    c = sel.step(zero, ah)
    assert c.expression == "speaking_ah"
    assert c.image == endpoint_relpath("speaking_ah", "center")
    # A reversed path: 25 % of the way to uw is the uw->neutral sequence's t = 0.75 frame.
    uw = _shape("uw")
    for _ in range(3):
        c = sel.step(zero, rest + 0.25 * (uw - rest))
    assert c.image == "sequences/speaking_uw_to_neutral__center/075.png"


def test_frame_selector_pose_and_residual(reference_rig):
    rig = load_rig(reference_rig)
    sel = FrameSelector(rig, 25)
    c = sel.step(np.array([0.0, 0.0, 9.0]), _shape("neutral"))
    assert c.pose == "tilt_left_small"
    np.testing.assert_allclose(c.residual_deg, [0, 0, 1.0])
    assert c.image == endpoint_relpath("neutral", "tilt_left_small")


def test_nearest_pose_scan_and_kdtree_agree():
    import animator.stages.selection as sel_mod

    rng = np.random.default_rng(0)
    poses = rng.uniform(-15, 15, (200, 3))
    queries = rng.uniform(-20, 20, (500, 3))
    tree = PoseSelector(poses, 25, SelectParams())
    assert tree._tree is not None
    scan = PoseSelector(poses[:sel_mod.BRUTE_FORCE_MAX_POSES], 25, SelectParams())
    assert scan._tree is None
    small_tree = PoseSelector(poses[:sel_mod.BRUTE_FORCE_MAX_POSES], 25, SelectParams())
    from scipy.spatial import cKDTree

    small_tree._tree = cKDTree(small_tree.angles_deg)
    for q in queries:
        want = int(np.argmin(np.linalg.norm(poses - q, axis=1)))
        assert tree.nearest(q) == want
        assert scan.nearest(q) == small_tree.nearest(q)


def test_nearest_tween_and_residual_clamp_match_the_plain_scan_and_numpy():
    from animator.stages.selection import _clamp, _nearest

    rng = np.random.default_rng(0)
    for _ in range(300):
        ts = sorted(rng.choice([0.0, 0.1, 0.25, 0.3, 0.5, 0.75, 1.0], rng.integers(1, 9)).tolist())
        for t in [*rng.uniform(-0.2, 1.2, 5).tolist(), *ts, 0.175, 0.4, 0.625, 0.875]:
            assert _nearest(ts, t) == min(range(len(ts)), key=lambda j: abs(ts[j] - t))
    values = [-np.inf, -11.0, -10.0, -0.0, 0.0, 3.5, 10.0, 10.5, np.inf, np.nan]
    for lim in (10.0, 0.5, 4):
        got = np.array([_clamp(x, lim) for x in values])
        want = np.minimum(np.maximum(np.array(values), -lim), lim)
        assert got.tobytes() == want.tobytes()  # bit for bit, -0.0 and NaN included
    # (lim 0: numpy's vector loops pick either zero when -0.0 meets 0.0: equal values)
    np.testing.assert_array_equal([_clamp(x, 0.0) for x in values],
                                  np.minimum(np.maximum(np.array(values), -0.0), 0.0))
