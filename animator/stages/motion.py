"""Head-motion synthesis: eased, jittered sinusoids per axis, damped by the speaking state.

Angles are degrees in the order of ``animator.rig.AXES`` (pitch, yaw, roll).

* :func:`reference_head_motion` reproduces the seed exactly (whole clip, offline): amplitude and
  clamp U(0, 3) deg, frequency U(0.5, 1.5) Hz, no phase, the 2 s easing envelope
  (1 - cos(pi t)) / 2 on t in seconds with t squeezed into whole seconds, white jitter of
  0.05 x amplitude. The seed's final Kalman smoothing of the rotation matrices is left out:
  measured, it changes the jitter std only from 0.146 to 0.139 deg.
* :class:`MotionSynth` is the default ``natural`` mode, streaming: per-axis amplitude and
  frequency ranges, random phases, oscillators re-drawn at speech onsets and every few
  seconds and crossfaded with the easing curve, jitter as smoothed (Ornstein-Uhlenbeck)
  noise whose statistics do not depend on the frame rate, and an idle floor on the mask so a
  silent avatar breathes instead of freezing. On top, it follows the speech's accent envelope
  (keypoints.prosody): beats (nods and turns whose speed follows the accent), a settling nod
  at phrase ends, and a calmer listening state between utterances; a motion gain scales it
  all. ``MotionParams.speech_blind()`` is the mode as it was before, bit for bit. All
  randomness comes from the Generator given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from animator.stages.draws_ahead import NormalsAhead

N_AXES = 3
#: Frames of jitter drawn at a time (the same numbers as a draw a frame)
JITTER_AHEAD_FRAMES = 25
_TWO_PI = 2 * math.pi


def ease(u: np.ndarray | float) -> np.ndarray | float:
    """The seed's easing curve (1 - cos(pi u)) / 2: 0 -> 0, 1 -> 1, zero slope at both ends."""
    return (1.0 - np.cos(np.pi * u)) / 2.0


def reference_head_motion(n_frames: int, fps: float, rng: np.random.Generator) -> np.ndarray:
    """The seed's pose offsets for a clip of ``n_frames`` video frames.

    Returns float64[n_frames, 3] (pitch, yaw, roll) degrees, before the speaking state damps them.
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
    #: jitter: std as a fraction of the amplitude, and its correlation time (calmer than the
    #: speech-blind mode's 0.08 and 0.25 s: the beats now carry the liveliness).
    jitter_frac: float = 0.02
    jitter_tau_s: float = 0.5
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
    #: the gain holds its speaking level through the gaps inside a phrase (see phrase_gap_s),
    #: so the mask's flicker between words does not pump the amplitude.
    gain_holds_phrase: bool = True
    # --- listening: between utterances the head is calmer -----------------------------------
    #: the oscillators run at this fraction of their speed while silent (1: as while speaking).
    listen_rate: float = 0.5
    #: listening posture reached while silent: pitch (deg, < 0 chin down) and a tilt to a side
    #: drawn at each phrase end (roll, deg).
    listen_pitch_deg: float = -1.0
    listen_roll_deg: float = 1.5
    # --- beats: movements that follow the speech's accents ----------------------------------
    #: the head moves while the accent envelope (loudness-range units, keypoints.prosody)
    #: exceeds this threshold, ...
    beat_threshold: float = 0.08
    #: ... at this angular speed per unit of accent above it, as a fraction of each axis'
    #: largest amplitude per second (a stressed syllable: a nod of ~0.3 of it); ...
    beat_rate: float = 30.0
    #: ... the excess saturates softly at this (excess -> c tanh(excess / c)), so the loud
    #: first syllable after a pause makes a movement, not a jerk.
    beat_saturation: float = 0.3
    #: a beat's direction: mostly a nod (pitch), chin down with this probability (less when
    #: the head is already low, more when high), with some turn (yaw, away from the current
    #: turn) and tilt (roll), relative weights per axis.
    beat_down_share: float = 0.75
    beat_axis_weights: tuple[float, float, float] = (1.0, 0.6, 0.3)
    #: the accent reaches the head through a first-order lag of this time constant (s).
    beat_lag_s: float = 0.03
    #: beat offsets relax back with this time constant while speaking ...
    beat_return_s: float = 0.8
    #: ... and with this one after a phrase end (the head settles), ...
    settle_return_s: float = 0.4
    #: ... where the head also makes a settling nod down by this fraction of the pitch
    #: amplitude, over this time.
    settle_frac: float = 0.25
    settle_s: float = 0.5
    #: a phrase ends when the mask stays below onset_level this long (shorter gaps are
    #: pauses inside a phrase: stop closures, breaths between words).
    phrase_gap_s: float = 0.3
    #: the listening tilt follows its target with this time constant.
    posture_tau_s: float = 1.0

    def __post_init__(self) -> None:
        if len(self.axes) != N_AXES:
            raise ValueError("axes needs one AxisRange per axis (pitch, yaw, roll)")
        if not (0 < self.redraw_s[0] <= self.redraw_s[1]) or self.crossfade_s < 0:
            raise ValueError("redraw_s must be positive and ordered, crossfade_s >= 0")
        if not (0 <= self.idle_floor <= 1) or self.jitter_tau_s <= 0 or self.jitter_frac < 0:
            raise ValueError("idle_floor must be in [0, 1], jitter_tau_s > 0, jitter_frac >= 0")
        if self.gain_tau_s < 0:
            raise ValueError("gain_tau_s must be >= 0")
        if not 0 <= self.listen_rate <= 1 or not 0 <= self.beat_down_share <= 1:
            raise ValueError("listen_rate and beat_down_share must be in [0, 1]")
        if min(self.beat_threshold, self.beat_rate, self.beat_lag_s, self.settle_frac,
               self.beat_saturation,
               *self.beat_axis_weights) < 0 or len(self.beat_axis_weights) != N_AXES:
            raise ValueError("beat parameters must be >= 0 (one axis weight per axis)")
        if min(self.beat_return_s, self.settle_return_s, self.settle_s,
               self.posture_tau_s) <= 0 or self.phrase_gap_s < 0:
            raise ValueError("beat_return_s, settle_return_s, settle_s and posture_tau_s must "
                             "be > 0, phrase_gap_s >= 0")

    def scaled_to_extent(self, extent_deg: np.ndarray, low: float = 0.4,
                         high: float = 0.9) -> MotionParams:
        """Amplitudes drawn from [low, high] x the rig's pose extent per axis, so that motion
        reaches the rig's endpoints; axes where the rig has no poses keep their defaults."""
        axes = tuple(
            replace(a, amplitude_deg=(low * e, high * e)) if e > 0 else a
            for a, e in zip(self.axes, np.asarray(extent_deg, dtype=float).tolist(), strict=True))
        return replace(self, axes=axes)

    def speech_blind(self) -> MotionParams:
        """The natural motion as it was before it followed the speech: no beats, no settling
        nod, no listening state, the earlier jitter (bit for bit the earlier output for the
        same seed). Benchmarks compare against it."""
        return replace(self, listen_rate=1.0, listen_pitch_deg=0.0, listen_roll_deg=0.0,
                       beat_rate=0.0, settle_frac=0.0, jitter_frac=0.08, jitter_tau_s=0.25,
                       gain_holds_phrase=False)


class _Oscillator:
    """A sinusoid with a running phase (so a frequency change never jumps)."""

    __slots__ = ("amplitude_deg", "frequency_hz", "phase_rad", "_rad_per_s")

    def __init__(self, amplitude_deg: float, frequency_hz: float, phase_rad: float) -> None:
        self.amplitude_deg = amplitude_deg
        self.frequency_hz = frequency_hz
        self.phase_rad = phase_rad
        self._rad_per_s = 2 * math.pi * frequency_hz

    def advance(self, dt_s: float) -> float:
        self.phase_rad = (self.phase_rad + self._rad_per_s * dt_s) % _TWO_PI
        return self.amplitude_deg * math.sin(self.phase_rad)


class _Beats:
    """Accent-driven head movements, one video frame per :meth:`step` (degrees per axis).

    While the (lagged) accent is above the threshold the head moves along the current beat's
    direction at a speed proportional to the excess, so its angular speed follows the accent
    envelope; a new direction is drawn when a beat starts (the accent rises past the
    threshold). Offsets relax back to zero, faster after a phrase end, where a settling nod
    down is added.
    """

    def __init__(self, dt_s: float, params: MotionParams, scale_deg: list[float],
                 rng: np.random.Generator) -> None:
        p = params
        self._p, self._dt_s, self._rng = p, dt_s, rng
        self._scale = scale_deg
        self._lag = 1.0 - math.exp(-dt_s / p.beat_lag_s) if p.beat_lag_s > 0 else 1.0
        self._keep_speaking = math.exp(-dt_s / p.beat_return_s)
        self._keep_settling = math.exp(-dt_s / p.settle_return_s)
        self._drive = self._excess = 0.0
        self._direction = [0.0] * N_AXES
        self._offset = [0.0] * N_AXES
        self._settle_left_s = 0.0
        self._in_phrase = False

    def _draw_direction(self) -> None:
        w = self._p.beat_axis_weights
        draw = self._rng.random  # one at a time: see MotionSynth.step's jitter
        u_nod, u_turn, u_size, u_tilt = draw(), draw(), draw(), draw()
        # offsets in units of each axis' scale: a beat tends to move the head back towards
        # its centre, so beats never pile up into a drift
        up, turned = (o / s if s else 0.0 for o, s in zip(self._offset[:2], self._scale[:2],
                                                         strict=True))
        down = u_nod < min(0.95, max(0.05, self._p.beat_down_share + 2.0 * up))
        turn_sign = -1.0 if (u_turn < 0.5 + turned) else 1.0
        self._direction = [(-1.0 if down else 1.0) * w[0], turn_sign * (0.3 + 0.7 * u_size) * w[1],
                           (2.0 * u_tilt - 1.0) * w[2]]

    def phrase_end(self) -> None:
        self._settle_left_s = self._p.settle_s
        self._in_phrase = False

    def phrase_start(self) -> None:
        self._in_phrase = True

    def step(self, accent: float) -> list[float]:
        p = self._p
        excess = accent - p.beat_threshold
        excess = excess if excess > 0.0 else 0.0  # max(0, excess), NaN too
        if p.beat_saturation > 0:
            excess = p.beat_saturation * math.tanh(excess / p.beat_saturation)
        if excess > 0.0 and self._excess == 0.0:  # the accent rose past the threshold: a beat
            self._draw_direction()
        self._excess = excess
        self._drive += (excess - self._drive) * self._lag
        speed = p.beat_rate * self._drive * self._dt_s  # axis-amplitudes this frame
        keep = self._keep_speaking if self._in_phrase else self._keep_settling
        settle = 0.0
        if self._settle_left_s > 0.0:
            # raised-cosine speed profile whose integral over settle_s is settle_frac
            u = 1.0 - self._settle_left_s / p.settle_s
            settle = p.settle_frac * self._dt_s / p.settle_s * (1.0 - math.cos(2 * math.pi * u))
            self._settle_left_s -= self._dt_s
        (o0, o1, o2), (d0, d1, d2), (s0, s1, s2) = self._offset, self._direction, self._scale
        self._offset = [o0 * keep + (speed * d0 - settle) * s0, o1 * keep + speed * d1 * s1,
                        o2 * keep + speed * d2 * s2]  # the settling nod is on the pitch only
        return self._offset


class MotionSynth:
    """Natural head motion, one video frame per :meth:`step`.

    gain: the motion gain (0 still, 1 the default, up to ~2 lively): every angle is scaled by
    it. Beats and the listening posture draw from a generator spawned from ``rng``, so the
    oscillators draw exactly what they drew before the motion followed the speech.
    """

    def __init__(self, fps: float, rng: np.random.Generator,
                 params: MotionParams | None = None, gain: float = 1.0) -> None:
        if not fps > 0:
            raise ValueError("fps must be > 0")
        if not 0 <= gain <= 10:
            raise ValueError(f"motion gain must be in [0, 10], got {gain}")
        self.params = params or MotionParams()
        self.gain = gain
        self.dt_s = 1.0 / fps
        self._rng = rng
        self._current = [self._draw(a) for a in self.params.axes]
        self._previous: list[_Oscillator] | None = None
        self._fade_s = 0.0
        self._until_redraw_s = self._draw_interval()
        self._normals = NormalsAhead(rng, N_AXES * JITTER_AHEAD_FRAMES)
        self._since_redraw_s = math.inf  # the first onset may re-draw at once
        self._jitter = [0.0] * N_AXES  # degrees per axis
        self._was_speaking = False
        self._gain: float | None = None  # smoothed mask gain; starts at the first target
        self._silent_s = 0.0  # time since the mask last said speaking
        self._in_phrase = False
        self._own_rng = rng.spawn(1)[0]
        self._beats = _Beats(self.dt_s, self.params,  # Python floats: cheaper than numpy's
                             [float(a.amplitude_deg[1]) for a in self.params.axes], self._own_rng)
        # listening tilt (deg): drawn at each phrase end, followed smoothly
        self._listen_roll = self._listen_roll_target = 0.0
        self._posture = 1.0 - math.exp(-self.dt_s / self.params.posture_tau_s)
        p = self.params
        # per-frame constants: the jitter's decay and kick, the gain's smoothing step
        self._jitter_decay = math.exp(-self.dt_s / p.jitter_tau_s)
        self._jitter_kick = p.jitter_frac * math.sqrt(
            1.0 - self._jitter_decay * self._jitter_decay)
        self._gain_step = (1.0 - math.exp(-self.dt_s / p.gain_tau_s)) if p.gain_tau_s else 1.0
        self._beating = p.beat_rate > 0 or p.settle_frac > 0

    def _draw(self, axis: AxisRange) -> _Oscillator:
        return _Oscillator(self._rng.uniform(*axis.amplitude_deg),
                           self._rng.uniform(*axis.frequency_hz),
                           self._rng.uniform(0.0, 2 * math.pi))

    def _draw_interval(self) -> float:
        return self._rng.uniform(*self.params.redraw_s)

    def _redraw(self) -> None:
        self._normals.sync()  # the generator as if the jitter had drawn one frame at a time
        self._previous = self._current
        self._current = [self._draw(a) for a in self.params.axes]
        self._fade_s = 0.0
        self._until_redraw_s = self._draw_interval()
        self._since_redraw_s = 0.0

    def _crossfade(self, dt_s: float, w0: float, w1: float, w2: float
                   ) -> tuple[float, float, float]:
        """The new oscillators' waves (degrees) eased in over the previous ones'."""
        p = self.params
        c0, c1, c2 = self._previous
        o0, o1, o2 = c0.advance(dt_s), c1.advance(dt_s), c2.advance(dt_s)
        self._fade_s += self.dt_s
        u = min(1.0, self._fade_s / p.crossfade_s) if p.crossfade_s > 0 else 1.0
        e = (1.0 - math.cos(math.pi * u)) / 2.0  # ease(u)
        if u >= 1.0:
            self._previous = None
        return o0 + e * (w0 - o0), o1 + e * (w1 - o1), o2 + e * (w2 - o2)

    def _speech_weight(self) -> float:
        """0 while silent .. 1 while speaking: the smoothed mask gain above the idle floor."""
        floor = self.params.idle_floor
        if self._gain is None or floor >= 1.0:
            return 1.0
        return min(1.0, max(0.0, (self._gain - floor) / (1.0 - floor)))

    def step(self, mask: float, accent: float | None = None) -> tuple[float, float, float]:
        """mask: speaking state in [0, 1] for this frame; accent: the speech's accent envelope
        for this frame (keypoints.prosody; None without audio: no beats).
        Returns (pitch, yaw, roll) degrees, Python floats."""
        p = self.params
        speaking = mask >= p.onset_level
        self._until_redraw_s -= self.dt_s
        self._since_redraw_s += self.dt_s
        onset = (speaking and not self._was_speaking
                 and self._since_redraw_s >= p.min_redraw_gap_s)
        if onset or self._until_redraw_s <= 0:
            self._redraw()
        self._was_speaking = speaking
        self._silent_s = 0.0 if speaking else self._silent_s + self.dt_s
        if speaking and not self._in_phrase:
            self._in_phrase = True
            self._beats.phrase_start()
        elif self._in_phrase and self._silent_s >= p.phrase_gap_s:  # a phrase end
            self._in_phrase = False
            self._beats.phrase_end()
            self._listen_roll_target = p.listen_roll_deg * (
                1.0 if self._own_rng.random() < 0.5 else -1.0)

        # Listening: the oscillators slow down while silent. Plain floats per axis, written
        # out: three-element numpy arrays (or zips) cost more than the maths here.
        rate = p.listen_rate + (1.0 - p.listen_rate) * self._speech_weight()
        dt_s = self.dt_s * rate
        c0, c1, c2 = self._current
        w0, w1, w2 = c0.advance(dt_s), c1.advance(dt_s), c2.advance(dt_s)
        if self._previous is not None:
            w0, w1, w2 = self._crossfade(dt_s, w0, w1, w2)

        # Ornstein-Uhlenbeck jitter: exact discretisation, so its std and correlation time
        # are the same at any frame rate.
        decay, kick = self._jitter_decay, self._jitter_kick
        z0, z1, z2 = self._normals.take(N_AXES)  # (drawn ahead: see animator.stages.draws_ahead)
        j0, j1, j2 = self._jitter
        j0 = j0 * decay + kick * c0.amplitude_deg * z0
        j1 = j1 * decay + kick * c1.amplitude_deg * z1
        j2 = j2 * decay + kick * c2.amplitude_deg * z2
        self._jitter = [j0, j1, j2]
        level = 1.0 if p.gain_holds_phrase and self._in_phrase else float(mask)
        level = (level if level < 1.0 else 1.0) if level > 0.0 else 0.0  # min(1, max(0, .))
        target = p.idle_floor + (1.0 - p.idle_floor) * level
        if self._gain is None or p.gain_tau_s == 0:
            self._gain = target
        else:
            self._gain += (target - self._gain) * self._gain_step
        g = self._gain
        angles = [(w0 + j0) * g, (w1 + j1) * g, (w2 + j2) * g]
        if self._beating:
            b0, b1, b2 = self._beats.step(0.0 if accent is None else float(accent))
            angles = [angles[0] + b0, angles[1] + b1, angles[2] + b2]
        if p.listen_pitch_deg or p.listen_roll_deg:
            self._listen_roll += (self._listen_roll_target - self._listen_roll) * self._posture
            quiet = 1.0 - self._speech_weight()
            angles[0] += quiet * p.listen_pitch_deg
            angles[2] += quiet * self._listen_roll
        gain = self.gain
        return angles[0] * gain, angles[1] * gain, angles[2] * gain
