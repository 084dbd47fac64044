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

import collections
import threading

import numpy as np

from animator.core.mailbox import FifoQueue
from animator.live.loop import Reading
from animator.render.source import AHEAD_CHUNKS, NonFiniteLimit
from keypoints.file_lips import segment_features, segment_lips
from keypoints.mappingnet import MappingNet
from keypoints.visemenet import ShapeModel


def nearest_frames(times: np.ndarray, t: np.ndarray) -> np.ndarray:
    """int[m]: per time of ``t`` (each <= times[-1]), the index of the nearest of the sorted
    ``times``, a tie going to the earlier (Engine._nearest, the same float operations)."""
    if times.size == 1:  # one lip frame (audio shorter than a hop): it is every nearest
        return np.zeros(np.shape(t), dtype=np.intp)
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


#: Segments the lips may be ready ahead of the loop (a minute and a half of speech at least:
#: a few MB of lip frames). The loop takes them in batches: it waits until the lips are done
#: or this many are ready, then runs them while the lips go on.
READY_SEGMENTS = 8


class FileLipSource:
    """float32[n] mono samples at the model's rate -> every lip frame an engine at ``fps``
    with ``shape_lead_s`` shows, a segment (keypoints.file_lips.segment_bounds) per
    ``read``; the read after the last segment reports the end (``duration_s``).

    Two threads started here compute the segments ahead of the loop, each up to
    ``AHEAD_CHUNKS`` segments of features and ``READY_SEGMENTS`` of lip frames: one the
    features, the prosody and the mouth shapes (keypoints.file_lips.segment_features), one
    the lip model on them (``segment_lips``), so that the lip model of a segment runs beside
    the next segment's features (numpy and onnxruntime leave the interpreter to the other
    while they compute). ``batches``: the loop takes the segments in batches (all of a file
    of up to ``READY_SEGMENTS`` - 1 segments at once): the engine, pure Python, then runs
    while the lip threads wait or are done, rather than against their Python work for the
    interpreter (measured on 2 cores, 60 s: 149 -> 140 ms, and less CPU); False (a video's
    encoder waits for the first frames): a segment as soon as it is ready. ``close()`` stops
    both. ``threaded`` False: each segment computed in ``read``, in the caller's thread (a
    batch worker's one core; the same frames)."""

    def __init__(self, samples: np.ndarray, model: MappingNet, duration_s: float, *,
                 fps: float, shape_lead_s: float, shapes: ShapeModel | None = None,
                 threaded: bool = True, batches: bool = True) -> None:
        cfg = model.feature_config
        self._nonfinite = NonFiniteLimit(model.path, len(samples) / cfg.hop_length)
        self._n_nonfinite = 0
        self._duration_s = duration_s
        self._features: FifoQueue = FifoQueue(AHEAD_CHUNKS)
        self._ahead: FifoQueue = FifoQueue(READY_SEGMENTS)
        self._batch: collections.deque = collections.deque()  # taken, not yet read
        self._batches = batches
        n_lips = -(-len(samples) // cfg.hop_length)
        shown = (shown_lip_frames(n_lips, cfg.hop_length, cfg.sample_rate, fps, shape_lead_s)
                 if n_lips else (None, None))
        features = segment_features(samples, model, shapes)
        self._ended = False
        self._threads: list[threading.Thread] = []
        self._inline = None if threaded else segment_lips(features, model, shapes, *shown)
        if threaded:
            lips = segment_lips(self._taken(), model, shapes, *shown)
            self._threads = [threading.Thread(target=self._fill, name="lips", daemon=True,
                                              args=(features, self._features)),
                             threading.Thread(target=self._fill, name="lips", daemon=True,
                                              args=(lips, self._ahead))]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def _fill(items, queue: FifoQueue) -> None:
        """A lip thread: every item in order into ``queue``, then None (an error instead,
        then stop)."""
        try:
            for item in items:
                queue.put(item)
                if queue.closed:
                    return
            queue.put(None)
        except BaseException as exc:  # handed on, raised by read()
            queue.put(exc)

    def _taken(self):
        """The segments' features as the first thread hands them over (its error raised)."""
        while True:
            item = self._features.take()
            if isinstance(item, BaseException):
                raise item
            if item is None:
                return
            yield item

    def drop_backlog(self) -> None:
        """A file has no backlog: every sample counts."""

    def read(self, index: int, now_s: float) -> Reading:
        if self._ended:
            raise RuntimeError("FileLipSource.read() after the end")
        if self._inline is not None:
            item = next(self._inline, None)
        else:
            if not self._batches:
                self._batch.append(self._ahead.take())
            elif not self._batch:  # the lips done (an end or an error last) or a full queue
                self._batch.extend(self._ahead.take_all(
                    lambda it: it is None or isinstance(it, BaseException)))
            item = self._batch.popleft() if self._batch else None
        if isinstance(item, BaseException):
            raise item
        if item is None:
            self._ended = True
            return Reading([], end_s=self._duration_s)
        self._n_nonfinite += item.n_nonfinite
        self._nonfinite.check(self._n_nonfinite)
        return Reading(item.frames)

    def close(self) -> None:
        """Stop the lip threads (what they computed ahead is dropped)."""
        self._ahead.abandon()
        self._features.abandon()
        for thread in self._threads:
            thread.join()
