"""The engine's per-frame path works on Python floats (numpy costs more than the maths on
vectors of 2-5 elements): the stages agree with numpy's arithmetic on the same small arrays
to rounding, treat NaN, infinities and -0.0 as numpy does, take arrays and tuples alike,
and the engine's frames do not depend on how the lips are chunked."""

import math

import numpy as np
import pytest

from animator.core.types import EYES_OPEN
from animator.engine import Engine, EngineConfig
from animator.stages.eyes import BlinkDetector, BlinkParams
from animator.stages.finite_lips import all_finite, finite_stand_ins
from animator.stages.mouth import MouthPaths, argmin_first, mouth_features, open_wide_w
from animator.stages.mouth_rest import MouthRest, MouthRestParams
from animator.stages.mouth_shapes import _NAMES, SHAPE_MOUTHS, shape_from_mouth
from animator.stages.selection import FrameSelector, PoseSelector, SelectParams, _clamp
from animator.stages.speaking import SpeakingDetector
from keypoints.assets import assets_dir
from keypoints.audio import load_audio
from keypoints.lips import REQUIRED_NAMES, LipFrame
from keypoints.stream import AudioLipStream

DEMO = assets_dir() / "audio" / "demo_speech.ogg"
SPECIAL = [0.0, -0.0, 1e-300, -1e-300, 9.99, 10.0, 10.01, -10.0, -10.01, 1e308, -1e308,
           math.inf, -math.inf, math.nan]


def _same(a: float, b: float) -> bool:
    """Equal, both NaN, and the same sign of zero."""
    return (a != a and b != b) or (a == b and math.copysign(1, a) == math.copysign(1, b))


@pytest.mark.parametrize("x", SPECIAL)
def test_the_residual_clamp_is_numpys_minimum_of_maximum(x):
    want = float(np.minimum(np.maximum(np.float64(x), -10.0), 10.0))
    assert _same(_clamp(x, 10.0), want)


def test_the_residual_of_a_frame_keeps_nan_and_the_sign_of_zero(rig):
    sel = FrameSelector(rig, 25)
    choice = sel.step((-0.0, math.nan, 25.0), (0.0, 1.0))
    pose = np.asarray(rig.config.pose_angles[choice.pose], np.float64)
    want = np.minimum(np.maximum(np.array([-0.0, math.nan, 25.0]) - pose, -10.0), 10.0)
    assert all(_same(a, b) for a, b in zip(choice.residual_deg.tolist(), want.tolist(),
                                           strict=True))


def test_the_pose_scan_picks_numpys_nearest_pose():
    rng = np.random.default_rng(0)
    poses = np.array([[0, 0, 0], [0, 8, 0], [0, -8, 0], [8, 0, 0], [-8, 0, 0], [0, 8, 0]],
                     float)  # a repeated pose: ties go to the lower index
    sel = PoseSelector(poses, 25, SelectParams())
    queries = np.concatenate([rng.normal(0, 6, (500, 3)), [[0, 4, 0], [4, 4, 0]],
                              [[math.nan, 0, 0], [math.inf, 0, 0]]])
    for q in queries:
        d = poses - q
        want = int(np.einsum("pd,pd->p", d, d).argmin())
        assert sel.nearest(q) == sel.nearest(tuple(q.tolist())) == want


def test_mouth_placement_matches_numpy_to_rounding():
    rng = np.random.default_rng(1)
    rest = np.array([0.0, 1.0])
    targets = np.array([[0.55, 0.95], [0.3, 0.82], [0.1, 1.05], [0.33, 1.05]])
    paths = MouthPaths(rest, targets)
    dirs = targets - rest
    len2 = np.einsum("pd,pd->p", dirs, dirs)
    for f in np.concatenate([rng.uniform(-0.5, 1.5, (500, 2)), [[0.0, 1.0], [2.0, 0.0]]]):
        rel = f - rest
        t = np.minimum(np.maximum(dirs @ rel / len2, 0.0), 1.0)
        off = t[:, None] * dirs - rel
        dist = np.sqrt(np.einsum("pd,pd->p", off, off))
        got_t, got_d = paths.place_lists(*f.tolist())
        np.testing.assert_allclose(got_t, t, rtol=0, atol=1e-15)
        np.testing.assert_allclose(got_d, dist, rtol=0, atol=1e-15)
        assert paths.place(f).path == int(dist.argmin())
    t_nan, d_nan = paths.place_lists(math.nan, 1.0)  # NaN stays NaN, as in numpy
    assert all(map(math.isnan, t_nan + d_nan))


def test_argmin_first_is_nps_argmin():
    for values in ([3.0, 1.0, 1.0, 2.0], [1.0], [2.0, math.nan, 0.0, math.nan],
                   [math.nan, 1.0], [math.inf, math.inf], [-0.0, 0.0]):
        assert argmin_first(values) == int(np.argmin(values))


def test_mouth_shape_scan_matches_numpy():
    points = np.array([SHAPE_MOUTHS[n][:2] for n in _NAMES])
    rng = np.random.default_rng(2)
    for m in np.concatenate([rng.uniform(0.0, 0.7, (300, 2)) + [0, 0.6], [[0.2, math.nan]]]):
        d = points - m
        want = _NAMES[int(np.argmin(np.einsum("pd,pd->p", d, d)))] if m[0] >= 0.05 else None
        got = shape_from_mouth(m, 1.0)
        assert got == (want or "A") and shape_from_mouth(tuple(m.tolist()), 1.0) == got


def test_mouth_features_in_double_are_float32s_to_its_rounding():
    rng = np.random.default_rng(3)
    for _ in range(200):
        points = rng.normal(0, 0.4, (4, 3)).astype(np.float32)
        gap = points[2] - points[3]
        want = (max(0.0, float(points[0, 1] - points[1, 1])), float(np.sqrt(gap.dot(gap))))
        got = open_wide_w(*points.tolist())
        np.testing.assert_allclose(got, want, rtol=3e-7, atol=1e-7)
        lf = LipFrame(0.0, points, REQUIRED_NAMES)
        assert mouth_features(lf).tolist() == list(got)


def test_speaking_takes_arrays_and_tuples_alike():
    rng = np.random.default_rng(4)
    lips = np.cumsum(rng.normal(0, 0.01, (300, 2, 3)), axis=0).astype(np.float32)
    a, b = SpeakingDetector(25), SpeakingDetector(25)
    voice = rng.uniform(0, 1, 300).tolist()
    assert ([a.step(x, v) for x, v in zip(lips, voice, strict=True)]
            == [b.step(tuple(map(tuple, x.tolist())), v) for x, v in zip(lips, voice,
                                                                           strict=True)])


def test_a_push_is_checked_for_non_finite_keypoints_once_and_exactly():
    def lip(value):
        return LipFrame(0.0, np.full((4, 3), value, np.float32), REQUIRED_NAMES)

    assert all_finite([lip(0.1), lip(-3.0)])
    assert not all_finite([lip(0.1), lip(np.nan)]) and not all_finite([lip(-np.inf)])
    huge = lip(3e38)  # finite, but its square overflows: looked at frame by frame
    good, n_bad = finite_stand_ins([huge, lip(np.nan), lip(0.2)], None)
    assert n_bad == 1 and good[0] is huge and good[1] is huge and good[2] is not huge
    mixed = [lip(0.1), LipFrame(0.0, np.zeros((6, 3), np.float32), REQUIRED_NAMES)]
    assert finite_stand_ins(mixed, None) == (mixed, 0)  # different keypoint counts


def _record(f):
    c = f.choice
    return (f.index, f.t_s, f.angles_deg.tolist(), f.speaking, f.mouth.tolist(), f.viseme,
            c.pose, c.expression, c.image, c.path_t, c.residual_deg.tolist(),
            f.eyes.closure.tolist(), f.eyes.closed)


@pytest.fixture(scope="module")
def demo_lips(model):
    stream = AudioLipStream(model)
    return stream.push(load_audio(DEMO)) + stream.flush()


@pytest.mark.parametrize("lead", [0.0, 0.06])
def test_the_engine_gives_the_same_frames_whatever_the_chunking(rig, demo_lips, lead):
    """The demo's lips (with prosody: the voice cue and the accents) fed one lip frame per
    push, seven, and all at once: every field of every frame identical, idle blinks on."""
    runs = []
    for chunk in (1, 7, len(demo_lips)):
        eng = Engine(rig, EngineConfig(seed=2, shape_lead_s=lead))
        frames = []
        for s in range(0, len(demo_lips), chunk):
            frames += eng.push(demo_lips[s:s + chunk])
        frames += eng.finish(demo_lips[-1].t_s + 0.01)
        runs.append([_record(f) for f in frames])
    assert runs[0] == runs[1] == runs[2]
    assert len({r[6] for r in runs[0]}) > 1 and any(r[12] for r in runs[0])  # poses, blinks


@pytest.mark.parametrize("window_s", [0.04, 0.2, 0.44, 1.0])
def test_the_blink_detectors_open_level_is_the_median_of_its_window(window_s):
    """A sorted window instead of np.median per frame: the same value (odd and even counts,
    ties), and the closure clamped as np.minimum(np.maximum(.)) did."""
    rng = np.random.default_rng(0)
    det = BlinkDetector(25.0, BlinkParams(window_s=window_s, min_s=0.0))
    n, seen = max(1, round(window_s * 25)), []
    for k in range(300):
        ratios = np.round(rng.uniform(0.05, 0.4, 2), 2 if k % 3 else 6)
        state = det.step(ratios)
        seen.append(ratios)
        level = np.median(np.array(seen[-n:]), axis=0)
        assert det.open_level.tolist() == level.tolist()
        openness = ratios / np.where(level > 1e-6, level, np.inf)
        closure = np.minimum(np.maximum((0.8 - openness) / 0.5, 0.0), 1.0)
        assert state.closure.tolist() == closure.tolist()
    assert det.step(np.array([np.nan, 0.3])) is EYES_OPEN and not det.closed


class _NumpyMouthRest:
    """The learned rest as it was computed before: np.partition and np.median over a ring
    buffer of the whole window, every frame (the reference for the sorted window)."""

    def __init__(self, fps, p, calibrate_s):
        self.p, self.n_window = p, max(1, round(p.window_s * fps))
        self.n_min, self.n_rise = max(1, round(p.min_s * fps)), round(p.open_rise_s * fps)
        self.n_cal, self.buf, self.n = round(calibrate_s * fps), np.zeros((self.n_window, 2)), 0
        self.rest = np.array([0.0, 1.0])

    def step(self, open_raw, wide_raw):
        p = self.p
        self.buf[self.n % self.n_window] = open_raw, wide_raw
        self.n += 1
        n = self.n
        if n <= self.n_cal:
            if n >= min(self.n_min, self.n_cal):
                self.rest = np.median(self.buf[:n], axis=0)
            return
        if not (n > self.n_cal + self.n_window or (not self.n_cal and n >= self.n_min)):
            return
        m = min(n, self.n_window)
        opens, wides = self.buf[:m, 0], self.buf[:m, 1]
        k = min(m - 1, int(p.open_percentile / 100.0 * (m - 1)))
        rest_open = float(np.partition(opens, k)[k])
        if n < self.n_rise:
            rest_open = min(rest_open, 0.0)
        closed = opens <= rest_open + p.closed_margin
        if int(closed.sum()) >= min(p.min_closed_frames, m):
            self.rest = np.array([rest_open, float(np.median(wides[closed]))])
        else:
            self.rest = np.array([rest_open, self.rest[1]])


@pytest.mark.parametrize(("window_s", "calibrate_s"), [(2.0, 0.0), (2.0, 0.5), (0.4, 1.0),
                                                       (30.0, 0.0)])
def test_the_learned_mouth_rest_is_the_numpy_partition_and_median(window_s, calibrate_s):
    """Sorted views of the window instead of np.partition / np.median over it every frame:
    the same rest, frame for frame (ties, a talking spell, a rest that drifts)."""
    params = MouthRestParams(window_s=window_s, min_s=0.2, open_rise_s=1.0)
    rng = np.random.default_rng(6)
    new, ref = MouthRest(25.0, params, calibrate_s), _NumpyMouthRest(25.0, params, calibrate_s)
    for k in range(900):
        talking = (k // 50) % 3 == 1
        open_raw = float(np.round(abs(rng.normal(0.25 if talking else 0.01, 0.05)), 3))
        wide_raw = float(np.round(rng.normal(0.8 + 0.0002 * k, 0.03), 3 if k % 2 else 6))
        new.step((open_raw - 0.01, wide_raw))
        ref.step(open_raw - 0.01, wide_raw)
        assert new.rest.tolist() == ref.rest.tolist(), k
