import math
from dataclasses import replace

import numpy as np
import pytest

from animator.stages.motion import AxisRange, MotionParams, MotionSynth, ease, reference_head_motion


class _FixedRng:
    """Stands in for numpy's Generator with chosen draws: A = 2 deg, f = 1 Hz, no jitter."""

    def uniform(self, lo, hi):
        return 2.0 if hi == 3.0 else 1.0

    def normal(self, mean, std, n):
        return np.zeros(n)


def test_seed_motion_hand_computed():
    # 51 frames at 25 fps: duration floor(2.04) = 2 s, t_k = 0.04 k.
    v = reference_head_motion(51, 25.0, _FixedRng())
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
    v = reference_head_motion(20, 25.0, rng)  # under 1 s: t = 0 everywhere, jitter only
    assert np.all(np.abs(v) < 0.5)
    v = reference_head_motion(2500, 25.0, np.random.default_rng(3))
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
    # no onsets: both runs draw the same numbers; no listening state: the same speed
    params = replace(MotionParams(onset_level=2.0).speech_blind(), listen_rate=1.0)
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


# --- motion that follows the speech --------------------------------------------------------

def _accent_train(n, fps=25.0, seed=0):
    """An accent envelope: bumps (~80 ms wide, 0.1-0.5 high) at random times 200-600 ms apart."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fps
    accent = np.zeros(n)
    at = 0.3
    while at < t[-1]:
        accent += rng.uniform(0.1, 0.5) * np.exp(-0.5 * ((t - at) / 0.04) ** 2)
        at += rng.uniform(0.2, 0.6)
    return accent


def _speed(angles, fps=25.0):
    return np.linalg.norm(np.diff(angles, axis=0, prepend=angles[:1]), axis=1) * fps


def _best_r(speed, accent, lags=(0, 1, 2)):
    return max(np.corrcoef(speed[lag:], accent[:len(accent) - lag])[0, 1] for lag in lags)


def test_head_speed_follows_an_accent_train():
    n = 25 * 60
    accent = _accent_train(n)
    params = MotionParams().scaled_to_extent(np.array([8.0, 12.0, 8.0]))
    for seed in (0, 1, 2):
        synth = MotionSynth(25, np.random.default_rng(seed), params)
        speaking = np.array([synth.step(1.0, a) for a in accent])
        assert _best_r(_speed(speaking), accent) > 0.5
        blind = MotionSynth(25, np.random.default_rng(seed), params.speech_blind())
        deaf = np.array([blind.step(1.0, a) for a in accent])
        assert abs(_best_r(_speed(deaf), accent)) < 0.15
        # without audio (a camera source: accent None) there are no beats at all
        synth = MotionSynth(25, np.random.default_rng(seed), params)
        no_audio = np.array([synth.step(1.0, None) for _ in accent])
        zero = MotionSynth(25, np.random.default_rng(seed), params)
        np.testing.assert_array_equal(no_audio, [zero.step(1.0, 0.0) for _ in accent])


def test_motion_gain_scales_every_angle_and_zero_is_still():
    accent = _accent_train(1000)
    masks = np.r_[np.ones(400), np.zeros(200), np.ones(400)]

    def run(gain):
        synth = MotionSynth(25, np.random.default_rng(3), MotionParams(), gain)
        return np.array([synth.step(m, a) for m, a in zip(masks, accent, strict=True)])

    assert not run(0.0).any()
    np.testing.assert_allclose(run(2.0), 2.0 * run(1.0), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError):
        MotionSynth(25, np.random.default_rng(0), MotionParams(), -1.0)


def test_listening_between_utterances_is_calmer_and_settles():
    params = MotionParams()
    masks = np.tile(np.r_[np.ones(150), np.zeros(150)], 6)  # 6 s speech, 6 s pause
    accent = _accent_train(len(masks)) * masks
    speeds = {"speaking": [], "listening": []}
    for seed in range(4):
        synth = MotionSynth(25, np.random.default_rng(seed), params)
        v = _speed(np.array([synth.step(m, a) for m, a in zip(masks, accent, strict=True)]))
        for start in range(0, len(masks), 300):  # skip the transitions
            speeds["speaking"].append(np.median(v[start + 50:start + 150]))
            speeds["listening"].append(np.median(v[start + 200:start + 300]))
    assert np.median(speeds["listening"]) < 0.25 * np.median(speeds["speaking"])


def test_beats_relax_after_a_phrase_end_with_a_settling_nod():
    params = MotionParams()
    masks = np.r_[np.ones(100), np.zeros(75)]
    accent = _accent_train(len(masks)) * masks

    def run(p):
        synth = MotionSynth(25, np.random.default_rng(0), p)
        return np.array([synth.step(m, a) for m, a in zip(masks, accent, strict=True)])

    # beats draw from their own generator: the difference is the beats' own offset
    beats = run(params) - run(replace(params, beat_rate=0.0, settle_frac=0.0))
    assert np.abs(beats[:100]).max() > 1.0  # the accents moved the head ...
    assert np.abs(beats[-1]).max() < 0.1 * np.abs(beats[:100]).max()  # ... and it settled
    settle = run(replace(params, beat_rate=0.0)) - run(replace(params, beat_rate=0.0,
                                                                   settle_frac=0.0))
    end = 100 + round(params.phrase_gap_s * 25)  # the phrase end is known this late
    assert not settle[:end].any() and settle[end:, 0].min() < -0.1 * params.axes[0].amplitude_deg[1]
    assert not settle[:, 1:].any()  # a nod: pitch only


def test_speech_blind_mode_ignores_the_accent():
    params = MotionParams().speech_blind()
    masks = np.r_[np.ones(300), np.zeros(100), np.ones(300)]
    a = MotionSynth(25, np.random.default_rng(5), params)
    b = MotionSynth(25, np.random.default_rng(5), params)
    accent = _accent_train(len(masks))
    np.testing.assert_array_equal([a.step(m, x) for m, x in zip(masks, accent, strict=True)],
                                  [b.step(m) for m in masks])
