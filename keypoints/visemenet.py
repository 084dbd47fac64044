"""The mouth-shape model: its ONNX contract, its runner, and the streaming and decoding of
its output (log-mel in, one of the nine shapes of keypoints.visemes out, 100 times a second).

A model declares itself in ONNX metadata_props (strings): ``viseme_contract_version`` ("1"),
the feature keys of keypoints.features.FeatureConfig (it reads the same log-mel frames as the
lips), ``context_past``, ``context_future`` (feature frames), ``shape_names`` (the JSON list
keypoints.visemes.SHAPES, in that order) and optionally ``description``.
Input: ``log_mel`` float32[1, n_mels, T]. Output: probabilities float32[1, T - past - future, 9].
Its look-ahead must not exceed the lips' (the shapes ride with the lip frames). Like the lip
model, it is compiled on first use into a checked step plan (keypoints.conv_stream) that
streams run one frame at a time.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from animator.core.errors import AnimatorError, one_line
from keypoints.assets import assets_dir
from keypoints.conv_stream import ConvStream
from keypoints.features import FeatureConfig
from keypoints.mappingnet import StepPlanned
from keypoints.onnx_session import NotAModel, open_session
from keypoints.visemes import REST_SHAPE, SHAPE_INDEX, SHAPES

CONTRACT_KEY = "viseme_contract_version"
CONTRACT_VERSION = "1"
INPUT_NAME = "log_mel"
#: A shape this probable is shown at once (chosen on the synthetic voices and the development
#: recordings of benchmarks.aligned_speech, never on the evaluation clips).
SURE = 0.8


class ShapeModelError(AnimatorError):
    """A viseme model that breaks the contract; one line, "PATH: problem"."""


def default_shape_model_path() -> Path:
    """The shipped viseme model (assets/models/visemes.onnx)."""
    return assets_dir() / "models" / "visemes.onnx"


class ShapeModel(StepPlanned):
    """An ONNX model mapping log-mel frames to the probabilities of the nine mouth shapes
    (``stream_program``: keypoints.mappingnet.StepPlanned)."""

    def __init__(self, path: Path, session, feature_config: FeatureConfig, past: int,
                 future: int, description: str) -> None:
        self.path = path
        self._session = session
        self._output = session.get_outputs()[0].name
        self.feature_config = feature_config
        self.context_past = past
        self.context_future = future
        self.description = description

    @classmethod
    def load(cls, path: str | Path | None = None, threads: int = 1,
             streaming: bool = True) -> ShapeModel:
        path = Path(path) if path is not None else default_shape_model_path()
        try:
            session = open_session(path, threads)
        except NotAModel as err:
            raise ShapeModelError(f"{path}: {err}") from None
        meta = dict(session.get_modelmeta().custom_metadata_map)
        try:
            if meta.get(CONTRACT_KEY, "").strip() != CONTRACT_VERSION:
                raise ValueError(f"{CONTRACT_KEY} is {meta.get(CONTRACT_KEY)!r}, expected "
                                 f"{CONTRACT_VERSION!r} (not a viseme model)")
            config = FeatureConfig.from_metadata(meta)
            past, future = (int(meta[k]) for k in ("context_past", "context_future"))
            if past < 0 or future < 0:
                raise ValueError("negative context")
            if json.loads(meta.get("shape_names", "null")) != list(SHAPES):
                raise ValueError(f"shape_names must be {json.dumps(list(SHAPES))}")
        except (KeyError, ValueError, TypeError) as err:
            raise ShapeModelError(f"{path}: {one_line(err)}") from None
        model = cls(path, session, config, past, future, meta.get("description", ""))
        probe = np.full((config.n_mels, model.window_frames), config.silence_value, np.float32)
        try:
            out = model.run(probe)
        except Exception as err:
            raise ShapeModelError(f"{path}: probe run failed ({one_line(err)[:200]})") from None
        if out.shape != (1, len(SHAPES)) or not np.all(np.isfinite(out)):
            raise ShapeModelError(f"{path}: probe run gave {list(out.shape)}, expected "
                                  f"finite [1, {len(SHAPES)}]")
        model._streaming = streaming
        return model

    def run(self, features: np.ndarray) -> np.ndarray:
        """float32[n_mels, T] -> probabilities float32[T - past - future, 9]."""
        batch = np.ascontiguousarray(np.asarray(features, dtype=np.float32)[None])
        (out,) = self._session.run([self._output], {INPUT_NAME: batch})
        return out[0]


def fits_lips(shapes: ShapeModel, lips) -> bool:
    """True when ``shapes`` can ride with the lip model ``lips`` (a MappingNet): the same
    features and no more look-ahead. Callers run without shapes otherwise (they then follow
    the mouth's opening): a lip model of one's own should not fail for want of them."""
    return (shapes.feature_config == lips.feature_config
            and shapes.context_future <= lips.context_future)


class ShapeStream:
    """The model over a stream of feature frames, computed in the groups the caller asks for
    (one frame live, blocks offline), so that it shares the lips' grouping and chunking never
    changes the numbers. ``push(features)`` appends frames; ``take(n)`` returns the next n
    frames' probabilities float32[n, 9] (the caller asks only for frames whose look-ahead has
    arrived: the lips' look-ahead is at least this model's).

    With the model's step plan (and ``windowed`` False) every frame is computed as it arrives
    (one step each, so also chunk-invariant) and ``take`` hands them out."""

    def __init__(self, model: ShapeModel, windowed: bool = False) -> None:
        self.model = model
        self._context: np.ndarray | None = None
        program = None if windowed else model.stream_program
        self._steps: ConvStream | None = None if program is None else program.start()
        #: step plan: the frames computed and not yet taken, float32[m, 9] per push (a live
        #: tick takes what it pushed: that array itself, no copy nor stacking of rows)
        self._ready: list[np.ndarray] = []

    def push(self, features: np.ndarray) -> None:
        if not features.shape[1]:
            return
        if self._steps is not None:
            steps = self._steps
            if not steps.n_steps:  # the past context: the first frame repeated
                steps.steps(np.repeat(features[:, :1], self.model.context_past, axis=1))
            probs = steps.steps(features)  # a new array: ours
            if len(probs):
                self._ready.append(probs)
            return
        if self._context is None:
            self._context = np.repeat(features[:, :1], self.model.context_past, axis=1)
        self._context = np.concatenate([self._context, features], axis=1)

    def take(self, n: int) -> np.ndarray:
        if self._steps is not None:
            ready = self._ready
            if ready and len(ready[0]) == n:  # live: the frames of one push
                return ready.pop(0)
            probs = (ready[0] if len(ready) == 1 else
                     np.concatenate(ready) if ready else np.empty((0, len(SHAPES)), np.float32))
            if len(probs) < n:
                raise RuntimeError("ShapeStream.take() before the frames' look-ahead arrived")
            self._ready = [probs[n:]] if len(probs) > n else []
            return probs[:n]
        window = self.model.window_frames
        if self._context is None or self._context.shape[1] < n + window - 1:
            raise RuntimeError("ShapeStream.take() before the frames' look-ahead arrived")
        probs = self.model.run(self._context[:, : n + window - 1])
        self._context = self._context[:, n:]
        return probs


_REST = SHAPE_INDEX[REST_SHAPE]


class ShapeDecoder:
    """Causal decoding of shape probabilities (100 per second) into shapes: a new shape is
    taken when it has led ``confirm`` frames in a row (1: plain argmax), so that a one-frame
    flicker never shows, or at once when the model is ``sure`` of it (probability at least
    that: no 10 ms lag on clear changes); silence (X) is taken at once."""

    def __init__(self, confirm: int = 2, sure: float = SURE) -> None:
        self.confirm = max(1, confirm)
        self.sure = sure
        self.current = _REST
        self._candidate = -1
        self._count = 0

    def step(self, probs: np.ndarray) -> int:
        """probs float[9] -> the shape index to show."""
        best = int(np.argmax(probs))
        return self._take(best, float(probs[best]))

    def steps(self, probs: np.ndarray) -> list[int]:
        """probs float[n, 9] -> the shape index to show after each row, as :meth:`step` on
        each (one argmax for the rows)."""
        best = probs.argmax(axis=1)
        top = probs.max(axis=1).tolist()  # the argmax's values, exactly (float32 -> float)
        return [self._take(b, p) for b, p in zip(best.tolist(), top, strict=True)]

    def _take(self, best: int, top: float) -> int:
        """The shape after a frame whose most probable shape is ``best`` (probability
        ``top``)."""
        if best == self.current:
            self._candidate, self._count = -1, 0
            return self.current
        if best == self._candidate:
            self._count += 1
        else:
            self._candidate, self._count = best, 1
        if self._count >= self.confirm or best == _REST or top >= self.sure:
            self.current, self._candidate, self._count = best, -1, 0
        return self.current


def decode(probs: np.ndarray, confirm: int = 2, sure: float = SURE) -> np.ndarray:
    """float[T, 9] -> int64[T] shape indices through a fresh :class:`ShapeDecoder`."""
    dec = ShapeDecoder(confirm, sure)
    return np.array([dec.step(p) for p in probs], dtype=np.int64)
