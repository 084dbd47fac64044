"""Streaming prosody: chunking invariance, look-ahead, gain invariance, accented syllables."""

import numpy as np
import pytest

from keypoints.features import FeatureConfig, log_mel
from keypoints.prosody import ProsodyParams, StreamingProsody

CFG = FeatureConfig()
SR = CFG.sample_rate


def syllables(levels, rate_hz=4.0, f0_hz=140.0, seed=0, noise=1e-4):
    """Voiced syllables (a harmonic complex with a raised-cosine envelope), one per 1/rate_hz
    seconds at the given amplitudes (0: a pause), over faint white noise. float32[N]."""
    rng = np.random.default_rng(seed)
    n_syl = int(SR / rate_hz)
    t = np.arange(n_syl) / SR
    env = np.sin(np.pi * t / t[-1]) ** 2
    tone = sum(np.sin(2 * np.pi * f0_hz * h * t) / h for h in range(1, 20))
    x = np.concatenate([a * env * tone for a in levels])
    return (x + noise * rng.standard_normal(x.size)).astype(np.float32)


def run(features, lookahead=3, chunks=None):
    sp = StreamingProsody(CFG, lookahead)
    out = []
    if chunks is None:
        out += sp.push(features)
    else:
        pos = 0
        for n in chunks:
            out += sp.push(features[:, pos:pos + n])
            pos += n
    return out + sp.flush()


def test_one_frame_out_per_frame_in_lookahead_late_and_chunking_invariant():
    feats = log_mel(syllables([0.3, 0.1, 0.5, 0, 0.2] * 3), CFG)
    sp = StreamingProsody(CFG, 3)
    assert sp.push(feats[:, :3]) == []  # frame 0 needs frames 1..3
    assert len(sp.push(feats[:, 3:4])) == 1
    whole = run(feats)
    assert len(whole) == feats.shape[1]
    rng = np.random.default_rng(1)
    for max_chunk in (2, 7, 50):
        sizes = []
        while sum(sizes) < feats.shape[1]:
            sizes.append(int(rng.integers(0, max_chunk)))
        sizes[-1] -= sum(sizes) - feats.shape[1]
        assert run(feats, chunks=sizes) == whole  # bit for bit


@pytest.mark.parametrize("lookahead", [0, 1, 3, 6])
def test_no_more_look_ahead_than_given(lookahead):
    feats = log_mel(syllables([0.3, 0.1, 0.5, 0.2] * 2), CFG)
    k = 120
    changed = feats.copy()
    changed[:, k + lookahead + 1:] += 3.0  # everything after the look-ahead of frame k
    a, b = run(feats, lookahead), run(changed, lookahead)
    assert a[:k + 1] == b[:k + 1]
    assert a[k + lookahead + 1:] != b[k + lookahead + 1:]


def test_accent_marks_loud_syllables_and_is_quiet_in_pauses_and_noise():
    levels = [0.05, 0.05, 0.3, 0.05, 0.05, 0.3, 0, 0, 0, 0, 0.05, 0.3, 0.05, 0.05] * 3
    x = syllables(levels)
    out = run(log_mel(x, CFG))
    accent = np.array([p.accent for p in out])
    per_syl = accent[: len(levels) * 25].reshape(len(levels), 25).max(axis=1)
    levels = np.array(levels)
    later = np.arange(len(levels)) >= 4  # after the trackers have seen some speech
    loud, soft, pause = (later & (levels == 0.3)), (later & (levels == 0.05)), levels == 0
    assert per_syl[loud].min() > 2 * np.median(per_syl[soft])
    assert per_syl[pause].max() < 0.02
    # stationary noise (no speech at all) gives no accents
    noise = np.random.default_rng(3).standard_normal(SR * 4).astype(np.float32) * 0.05
    assert max(p.accent for p in run(log_mel(noise, CFG))[50:]) < 0.05


def test_level_and_accent_do_not_depend_on_the_recording_gain():
    x = syllables([0.3, 0.1, 0.5, 0.05, 0, 0.2] * 4, noise=1e-3)
    a = run(log_mel(x, CFG))
    b = run(log_mel(x * 0.05, CFG))
    settled = slice(300, None)
    acc_a = np.array([p.accent for p in a])[settled]
    acc_b = np.array([p.accent for p in b])[settled]
    np.testing.assert_allclose(acc_a, acc_b, atol=0.02)
    assert np.array([p.loudness_db for p in a])[settled].mean() > \
        np.array([p.loudness_db for p in b])[settled].mean() + 20  # 26 dB apart


def test_params_validated():
    with pytest.raises(ValueError):
        ProsodyParams(min_range_db=50, max_range_db=40)
    with pytest.raises(ValueError):
        ProsodyParams(band_hz=(4000.0, 100.0))
    with pytest.raises(ValueError):
        StreamingProsody(CFG, -1)


def one_frame_at_a_time(features, lookahead):
    """The prosody written plainly, frame by frame on Python floats and one numpy dot per
    frame (the streaming code before it was vectorised over each push): (level, accent,
    loudness_db) per frame."""
    import math

    from keypoints.features import mel_band_centers_hz

    p = ProsodyParams()
    centres = mel_band_centers_hz(CFG)
    band = np.flatnonzero((centres >= p.band_hz[0]) & (centres <= p.band_hz[1]))
    db = 10.0 / (math.log(10.0) * CFG.scale) / band.size
    half = min(p.max_smooth_frames, lookahead)
    tri = np.concatenate([np.arange(1, half + 2), np.arange(half, 0, -1)]).astype(float)
    kernel = tri / tri.sum()
    rate = CFG.frame_rate_hz
    pad = np.full((CFG.n_mels, lookahead), CFG.silence_value)
    columns = np.concatenate([features.astype(np.float64), pad], axis=1)
    loud, flux, prev = [], [], None
    for i in range(columns.shape[1]):
        b = np.ascontiguousarray(columns[:, i])[band]
        loud.append(float(np.full(band.size, db) @ b))
        flux.append(0.0 if prev is None else float(np.maximum(b - prev, 0.0).sum()) * db)
        prev = b
    loud, flux = [loud[0]] * half + loud, [0.0] * half + flux
    out, floor, peak, mean = [], math.nan, math.nan, math.nan
    for k in range(features.shape[1]):
        x = float(kernel @ np.array(loud[k:k + 2 * half + 1]))
        f = float(kernel @ np.array(flux[k:k + 2 * half + 1]))
        if math.isnan(floor):
            floor, peak, mean = x, x + p.min_range_db, p.speech_level
        peak = max(x, floor + (peak - floor) * math.exp(-1.0 / (p.peak_tau_s * rate)))
        floor = max(min(x, floor + p.floor_rise_db_s / rate), peak - p.max_range_db)
        level = min(1.0, max(0.0, (x - floor) / max(peak - floor, p.min_range_db)))
        prominence = max(0.0, level - mean)
        if level > p.speech_level:
            mean += (level - mean) * (1.0 - math.exp(-1.0 / (p.prominence_tau_s * rate)))
        out.append((level, prominence + p.flux_weight * f * level, x))
    return out


@pytest.mark.parametrize("lookahead", [0, 2, 3, 6])
def test_each_push_computed_at_once_is_bit_identical_to_one_frame_at_a_time(lookahead):
    """Vectorised over each push (any chunking), the values are those of the plain per-frame
    arithmetic, bit for bit."""
    x = syllables([0.3, 0.1, 0.5, 0, 0.2, 0.05, 0, 0, 0.4] * 3, noise=1e-3)
    feats = log_mel(x, CFG)
    ref = one_frame_at_a_time(feats, lookahead)
    for chunks in (None, [1] * feats.shape[1], [256] * (feats.shape[1] // 256 + 1)):
        got = run(feats, lookahead, chunks)
        assert [(q.level, q.accent, q.loudness_db) for q in got] == ref


@pytest.mark.parametrize("n", [1, 2, 5])
def test_a_stream_shorter_than_the_lookahead_still_gives_every_frame(n):
    feats = log_mel(syllables([0.3]), CFG)[:, :n]
    got = run(feats, lookahead=6)
    assert [(q.level, q.accent, q.loudness_db) for q in got] == one_frame_at_a_time(feats, 6)
    sp = StreamingProsody(CFG, 3)
    assert sp.flush() == []


def test_push_values_are_the_fields_of_push():
    """push_values (a file's lips make the objects of the frames shown only): the fields of
    push's frames, in order, chunk by chunk."""
    feats = log_mel(syllables([0.3, 0, 0.5, 0.2] * 2, noise=1e-3), CFG)
    objects, values = StreamingProsody(CFG, 3), StreamingProsody(CFG, 3)
    for pos in range(0, feats.shape[1], 37):
        chunk = feats[:, pos:pos + 37]
        want = [(q.level, q.accent, q.loudness_db, q.voice) for q in objects.push(chunk)]
        assert values.push_values(chunk) == want
