"""The offline source of the loop: an audio file's samples -> MappingNet lip frames, a chunk
per tick, then the end of the stream (see :class:`animator.live.loop.Source`).

The lips (log-mel, MappingNet, prosody, mouth shapes) are computed in a thread of their own,
a few chunks ahead of the loop, so that they overlap the engine on the second core (the model
and numpy release the GIL for most of their work). The same stream is fed the same chunks in
the same order: the frames are those of computing them in the loop's thread.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from animator.core.mailbox import FifoQueue
from animator.live.loop import Reading
from animator.render import CHUNK_S, MAX_NONFINITE_SHARE, MODEL_BATCH
from keypoints.mappingnet import MappingNet, ModelContractError
from keypoints.stream import AudioLipStream
from keypoints.visemenet import ShapeModel

#: Chunks the lip thread may compute ahead of the loop (each at least a model block).
AHEAD_CHUNKS = 4


class AudioFileSource:
    """float32[n] mono samples at the model's rate -> lip frames, ``CHUNK_S`` (at least one
    model block: 2.56 s by default) per ``read``; the read after the last sample flushes the
    stream and reports the end (``duration_s``: the length of the original audio, which sets
    the number of video frames).

    threaded: compute the lips in a thread of their own, up to ``AHEAD_CHUNKS`` chunks
    ahead (False: in ``read``, in the caller's thread). ``close()`` stops that thread (the
    renderer calls it when the loop ends, also on an error).
    """

    def __init__(self, samples: np.ndarray, model: MappingNet, duration_s: float, *,
                 model_batch: int = MODEL_BATCH, shapes: ShapeModel | None = None,
                 threaded: bool = True) -> None:
        if model_batch < 1:
            raise ValueError("model_batch must be >= 1")
        self._samples = samples
        self._lips = AudioLipStream(model, None if model_batch == 1 else model_batch, shapes)
        cfg = model.feature_config
        # at least one model block per read: a read's samples complete about one block
        self._chunk = max(1, round(CHUNK_S * cfg.sample_rate), model_batch * cfg.hop_length)
        self._pos = 0
        self._duration_s = duration_s
        self._nonfinite = NonFiniteLimit(model.path, len(samples)
                                         / model.feature_config.hop_length)
        self._threaded = threaded
        self._ahead: FifoQueue | None = None
        self._thread: threading.Thread | None = None

    @property
    def lips(self) -> AudioLipStream:
        return self._lips

    def drop_backlog(self) -> None:
        """A file has no backlog: every sample counts."""

    def _next_chunk(self) -> tuple[list, int, float | None]:
        """The next chunk's lip frames, the stream's non-finite count after them, and the
        audio's length once the stream has ended (else None)."""
        if self._pos < len(self._samples):
            frames = self._lips.push(self._samples[self._pos:self._pos + self._chunk])
            self._pos += self._chunk
            return frames, self._lips.n_nonfinite, None
        return self._lips.flush(), self._lips.n_nonfinite, self._duration_s

    def _compute_ahead(self) -> None:
        """The lip thread: every chunk in order into the queue (an error too, then stop)."""
        ahead = self._ahead
        try:
            while True:
                item = self._next_chunk()
                ahead.put(item)
                if item[2] is not None or ahead.closed:
                    return
        except BaseException as exc:  # handed to the loop's thread, raised by read()
            ahead.put(exc)

    def read(self, index: int, now_s: float) -> Reading:
        if not self._threaded:
            item = self._next_chunk()
        else:
            if self._thread is None:
                self._ahead = FifoQueue(AHEAD_CHUNKS)
                self._thread = threading.Thread(target=self._compute_ahead, name="lips",
                                                daemon=True)
                self._thread.start()
            item = self._ahead.take()
            if isinstance(item, BaseException):
                raise item
        frames, n_nonfinite, end_s = item
        self._nonfinite.check(n_nonfinite)
        return Reading(frames, end_s=end_s)

    def close(self) -> None:
        """Stop the lip thread (what it computed ahead is dropped)."""
        if self._thread is not None:
            self._ahead.abandon()
            self._thread.join()


class NonFiniteLimit:
    """Refuses a model whose keypoints are non-finite in more than ``MAX_NONFINITE_SHARE`` of
    a render's frames (the stream holds the last good lips for each one, so a few are
    harmless; many mean the mouth never moves)."""

    def __init__(self, model_path: Path, n_frames_expected: float) -> None:
        self._path = model_path
        self._limit = MAX_NONFINITE_SHARE * max(1.0, n_frames_expected)

    def check(self, n_nonfinite: int) -> None:
        if n_nonfinite > self._limit:
            total = round(self._limit / MAX_NONFINITE_SHARE)
            raise ModelContractError(
                f"{self._path}: the model gave non-finite keypoints (NaN/inf) in "
                f"{n_nonfinite} frames, more than {MAX_NONFINITE_SHARE:.0%} of the {total} "
                f"this audio makes")
