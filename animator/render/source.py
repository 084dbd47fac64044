"""The offline source of the loop: an audio file's samples -> MappingNet lip frames, a chunk
per tick, then the end of the stream (see :class:`animator.live.loop.Source`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from animator.live.loop import Reading
from animator.render import CHUNK_S, MAX_NONFINITE_SHARE, MODEL_BATCH
from keypoints.mappingnet import MappingNet, ModelContractError
from keypoints.stream import AudioLipStream
from keypoints.visemenet import ShapeModel


class AudioFileSource:
    """float32[n] mono samples at the model's rate -> lip frames, ``CHUNK_S`` (at least one
    model block: 2.56 s by default) per ``read``;
    the read after the last sample flushes the stream and reports the end (``duration_s``:
    the length of the original audio, which sets the number of video frames)."""

    def __init__(self, samples: np.ndarray, model: MappingNet, duration_s: float, *,
                 model_batch: int = MODEL_BATCH, shapes: ShapeModel | None = None) -> None:
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

    @property
    def lips(self) -> AudioLipStream:
        return self._lips

    def drop_backlog(self) -> None:
        """A file has no backlog: every sample counts."""

    def read(self, index: int, now_s: float) -> Reading:
        if self._pos < len(self._samples):
            frames = self._lips.push(self._samples[self._pos:self._pos + self._chunk])
            self._pos += self._chunk
            end_s = None
        else:
            frames, end_s = self._lips.flush(), self._duration_s
        self._nonfinite.check(self._lips.n_nonfinite)
        return Reading(frames, end_s=end_s)


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
