"""Head-motion synthesis: eased, jittered sinusoids per axis, damped by the silence mask.

Angles are degrees in the order of ``animator.rig.AXES`` (pitch, yaw, roll).

* :func:`seed_head_motion` reproduces the seed exactly (whole clip, offline): amplitude and
  clamp U(0, 3) deg, frequency U(0.5, 1.5) Hz, no phase, the 2 s easing envelope
  (1 - cos(pi t)) / 2 on t in seconds with t squeezed into whole seconds, white jitter of
  0.05 x amplitude. The seed's final Kalman smoothing of the rotation matrices is left out:
  measured, it changes the jitter std only from 0.146 to 0.139 deg.
* :class:`MotionSynth` is the default ``natural`` mode, streaming: per-axis amplitude and
  frequency ranges, random phases, oscillators re-drawn at speech onsets and every few
  seconds and crossfaded with the easing curve, jitter as smoothed (Ornstein-Uhlenbeck)
  noise whose statistics do not depend on the frame rate, and an idle floor on the mask so a
  silent avatar breathes instead of freezing. All randomness comes from the Generator given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

N_AXES = 3


def ease(u: np.ndarray | float) -> np.ndarray | float:
    """The seed's easing curve (1 - cos(pi u)) / 2: 0 -> 0, 1 -> 1, zero slope at both ends."""
    return (1.0 - np.cos(np.pi * u)) / 2.0


def seed_head_motion(n_frames: int, fps: float, rng: np.random.Generator) -> np.ndarray:
    """The seed's pose offsets for a clip of ``n_frames`` video frames.

    Returns float64[n_frames, 3] (pitch, yaw, roll) degrees, before the silence mask.
    """
    t_s = np.linspace(0.0, math.floor(n_frames / fps), n_frames)
    out = np.zeros((n_frames, N_AXES))
    for axis in range(N_AXES):
        amplitude_deg = rng.uniform(0.0, 3.0)
        frequency_hz = rng.uniform(0.5, 1.5)
        wave = amplitude_deg * np.sin(2 * np.pi * frequency_hz * t_s) * ease(t_s)
        jitter = rng.normal(0.0, 0.05 * amplitude_deg, n_frames)
        out[:, axis] = np.clip(wave + jitter, -amplitude_deg, amplitude_deg)
    return out


@dataclass(frozen=True)
class AxisRange:
    """Ranges an axis' oscillator is drawn from."""

    amplitude_deg: tuple[float, float]
    frequency_hz: tuple[float, float]

    def __post_init__(self) -> None:
        lo, hi = self.amplitude_deg
        flo, fhi = self.frequency_hz
        if not (0 <= lo <= hi and 0 < flo <= fhi):
            raise ValueError(f"bad axis ranges {self}")


@dataclass(frozen=True)
class MotionParams:
    """Parameters of the natural motion (defaults: a calm speaker, a few degrees)."""

    axes: tuple[AxisRange, AxisRange, AxisRange] = field(default_factory=lambda: (
        AxisRange((1.5, 4.0), (0.15, 0.6)),   # pitch: small nods
        AxisRange((2.0, 5.0), (0.1, 0.45)),   # yaw: slower, wider turns
        AxisRange((1.0, 3.0), (0.1, 0.4)),    # roll: gentle tilts
    ))
    #: an oscillator is re-drawn after a random interval from this range (seconds) ...
    redraw_s: tuple[float, float] = (2.5, 5.0)
    #: ... and crossfaded into the new one with the easing curve over this time.
    crossfade_s: float = 0.8
    #: jitter: std as a fraction of the amplitude, and its correlation time.
    jitter_frac: float = 0.08
    jitter_tau_s: float = 0.25
    #: mask floor: motion amplitude during silence, as a fraction of the speaking amplitude.
    idle_floor: float = 0.2
    #: mask level that counts as a speech onset (re-draws the oscillators) ...
    onset_level: float = 0.5
    #: ... unless the last re-draw is more recent than this (a mask that flickers between
    #: words must not make the head restless).
    min_redraw_gap_s: float = 1.5
    #: the motion gain follows the mask with this time constant, so that even a hard
    #: 0/1 mask (or a source that drops out) never makes the head jump.
    gain_tau_s: float = 0.2

    def __post_init__(self) -> None:
        if len(self.axes) != N_AXES:
            raise ValueError("axes needs one AxisRange per axis (pitch, yaw, roll)")
        if not (0 < self.redraw_s[0] <= self.redraw_s[1]) or self.crossfade_s < 0:
            raise ValueError("redraw_s must be positive and ordered, crossfade_s >= 0")
        if not (0 <= self.idle_floor <= 1) or self.jitter_tau_s <= 0 or self.jitter_frac < 0:
            raise ValueError("idle_floor must be in [0, 1], jitter_tau_s > 0, jitter_frac >= 0")
        if self.gain_tau_s < 0:
            raise ValueError("gain_tau_s must be >= 0")

    def scaled_to_extent(self, extent_deg: np.ndarray, low: float = 0.4,
                         high: float = 0.9) -> MotionParams:
        """Amplitudes drawn from [low, high] x the rig's pose extent per axis, so that motion
        reaches the rig's endpoints; axes where the rig has no poses keep their defaults."""
        axes = tuple(
            replace(a, amplitude_deg=(low * e, high * e)) if e > 0 else a
            for a, e in zip(self.axes, np.asarray(extent_deg, dtype=float), strict=True))
        return replace(self, axes=axes)


class _Oscillator:
    """A sinusoid with a running phase (so a frequency change never jumps)."""

    __slots__ = ("amplitude_deg", "frequency_hz", "phase_rad")

    def __init__(self, amplitude_deg: float, frequency_hz: float, phase_rad: float) -> None:
        self.amplitude_deg = amplitude_deg
        self.frequency_hz = frequency_hz
        self.phase_rad = phase_rad

    def advance(self, dt_s: float) -> float:
        self.phase_rad = (self.phase_rad + 2 * math.pi * self.frequency_hz * dt_s) % (2 * math.pi)
        return self.amplitude_deg * math.sin(self.phase_rad)


class MotionSynth:
    """Natural head motion, one video frame per :meth:`step`."""

    def __init__(self, fps: float, rng: np.random.Generator,
                 params: MotionParams | None = None) -> None:
        if not fps > 0:
            raise ValueError("fps must be > 0")
        self.params = params or MotionParams()
        self.dt_s = 1.0 / fps
        self._rng = rng
        self._current = [self._draw(a) for a in self.params.axes]
        self._previous: list[_Oscillator] | None = None
        self._fade_s = 0.0
        self._until_redraw_s = self._draw_interval()
        self._since_redraw_s = math.inf  # the first onset may re-draw at once
        self._jitter = [0.0] * N_AXES  # degrees per axis
        self._was_speaking = False
        self._gain: float | None = None  # smoothed mask gain; starts at the first target

    def _draw(self, axis: AxisRange) -> _Oscillator:
        return _Oscillator(self._rng.uniform(*axis.amplitude_deg),
                           self._rng.uniform(*axis.frequency_hz),
                           self._rng.uniform(0.0, 2 * math.pi))

    def _draw_interval(self) -> float:
        return self._rng.uniform(*self.params.redraw_s)

    def _redraw(self) -> None:
        self._previous = self._current
        self._current = [self._draw(a) for a in self.params.axes]
        self._fade_s = 0.0
        self._until_redraw_s = self._draw_interval()
        self._since_redraw_s = 0.0

    def step(self, mask: float) -> np.ndarray:
        """mask: silence mask in [0, 1] for this frame. Returns float64[3] degrees."""
        p = self.params
        speaking = mask >= p.onset_level
        self._until_redraw_s -= self.dt_s
        self._since_redraw_s += self.dt_s
        onset = (speaking and not self._was_speaking
                 and self._since_redraw_s >= p.min_redraw_gap_s)
        if onset or self._until_redraw_s <= 0:
            self._redraw()
        self._was_speaking = speaking

        # Plain floats per axis: three-element numpy arrays cost more than the maths here.
        wave = [osc.advance(self.dt_s) for osc in self._current]
        if self._previous is not None:
            old = [osc.advance(self.dt_s) for osc in self._previous]
            self._fade_s += self.dt_s
            u = min(1.0, self._fade_s / p.crossfade_s) if p.crossfade_s > 0 else 1.0
            e = (1.0 - math.cos(math.pi * u)) / 2.0  # ease(u)
            wave = [o + e * (w - o) for o, w in zip(old, wave, strict=True)]
            if u >= 1.0:
                self._previous = None

        # Ornstein-Uhlenbeck jitter: exact discretisation, so its std and correlation time
        # are the same at any frame rate.
        decay = math.exp(-self.dt_s / p.jitter_tau_s)
        kick = p.jitter_frac * math.sqrt(1.0 - decay * decay)
        noise = self._rng.standard_normal(N_AXES).tolist()
        self._jitter = [j * decay + kick * osc.amplitude_deg * z
                        for j, osc, z in zip(self._jitter, self._current, noise, strict=True)]
        target = p.idle_floor + (1.0 - p.idle_floor) * min(1.0, max(0.0, float(mask)))
        if self._gain is None or p.gain_tau_s == 0:
            self._gain = target
        else:
            self._gain += (target - self._gain) * (1.0 - math.exp(-self.dt_s / p.gain_tau_s))
        return np.array([(w + j) * self._gain for w, j in zip(wave, self._jitter, strict=True)])
