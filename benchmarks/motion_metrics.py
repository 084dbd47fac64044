"""The measures of benchmarks/motion.py: how a head-angle track relates to the speech's
accents and energy. Pure numpy/scipy on arrays at the video rate (``FPS``); see that module's
docstring for what each one means."""

from __future__ import annotations

import numpy as np
from scipy.signal import find_peaks

FPS = 25.0
#: the waveform's sample rate (Hz)
SR = 16000
LAGS = (0, 1, 2)
PEAK_HEIGHT = 0.15
PEAK_DISTANCE_S = 0.15
ANSWER_S = 0.15
SPEED_PROMINENCE_MIN = 1.0
ONSET_PAUSE_S = 0.5
ONSET_SHIFT_DEG = 1.0
AC_LAG_S = 2.0
AC_MIN_S = 8.0


def video_samples(values: np.ndarray, n_video: int, rate_hz: float) -> np.ndarray:
    """The engine's sampling: video frame i takes the lip frame nearest i / FPS (ties: the
    earlier one)."""
    idx = np.floor(np.arange(n_video) / FPS * rate_hz + 0.5 - 1e-9).astype(int)
    return values[np.clip(idx, 0, len(values) - 1)]


def log_rms_energy(samples: np.ndarray, n_video: int) -> np.ndarray:
    """float[T]: log RMS energy of 40 ms of waveform centred on each video frame time."""
    half = int(0.02 * SR)
    padded = np.pad(samples.astype(np.float64), half)
    centres = (np.arange(n_video) / FPS * SR).astype(int)
    energy = np.array([np.mean(padded[c:c + 2 * half] ** 2) for c in centres])
    return np.log10(energy + 1e-10)


# --- metrics --------------------------------------------------------------------------------

def angular_speed(angles: np.ndarray) -> np.ndarray:
    """float[T] deg/s: |angles[i] - angles[i-1]| * FPS (0 for the first frame)."""
    d = np.diff(angles, axis=0, prepend=angles[:1])
    return np.linalg.norm(d, axis=1) * FPS


def lagged_r(speed: np.ndarray, signal: np.ndarray, inside: np.ndarray) -> tuple[float, int]:
    """Best Pearson r over LAGS between speed[i + lag] and signal[i], both in speech."""
    best = (-1.0, 0)
    for lag in LAGS:
        n = len(speed) - lag
        sel = inside[:n] & inside[lag:lag + n]
        a, b = speed[lag:lag + n][sel], signal[:n][sel]
        if sel.sum() < 10 or a.std() == 0 or b.std() == 0:
            continue
        r = float(np.corrcoef(a, b)[0, 1])
        best = max(best, (r, lag))
    return best


def accent_peaks_s(accent: np.ndarray, rate_hz: float, speech_s: np.ndarray) -> np.ndarray:
    """Times (s) of accent peaks inside speech."""
    peaks, _ = find_peaks(accent, height=PEAK_HEIGHT, distance=int(PEAK_DISTANCE_S * rate_hz))
    t = peaks / rate_hz
    return t[speech_s[np.clip((t * FPS).round().astype(int), 0, len(speech_s) - 1)]]


def answered_share(peaks_s: np.ndarray, speed: np.ndarray, prominence: float) -> float:
    speed_peaks, _ = find_peaks(speed, prominence=prominence)
    t_speed = speed_peaks / FPS
    if not len(peaks_s):
        return float("nan")
    # the speed of frame i is the motion between i - 1 and i: it peaks half a frame earlier
    t_speed = t_speed - 0.5 / FPS
    hits = [np.any((t_speed >= t - 0.5 / FPS) & (t_speed <= t + ANSWER_S)) for t in peaks_s]
    return float(np.mean(hits))


def onset_shifts(angles: np.ndarray, mask: np.ndarray) -> tuple[int, int]:
    """(onsets after a pause >= ONSET_PAUSE_S, those where the head moves >= ONSET_SHIFT_DEG
    within 1 s)."""
    speaking = mask >= 0.5
    pause = int(ONSET_PAUSE_S * FPS)
    n, shifted = 0, 0
    for i in range(pause, len(mask)):
        if speaking[i] and not speaking[i - pause:i].any():
            n += 1
            after = angles[i:i + int(FPS)]
            shifted += bool(np.linalg.norm(after - angles[i], axis=1).max() >= ONSET_SHIFT_DEG)
    return n, shifted


def autocorr_2s(angles: np.ndarray) -> list[float]:
    """|autocorrelation at 2 s| per axis (pitch, yaw, roll)."""
    lag = int(AC_LAG_S * FPS)
    out = []
    for k in range(angles.shape[1]):
        x = angles[:, k] - angles[:, k].mean()
        den = float(x @ x)
        out.append(abs(float(x[:-lag] @ x[lag:]) / den) if den > 0 else 0.0)
    return out
