"""Speaking state from lip motion: 1 while the lips move (speech), 0 while they rest.

Two algorithms:

* :func:`reference_speaking_weights` reproduces the seed (LivePortraitTalker) exactly, quirks
  included: whole-clip min-max normalisation, threshold 0.02 on the mean absolute frame
  difference, a 0 appended for the last frame, a box moving average over 1-padded edges.
  It needs the whole clip, so it is offline only.
* :class:`SpeakingDetector` is the default: causal and streaming. Lip speed is measured in
  mouth widths per second (the keypoints' own physical unit), so it neither depends on the
  clip (an all-silent clip stays silent) nor on the frame rate; a short hold bridges the
  brief lip stops inside words, a mouth held open beyond its resting opening (a held vowel)
  keeps it on for a while. That raw per-frame decision then drives the speaking *state*:
  it switches on once the raw decision has held for ``onset_s`` (a breath, a click or a
  twitch does not start it) and off once it has been off for longer than ``hangover_s``
  (the stop closures and short gaps inside speech do not end it); an optional causal box
  average smooths the edges. With audio, each step also gets a voice-activity cue
  (keypoints.voice_activity, the share of the last ~60 ms that sounds like speech): the state
  then switches on only while the cue is up too (moving lips on a buzz, key clicks or music
  do not start it), stays on while the cue is up after the lips rest (closures, fricatives the
  lips hear as silence), and within ``reonset_s`` of switching off the cue alone switches it
  back on. Without a cue (a face tracker) the lips alone decide, as before.
* :func:`bridge_gaps` is for a consumer that has the whole clip (the offline renderer): it
  also fills the gaps that a causal hangover could only fill by coming late.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

import numpy as np

REFERENCE_THRESHOLD = 0.02
REFERENCE_WINDOW_FRAMES = 7


def reference_speaking_weights(lips: np.ndarray, threshold: float = REFERENCE_THRESHOLD,
                         window_frames: int = REFERENCE_WINDOW_FRAMES) -> np.ndarray:
    """The seed pipeline's speaking weights for a whole clip.

    lips: float[T, 2, 3], the two lip keypoints per video frame (any order).
    Returns float64[T] in [0, 1] (1 = speaking).
    """
    lips = np.asarray(lips, dtype=np.float64)
    if lips.ndim != 3 or lips.shape[1:] != (2, 3):
        raise ValueError(f"lips must be float[T, 2, 3], got shape {lips.shape}")
    if window_frames < 1 or window_frames % 2 == 0:
        raise ValueError("window_frames must be a positive odd number")
    n_frames = lips.shape[0]
    if n_frames == 0:
        return np.zeros(0)
    # One global min/max over the whole clip (a constant clip divides 0 by 0, as the seed
    # does: NaN differences never compare below the threshold, so such frames count as speech).
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = (lips - lips.min()) / (lips.max() - lips.min())
    diff = np.abs(norm[1:] - norm[:-1]).mean(axis=2)  # [T-1, 2]
    weights = np.where(np.all(diff < threshold, axis=1), 0.0, 1.0)
    weights = np.append(weights, 0.0)
    pad = (window_frames - 1) // 2
    padded = np.concatenate([np.ones(pad), weights, np.ones(pad)])
    return np.convolve(padded, np.ones(window_frames) / window_frames, mode="valid")


@dataclass(frozen=True)
class SpeakingParams:
    """Parameters of the streaming detector (all in physical units)."""

    # Defaults: what benchmarks.mappingnet's sweep finds for the shipped MappingNet on its
    # tuning set (train-split voices under every test condition, never the test sets): the
    # best F1 with onsets <= 60 ms, offsets <= 120 ms and the fewest frames of non-speech
    # called speech (see benchmarks.mappingnet.MAX_OFFSET_MS for why offsets get more). The
    # head motion smooths the mask's edges itself (MotionParams.gain_tau_s): it may switch
    # sharply.
    #: lip speed (mouth widths per second) above which a frame counts as moving.
    speed_threshold_wps: float = 0.15
    #: a moving frame keeps the mask on for this long (bridges brief stops, e.g. closures).
    hold_s: float = 0.04
    #: length of the causal box moving average.
    smooth_s: float = 0.0
    #: a mouth this much more open than its resting opening (mouth widths) keeps the mask on
    #: while still (a held vowel) ...
    open_threshold_w: float = 0.05
    #: ... for at most this long after the last motion.
    sustain_s: float = 0.6
    #: a frame whose mouth closes to within this of its resting opening (mouth widths) does
    #: not count as moving: lips arriving at rest end speech rather than extend it by a hold.
    closing_threshold_w: float = 0.03
    #: the resting opening is the smallest opening seen over this window, so a face whose lips
    #: stay parted at rest is not taken for an open mouth.
    rest_window_s: float = 4.0
    #: the speaking state switches on once the raw decision has been on for longer than this
    #: (0: at the first moving frame) ...
    onset_s: float = 0.04
    #: ... and off once it has been off for longer than this (0: at once).
    hangover_s: float = 0.08
    # With a voice-activity cue (audio: keypoints.voice_activity, the share of the last
    # ~60 ms that sounds like speech; None from a face tracker, where none of this applies).
    # Chosen on real-voice development material (the two development recordings of
    # benchmarks.aligned_speech joined with pauses under six noise beds, typing, music): the
    # benchmark's espeak sweep alone would drop the onset confirmation and halve the hangover
    # with the cue, which on real voices lets music through and cuts closures in two.
    #: the state switches on only while the cue is at least this (a buzz, key clicks or
    #: noise that moves the predicted lips do not start it) ...
    voice_onset: float = 0.7
    #: ... stays on past the lips' hangover while the cue is at least this (a held vowel,
    #: a fricative the lips hear as silence) ...
    voice_sustain: float = 0.7
    #: ... and within this long of switching off, the cue alone switches it back on (speech
    #: resuming after a stop closure or a short pause, before the lips move again).
    reonset_s: float = 0.2

    def __post_init__(self) -> None:
        if not self.speed_threshold_wps > 0:
            raise ValueError("speed_threshold_wps must be > 0")
        if min(self.hold_s, self.smooth_s, self.sustain_s, self.open_threshold_w,
               self.closing_threshold_w, self.onset_s, self.hangover_s) < 0:
            raise ValueError("hold_s, smooth_s, sustain_s, onset_s, hangover_s and the opening "
                             "thresholds must be >= 0")
        if not self.rest_window_s > 0:
            raise ValueError("rest_window_s must be > 0")
        if not (0 <= self.voice_onset <= 1 and 0 <= self.voice_sustain <= 1
                and self.reonset_s >= 0):
            raise ValueError("voice_onset and voice_sustain must be in [0, 1], reonset_s >= 0")


class RunningMin:
    """Minimum of the last ``n`` values, O(1) amortised per push (monotonic queue)."""

    def __init__(self, n: int) -> None:
        self.n = max(1, int(n))
        self._q: collections.deque[tuple[int, float]] = collections.deque()
        self._i = 0

    def push(self, x: float) -> float:
        while self._q and self._q[-1][1] >= x:
            self._q.pop()
        self._q.append((self._i, x))
        if self._q[0][0] <= self._i - self.n:
            self._q.popleft()
        self._i += 1
        return self._q[0][1]


class SpeakingDetector:
    """Causal streaming speaking state, one video frame per :meth:`step`.

    A frame is raw speech while the lips moved within the last ``hold_s`` (closing onto the
    resting opening does not count), or, up to ``sustain_s`` after the last motion, while the
    mouth stays open beyond its resting opening. The speaking state follows the raw decision
    with an onset confirmation (``onset_s``) and a hangover (``hangover_s``), and the voice
    cue when one is given (``voice_onset``, ``voice_sustain``, ``reonset_s``). Look-back is
    bounded (the longest of the windows), so the state is O(1) in the stream length and the
    mask at frame i depends only on frames i - n .. i.
    """

    def __init__(self, fps: float, params: SpeakingParams | None = None) -> None:
        if not fps > 0:
            raise ValueError("fps must be > 0")
        self.params = p = params or SpeakingParams()
        self.fps = float(fps)
        # Compare squared per-frame displacement with the squared threshold: no sqrt per frame.
        self._threshold2 = (p.speed_threshold_wps / self.fps) ** 2
        self._hold_frames = max(1, round(p.hold_s * fps))
        self._sustain_frames = max(self._hold_frames, round(p.sustain_s * fps))
        self._smooth_frames = max(1, round(p.smooth_s * fps))
        self._rest_open = RunningMin(round(p.rest_window_s * fps))
        #: the previous frame's (upper, lower) lip points, Python floats
        self._prev: tuple | None = None
        self._since_motion = self._sustain_frames  # frames since the last moving frame
        self._on = collections.deque([0] * self._smooth_frames, maxlen=self._smooth_frames)
        self._on_count = 0  # how many of the frames in the window are on
        self._confirm_frames = round(p.onset_s * fps)
        self._hang_frames = round(p.hangover_s * fps)
        self._run = 0  # frames the raw decision has kept its current value
        self._raw = False
        self._speaking = False
        self._reonset_frames = round(p.reonset_s * fps)
        self._since_off = 1 << 20  # frames since the state last switched off

    def step(self, lips: np.ndarray | tuple, voice: float | None = None) -> float:
        """lips: float[2, 3] upper and lower inner-lip keypoints (mouth widths, y up; an array
        or two (x, y, z) sequences of Python floats); voice: the voice-activity cue in [0, 1]
        at this frame, or None (no audio: the lips alone decide). Returns the mask in
        [0, 1] for this frame (1 = speaking)."""
        upper, lower = lips.tolist() if isinstance(lips, np.ndarray) else lips
        opening = upper[1] - lower[1]
        open_above_rest = opening - self._rest_open.push(opening)
        moving = False
        prev = self._prev
        if prev is not None:
            arriving_at_rest = (opening < prev[0][1] - prev[1][1]
                                and open_above_rest < self.params.closing_threshold_w)
            moving = not arriving_at_rest and (_moved2(upper, prev[0]) > self._threshold2
                                               or _moved2(lower, prev[1]) > self._threshold2)
        self._prev = (upper, lower)
        self._since_motion = 0 if moving else min(self._since_motion + 1, self._sustain_frames)
        raw = (self._since_motion < self._hold_frames
               or (self._since_motion < self._sustain_frames
                   and open_above_rest > self.params.open_threshold_w))
        self._run = min(self._run + 1, 1 << 20) if raw == self._raw else 1
        self._raw = raw
        if voice is None:
            if raw and not self._speaking and self._run > self._confirm_frames:
                self._speaking = True
            elif not raw and self._speaking and self._run > self._hang_frames:
                self._speaking = False
        else:
            self._fuse(raw, voice)
        on = int(self._speaking)
        self._on_count += on - self._on[0]
        self._on.append(on)
        return self._on_count / self._smooth_frames

    def _fuse(self, raw: bool, voice: float) -> None:
        """The state from the raw lip decision and the voice cue."""
        p = self.params
        if not self._speaking:
            self._since_off = min(self._since_off + 1, 1 << 20)
            if voice >= p.voice_onset and (
                    (raw and self._run > self._confirm_frames)
                    or self._since_off <= self._reonset_frames):
                self._speaking = True
        elif not raw and self._run > self._hang_frames and voice < p.voice_sustain:
            self._speaking = False
            self._since_off = 0


def _moved2(point: list[float] | tuple, prev: list[float] | tuple) -> float:
    """Squared distance between two (x, y, z) points (Python floats)."""
    dx, dy, dz = point[0] - prev[0], point[1] - prev[1], point[2] - prev[2]
    return dx * dx + dy * dy + dz * dz


def read_ahead(mask: np.ndarray, lead_frames: int) -> np.ndarray:
    """float[T] -> float[T]: frame i takes the mask of frame i + ``lead_frames``, the last
    frames the last mask (nothing follows them): the offline speaking lead on a whole clip
    (EngineConfig.speaking_lead_s; the engine's streaming path does the same frame by frame)."""
    mask = np.asarray(mask)
    k = min(max(0, lead_frames), mask.size)
    return np.concatenate([mask[k:], np.repeat(mask[-1:], k)]) if k else mask


def bridge_gaps(mask: np.ndarray, max_gap_frames: int) -> np.ndarray:
    """bool[T] -> bool[T]: runs of False no longer than ``max_gap_frames`` between two True
    frames become True (a whole-clip pass: it needs to see where speech resumes)."""
    out = np.asarray(mask, dtype=bool).copy()
    if max_gap_frames <= 0 or not out.any():
        return out
    on = np.flatnonzero(out)
    gaps = np.flatnonzero(np.diff(on) > 1)
    for g in gaps:
        a, b = on[g], on[g + 1]
        if b - a - 1 <= max_gap_frames:
            out[a + 1 : b] = True
    return out
