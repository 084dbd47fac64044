"""Speech prosody from the log-mel frames, streaming: loudness and an accent envelope.

Per feature frame k (10 ms for the shipped models):

* ``loudness_db[k]``: the mean log-mel level (dB) over the speech band (100-4000 Hz), smoothed by
  a centred triangular window of ``2 S + 1`` frames, where ``S`` is at most the look-ahead the lip
  model already has (``context_future``): prosody adds no latency to the lips.
* the speech's loudness range, tracked causally: a noise floor (follows drops at once, creeps up
  slowly) and a speech peak level (follows rises at once, decays slowly), at least
  ``min_range_db`` apart. ``level`` is the loudness placed in that range (0 floor, 1 peak), so it
  does not depend on the recording's gain.
* ``accent[k]``: how far the level stands above its own recent past (a causal mean over
  ``prominence_tau_s``), plus the positive spectral flux (syllable onsets) weighted by the level;
  in units of the loudness range. It peaks on stressed syllables and loud onsets, and is ~0 in
  pauses, on steady sounds and on noise at the floor.

Everything is O(1) per frame, pure numpy on one feature column at a time with fixed shapes, so
the values do not depend on how the audio was chunked.
"""

from __future__ import annotations

import collections
import itertools
import math
from dataclasses import dataclass

import numpy as np

from keypoints.features import FeatureConfig, mel_band_centers_hz
from keypoints.voice_activity import VoiceActivity


@dataclass(frozen=True)
class Prosody:
    """Prosody of one feature frame.

    level: loudness in the speech's range, 0 = noise floor .. 1 = the speech's peak level.
    accent: accent envelope (>= 0, loudness-range units; ~0.1-0.5 on stressed syllables).
    loudness_db: the smoothed band loudness itself (dB of the model's feature scale).
    voice: voice-activity cue in [0, 1] (keypoints.voice_activity: the share of the last
    ~60 ms, up to the look-ahead's newest frame, that sounds like speech).
    """

    level: float
    accent: float
    loudness_db: float
    voice: float = 0.0


#: Prosody of a frame with no sound (before the stream, padding after it).
SILENT = Prosody(0.0, 0.0, -100.0)


@dataclass(frozen=True)
class ProsodyParams:
    """Parameters of :class:`StreamingProsody` (times in seconds, levels in dB)."""

    band_hz: tuple[float, float] = (100.0, 4000.0)
    #: half-width of the centred loudness smoothing, capped by the look-ahead available.
    max_smooth_frames: int = 3
    #: the noise floor rises at most this fast (dB/s); it follows drops at once.
    floor_rise_db_s: float = 4.0
    #: the peak level decays towards the floor with this time constant; it follows rises at once.
    peak_tau_s: float = 4.0
    #: the range (peak - floor) never shrinks below this, so noise is not stretched to speech,
    min_range_db: float = 25.0
    #: and never grows beyond this (a digitally silent pause must not squash the speech).
    max_range_db: float = 40.0
    #: the accent is the level above its causal mean over this time constant, taken over
    #: speech (level above ``speech_level``) only, so that a pause does not reset it.
    prominence_tau_s: float = 0.25
    speech_level: float = 0.3
    #: weight of the positive spectral flux (dB per frame, band mean) in the accent.
    flux_weight: float = 0.02

    def __post_init__(self) -> None:
        lo, hi = self.band_hz
        if not 0 <= lo < hi:
            raise ValueError(f"band_hz must be 0 <= low < high, got {self.band_hz}")
        if not 0 < self.min_range_db <= self.max_range_db:
            raise ValueError("need 0 < min_range_db <= max_range_db")
        if self.max_smooth_frames < 0 or min(self.floor_rise_db_s, self.peak_tau_s,
                                             self.min_range_db, self.prominence_tau_s) <= 0:
            raise ValueError("prosody times, rates and the minimum range must be > 0")
        if self.flux_weight < 0:
            raise ValueError("flux_weight must be >= 0")


class StreamingProsody:
    """Log-mel frames in (any chunking), one :class:`Prosody` per frame out, ``lookahead``
    frames late: frame k comes out when frame k + lookahead has been pushed (the lip stream's
    timing, so the two can be zipped). ``flush()`` gives the last ``lookahead`` frames."""

    def __init__(self, config: FeatureConfig, lookahead: int,
                 params: ProsodyParams | None = None) -> None:
        if lookahead < 0:
            raise ValueError("lookahead must be >= 0")
        self.params = p = params or ProsodyParams()
        self.lookahead = lookahead
        rate_hz = config.frame_rate_hz
        centres = mel_band_centers_hz(config)
        band = (centres >= p.band_hz[0]) & (centres <= p.band_hz[1])
        if not band.any():
            raise ValueError(f"no mel band lies in {p.band_hz} Hz")
        # dB per feature unit: features are (ln(power) + offset) * scale.
        db_per_unit = 10.0 / (math.log(10.0) * config.scale)
        self._band = np.flatnonzero(band)
        self._mean_db = np.full(self._band.size, db_per_unit / self._band.size)
        self._flux_db = db_per_unit / self._band.size
        self._silence = config.silence_value
        half = min(p.max_smooth_frames, lookahead)
        tri = np.concatenate([np.arange(1, half + 2), np.arange(half, 0, -1)]).astype(float)
        self._kernel = tri / tri.sum()  # float64[2 half + 1]
        self._half = half
        self._floor_step_db = p.floor_rise_db_s / rate_hz
        self._peak_decay = math.exp(-1.0 / (p.peak_tau_s * rate_hz))
        self._mean_alpha = 1.0 - math.exp(-1.0 / (p.prominence_tau_s * rate_hz))
        # loudness of frames k - half .. k + lookahead, k = the frame to output next (the
        # first frame's loudness repeats into the past), and the flux of k .. k + lookahead.
        self._recent: collections.deque[float] = collections.deque(maxlen=half + lookahead + 1)
        self._flux: collections.deque[float] = collections.deque(maxlen=half + lookahead + 1)
        self._prev: np.ndarray | None = None  # previous band levels (for the flux)
        self._n_mels = config.n_mels
        self._n_in = 0
        self._floor = self._peak = self._mean = math.nan
        self._finished = False
        self._voice = VoiceActivity(config)  # its cue after the newest frame pushed
        self._voice_now = 0.0

    def _frame_in(self, column: np.ndarray) -> None:
        """Take one feature column float64[n_mels] (contiguous: fixed-shape arithmetic)."""
        self._voice_now = self._voice.step(column)
        band = column[self._band]
        loud_db = float(self._mean_db @ band)
        flux = 0.0 if self._prev is None else float(np.maximum(band - self._prev, 0.0).sum())
        self._prev = band
        if not self._recent:
            self._recent.extend([loud_db] * self._half)
            self._flux.extend([0.0] * self._half)
        self._recent.append(loud_db)
        self._flux.append(flux * self._flux_db)
        self._n_in += 1

    def _frame_out(self) -> Prosody:
        """Prosody of frame n_in - 1 - lookahead, the oldest whose look-ahead is complete."""
        p = self.params
        n = 2 * self._half + 1
        loud_db = float(self._kernel @ np.fromiter(itertools.islice(self._recent, n), float, n))
        flux = float(self._kernel @ np.fromiter(itertools.islice(self._flux, n), float, n))
        if math.isnan(self._floor):
            self._floor, self._peak, self._mean = loud_db, loud_db + p.min_range_db, p.speech_level
        self._peak = max(loud_db, self._floor + (self._peak - self._floor) * self._peak_decay)
        self._floor = max(min(loud_db, self._floor + self._floor_step_db),
                          self._peak - p.max_range_db)
        span = max(self._peak - self._floor, p.min_range_db)
        level = min(1.0, max(0.0, (loud_db - self._floor) / span))
        prominence = max(0.0, level - self._mean)
        if level > p.speech_level:
            self._mean += (level - self._mean) * self._mean_alpha
        accent = prominence + p.flux_weight * flux * level
        return Prosody(level, accent, loud_db, self._voice_now)

    def push(self, features: np.ndarray) -> list[Prosody]:
        """features: float32[n_mels, n] log-mel frames. Returns the frames now complete."""
        if self._finished:
            raise RuntimeError("StreamingProsody.push() after flush()")
        out = []
        for i in range(features.shape[1]):
            self._frame_in(np.ascontiguousarray(features[:, i], dtype=np.float64))
            if self._n_in > self.lookahead:
                out.append(self._frame_out())
        return out

    def flush(self) -> list[Prosody]:
        """End of stream: the last ``lookahead`` frames, their future padded with silence."""
        if self._finished:
            raise RuntimeError("StreamingProsody.flush() called twice")
        self._finished = True
        pad = np.full(self._n_mels, self._silence, dtype=np.float64)
        out = []
        for _ in range(min(self.lookahead, self._n_in)):
            self._frame_in(pad)
            out.append(self._frame_out())
        return out
