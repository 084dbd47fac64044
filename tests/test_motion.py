import math

import numpy as np
import pytest

from animator.stages.motion import AxisRange, MotionParams, MotionSynth, ease, seed_head_motion


class _FixedRng:
    """Stands in for numpy's Generator with chosen draws: A = 2 deg, f = 1 Hz, no jitter."""

    def uniform(self, lo, hi):
        return 2.0 if hi == 3.0 else 1.0

    def normal(self, mean, std, n):
        return np.zeros(n)


def test_seed_motion_hand_computed():
    # 51 frames at 25 fps: duration floor(2.04) = 2 s, t_k = 0.04 k.
    v = seed_head_motion(51, 25.0, _FixedRng())
    assert v.shape == (51, 3)
    # t = 0.2: 2 sin(0.4 pi) (1 - cos(0.2 pi)) / 2
    expect = 2 * math.sin(0.4 * math.pi) * (1 - math.cos(0.2 * math.pi)) / 2
    assert v[5, 0] == pytest.approx(expect, abs=1e-12)
    assert v[5, 0] == pytest.approx(0.18163563, abs=1e-6)
    # t = 1.0 (sin 2 pi = 0) and the envelope is 0 at t = 0 and t = 2.
    np.testing.assert_allclose(v[[0, 25, 50]], 0.0, atol=1e-12)
    # t = 0.88: clamped to the amplitude? 2 sin(1.76 pi) * ease(0.88) -> within [-2, 2]
    assert np.all(np.abs(v) <= 2.0)


def test_seed_motion_squeezes_time_and_clamps():
    rng = np.random.default_rng(0)
    v = seed_head_motion(20, 25.0, rng)  # under 1 s: t = 0 everywhere, jitter only
    assert np.all(np.abs(v) < 0.5)
    v = seed_head_motion(2500, 25.0, np.random.default_rng(3))
    assert np.all(np.abs(v) <= 3.0)


def test_ease_endpoints():
    assert ease(0.0) == 0.0 and ease(1.0) == pytest.approx(1.0) and ease(0.5) == pytest.approx(0.5)


def _run(fps, seed, masks, params=None):
    synth = MotionSynth(fps, np.random.default_rng(seed), params)
    return np.array([synth.step(m) for m in masks])


def test_natural_is_deterministic_for_a_seed_and_differs_across_seeds():
    masks = np.ones(500)
    np.testing.assert_array_equal(_run(25, 7, masks), _run(25, 7, masks))
    assert not np.allclose(_run(25, 7, masks), _run(25, 8, masks))


def test_natural_is_smooth_through_redraws():
    """Crossfaded redraws and smoothed jitter: no frame-to-frame jump larger than what the
    fastest oscillator (5 deg at 0.6 Hz) plus jitter can do."""
    masks = np.r_[np.ones(300), np.zeros(100), np.ones(600)]  # with a speech onset
    v = _run(25, 1, masks)
    step = np.abs(np.diff(v, axis=0)).max()
    assert step < 2 * np.pi * 5.0 * 0.6 / 25 * 1.6


def test_idle_floor_keeps_silence_moving_but_small():
    params = MotionParams(onset_level=2.0)  # no onsets: both runs draw the same numbers
    idle = _run(25, 2, np.zeros(2000), params)
    talk = _run(25, 2, np.ones(2000), params)
    assert idle.std(axis=0).min() > 0.05  # breathes
    np.testing.assert_allclose(idle, params.idle_floor * talk, atol=1e-12)


def test_amplitudes_stay_in_range():
    params = MotionParams()
    v = _run(25, 4, np.ones(5000))
    for k, axis in enumerate(params.axes):
        # oscillator amplitude plus a few jitter sigmas
        assert np.abs(v[:, k]).max() <= axis.amplitude_deg[1] * (1 + 4 * params.jitter_frac)


def test_jitter_statistics_do_not_depend_on_fps():
    params = MotionParams(axes=(AxisRange((2.0, 2.0), (0.1, 0.1)),) * 3, jitter_frac=0.5)

    def jitter_std(fps):
        synth = MotionSynth(fps, np.random.default_rng(0), params)
        return np.std([synth._jitter.copy() for _ in range(int(400 * fps))
                       if synth.step(1.0) is not None], axis=0).mean()

    s25, s100 = jitter_std(25), jitter_std(100)
    assert s25 == pytest.approx(1.0, rel=0.15)  # 0.5 x 2 deg
    assert s100 == pytest.approx(s25, rel=0.15)


def test_scaled_to_extent():
    p = MotionParams().scaled_to_extent(np.array([8.0, 12.0, 0.0]))
    assert p.axes[1].amplitude_deg == pytest.approx((0.4 * 12, 0.9 * 12))
    assert p.axes[2] == MotionParams().axes[2]  # no roll poses: defaults kept


def test_params_validated():
    with pytest.raises(ValueError):
        AxisRange((3.0, 1.0), (0.1, 0.2))
    with pytest.raises(ValueError):
        MotionParams(idle_floor=1.5)
