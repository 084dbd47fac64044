import numpy as np
import pytest

from animator.stages.speaking import SpeakingDetector, SpeakingParams, reference_speaking_weights

#: the raw lip-motion decision, without the speaking state's onset confirmation and hangover
RAW = SpeakingParams(onset_s=0.0, hangover_s=0.0)


def _seed_case() -> np.ndarray:
    """5 frames; keypoint A moves at frames 1-3, B jumps at the end (and sets the max)."""
    lips = np.zeros((5, 2, 3))
    lips[2, 0] = 0.3
    lips[4, 1] = 1.0
    return lips


def test_seed_weights_hand_computed_window_7():
    # d_A = [0, .3, .3, 0], d_B = [0, 0, 0, 1] -> w = [0, 1, 1, 1] + [0]
    # padded with three 1s each side: [1 1 1 0 1 1 1 0 1 1 1] -> box sums 6,5,5,5,6
    w = reference_speaking_weights(_seed_case())
    np.testing.assert_allclose(w, np.array([6, 5, 5, 5, 6]) / 7)


def test_seed_weights_hand_computed_window_3():
    w = reference_speaking_weights(_seed_case(), window_frames=3)
    np.testing.assert_allclose(w, [2 / 3, 2 / 3, 1, 2 / 3, 2 / 3])


def test_seed_threshold_is_on_the_mean_over_coordinates():
    lips = np.zeros((3, 2, 3))
    lips[1, 0] = [0.05, 0, 0]  # mean |diff| 0.0167 < 0.02: still silent
    lips[2, 1] = [1.0, 1.0, 1.0]  # sets the clip max to 1 ... and moves B at t=1
    w = reference_speaking_weights(lips, window_frames=1)
    assert w.tolist() == [0.0, 1.0, 0.0]  # last frame always 0


def test_seed_normalises_by_the_clip_so_silence_becomes_speech():
    rng = np.random.default_rng(1)
    quiet = 1e-4 * rng.standard_normal((100, 2, 3))  # lips that do not move
    assert reference_speaking_weights(quiet).mean() > 0.9  # the seed's quirk, reproduced
    det = SpeakingDetector(25)
    assert max(det.step(x) for x in quiet) == 0.0  # the streaming mask says silence


def test_seed_input_shape_checked():
    with pytest.raises(ValueError, match=r"float\[T, 2, 3\]"):
        reference_speaking_weights(np.zeros((4, 3)))


def _talking(fps: float, seconds: float, speech: tuple[float, float]) -> np.ndarray:
    """Lips opening at 4 Hz between speech[0] and speech[1] seconds, still elsewhere."""
    t = np.arange(round(seconds * fps)) / fps
    opening = np.where((t >= speech[0]) & (t < speech[1]),
                       0.15 * (1 - np.cos(2 * np.pi * 4 * t)), 0.0)
    lips = np.zeros((len(t), 2, 3))
    lips[:, 0, 1] = opening / 2
    lips[:, 1, 1] = -opening / 2
    return lips


@pytest.mark.parametrize("fps", [25, 30, 60])
def test_stream_mask_follows_speech_at_any_fps(fps):
    lips = _talking(fps, 6.0, (1.0, 4.0))
    params = SpeakingParams()
    det = SpeakingDetector(fps, params)
    mask = np.array([det.step(x) for x in lips])
    t = np.arange(len(mask)) / fps
    assert np.all(mask[t < 0.95] == 0)
    # Speech: on, but for brief gaps (<= 0.1 s) where the lips touch their resting opening
    # (this talk closes the mouth fully four times a second; the head motion's gain
    # smoothing rides over such gaps).
    talk = mask[(t > 1.1) & (t < 3.9)]
    assert talk.mean() > 0.75
    off_runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[1], talk, [1]]) == 0)))[::2]
    assert off_runs.max(initial=0) <= 0.1 * fps
    assert np.all(mask[t > 4.2 + params.hangover_s] == 0)
    assert np.all((mask >= 0) & (mask <= 1))
    # The onset comes with the first moving frame (causal: no look-ahead), and the offset
    # within the hold after the lips stop (they close at 4.0 s).
    period = 1 / fps
    onset = t[np.argmax(mask > 0.5)]
    assert 1.0 < onset <= 1.0 + period + params.smooth_s + params.onset_s + 0.5 * period
    offset = t[np.flatnonzero(mask > 0.5)[-1]] + period
    assert offset <= 4.0 + params.hold_s + params.hangover_s + 2 * period


def test_lips_closing_onto_rest_end_the_mask_at_once():
    """A mouth that closes onto its resting opening is silent from the frame it arrives;
    the same closing motion stopping half-open keeps the mask on (held vowel)."""
    fps = 25
    n_talk = 50
    t = np.arange(n_talk) / fps
    talk = 0.15 + 0.08 * np.sin(2 * np.pi * 3 * t)  # never near rest while talking
    for end_open, expect_on in ((0.0, False), (0.15, True)):
        opening = np.concatenate([np.zeros(100), talk, np.linspace(talk[-1], end_open, 4),
                                  np.full(10, end_open)])
        lips = np.zeros((opening.size, 2, 3))
        lips[:, 0, 1], lips[:, 1, 1] = opening / 2, -opening / 2
        det = SpeakingDetector(fps, RAW)
        mask = np.array([det.step(x) for x in lips])
        assert mask[105:150].min() == 1
        arrived = 100 + n_talk + 3
        assert (mask[arrived + 1] == 1) == expect_on, end_open


def _open_then_hold(fps: float, rest_open: float, hold_open: float, still_s: float):
    """Lips at rest (opening rest_open) for 5 s, talking for 1 s, then held still at opening
    hold_open for still_s seconds, then back at rest for 1 s."""
    rest = np.full(round(5 * fps), rest_open)
    t = np.arange(round(fps)) / fps
    talk = rest_open + 0.15 * (1 - np.cos(2 * np.pi * 4 * t))
    opening = np.concatenate([rest, talk, np.full(round(still_s * fps), hold_open),
                              np.full(round(fps), rest_open)])
    lips = np.zeros((opening.size, 2, 3))
    lips[:, 0, 1] = opening / 2
    lips[:, 1, 1] = -opening / 2
    return lips


def test_held_open_mouth_sustains_the_mask_for_a_while():
    fps = 25
    params = RAW
    det = SpeakingDetector(fps, params)
    lips = _open_then_hold(fps, 0.0, 0.2, 2.0)
    mask = np.array([det.step(x) for x in lips])
    still_start = 6 * fps
    # a held vowel (still, open) stays speech well past the hold ...
    assert np.all(mask[still_start : still_start + round(0.8 * params.sustain_s * fps)] == 1)
    # ... but not for ever: a mouth left open is silence after sustain_s
    assert np.all(mask[still_start + round(params.sustain_s * fps) + 1 : 8 * fps] == 0)


def test_lips_parted_at_rest_are_not_an_open_mouth():
    """A face whose lips stay parted at rest: stopping with that opening ends the mask after
    the hold, as with closed lips (the resting opening is learnt from the last seconds)."""
    fps = 30
    det = SpeakingDetector(fps, RAW)
    lips = _open_then_hold(fps, 0.12, 0.12, 2.0)
    lips[6 * fps - 8 : 6 * fps, :, 1] = [0.06, -0.06]  # the talk ends back at the rest opening
    mask = np.array([det.step(x) for x in lips])
    assert mask[: 5 * fps].max() == 0
    assert mask[5 * fps + 5 : 6 * fps - 10].mean() > 0.75
    assert mask[6 * fps : 6 * fps + 3].sum() <= 2  # off within the hold, not the sustain
    assert mask[6 * fps + 3 :].max() == 0


def test_stream_mask_is_bounded_lookback():
    """The mask at a frame depends only on a bounded past: two streams that agree on the
    last n frames agree on the mask, whatever came before."""
    fps = 25
    det_a, det_b = SpeakingDetector(fps), SpeakingDetector(fps)
    a = _talking(fps, 4.0, (0.0, 2.0))
    b = np.zeros_like(a)
    tail = _talking(fps, 4.0, (0.0, 4.0))[50:]
    ma = [det_a.step(x) for x in np.concatenate([a, tail])]
    mb = [det_b.step(x) for x in np.concatenate([b, tail])]
    assert ma[-40:] == mb[-40:]


def test_params_validated():
    with pytest.raises(ValueError):
        SpeakingParams(speed_threshold_wps=0)
    with pytest.raises(ValueError):
        SpeakingParams(sustain_s=-1)
    with pytest.raises(ValueError):
        SpeakingParams(rest_window_s=0)
    with pytest.raises(ValueError):
        SpeakingDetector(0)


def _raw_pattern(pattern: str, fps: float = 25) -> np.ndarray:
    """Lips that move on the frames marked 'M' (a 0.1 w step up or down), else stand still
    at rest: the raw decision is on exactly where the lips move (hold of one frame)."""
    lips = np.zeros((len(pattern), 2, 3))
    y = 0.0
    for i, c in enumerate(pattern):
        if c == "M":
            y = 0.1 if y != 0.1 else 0.05
        lips[i, 0, 1] = y / 2
        lips[i, 1, 1] = -y / 2
    return lips


def _mask(pattern: str, **kw) -> str:
    kw = {"onset_s": 0.0, "hangover_s": 0.0, **kw}
    det = SpeakingDetector(25, SpeakingParams(hold_s=0.04, sustain_s=0.04, **kw))
    return "".join("S" if det.step(x) >= 0.5 else "." for x in _raw_pattern(pattern))


def test_onset_confirmation_rejects_blips_and_delays_the_onset_by_its_length():
    # a lone moving frame (a click, a breath) is not speaking with a one-frame confirmation
    assert _mask("....M.......", onset_s=0.04) == "............"
    assert _mask("....M.......") == "....S......."  # without: it is
    talk = "....MMMMMM......"
    assert _mask(talk, onset_s=0.04) == ".....SSSSS......"  # one frame later, ends alike
    assert _mask(talk, onset_s=0.08).index("S") == 6


def test_hangover_bridges_short_gaps_and_delays_the_offset_by_its_length():
    gap2 = "..MMMM..MMMM........"
    assert _mask(gap2) == "..SSSS..SSSS........"
    assert _mask(gap2, hangover_s=0.08) == "..SSSSSSSSSSSS......"
    gap3 = "..MMMM...MMMM......."
    assert _mask(gap3, hangover_s=0.08) == "..SSSSSS.SSSSSS....."


def test_bridge_gaps_fills_only_short_gaps_between_speech():
    from animator.stages.speaking import bridge_gaps

    m = np.array([c == "S" for c in "..SS..SS...SS..."])
    got = "".join("S" if x else "." for x in bridge_gaps(m, 2))
    assert got == "..SSSSSS...SS..."
    assert not bridge_gaps(np.zeros(5, bool), 3).any()
    np.testing.assert_array_equal(bridge_gaps(m, 0), m)
