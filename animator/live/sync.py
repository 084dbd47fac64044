"""Audio -> mouth latency of live mode, and the audio delay that lines a voice up with it.

A streamer's mixer (OBS) hears the microphone at once; the avatar's mouth for the same sound
shows later, by the sum of (all in milliseconds):

- look-ahead: a keypoint frame centred on sample c needs the feature frames up to
  c + context_future hops, i.e. samples up to c + context_future * hop + (win - win // 2) - 1
  (the model's algorithmic latency, ``context_future * hop + win / 2``, 42.5 ms shipped);
- audio block: that last sample reaches the program with the rest of its device block
  (blocks of ``block_samples``; with hop a multiple of the block, every frame centre starts
  a block and the wait is exact: 7.5 ms shipped, 50 ms with the look-ahead);
- tick wait: the loop shows, at each tick, the newest frame whose samples have arrived; blocks
  arrive every block period, so the newest one came on average half a block period before the
  tick (5 ms);
- processing: the loop's step (features, models, engine, hand-off), measured;
- sink: hand-off -> the frame choice sent on the page's WebSocket, measured;
- page draw: the page draws on its next animation frame, half a display frame on average
  (8.3 ms at 60 Hz).

Not in the sum: the device's input latency, which the mixer's own capture of the same
microphone has too (it cancels), and the mixer's handling of the browser source (one of its
frames, not measurable from here). What remains uncorrectable is the jitter: +-half a block
of tick wait and +-half a video frame of hold, the same for any video.

Pure: numbers in, numbers out; :class:`SyncMonitor` keeps the last measurements (bounded)
from the loop's thread and the sinks' threads.
"""

from __future__ import annotations

import collections
import math
from dataclasses import asdict, dataclass

import numpy as np

#: Display refresh assumed for the page's animation frames (Hz).
PAGE_HZ = 60.0
#: Measurements kept (per kind): about 10 s at 30 fps.
WINDOW = 300


@dataclass(frozen=True)
class AudioTiming:
    """What the audio path's fixed latency follows from (samples, frames per second)."""

    sample_rate: int
    hop_length: int
    win_length: int
    context_future: int
    block_samples: int
    fps: float

    @classmethod
    def of(cls, model, block_samples: int, fps: float) -> AudioTiming:
        """From a MappingNet (its feature config and look-ahead)."""
        cfg = model.feature_config
        return cls(cfg.sample_rate, cfg.hop_length, cfg.win_length, model.context_future,
                   block_samples, fps)

    @property
    def lookahead_ms(self) -> float:
        """The model's algorithmic latency: future frames + half a window."""
        return 1e3 * (self.context_future * self.hop_length + self.win_length / 2) \
            / self.sample_rate

    @property
    def block_ms(self) -> float:
        """From the last sample a frame needs to the end of its device block (exact when the
        hop is a multiple of the block, else the mean over the frames' phases)."""
        need = self.context_future * self.hop_length + self.win_length - self.win_length // 2
        if self.hop_length % self.block_samples == 0:
            end = math.ceil(need / self.block_samples) * self.block_samples
        else:
            end = need + (self.block_samples - 1) / 2
        # counted from the look-ahead's end (centre + look-ahead)
        return 1e3 * end / self.sample_rate - self.lookahead_ms

    @property
    def tick_wait_ms(self) -> float:
        """Mean time from the newest block's arrival to the tick that shows its frame."""
        return 1e3 * min(self.block_samples / self.sample_rate, 1.0 / self.fps) / 2


@dataclass(frozen=True)
class SyncEstimate:
    """The latency's parts and the audio delay to set (milliseconds)."""

    lookahead_ms: float
    block_ms: float
    tick_wait_ms: float
    processing_ms: float | None  # None: not measured yet
    sink_ms: float | None
    page_draw_ms: float
    measured_ticks: int

    @property
    def total_ms(self) -> float:
        return (self.lookahead_ms + self.block_ms + self.tick_wait_ms + self.page_draw_ms
                + (self.processing_ms or 0.0) + (self.sink_ms or 0.0))

    @property
    def audio_delay_ms(self) -> int:
        """The delay to give the microphone in the mixer (OBS: Sync Offset), whole ms."""
        return int(round(self.total_ms))

    def as_dict(self) -> dict:
        out = {k: (None if v is None else round(v, 2) if isinstance(v, float) else v)
               for k, v in asdict(self).items()}
        out["total_ms"] = round(self.total_ms, 1)
        out["audio_delay_ms"] = self.audio_delay_ms
        return out

    def line(self) -> str:
        """One line for the console."""
        def part(name: str, ms: float | None) -> str:
            return f"{name} {ms:.1f}" if ms is not None else f"{name} (not measured yet)"

        parts = [part("look-ahead", self.lookahead_ms), part("audio block", self.block_ms),
                 part("tick", self.tick_wait_ms), part("processing", self.processing_ms),
                 part("sink", self.sink_ms), part("page draw", self.page_draw_ms)]
        return (f"audio -> mouth {self.total_ms:.0f} ms ({' + '.join(parts)} ms); delay the "
                f"microphone by {self.audio_delay_ms} ms in OBS (Advanced Audio Properties "
                "-> Sync Offset)")


def estimate(timing: AudioTiming, processing_ms: float | None = None,
             sink_ms: float | None = None, measured_ticks: int = 0,
             page_hz: float = PAGE_HZ) -> SyncEstimate:
    """The latency of ``timing``'s audio path with the measured parts (p50s) given."""
    return SyncEstimate(timing.lookahead_ms, timing.block_ms, timing.tick_wait_ms,
                        processing_ms, sink_ms, 1e3 / page_hz / 2, measured_ticks)


class SyncMonitor:
    """The measured parts, from the threads that see them: ``record_step(s)`` (the loop's
    step, seconds) and ``record_delivery(s)`` (a sink's hand-off -> sent, seconds); the
    last ``window`` of each (appending to a bounded deque is safe across threads).
    ``estimate()`` gives the current :class:`SyncEstimate` (their medians)."""

    def __init__(self, timing: AudioTiming, window: int = WINDOW) -> None:
        self.timing = timing
        self._steps: collections.deque[float] = collections.deque(maxlen=window)
        self._sent: collections.deque[float] = collections.deque(maxlen=window)
        self.n_ticks = 0

    def record_step(self, seconds: float) -> None:
        self._steps.append(seconds)
        self.n_ticks += 1

    def record_delivery(self, seconds: float) -> None:
        self._sent.append(seconds)

    def estimate(self) -> SyncEstimate:
        steps, sent = list(self._steps), list(self._sent)
        return estimate(self.timing,
                        1e3 * float(np.median(steps)) if steps else None,
                        1e3 * float(np.median(sent)) if sent else None, self.n_ticks)

    def report(self) -> dict:
        """The estimate as JSON-ready numbers (what /sync.json serves)."""
        return {"audio": self.estimate().as_dict(), "fps": self.timing.fps}
