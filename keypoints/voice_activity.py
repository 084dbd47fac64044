"""A causal voice-activity cue from the log-mel frames the lip model already reads.

Per feature frame (10 ms for the shipped models), no extra FFT:

* the level of seven speech-band groups of mel bands (150-7600 Hz: voicing, the first and
  second formants, the frication bands, so that an /s/ counts), each the mean of its bands
  in dB;
* a noise floor per group: about the minimum of that level over the last ``floor_s``
  (~0.5 s): the lowest of the past blocks' (``block_frames`` frames, 100 ms) second-lowest
  levels, so that a single frame of dropout (digital silence, a decoder's first frame) does
  not hold the floor down; it is updated once a block, so a frame costs five fixed-shape numpy
  operations (~3.5 us);
  the frames that read the stream's left zero padding (frames 0 and 1 of the shipped
  models, with a decoder's near-silent priming) are left out of it: kept, they held the floor
  under a quiet room's level for ``floor_s``, so that its noise and a breath read as voice
  at the start of GRID clips (benchmarks.speaking_dev);
* a frame is *active* when at least ``min_groups`` groups stand ``margin_db`` above their
  floor; the cue is the share of active frames over the last ``window_s`` (~60 ms).

What it rejects: a stationary sound (a buzz, a hum, a fan, a held organ chord) sets its own
floor within ``floor_s`` and stops counting; a tone or a narrow-band sound lifts too few
groups; a key click lifts the groups for 2-4 frames, short of the 5 of 6 the speaking state
wants for an onset (animator.stages.speaking.SpeakingParams.voice_onset). Speech keeps
rising and falling across the bands at the syllable rate (4-8 Hz), so its frames stand above
the floor of the last half second. What it cannot reject: another talker, and music with the
modulation of speech; the speaking state fuses the cue with the lips' motion
(animator.stages.speaking) rather than trusting it alone.

The cue does not depend on the recording's gain (levels are compared with their own floor) nor
on how the audio was chunked (one column at a time, fixed shapes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from keypoints.features import FeatureConfig, mel_band_centers_hz

#: Pushes of at most this many frames count their windowed share in a Python loop (a live
#: tick's 3-4 frames: ~15 us less than the array arithmetic; the same integers either way).
_LOOP_MAX_FRAMES = 16


@dataclass(frozen=True)
class VoiceParams:
    """Parameters of :class:`VoiceActivity` (times in seconds, levels in dB)."""

    #: edges of the band groups (Hz): len - 1 groups of the mel bands whose centres lie inside.
    group_edges_hz: tuple[float, ...] = (150.0, 400.0, 800.0, 1300.0, 2000.0, 3200.0, 5000.0,
                                         7600.0)
    #: a group is active this far above its floor ...
    margin_db: float = 8.0
    #: ... and a frame when at least this many groups are,
    min_groups: int = 2
    #: at least this many of them below ``low_hz`` (voicing). 1 silences a buzz whose
    #: samples glitch (clicks lift the groups above its fundamental, which stays put), but an
    #: onset on an unvoiced consonant (s, f, p, t, k, h) then waits for the vowel: ~+100 ms
    #: (GRID swwp2s "set": onset 75 -> 155 ms), so it is off by default.
    min_low_groups: int = 0
    low_hz: float = 400.0
    #: the floor is the minimum level over about this long (whole blocks) ...
    floor_s: float = 0.5
    #: ... tracked as the minima of blocks of this many frames.
    block_frames: int = 10
    #: the cue is the active share over this long.
    window_s: float = 0.06
    #: the frames that read the stream's start padding count neither as active nor as floor
    skip_padded: bool = True
    #: a floor at digital silence (exact zeros: a noise gate, a muted or synthetic track)
    #: says nothing of the room, and against it the edges of a key click's analysis window
    #: count as voice (typing over digital silence switched speaking on for 6.5 % of the
    #: time); such a floor is taken as a quiet room's instead (the quietest real recordings
    #: of the benchmarks sit at -92 to -60 dB on this scale). None: the floor as measured.
    digital_silence_floor_db: float | None = -80.0

    def __post_init__(self) -> None:
        edges = self.group_edges_hz
        if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
            raise ValueError(f"group_edges_hz must rise, with at least 2 edges: {edges}")
        if not 1 <= self.min_groups <= len(edges) - 1:
            raise ValueError(f"min_groups must be 1..{len(edges) - 1}")
        if not 0 <= self.min_low_groups <= sum(e <= self.low_hz for e in edges[1:]):
            raise ValueError("min_low_groups must be 0..the number of groups below low_hz")
        if self.digital_silence_floor_db is not None \
                and not np.isfinite(self.digital_silence_floor_db):
            raise ValueError("digital_silence_floor_db must be a finite level (dB) or None")
        if self.margin_db < 0 or self.floor_s <= 0 or self.window_s <= 0 \
                or self.block_frames < 1:
            raise ValueError("margin_db >= 0, floor_s > 0, window_s > 0, block_frames >= 1")


class VoiceActivity:
    """Log-mel columns in, one after another; :meth:`step` returns the cue in [0, 1]: the
    share of active frames among the last ``window_s`` (the frames before the first count as
    inactive)."""

    def __init__(self, config: FeatureConfig, params: VoiceParams | None = None) -> None:
        self.params = p = params or VoiceParams()
        centres = mel_band_centers_hz(config)
        edges = p.group_edges_hz
        groups = np.zeros((len(edges) - 1, config.n_mels))
        for g, (lo, hi) in enumerate(zip(edges, edges[1:], strict=False)):
            inside = (centres >= lo) & (centres < hi)
            if not inside.any():
                raise ValueError(f"no mel band of this model lies in {lo:g}-{hi:g} Hz")
            groups[g, inside] = 1.0 / inside.sum()
        self._groups = groups * config.db_per_unit  # float64[G, n_mels]: column -> group levels, dB
        self._margin = p.margin_db
        # a floor this low is digital silence (the level of a band with no energy, +0.5 dB)
        self._silence_db = config.silence_value * config.db_per_unit + 0.5
        self._quiet_floor = p.digital_silence_floor_db
        self._n_low = sum(1 for e in edges[1:] if e <= p.low_hz)
        self._min_low = p.min_low_groups
        self._min_groups = p.min_groups
        rate_hz = config.frame_rate_hz
        self._block_frames = p.block_frames
        n_blocks = max(1, round(p.floor_s * rate_hz / p.block_frames))
        n_groups = groups.shape[0]
        # the current block's levels, the second-lowest level of each past block (+inf: not
        # yet seen), and the floor plus the margin: the lowest of those, per group
        self._levels = np.full((p.block_frames, n_groups), np.inf)
        self._blocks = np.full((n_blocks, n_groups), np.inf)
        self._threshold = np.full(n_groups, np.inf)
        self._n_blocks = n_blocks
        self._in_block = 0
        self._next_block = 0
        self._first_block = True
        #: the first frames read the stream's left zero padding (and a decoder's priming):
        #: quieter than the room, they would hold the floor down for ``floor_s``
        self._padded = (config.win_length // 2 + config.hop_length - 1) // config.hop_length \
            if p.skip_padded else 0
        self._window = max(1, round(p.window_s * rate_hz))
        self._recent = [0] * self._window  # ring of active flags
        self._pos = 0
        self._active = 0

    @property
    def window_frames(self) -> int:
        return self._window

    def step(self, column: np.ndarray) -> float:
        """Take one feature column float64[n_mels]; the cue after it, in [0, 1]."""
        if self._padded:  # neither active nor part of the floor
            self._padded -= 1
            self._active -= self._recent[self._pos]
            self._recent[self._pos] = 0
            self._pos = (self._pos + 1) % self._window
            return self._active / self._window
        level = self._groups.dot(column)  # (.dot: half the time of @ on these shapes)
        i = self._in_block
        self._levels[i] = level
        if self._first_block and i:  # no block complete yet: the second-lowest level so far
            self._threshold = self._above_floor(np.partition(self._levels[: i + 1], 1, axis=0)[1])
        above = level > self._threshold
        a = int(np.count_nonzero(above) >= self._min_groups
                and np.count_nonzero(above[: self._n_low]) >= self._min_low)
        i += 1
        if i == self._block_frames:  # the block is complete: its second-lowest into the ring
            self._blocks[self._next_block] = np.partition(self._levels, 1, axis=0)[1]
            self._next_block = (self._next_block + 1) % self._n_blocks
            self._threshold = self._above_floor(self._blocks.min(axis=0))
            self._first_block = False
            i = 0
        self._in_block = i
        self._active += a - self._recent[self._pos]
        self._recent[self._pos] = a
        self._pos = (self._pos + 1) % self._window
        return self._active / self._window

    def steps(self, frames: np.ndarray) -> list[float]:
        """Take feature columns as the rows of float64[n, n_mels]; the cue after each, bit for
        bit :meth:`step` on each row, in a few numpy calls per push (after the first block):
        the levels as a stack of the same matrix-vector products; the rest of the block
        begun, then the whole blocks at once (each block's floor is the minimum of the ring
        of blocks before it: a sliding minimum), then the start of the next; the windowed
        share of active frames as a running sum (integers: exact)."""
        cues = []
        j = 0
        while j < len(frames) and self._first_block:  # a threshold per frame: one by one
            cues.append(self.step(frames[j]))
            j += 1
        if j == len(frames):
            return cues
        levels = np.matmul(self._groups, frames[j:, :, None])[:, :, 0]  # float64[n - j, G]
        b = self._block_frames
        head = min(len(levels), (b - self._in_block) % b)  # the rest of the block begun
        n_whole = (len(levels) - head) // b
        parts = [self._stretch(levels[:head])] if head else []
        if n_whole:
            parts.append(self._whole_blocks(levels[head:head + n_whole * b]))
        if head + n_whole * b < len(levels):
            parts.append(self._stretch(levels[head + n_whole * b:]))
        return cues + self._shares(np.concatenate(parts))

    def _above_floor(self, floor: np.ndarray) -> np.ndarray:
        """The activity threshold float64[..., G] (dB) of a floor float64[..., G] (dB): the
        floor plus the margin, a floor at digital silence first taken as a quiet room's."""
        if self._quiet_floor is not None:
            floor = np.where(floor <= self._silence_db, self._quiet_floor, floor)
        return floor + self._margin

    def _flags(self, levels: np.ndarray, threshold: np.ndarray) -> np.ndarray:
        """bool[...]: the frames of float64[..., G] levels active against ``threshold``
        (counts per frame: np.add.reduce of bools, ints)."""
        above = levels > threshold
        active = np.add.reduce(above, axis=-1) >= self._min_groups
        if self._min_low:
            active &= np.add.reduce(above[..., :self._n_low], axis=-1) >= self._min_low
        return active

    def _stretch(self, levels: np.ndarray) -> np.ndarray:
        """The active flags of float64[m, G] levels within one block (from the frame the
        block is at), the block closed when they complete it (as in :meth:`step`)."""
        i = self._in_block
        self._levels[i:i + len(levels)] = levels
        active = self._flags(levels, self._threshold)
        i += len(levels)
        if i == self._block_frames:
            self._close_blocks(np.partition(self._levels, 1, axis=0)[1:2])
            i = 0
        self._in_block = i
        return active

    def _whole_blocks(self, levels: np.ndarray) -> np.ndarray:
        """The active flags of float64[k * block_frames, G] levels, k whole blocks from the
        start of one: block q is compared with the floor of the ring's last n_blocks entries
        before it (the ring as it is, then the blocks of this call)."""
        b, n = self._block_frames, self._n_blocks
        blocks = levels.reshape(-1, b, levels.shape[1])
        seconds = np.partition(blocks, 1, axis=1)[:, 1]  # float64[k, G], as per block
        ring = np.concatenate([self._blocks[self._next_block:],
                               self._blocks[:self._next_block]])  # oldest first
        history = np.concatenate([ring, seconds])
        floors = np.lib.stride_tricks.sliding_window_view(history, n, axis=0).min(axis=-1)
        thresholds = self._above_floor(floors)  # [k + 1, G]: before each block, and after all
        active = self._flags(blocks, thresholds[:-1, None, :]).reshape(-1)
        self._levels[:] = blocks[-1]
        self._close_blocks(seconds, thresholds[-1])
        return active

    def _close_blocks(self, seconds: np.ndarray, threshold: np.ndarray | None = None) -> None:
        """Blocks completed, their second-lowest levels float64[k, G] in order: into the ring
        (the oldest entries replaced), and the floor plus margin after them (``threshold``
        when the caller has it)."""
        for second in seconds[-self._n_blocks:]:
            self._blocks[self._next_block] = second
            self._next_block = (self._next_block + 1) % self._n_blocks
        self._threshold = (self._above_floor(self._blocks.min(axis=0)) if threshold is None
                           else threshold)
        self._first_block = False

    def _shares(self, active: np.ndarray) -> list[float]:
        """The cue after each of bool[m] active flags: the share of active frames among the
        last ``window_s`` (a running count of ints, then one division each)."""
        if len(active) <= _LOOP_MAX_FRAMES:  # a live push: a loop costs less than arrays
            recent, pos, total, window = self._recent, self._pos, self._active, self._window
            out = []
            for a in active.tolist():
                total += a - recent[pos]
                recent[pos] = a
                pos = pos + 1 if pos + 1 < window else 0
                out.append(total / window)
            self._pos, self._active = pos, total
            return out
        flags = active.astype(np.int64)
        w = self._window
        ring = np.array(self._recent[self._pos:] + self._recent[:self._pos], np.int64)
        history = np.concatenate([ring, flags])  # oldest first
        totals = self._active + np.cumsum(flags - history[:len(flags)])
        self._recent, self._pos = history[-w:].tolist(), 0
        self._active = int(totals[-1])
        return (totals / w).tolist()
