"""Audio -> lip keypoints, streaming: samples in (any chunking), LipFrames out.

Feature frame k (centred on sample k * hop_length) gives keypoint frame k, t_s = k * hop / sr.
The model is called once per keypoint frame on exactly context_past + 1 + context_future
feature frames, so the output does not depend on how the audio was chunked. Before the first
feature frame the past context repeats that first frame (a stream that starts in room noise
then looks like the middle of a noisy pause, not like a sound starting after digital
silence), and ``flush()`` appends context_future "silence" frames (the scaled log of
log_floor) so that every feature frame gets a keypoint. Each LipFrame also carries the
speech's prosody at its frame (keypoints.prosody), computed with the same look-ahead, and,
with a viseme model (keypoints.visemenet), the mouth shape heard at its frame: the shape model
reads the same feature frames in the same groups as the lips (one frame, or blocks offline;
``push_newest`` runs it once for the frames of the call), and every frame is decoded in
order, also those ``push_newest`` does not show.

Per frame (``block_frames`` None), a model with a step plan (``MappingNet.stream_program``,
keypoints.conv_stream) computes each feature frame's contribution once, as it arrives, instead
of the whole window per keypoint frame: the same frames (within ``STREAM_TOLERANCE``), the
same look-ahead, ~5x less CPU per frame (benchmarks.latency). Every feature frame is
stepped, also those ``push_newest`` does not show (the state must see them all); the frames
of one push go through each layer in one call (``ConvStream.steps``, bit for bit the same).
"""

from __future__ import annotations

import math

import numpy as np

from keypoints.conv_stream import STREAM_TOLERANCE, ConvStream
from keypoints.features import StreamingLogMel
from keypoints.lips import LipFrame, rest_points
from keypoints.mappingnet import MappingNet
from keypoints.prosody import StreamingProsody
from keypoints.visemenet import ShapeDecoder, ShapeModel, ShapeModelError, ShapeStream
from keypoints.visemes import SHAPES

#: Largest difference (keypoint units = mouth widths) between a keypoint computed in a block
#: and the same keypoint computed alone: the model's float32 arithmetic rounds differently
#: when a convolution covers more frames (measured: 1.2e-7 on 16 real clips).
BLOCK_TOLERANCE = 1e-5
__all__ = ["BLOCK_TOLERANCE", "STREAM_TOLERANCE", "AudioLipStream", "rest_points"]


class AudioLipStream:
    """Streaming MappingNet runner: ``push(samples)`` / ``flush()`` -> list[LipFrame].

    Samples are mono float32 at ``model.feature_config.sample_rate``. A keypoint frame with any
    non-finite value is replaced by the last good frame (the rest pose before the first one);
    ``n_nonfinite`` counts those replacements. ``push_newest`` is for a consumer that shows
    one frame per tick (live mode): only the newest frame is computed.

    block_frames: None (live): one model call per keypoint frame, exactly as the model's
    contract defines a frame. A number B (files): one call per block of B keypoint frames
    (frames k*B .. k*B + B - 1; the last block at ``flush``), which shares the convolutions'
    work between neighbouring frames: ~30x less compute. Frames come out only when their block
    is complete, so the blocks, and therefore the values, never depend on how the audio was
    chunked. The model's arithmetic differs in rounding between the two (tests bound the
    keypoints within ``BLOCK_TOLERANCE`` of the per-frame ones).

    windowed: per frame, run the model on each window even when it has a step plan (the
    reference the benchmarks and tests compare the plan with).
    """

    def __init__(self, model: MappingNet, block_frames: int | None = None,
                 shapes: ShapeModel | None = None, windowed: bool = False) -> None:
        if block_frames is not None and block_frames < 1:
            raise ValueError("block_frames must be >= 1")
        if shapes is not None:
            if shapes.feature_config != model.feature_config:
                raise ShapeModelError(f"{shapes.path}: reads other features than the lip "
                                      f"model {model.path}")
            if shapes.context_future > model.context_future:
                raise ShapeModelError(f"{shapes.path}: looks {shapes.context_future} frames "
                                      f"ahead, more than the lips' {model.context_future}")
        per_frame = block_frames is None and not windowed
        self._shapes = None if shapes is None else ShapeStream(shapes, not per_frame)
        program = model.stream_program if per_frame else None
        self._steps: ConvStream | None = None if program is None else program.start()
        self._decoder = ShapeDecoder()
        self.model = model
        self.block_frames = block_frames
        self._ready_prosody: list = []  # block mode: prosody of computable frames not emitted
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
        if self._shapes is not None:
            self._shapes.push(new_features)
        if self._steps is not None:
            return self._run_steps(new_features, prosody, newest_only)
        if self._context is None:
            self._context = np.repeat(new_features[:, :1], self.model.context_past, axis=1)
        self._context = np.concatenate([self._context, new_features], axis=1)
        window = self.model.window_frames
        cfg = self.model.feature_config
        n_ready = max(0, self._context.shape[1] - window + 1)
        assert len(prosody) == n_ready - len(self._ready_prosody), (len(prosody), n_ready)
        if self.block_frames is not None:
            self._ready_prosody += prosody
            return self._run_blocks(n_ready, final=False)
        frames = []
        first = n_ready - 1 if newest_only and n_ready else 0
        # live (newest only): the tick's frames in one call of the shape model (~90 us instead
        # of one per frame; the same shapes up to float rounding)
        visemes = self._visemes([n_ready] if newest_only and n_ready else [1] * n_ready)[first:]
        for i in range(first, n_ready):
            points = self.model.run(self._context[:, i : i + window])[0]
            if np.all(np.isfinite(points)):
                self._last_good = points.copy()
            else:
                self.n_nonfinite += 1
                points = self._last_good.copy()
            t_s = (self._n_out + i) * cfg.hop_length / cfg.sample_rate  # frame centre
            frames.append(LipFrame(t_s, points, self.model.keypoint_names, prosody[i],
                                   visemes[i - first]))
        self._n_out += n_ready
        self._context = self._context[:, n_ready:]
        return frames

    def _run_steps(self, new_features: np.ndarray, prosody: list,
                   newest_only: bool) -> list[LipFrame]:
        """Step plan: every new feature frame through the model's state; a LipFrame for each
        keypoint frame it completes (only for the last one with ``newest_only``)."""
        steps = self._steps
        if not steps.n_steps:  # the past context: the first frame repeated
            steps.steps(np.repeat(new_features[:, :1], self.model.context_past, axis=1))
        outs = steps.steps(new_features)  # float32[n_ready, K, 3], a new array: ours
        n_ready = len(outs)
        first = n_ready - 1 if newest_only and n_ready else 0
        flat = outs.reshape(-1)
        if n_ready and math.isfinite(flat.dot(flat)):  # all finite: one test for the push
            np.copyto(self._last_good, outs[-1])  # owned by this stream: updated in place
            points = [None] * first + [outs[-1]] if newest_only else list(outs)
        else:
            points = self._stand_ins(outs, newest_only)
        assert len(prosody) == n_ready, (len(prosody), n_ready)
        visemes = self._visemes([n_ready] if newest_only and n_ready else [1] * n_ready)[first:]
        cfg = self.model.feature_config
        frames = [LipFrame((self._n_out + i) * cfg.hop_length / cfg.sample_rate, points[i],
                           self.model.keypoint_names, prosody[i], visemes[i - first])
                  for i in range(first, n_ready)]
        self._n_out += n_ready
        return frames

    def _stand_ins(self, outs: np.ndarray, newest_only: bool) -> list:
        """Per keypoint frame of float32[n, K, 3], itself or (not finite) the last finite
        one before it (only the last entry with ``newest_only``; None before it)."""
        good = self._last_good
        points: list = []
        for out in outs:
            if np.isfinite(out).all():
                good = out
            else:
                self.n_nonfinite += 1
            if not newest_only:
                points.append(out if good is out else good.copy())
        if good is not self._last_good:
            np.copyto(self._last_good, good)
        if newest_only and len(outs):
            points = [None] * (len(outs) - 1) + [good.copy()]
        return points

    def _run_blocks(self, n_ready: int, final: bool) -> list[LipFrame]:
        """Block mode: emit the complete blocks among the ``n_ready`` computable frames (with
        ``final``, the rest too), one model call per block."""
        block = self.block_frames
        n_run = n_ready if final else n_ready - n_ready % block
        if n_run <= 0:
            return []
        cfg = self.model.feature_config
        window = self.model.window_frames
        names = self.model.keypoint_names
        frames = []
        visemes = self._visemes([min(block, n_run - s) for s in range(0, n_run, block)])
        for start in range(0, n_run, block):
            stop = min(start + block, n_run)
            points = self.model.run(self._context[:, start : stop + window - 1])
            finite = np.isfinite(points).all(axis=(1, 2))
            for j, p in enumerate(points):
                if finite[j]:
                    self._last_good = p
                else:
                    self.n_nonfinite += 1
                    p = self._last_good.copy()
                t_s = (self._n_out + start + j) * cfg.hop_length / cfg.sample_rate
                frames.append(LipFrame(t_s, p, names, self._ready_prosody[start + j],
                                       visemes[start + j]))
        self._n_out += n_run
        self._context = self._context[:, n_run:]
        del self._ready_prosody[:n_run]
        return frames

    def _visemes(self, groups: list[int]) -> list[str | None]:
        """The decoded shape of the next sum(groups) frames, the model run once per group
        (None each without a shape model)."""
        if self._shapes is None:
            return [None] * sum(groups)
        out = []
        for n in groups:
            out += [SHAPES[i] for i in self._decoder.steps(self._shapes.take(n))]
        return out

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
        if self.block_frames is not None:
            raise RuntimeError("push_newest() computes single frames: not in block mode")
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
        if self.block_frames is not None:
            window = self.model.window_frames
            frames += self._run_blocks(max(0, self._context.shape[1] - window + 1), final=True)
        assert self._n_out == n_features, (self._n_out, n_features)
        return frames
