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

Everything is O(1) per frame; the arithmetic of each frame is the same whatever the chunking, so
the values do not depend on how the audio was chunked (bit for bit).
"""

from __future__ import annotations

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
    timing, so the two can be zipped). ``flush()`` gives the last ``lookahead`` frames.

    Each push is computed in three steps: the per-frame measures of all its frames at once
    (numpy over the frames: :meth:`_measures`), their centred smoothing (a window per frame
    over the frames kept from earlier pushes), then the causal trackers, the only sequential
    part, on Python floats (:meth:`_track`), beside the voice-activity cue (a tracker too,
    frame by frame: :meth:`_hear`). A further per-frame measure is one more row in
    the first two steps and one more argument of the third. Each frame's arithmetic is the
    same whatever the chunking (one BLAS dot per frame and window: the values are bit for
    bit those of one frame at a time)."""

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
        db_per_unit = config.db_per_unit
        rows = np.flatnonzero(band)  # mel bands rise with their index: one stretch of rows
        self._band_rows = (int(rows[0]), int(rows[-1]) + 1)
        self._mean_db = np.full((rows.size, 1), db_per_unit / rows.size)
        self._flux_db = db_per_unit / rows.size
        self._diff = np.empty((0, 0))
        self._silence = config.silence_value
        half = min(p.max_smooth_frames, lookahead)
        tri = np.concatenate([np.arange(1, half + 2), np.arange(half, 0, -1)]).astype(float)
        self._kernel = (tri / tri.sum())[:, None]  # float64[2 half + 1, 1]
        self._half = half
        self._floor_step_db = p.floor_rise_db_s / rate_hz
        self._peak_decay = math.exp(-1.0 / (p.peak_tau_s * rate_hz))
        self._mean_alpha = 1.0 - math.exp(-1.0 / (p.prominence_tau_s * rate_hz))
        # float64[2, m]: (loudness dB, flux dB) of frames k - half .. n_in - 1, k = the frame
        # to output next (the first frame's loudness, and zero flux, repeat into the past)
        self._recent = np.zeros((2, 0))
        self._prev: np.ndarray | None = None  # float64[n_band]: the last frame's band levels
        self._n_mels = config.n_mels
        self._n_in = 0
        self._floor = self._peak = self._mean = math.nan
        self._voice = VoiceActivity(config)
        # the cue after each input frame from the next output frame's look-ahead on (frame k
        # gets the cue after frame k + lookahead: the newest it may hear)
        self._cues: list[float] = []
        self._cues_to_skip = lookahead
        self._finished = False

    def _measures(self, frames: np.ndarray) -> np.ndarray:
        """float64[2, n] (band loudness dB, positive band flux dB) of feature frames
        float64[n, n_mels] (each row contiguous), n >= 1."""
        lo, hi = self._band_rows
        band = frames[:, lo:hi]  # [n, n_band], rows contiguous
        out = np.empty((2, band.shape[0]))
        # a stack of vector products: one BLAS dot per frame, as for a frame alone (a
        # matrix-vector product would round differently)
        np.matmul(band[:, None, :], self._mean_db, out=out[0, :, None, None])
        diff = self._scratch(band.shape)
        np.subtract(band[1:], band[:-1], out=diff[1:])
        np.subtract(band[0], band[0] if self._prev is None else self._prev, out=diff[0])
        np.maximum(diff, 0.0, out=diff)
        np.multiply(diff.sum(axis=1), self._flux_db, out=out[1])  # first frame: 0
        self._prev = band[-1].copy()
        return out

    def _scratch(self, shape: tuple[int, int]) -> np.ndarray:
        """float64[shape]: a buffer kept between pushes (live pushes are all alike)."""
        if self._diff.shape != shape:
            self._diff = np.empty(shape)
        return self._diff

    def _take(self, columns: np.ndarray) -> list[tuple[float, float, float, float]]:
        """Feature frames float[n_mels, n] in; the prosody of the frames now complete (the
        fields of each :class:`Prosody`)."""
        n = columns.shape[1]
        if n == 0:
            return []
        frames = np.ascontiguousarray(columns.T, dtype=np.float64)  # [n, n_mels], once
        measures = self._measures(frames)
        self._hear(frames)
        if self._n_in == 0:
            past = np.zeros((2, self._half))
            past[0] = measures[0, 0]
            self._recent = past
        self._recent = np.concatenate([self._recent, measures], axis=1)
        self._n_in += n
        n_out = min(n, self._n_in - self.lookahead)
        if n_out <= 0:
            return []
        recent = self._recent  # C-contiguous (a concatenation): windows as a strided view
        rows, cols = recent.strides
        windows = np.ndarray((2, n_out, 1, 2 * self._half + 1), recent.dtype, recent, 0,
                             (rows, cols, 0, cols))
        # float64[2, n_out]: the centred smoothing, one dot per frame and measure
        smooth = (windows @ self._kernel)[:, :, 0, 0]
        self._recent = self._recent[:, n_out:].copy()
        loud_db, flux = smooth.tolist()
        voice = self._cues[:n_out]
        del self._cues[:n_out]
        return self._track(loud_db, flux, voice)

    def _hear(self, frames: np.ndarray) -> None:
        """The voice cue after each feature frame of float64[n, n_mels] (a tracker: in order,
        keypoints.voice_activity.VoiceActivity.steps), kept for the frames whose look-ahead
        it is."""
        cues = self._voice.steps(frames)
        skip = min(self._cues_to_skip, len(cues))  # the look-ahead of no frame: before 0
        self._cues_to_skip -= skip
        self._cues += cues[skip:]

    def _track(self, loud_db: list[float], flux: list[float], voice: list[float]
               ) -> list[tuple[float, float, float, float]]:
        """The causal trackers, frame by frame (Python floats: the sequential part): the
        prosody (the fields of each :class:`Prosody`) of the frames whose smoothed band
        loudness (dB) and flux (dB) these are."""
        p = self.params
        floor, peak, mean = self._floor, self._peak, self._mean
        decay, rise, alpha = self._peak_decay, self._floor_step_db, self._mean_alpha
        min_range, max_range, speech = p.min_range_db, p.max_range_db, p.speech_level
        flux_weight = p.flux_weight
        out = []
        for loud, fl, cue in zip(loud_db, flux, voice, strict=True):
            if floor != floor:  # NaN: the first frame (or after a NaN loudness)
                floor, peak, mean = loud, loud + min_range, speech
            # max(a, b) and min(a, b) as the builtins do them (NaN, -0.0 alike):
            # (b if b > a else a), (b if b < a else a)
            held = floor + (peak - floor) * decay
            peak = held if held > loud else loud
            risen = floor + rise
            floor = risen if risen < loud else loud
            lowest = peak - max_range
            floor = lowest if lowest > floor else floor
            span = peak - floor
            span = min_range if min_range > span else span
            level = (loud - floor) / span
            level = level if level > 0.0 else 0.0
            level = level if level < 1.0 else 1.0
            prominence = level - mean
            prominence = prominence if prominence > 0.0 else 0.0
            if level > speech:
                mean += (level - mean) * alpha
            out.append((level, prominence + flux_weight * fl * level, loud, cue))
        self._floor, self._peak, self._mean = floor, peak, mean
        return out

    def push(self, features: np.ndarray) -> list[Prosody]:
        """features: float32[n_mels, n] log-mel frames. Returns the frames now complete."""
        return [Prosody(*v) for v in self.push_values(features)]

    def push_values(self, features: np.ndarray) -> list[tuple[float, float, float, float]]:
        """:meth:`push`, each frame's prosody as the fields of its :class:`Prosody` (level,
        accent, loudness_db, voice): for a caller that keeps only some frames (a file's
        lips make the objects of the frames a render shows, ~half)."""
        if self._finished:
            raise RuntimeError("StreamingProsody.push() after flush()")
        return self._take(features)

    def flush(self) -> list[Prosody]:
        """End of stream: the last ``lookahead`` frames (all of them in a stream shorter than
        that), their future padded with silence."""
        if self._finished:
            raise RuntimeError("StreamingProsody.flush() called twice")
        self._finished = True
        if self._n_in == 0:
            return []
        return [Prosody(*v) for v in
                self._take(np.full((self._n_mels, self.lookahead), self._silence))]
