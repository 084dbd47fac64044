"""The offline source of a whole file: its lip frames computed at once
(keypoints.file_lips), in a thread of their own started with the source, and handed to the
loop in one reading with the end of the stream.

Only the lip frames the engine shows are made: for each video frame the one nearest its time
(its keypoints and prosody) and the one nearest its time plus the shape lead (its mouth
shape), found by the engine's own rule (animator.engine.Engine._nearest, mirrored here on
arrays: bisection, a tie to the earlier frame); the engine then picks the same frames out of
these as out of all of them, so the frames differ from the streamed ones only by the lip
model's rounding (keypoints.file_lips.FILE_TOLERANCE).
"""

from __future__ import annotations

import threading

import numpy as np

from animator.core.mailbox import FifoQueue
from animator.live.loop import Reading
from animator.render.source import AHEAD_CHUNKS, NonFiniteLimit
from keypoints.file_lips import file_lips
from keypoints.mappingnet import MappingNet
from keypoints.visemenet import ShapeModel


def nearest_frames(times: np.ndarray, t: np.ndarray) -> np.ndarray:
    """int[m]: per time of ``t`` (each <= times[-1]), the index of the nearest of the sorted
    ``times``, a tie going to the earlier (Engine._nearest, the same float operations)."""
    j = np.searchsorted(times, t, side="left")
    inner = j > 0
    jj = np.where(inner, j, 1)
    later_nearer = (times[jj] - t) < (t - times[jj - 1])
    return np.where(inner & ~later_nearer, j - 1, j)


def shown_lip_frames(n_lips: int, hop_length: int, sample_rate: int, fps: float,
                     shape_lead_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(frames, keypoints_at): the keypoint frames an engine at ``fps`` shows of ``n_lips``
    (frame k at k * hop / rate), sorted: for each video frame the one nearest its time and
    the one nearest its time plus ``shape_lead_s`` (its mouth shape), and the last (held
    after the lips end); ``keypoints_at``: those whose keypoints it reads (not the
    shape-only ones)."""
    times = np.arange(n_lips) * hop_length / sample_rate  # k * hop / rate, as the stream
    n_video = int(np.floor(times[-1] * fps)) + 2
    t = np.arange(n_video) / fps
    t = t[t <= times[-1]]
    src = nearest_frames(times, t)
    shape = src if shape_lead_s == 0 else nearest_frames(
        times, np.minimum(t + shape_lead_s, times[-1]))
    at = np.union1d(src, [n_lips - 1])
    return np.union1d(at, shape), at


class FileLipSource:
    """float32[n] mono samples at the model's rate -> every lip frame an engine at ``fps``
    with ``shape_lead_s`` shows, a segment (keypoints.file_lips.SEGMENT_FRAMES) per
    ``read``, computed up to ``AHEAD_CHUNKS`` segments ahead in a thread started here; the
    read after the last segment reports the end (``duration_s``). ``close()`` stops that
    thread."""

    def __init__(self, samples: np.ndarray, model: MappingNet, duration_s: float, *,
                 fps: float, shape_lead_s: float, shapes: ShapeModel | None = None) -> None:
        cfg = model.feature_config
        self._nonfinite = NonFiniteLimit(model.path, len(samples) / cfg.hop_length)
        self._n_nonfinite = 0
        self._duration_s = duration_s
        self._ahead: FifoQueue = FifoQueue(AHEAD_CHUNKS)
        n_lips = -(-len(samples) // cfg.hop_length)
        shown = (shown_lip_frames(n_lips, cfg.hop_length, cfg.sample_rate, fps, shape_lead_s)
                 if n_lips else (None, None))
        self._segments = file_lips(samples, model, shapes, *shown)
        self._thread = threading.Thread(target=self._compute, name="lips", daemon=True)
        self._thread.start()
        self._ended = False

    def _compute(self) -> None:
        """The lip thread: every segment in order into the queue, then None (an error
        instead, then stop)."""
        ahead = self._ahead
        try:
            for segment in self._segments:
                ahead.put(segment)
                if ahead.closed:
                    return
            ahead.put(None)
        except BaseException as exc:  # handed to the loop's thread, raised by read()
            ahead.put(exc)

    def drop_backlog(self) -> None:
        """A file has no backlog: every sample counts."""

    def read(self, index: int, now_s: float) -> Reading:
        if self._ended:
            raise RuntimeError("FileLipSource.read() after the end")
        item = self._ahead.take()
        if isinstance(item, BaseException):
            raise item
        if item is None:
            self._ended = True
            return Reading([], end_s=self._duration_s)
        self._n_nonfinite += item.n_nonfinite
        self._nonfinite.check(self._n_nonfinite)
        return Reading(item.frames)

    def close(self) -> None:
        """Stop the lip thread (what it computed ahead is dropped)."""
        self._ahead.abandon()
        self._thread.join()
