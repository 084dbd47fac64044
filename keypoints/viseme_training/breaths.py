"""Breaths and lip clicks in the pauses of a synthetic session (dev only).

Real recordings are not silent between phrases: people breathe in (a soft, band-limited hiss
of 0.15-0.6 s, 12-30 dB under the speech) and part their lips with a click. Synthetic voices
never do, so a model trained on them alone opens the mouth for a breath, where the phone
labels of real speech (and Rhubarb) have the idle shape X. These events go into the pauses
only, so the labels stay X there.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from keypoints.visemes import Sound

#: keep this far (s) from the sounds on either side
MARGIN_S = 0.05
#: breath length range (s) and level under the speech's rms (dB)
BREATH_S = (0.15, 0.6)
BREATH_DB = (12.0, 30.0)
#: click level under the speech's rms (dB); a click lasts 3-12 ms
CLICK_DB = (10.0, 30.0)


def speech_rms(audio: np.ndarray, sounds: list[Sound], sample_rate: int) -> float:
    """rms of the samples inside the sounds (float32[N] audio)."""
    mask = np.zeros(audio.size, dtype=bool)
    for s in sounds:
        mask[int(s.start_s * sample_rate) : int(s.end_s * sample_rate)] = True
    sel = audio[mask].astype(np.float64)
    return float(np.sqrt(np.mean(sel * sel))) if sel.size else 0.0


def gaps(sounds: list[Sound], duration_s: float, min_s: float) -> list[tuple[float, float]]:
    """Pauses (start s, end s) between the sounds, MARGIN_S inside them, at least min_s."""
    edges = sorted((s.start_s, s.end_s) for s in sounds)
    out, last = [], 0.0
    for lo, hi in [*edges, (duration_s + MARGIN_S, duration_s + MARGIN_S)]:
        a, b = last + MARGIN_S if last > 0 else 0.0, lo - MARGIN_S
        if b - a >= min_s:
            out.append((a, b))
        last = max(last, hi)
    return out


def breath(rng: np.random.Generator, n: int, sample_rate: int) -> np.ndarray:
    """float64[n] of unit rms: noise band-passed at random edges, a rise-and-fall envelope."""
    lo = rng.uniform(200.0, 900.0)
    hi = min(rng.uniform(1800.0, 6500.0), 0.45 * sample_rate)
    sos = signal.butter(2, (lo, hi), "bandpass", fs=sample_rate, output="sos")
    x = signal.sosfilt(sos, rng.standard_normal(n))
    peak = rng.uniform(0.25, 0.6)
    t = np.linspace(0.0, 1.0, n)
    env = np.where(t < peak, t / peak, (1 - t) / (1 - peak)) ** rng.uniform(0.7, 1.5)
    x = x * env
    rms = np.sqrt(np.mean(x * x))
    return x / rms if rms > 0 else x


def add_breaths(audio: np.ndarray, sounds: list[Sound], rng: np.random.Generator,
                sample_rate: int, share: float) -> np.ndarray:
    """float32[N] with a breath in ``share`` of the pauses long enough for one, and a lip
    click before a third of those breaths."""
    ref = speech_rms(audio, sounds, sample_rate)
    out = audio.astype(np.float64)
    if ref <= 0:
        return audio
    for a, b in gaps(sounds, audio.size / sample_rate, BREATH_S[0]):
        if rng.random() >= share:
            continue
        length = rng.uniform(BREATH_S[0], min(BREATH_S[1], b - a))
        start = rng.uniform(a, b - length)
        i, n = int(start * sample_rate), int(length * sample_rate)
        level = ref * 10 ** (-rng.uniform(*BREATH_DB) / 20)
        out[i : i + n] += breath(rng, n, sample_rate)[: out.size - i] * level
        if rng.random() < 1 / 3 and i > 0.012 * sample_rate:
            k = int(rng.uniform(0.003, 0.012) * sample_rate)
            click = rng.standard_normal(k) * np.hanning(k)
            j = max(0, i - k - int(0.02 * sample_rate))
            out[j : j + k] += click * ref * 10 ** (-rng.uniform(*CLICK_DB) / 20)
    return out.astype(np.float32)
