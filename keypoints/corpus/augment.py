"""Audio augmentation for the synthetic corpus: noise at an SNR, reverberation, band limiting
(phone / headset microphones), gain, clipping, DC offset. Pure numpy/scipy/soxr, seeded.

All functions take and return float32[N] mono samples at ``sample_rate`` Hz and never change
the length (so the frame-exact ground truth stays aligned).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import soxr
from scipy import signal

NOISE_KINDS = ("white", "pink", "brown", "hum", "fan")


def coloured_noise(rng: np.random.Generator, n: int, kind: str, sample_rate: int) -> np.ndarray:
    """float64[n] noise of unit rms: white, pink (-3 dB/oct), brown (-6 dB/oct), mains hum
    (50/60 Hz and harmonics plus a little white noise) or fan (low-passed, slowly modulated)."""
    if n == 0:
        return np.zeros(0)
    white = rng.standard_normal(n)
    if kind == "white":
        x = white
    elif kind in ("pink", "brown"):
        spectrum = np.fft.rfft(white)
        f = np.arange(spectrum.size, dtype=np.float64)
        f[0] = 1.0
        spectrum /= np.sqrt(f) if kind == "pink" else f
        spectrum[0] = 0.0
        x = np.fft.irfft(spectrum, n)
    elif kind == "hum":
        t = np.arange(n) / sample_rate
        f0 = 50.0 if rng.random() < 0.5 else 60.0
        x = sum(np.sin(2 * np.pi * h * f0 * t + rng.uniform(0, 2 * np.pi)) / h for h in range(1, 8))
        x = x + 0.05 * white
    elif kind == "fan":
        sos = signal.butter(2, 1200.0, "low", fs=sample_rate, output="sos")
        t = np.arange(n) / sample_rate
        x = signal.sosfilt(sos, white) * (1.0 + 0.3 * np.sin(2 * np.pi * rng.uniform(0.2, 2) * t))
    else:
        raise ValueError(f"unknown noise kind {kind!r} (one of {NOISE_KINDS})")
    rms = np.sqrt(np.mean(x * x))
    return x / rms if rms > 0 else x


def active_rms(x: np.ndarray, speech: np.ndarray | None = None) -> float:
    """rms of the samples where ``speech`` (bool[N]) is set, else of |x| above -60 dB of peak."""
    x = np.asarray(x, dtype=np.float64)
    if speech is None:
        peak = np.max(np.abs(x)) if x.size else 0.0
        speech = np.abs(x) > peak * 1e-3
    sel = x[speech]
    return float(np.sqrt(np.mean(sel * sel))) if sel.size else 0.0


def room_impulse_response(rng: np.random.Generator, rt60_s: float, sample_rate: int,
                          direct_to_reverb_db: float) -> np.ndarray:
    """float64[n]: a unit direct path, then exponentially decaying noise (60 dB over rt60_s),
    starting 2-8 ms later, scaled to the direct-to-reverberant energy ratio."""
    n = int(rt60_s * sample_rate)
    delay = int(rng.uniform(0.002, 0.008) * sample_rate)
    t = np.arange(n) / sample_rate
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60_s)
    tail[:delay] = 0.0
    tail *= np.sqrt(10 ** (-direct_to_reverb_db / 10) / max(np.sum(tail * tail), 1e-12))
    tail[0] = 1.0
    return tail


def reverberate(x: np.ndarray, rng: np.random.Generator, rt60_s: float, sample_rate: int,
                direct_to_reverb_db: float = 3.0) -> np.ndarray:
    """x convolved with a synthetic room (same length, rms preserved)."""
    if x.size == 0:
        return x.astype(np.float32)
    ir = room_impulse_response(rng, rt60_s, sample_rate, direct_to_reverb_db)
    y = signal.fftconvolve(x.astype(np.float64), ir)[: x.size]
    rx, ry = np.sqrt(np.mean(x.astype(np.float64) ** 2)), np.sqrt(np.mean(y * y))
    return (y * (rx / ry if ry > 0 else 1.0)).astype(np.float32)


def band_limit(x: np.ndarray, sample_rate: int, kind: str) -> np.ndarray:
    """``phone``: through 8 kHz and back, 300-3400 Hz; ``headset``: 150-6000 Hz; ``lowpass``:
    a cheap mic or codec, 4 kHz low-pass."""
    x64 = x.astype(np.float64)
    if kind == "phone":
        narrow = soxr.resample(x64, sample_rate, 8000)
        x64 = soxr.resample(narrow, 8000, sample_rate)[: x.size]
        x64 = np.pad(x64, (0, x.size - x64.size))
        sos = signal.butter(4, (300.0, 3400.0), "bandpass", fs=sample_rate, output="sos")
    elif kind == "headset":
        sos = signal.butter(3, (150.0, 6000.0), "bandpass", fs=sample_rate, output="sos")
    elif kind == "lowpass":
        sos = signal.butter(6, 4000.0, "low", fs=sample_rate, output="sos")
    else:
        raise ValueError(f"unknown band limit {kind!r}")
    return signal.sosfilt(sos, x64).astype(np.float32)


@dataclass(frozen=True)
class Augmentation:
    """One draw of the augmentation chain (None = step skipped). Applied in field order:
    reverb, band limit, noise, gain (dB), clipping at +-1 when clip, DC offset."""

    rt60_s: float | None = None
    band: str | None = None
    noise_kind: str | None = None
    snr_db: float | None = None
    gain_db: float = 0.0
    clip: bool = False
    dc: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


#: shares of the augmented recordings with each step (the training distribution)
REVERB_SHARE = 0.5  # a reverberant room is the hardest condition for the mouth and the mask
RT60_RANGE_S = (0.15, 0.9)
BAND_SHARE = 0.3
NOISE_SHARE = 0.75


def draw_augmentation(rng: np.random.Generator) -> Augmentation:
    """The training distribution: noise at 0-35 dB SNR in NOISE_SHARE, reverb (RT60_RANGE_S)
    in REVERB_SHARE, band limiting in BAND_SHARE, gain -35..+12 dB (clipping when it
    overshoots), DC in 5 %."""
    rt60 = float(rng.uniform(*RT60_RANGE_S)) if rng.random() < REVERB_SHARE else None
    band = str(rng.choice(["phone", "headset", "lowpass"])) if rng.random() < BAND_SHARE else None
    noisy = rng.random() < NOISE_SHARE
    kind = str(rng.choice(NOISE_KINDS)) if noisy else None
    snr = float(rng.uniform(0.0, 35.0)) if noisy else None
    gain = float(rng.uniform(-35.0, 12.0))
    dc = float(rng.uniform(-0.2, 0.2)) if rng.random() < 0.05 else 0.0
    return Augmentation(rt60, band, kind, snr, gain, clip=gain > 0, dc=dc)


def apply(x: np.ndarray, aug: Augmentation, rng: np.random.Generator, sample_rate: int,
          speech: np.ndarray | None = None) -> np.ndarray:
    """float32[N] -> float32[N] through ``aug``; ``speech`` (bool[N]) sets the SNR reference."""
    y = np.asarray(x, dtype=np.float32)
    ref = active_rms(y, speech)
    if aug.rt60_s is not None:
        y = reverberate(y, rng, aug.rt60_s, sample_rate)
    if aug.band is not None:
        y = band_limit(y, sample_rate, aug.band)
    if aug.noise_kind is not None and aug.snr_db is not None:
        level = ref * 10 ** (-aug.snr_db / 20)
        y = (y + coloured_noise(rng, y.size, aug.noise_kind, sample_rate) * level)
    y = np.asarray(y, dtype=np.float64) * 10 ** (aug.gain_db / 20)
    if aug.clip:
        y = np.clip(y, -1.0, 1.0)
    return (y + aug.dc).astype(np.float32)
