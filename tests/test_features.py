"""Streaming log-mel: chunking-invariant, frame-centred, equal to a direct computation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from keypoints.features import (
    FeatureConfig,
    StreamingLogMel,
    log_mel,
    mel_band_centers_hz,
    mel_filterbank,
)

CONFIG = FeatureConfig()


def noisy_signal(n_samples: int, seed: int = 0) -> np.ndarray:
    """float32[n]: a tone with noise and a silent stretch (exercises the log floor)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / CONFIG.sample_rate
    x = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(n_samples)
    x[n_samples // 3 : n_samples // 2] = 0.0
    return x.astype(np.float32)


def stream_in_chunks(x: np.ndarray, chunk_sizes: list[int]) -> np.ndarray:
    stream = StreamingLogMel(CONFIG)
    parts, start = [], 0
    for size in chunk_sizes:
        parts.append(stream.push(x[start : start + size]))
        start += size
    parts.append(stream.push(x[start:]))
    parts.append(stream.flush())
    assert all(p.dtype == np.float32 and p.shape[0] == CONFIG.n_mels for p in parts)
    return np.concatenate(parts, axis=1)


def random_chunks(rng: np.random.Generator, n_samples: int, max_chunk: int) -> list[int]:
    sizes = []
    while sum(sizes) < n_samples:
        sizes.append(int(rng.integers(0, max_chunk + 1)))  # includes empty chunks
    return sizes


def test_streaming_equals_whole_for_any_chunking() -> None:
    x = noisy_signal(16000 + 123)
    whole = log_mel(x, CONFIG)
    rng = np.random.default_rng(1)
    for max_chunk in (7, 160, 161, 999, 5000):
        chunked = stream_in_chunks(x, random_chunks(rng, x.size, max_chunk))
        assert np.array_equal(chunked, whole), max_chunk


def test_one_sample_chunks() -> None:
    x = noisy_signal(2345, seed=2)
    assert np.array_equal(stream_in_chunks(x, [1] * x.size), log_mel(x, CONFIG))


@pytest.mark.parametrize("n_samples", [0, 1, 159, 160, 161, 200, 399, 400, 1234])
def test_frame_count_is_ceil_n_over_hop(n_samples: int) -> None:
    features = log_mel(noisy_signal(n_samples), CONFIG)
    assert features.shape == (CONFIG.n_mels, math.ceil(n_samples / CONFIG.hop_length))


def test_frames_are_centred_on_k_hop() -> None:
    # a click at sample k*hop shows up most strongly in frame k
    for k in (3, 10):
        x = np.zeros(3000, np.float32)
        x[k * CONFIG.hop_length] = 1.0
        assert int(np.argmax(log_mel(x, CONFIG).mean(axis=0))) == k


def test_push_emits_frame_once_its_window_is_complete() -> None:
    stream = StreamingLogMel(CONFIG)
    needed = CONFIG.win_length - CONFIG.win_length // 2  # frame 0 needs samples 0..199
    assert stream.push(np.zeros(needed - 1, np.float32)).shape[1] == 0
    assert stream.push(np.zeros(1, np.float32)).shape[1] == 1
    assert stream.push(np.zeros(CONFIG.hop_length, np.float32)).shape[1] == 1
    stream.flush()
    with pytest.raises(RuntimeError):
        stream.push(np.zeros(10, np.float32))


def test_tone_peaks_at_its_mel_band() -> None:
    t = np.arange(CONFIG.sample_rate) / CONFIG.sample_rate
    x = (0.5 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)
    features = log_mel(x, CONFIG)[:, 10:-10]
    expected_band = int(np.argmin(np.abs(mel_band_centers_hz(CONFIG) - 1000.0)))
    assert np.all(np.argmax(features, axis=0) == expected_band)


def reference_log_mel(x: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Direct, non-streaming computation in float64 (scipy's periodic Hann, librosa's mels)."""
    import librosa
    import scipy.signal

    half = config.win_length // 2
    n_frames = math.ceil(x.size / config.hop_length)
    padded = np.concatenate([np.zeros(half), x.astype(np.float64), np.zeros(config.win_length)])
    starts = np.arange(n_frames) * config.hop_length
    frames = padded[starts[:, None] + np.arange(config.win_length)[None, :]]
    window = scipy.signal.get_window("hann", config.win_length, fftbins=True)
    power = np.abs(np.fft.rfft(frames * window, n=config.n_fft, axis=1)) ** 2
    mel_fb = librosa.filters.mel(
        sr=config.sample_rate,
        n_fft=config.n_fft,
        n_mels=config.n_mels,
        fmin=config.fmin,
        fmax=config.fmax,
        htk=False,
        norm="slaney",
        dtype=np.float64,
    )
    mel_power = mel_fb @ power.T
    return (np.log(np.maximum(mel_power, config.log_floor)) + config.offset) * config.scale


def test_matches_direct_reference() -> None:
    x = noisy_signal(8000 + 77, seed=3)
    for config in (CONFIG, FeatureConfig(offset=5.0, scale=0.5, log_floor=1e-6, n_mels=40)):
        ours = log_mel(x, config)
        ref = reference_log_mel(x, config)
        assert ours.shape == ref.shape
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-5)


def test_mel_filterbank_equals_librosa() -> None:
    import librosa

    for config in (CONFIG, FeatureConfig(sample_rate=22050, n_fft=1024, n_mels=128, fmax=11025)):
        ours = mel_filterbank(config)
        ref = librosa.filters.mel(
            sr=config.sample_rate,
            n_fft=config.n_fft,
            n_mels=config.n_mels,
            fmin=config.fmin,
            fmax=config.fmax,
        )
        assert ours.shape == ref.shape == (config.n_mels, config.n_fft // 2 + 1)
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-8)
    assert mel_filterbank(CONFIG) is mel_filterbank(FeatureConfig())  # cached


def test_silence_is_the_scaled_floor() -> None:
    features = log_mel(np.zeros(1600, np.float32), CONFIG)
    assert np.all(features == np.float32(CONFIG.silence_value))
    assert CONFIG.silence_value == pytest.approx(-10.0)  # log10(1e-10)


def test_metadata_round_trip_and_errors() -> None:
    config = FeatureConfig(sample_rate=22050, hop_length=256, fmin=0.0, scale=0.1, offset=3.25)
    metadata = config.to_metadata()
    assert all(isinstance(v, str) for v in metadata.values())
    assert FeatureConfig.from_metadata(metadata) == config
    assert config.frame_rate_hz == pytest.approx(22050 / 256)

    missing = dict(metadata)
    del missing["hop_length"]
    with pytest.raises(ValueError, match="hop_length"):
        FeatureConfig.from_metadata(missing)
    with pytest.raises(ValueError, match="n_mels"):
        FeatureConfig.from_metadata({**metadata, "n_mels": "eighty"})
    with pytest.raises(ValueError, match="log_floor"):
        FeatureConfig.from_metadata({**metadata, "log_floor": "-1"})
    with pytest.raises(ValueError, match="fmax"):
        FeatureConfig.from_metadata({**metadata, "fmax": "nan"})
    with pytest.raises(ValueError, match="win_length"):
        FeatureConfig(win_length=1024, n_fft=512)
