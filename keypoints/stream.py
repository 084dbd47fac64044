"""Audio -> lip keypoints, streaming: samples in (any chunking), LipFrames out.

Feature frame k (centred on sample k * hop_length) gives keypoint frame k, t_s = k * hop / sr.
The model is called once per keypoint frame on exactly context_past + 1 + context_future
feature frames, so the output does not depend on how the audio was chunked. Before the first
feature frame the past context repeats that first frame (a stream that starts in room noise
then looks like the middle of a noisy pause, not like a sound starting after digital
silence), and ``flush()`` appends context_future "silence" frames (the scaled log of
log_floor) so that every feature frame gets a keypoint. Each LipFrame also carries the
speech's prosody at its frame (keypoints.prosody), computed with the same look-ahead.
"""

from __future__ import annotations

import numpy as np

from keypoints.features import StreamingLogMel
from keypoints.lips import LipFrame
from keypoints.mappingnet import MappingNet
from keypoints.prosody import StreamingProsody


def rest_points(names: tuple[str, ...]) -> np.ndarray:
    """float32[K, 3]: a closed mouth at rest width (all zeros but the corners at x = +-0.5)."""
    points = np.zeros((len(names), 3), dtype=np.float32)
    for name, x in (("left_corner", 0.5), ("right_corner", -0.5)):
        if name in names:
            points[names.index(name), 0] = x
    return points


class AudioLipStream:
    """Streaming MappingNet runner: ``push(samples)`` / ``flush()`` -> list[LipFrame].

    Samples are mono float32 at ``model.feature_config.sample_rate``. A keypoint frame with any
    non-finite value is replaced by the last good frame (the rest pose before the first one);
    ``n_nonfinite`` counts those replacements. ``push_newest`` is for a consumer that shows
    one frame per tick (live mode): only the newest frame is computed.
    """

    def __init__(self, model: MappingNet) -> None:
        self.model = model
        cfg = model.feature_config
        self._features = StreamingLogMel(cfg)
        # prosody of every feature frame, with the lips' look-ahead: frame k of both at once
        self._prosody = StreamingProsody(cfg, model.context_future)
        self._silence = np.full((cfg.n_mels, 1), cfg.silence_value, dtype=np.float32)
        # feature frames not yet consumed as the oldest frame of a model window (None until
        # the first feature frame, whose copies then fill the past context)
        self._context: np.ndarray | None = None
        self._n_out = 0
        self._last_good = rest_points(model.keypoint_names)
        self.n_nonfinite = 0
        self._finished = False

    @property
    def n_frames(self) -> int:
        """Keypoint frames emitted so far."""
        return self._n_out

    def _run_ready(self, new_features: np.ndarray, newest_only: bool = False) -> list[LipFrame]:
        """Append float32[n_mels, n] features; emit a LipFrame for every complete window (only
        for the last one with ``newest_only``: the others are counted, never computed)."""
        if not new_features.shape[1]:
            return []
        prosody = self._prosody.push(new_features)
        if self._context is None:
            self._context = np.repeat(new_features[:, :1], self.model.context_past, axis=1)
        self._context = np.concatenate([self._context, new_features], axis=1)
        window = self.model.window_frames
        cfg = self.model.feature_config
        n_ready = max(0, self._context.shape[1] - window + 1)
        assert len(prosody) == n_ready, (len(prosody), n_ready)
        frames = []
        for i in range(n_ready - 1 if newest_only and n_ready else 0, n_ready):
            points = self.model.run(self._context[:, i : i + window])[0]
            if np.all(np.isfinite(points)):
                self._last_good = points.copy()
            else:
                self.n_nonfinite += 1
                points = self._last_good.copy()
            t_s = (self._n_out + i) * cfg.hop_length / cfg.sample_rate  # frame centre
            frames.append(LipFrame(t_s, points, self.model.keypoint_names, prosody[i]))
        self._n_out += n_ready
        self._context = self._context[:, n_ready:]
        return frames

    def push(self, samples: np.ndarray) -> list[LipFrame]:
        """Feed float32[n] samples; return the keypoint frames that became computable."""
        if self._finished:
            raise RuntimeError("AudioLipStream.push() after flush()")
        return self._run_ready(self._features.push(samples))

    def push_newest(self, samples: np.ndarray) -> LipFrame | None:
        """Feed float32[n] samples; return only the newest keypoint frame that became
        computable (None if none did), bit-identical to ``push(samples)[-1]``. The model runs
        once, for that frame; the frames before it are counted in ``n_frames`` but never
        computed (a non-finite newest frame is replaced by the last good one computed)."""
        if self._finished:
            raise RuntimeError("AudioLipStream.push_newest() after flush()")
        frames = self._run_ready(self._features.push(samples), newest_only=True)
        return frames[-1] if frames else None

    def flush(self) -> list[LipFrame]:
        """End of stream: return the remaining frames (one per feature frame in all)."""
        if self._finished:
            raise RuntimeError("AudioLipStream.flush() called twice")
        self._finished = True
        tail = self._features.flush()
        n_features = self._features.n_frames
        if n_features == 0:
            return []
        # Only the look-ahead of real frames is padded: no keypoints for the padding itself.
        future = np.repeat(self._silence, self.model.context_future, axis=1)
        frames = self._run_ready(np.concatenate([tail, future], axis=1))
        assert self._n_out == n_features, (self._n_out, n_features)
        return frames
