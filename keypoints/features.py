"""Streaming log-mel features, bit-identical whatever the chunking of the input.

features[m, k] = (ln(max(mel_power[m, k], log_floor)) + offset) * scale, where frame k is centred
on sample k * hop_length (periodic Hann window of win_length, zero-padded to n_fft, |rfft|^2,
Slaney mel filterbank).

The mel filterbank is computed here in numpy rather than with librosa.filters.mel: importing
librosa costs 1.1-1.5 s per process on this machine (numba + scipy.signal), about 10x the rest of
the keypoints start-up; tests check the two filterbanks agree.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields

import numpy as np

_INT_FIELDS = ("sample_rate", "n_fft", "hop_length", "win_length", "n_mels")
_FLOAT_FIELDS = ("fmin", "fmax", "log_floor", "offset", "scale")


@dataclass(frozen=True)
class FeatureConfig:
    """Parameters of the log-mel features a model was trained on.

    sample_rate (Hz), n_fft / hop_length / win_length (samples), n_mels (bands), fmin / fmax (Hz),
    and the scaling: features = (ln(max(mel_power, log_floor)) + offset) * scale.
    The defaults (ln -> log10 units: 10 * feature = dB) are those of the baseline model.
    """

    sample_rate: int = 16000
    n_fft: int = 512
    hop_length: int = 160
    win_length: int = 400
    n_mels: int = 80
    fmin: float = 55.0
    fmax: float = 7600.0
    log_floor: float = 1e-10
    offset: float = 0.0
    scale: float = 1.0 / math.log(10.0)

    def __post_init__(self) -> None:
        for name in _INT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in _FLOAT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value!r}")
        if self.win_length > self.n_fft:
            raise ValueError(f"win_length {self.win_length} exceeds n_fft {self.n_fft}")
        if not 0.0 <= self.fmin < self.fmax <= self.sample_rate / 2:
            raise ValueError(
                f"need 0 <= fmin < fmax <= sample_rate/2, got fmin {self.fmin}, fmax {self.fmax}"
            )
        if self.log_floor <= 0.0:
            raise ValueError(f"log_floor must be > 0, got {self.log_floor!r}")
        if self.scale == 0.0:
            raise ValueError("scale must be non-zero")

    @property
    def frame_rate_hz(self) -> float:
        """Feature frames per second."""
        return self.sample_rate / self.hop_length

    @property
    def db_per_unit(self) -> float:
        """Decibels of power per feature unit (features are (ln(power) + offset) * scale)."""
        return 10.0 / (math.log(10.0) * self.scale)

    @property
    def silence_value(self) -> float:
        """The feature value of a band with no energy: (ln(log_floor) + offset) * scale."""
        return (math.log(self.log_floor) + self.offset) * self.scale

    def to_metadata(self) -> dict[str, str]:
        """The config as ONNX metadata strings (floats in repr form, which round-trips)."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = str(value) if f.name in _INT_FIELDS else repr(float(value))
        return out

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> FeatureConfig:
        """Parse ``to_metadata()`` strings; ValueError names the missing or bad key."""
        values: dict[str, int | float] = {}
        for name in _INT_FIELDS + _FLOAT_FIELDS:
            if name not in metadata:
                raise ValueError(f"missing metadata key {name!r}")
            text = str(metadata[name]).strip()
            try:
                values[name] = int(text) if name in _INT_FIELDS else float(text)
            except ValueError:
                kind = "an integer" if name in _INT_FIELDS else "a number"
                raise ValueError(f"metadata key {name!r} is not {kind}: {text!r}") from None
        try:
            return cls(**values)
        except ValueError as err:
            raise ValueError(f"bad feature metadata: {err}") from None


def _hz_to_mel_slaney(freq_hz: np.ndarray) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above."""
    freq_hz = np.asarray(freq_hz, dtype=np.float64)
    linear_hz_per_mel = 200.0 / 3.0
    break_hz = 1000.0
    break_mel = break_hz / linear_hz_per_mel
    log_step = math.log(6.4) / 27.0
    mel = freq_hz / linear_hz_per_mel
    above = freq_hz >= break_hz
    mel[above] = break_mel + np.log(freq_hz[above] / break_hz) / log_step
    return mel


def _mel_to_hz_slaney(mel: np.ndarray) -> np.ndarray:
    """Inverse of ``_hz_to_mel_slaney``."""
    mel = np.asarray(mel, dtype=np.float64)
    linear_hz_per_mel = 200.0 / 3.0
    break_hz = 1000.0
    break_mel = break_hz / linear_hz_per_mel
    log_step = math.log(6.4) / 27.0
    freq_hz = mel * linear_hz_per_mel
    above = mel >= break_mel
    freq_hz[above] = break_hz * np.exp(log_step * (mel[above] - break_mel))
    return freq_hz


def _mel_edges_hz(config: FeatureConfig) -> np.ndarray:
    """float64[n_mels + 2]: band edge/centre frequencies, equally spaced on the mel scale."""
    mel_lo, mel_hi = _hz_to_mel_slaney(np.array([config.fmin, config.fmax]))
    return _mel_to_hz_slaney(np.linspace(mel_lo, mel_hi, config.n_mels + 2))


def mel_band_centers_hz(config: FeatureConfig) -> np.ndarray:
    """float64[n_mels]: the centre (peak) frequency of each mel band in Hz."""
    return _mel_edges_hz(config)[1:-1]


@functools.lru_cache(maxsize=16)
def mel_filterbank(config: FeatureConfig) -> np.ndarray:
    """float32[n_mels, n_fft//2 + 1]: triangular Slaney-normalised mel filters (read-only).

    Same filters as librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax, htk=False,
    norm="slaney"): each triangle spans bands m..m+2 and has unit area per Hz (2 / width_hz).
    """
    bin_hz = np.fft.rfftfreq(config.n_fft, d=1.0 / config.sample_rate)
    edges_hz = _mel_edges_hz(config)
    widths_hz = np.diff(edges_hz)
    # distance of every FFT bin from every edge: [n_mels + 2, n_bins]
    offsets_hz = edges_hz[:, None] - bin_hz[None, :]
    rising = -offsets_hz[:-2] / widths_hz[:-1, None]
    falling = offsets_hz[2:] / widths_hz[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    out = weights.astype(np.float32)
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=16)
def periodic_hann(win_length: int) -> np.ndarray:
    """float64[win_length]: periodic Hann window (read-only)."""
    n = np.arange(win_length, dtype=np.float64)
    out = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / win_length)
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=16)
def _filterbank_f64(config: FeatureConfig) -> np.ndarray:
    """float64[n_mels, n_bins]: :func:`mel_filterbank` (float32 values) as float64, cast once
    rather than per frame (that cast was ~8 us of every 10 ms frame). Read-only."""
    out = mel_filterbank(config).astype(np.float64)
    out.flags.writeable = False
    return out


def _scaled_log(mel_power: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """float64 mel power -> float32 scaled log-mel (a new array; ``mel_power`` is used up).

    The scaling is one multiply whose float64 product is rounded to float32 as it is stored
    (the same rounding as multiplying, then ``astype``); an offset of 0.0 is not added (a
    no-op: a log is never -0.0)."""
    np.maximum(mel_power, config.log_floor, out=mel_power)
    np.log(mel_power, out=mel_power)
    if config.offset != 0.0:
        mel_power += config.offset
    out = np.empty(mel_power.shape, np.float32)
    np.multiply(mel_power, config.scale, out=out, casting="same_kind")
    return out


def _power(spectrum: np.ndarray, squares: np.ndarray, out: np.ndarray) -> np.ndarray:
    """|spectrum|^2 into ``out`` (float64, the shape of the complex ``spectrum``): re*re +
    im*im, each product rounded, then the sum (as ``re * re`` then ``+= im * im``), in two
    calls over the interleaved parts; ``squares`` float64[..., 2] is scratch."""
    parts = spectrum.view(np.float64).reshape(squares.shape)
    np.multiply(parts, parts, out=squares)
    return np.add(squares[..., 0], squares[..., 1], out=out)


def log_mel_frame(frame: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """float32[win_length] samples of one frame -> float32[n_mels] scaled log-mel features.

    The one place where a feature frame is computed: fixed shapes and operations, so a frame's
    value depends only on its samples (never on how the stream was chunked).
    """
    windowed = np.multiply(frame, periodic_hann(config.win_length), dtype=np.float64)
    spectrum = np.fft.rfft(windowed, n=config.n_fft)
    power = spectrum.real * spectrum.real
    power += spectrum.imag * spectrum.imag
    return _scaled_log(_filterbank_f64(config) @ power, config)


def log_mel_frames(frames: np.ndarray, config: FeatureConfig,
                   work: _Work | None = None) -> np.ndarray:
    """float32[n, win_length] frames -> float32[n_mels, n]: :func:`log_mel_frame` of each row,
    vectorised (the same operations per frame; tests pin it bit-identical to the one-frame
    version, so a stream's features do not depend on how many frames a push brings; more
    than ``_BLOCK_ROWS`` frames go through in blocks of that many, the same values).
    ``work``: buffers kept between calls (a stream's), none allocated here but the result's
    and the FFT's."""
    n = frames.shape[0]
    if n > _BLOCK_ROWS:  # a long call: in blocks whose buffers stay in the CPU's cache
        work = work if work is not None and work.rows >= _BLOCK_ROWS else _Work(config,
                                                                               _BLOCK_ROWS)
        out = np.empty((config.n_mels, n), np.float32)
        for s in range(0, n, _BLOCK_ROWS):
            out[:, s:s + _BLOCK_ROWS] = log_mel_frames(frames[s:s + _BLOCK_ROWS], config, work)
        return out
    work = work if work is not None and work.rows >= n else _Work(config, n)
    padded = work.padded[:n]  # zeros after win_length: the FFT's own padding, made once
    np.multiply(frames, periodic_hann(config.win_length), out=padded[:, :config.win_length])
    spectrum = np.fft.rfft(padded, axis=1)
    power = _power(spectrum, work.squares[:n], work.power[:n])
    fb = _filterbank_f64(config)
    if n > _GEMV_ROWS:  # a file's frames: one matrix product
        return _scaled_log(fb @ power.T, config)
    # a live tick's few frames: a stack of the one frame's matrix-vector products (BLAS
    # gemv, no packing of the 164 kB filterbank: ~4 us a frame instead of ~30 us a call;
    # the same values, pinned by the tests to the one-frame version)
    mel = work.mel[:n]
    np.matmul(fb, power[:, :, None], out=mel)
    return _scaled_log(mel[:, :, 0].T, config)


#: Frames a stream keeps buffers for (a live tick's few; a longer push allocates its own).
_KEPT_ROWS = 16
#: Up to this many frames, the filterbank is applied per frame (gemv), beyond as one gemm.
_GEMV_ROWS = 16
#: Frames per block of a longer call of :func:`log_mel_frames` (offline, whole files): its
#: ~1.3 MB of buffers stay in the CPU's cache, ~2x faster than one pass over thousands of
#: frames (measured: 60 s of speech 61 -> 31 ms); the values are the same.
_BLOCK_ROWS = 128


class _Work:
    """Buffers of :func:`log_mel_frames` for up to ``rows`` frames (float64)."""

    def __init__(self, config: FeatureConfig, rows: int) -> None:
        self.rows = rows
        n_bins = config.n_fft // 2 + 1
        self.padded = np.zeros((rows, config.n_fft))
        self.squares = np.empty((rows, n_bins, 2))
        self.power = np.empty((rows, n_bins))
        # the per-frame products' output (a block's last few frames take that path too)
        self.mel = np.empty((min(rows, _GEMV_ROWS), config.n_mels, 1))


class StreamingLogMel:
    """Log-mel frames from audio pushed in chunks of any size.

    Frame k is centred on sample k * hop_length: the stream is left-padded with win_length//2
    zeros, so frame k is emitted once sample k * hop_length + (win_length - win_length//2) - 1
    has arrived. ``flush()`` pads zeros on the right so that every k with k * hop_length < N gets
    a frame (ceil(N / hop_length) frames in all); the object is then finished.
    """

    def __init__(self, config: FeatureConfig) -> None:
        self.config = config
        self._pending = np.zeros(config.win_length // 2, dtype=np.float32)  # padded samples
        self._n_samples = 0  # input samples received (unpadded)
        self._n_frames = 0  # frames emitted
        self._finished = False
        self._work: _Work | None = None  # buffers for pushes of up to _KEPT_ROWS frames

    @property
    def n_frames(self) -> int:
        """Frames emitted so far."""
        return self._n_frames

    def _emit_ready(self) -> np.ndarray:
        """float32[n_mels, n]: every frame whose window lies inside the pending samples."""
        cfg = self.config
        n_ready = 0
        if self._pending.size >= cfg.win_length:
            n_ready = (self._pending.size - cfg.win_length) // cfg.hop_length + 1
        if n_ready == 0:
            out = np.empty((cfg.n_mels, 0), dtype=np.float32)
        elif n_ready == 1:  # the live case: one 10 ms block at a time
            out = log_mel_frame(self._pending[: cfg.win_length], cfg)[:, None]
        else:  # the frames as a strided view of the samples (no copy of the windows; a
            # plain ndarray: sliding_window_view costs ~30 us to make, a live tick's features)
            pending = np.ascontiguousarray(self._pending)
            step = pending.strides[0]
            windows = np.ndarray((n_ready, cfg.win_length), pending.dtype, pending, 0,
                                 (cfg.hop_length * step, step))
            if self._work is None:
                self._work = _Work(cfg, _KEPT_ROWS)
            out = log_mel_frames(windows, cfg, self._work)
        self._pending = self._pending[n_ready * cfg.hop_length :]
        self._n_frames += n_ready
        return out

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Append float32[n] samples; return float32[n_mels, n_new_frames] (maybe 0 frames)."""
        if self._finished:
            raise RuntimeError("StreamingLogMel.push() after flush()")
        samples = np.asarray(samples, dtype=np.float32)
        if samples.ndim != 1:
            raise ValueError(f"expected mono samples of shape [n], got {samples.shape}")
        self._n_samples += samples.size
        if samples.size:
            self._pending = np.concatenate([self._pending, samples])
        return self._emit_ready()

    def flush(self) -> np.ndarray:
        """Zero-pad the end; return the last float32[n_mels, n_tail] frames and finish."""
        if self._finished:
            raise RuntimeError("StreamingLogMel.flush() called twice")
        self._finished = True
        cfg = self.config
        n_total = -(-self._n_samples // cfg.hop_length)  # ceil(N / hop)
        n_tail = n_total - self._n_frames
        if n_tail <= 0:
            return np.empty((cfg.n_mels, 0), dtype=np.float32)
        needed = (n_tail - 1) * cfg.hop_length + cfg.win_length
        padding = np.zeros(max(0, needed - self._pending.size), dtype=np.float32)
        self._pending = np.concatenate([self._pending, padding])[:needed]
        return self._emit_ready()


def log_mel(samples: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """float32[N] -> float32[n_mels, ceil(N / hop_length)]: the whole signal at once."""
    stream = StreamingLogMel(config)
    return np.concatenate([stream.push(samples), stream.flush()], axis=1)
