"""MappingNet: the ONNX model contract and its onnxruntime runner (log-mel in, lip keypoints out).

A model declares itself in ONNX metadata_props (all values are strings):
  contract_version ("1"), sample_rate, hop_length, win_length, n_fft, n_mels, fmin, fmax,
  log_floor, offset, scale (the feature scaling, see keypoints.features), context_past,
  context_future (feature frames), keypoint_names (JSON list of strings containing
  keypoints.lips.REQUIRED_NAMES), and optionally description.
Input: one tensor named ``log_mel``, float32[1, n_mels, T].
Output: one tensor float32[1, T - context_past - context_future, K, 3], K = len(keypoint_names).

Only onnxruntime is used at run time (never the ``onnx`` package). The graph is also
compiled into a step plan (keypoints.conv_stream: one input frame in, one keypoint frame out,
each layer's recent rows kept), checked against onnxruntime on a fixed probe; streams use it
one frame at a time, onnxruntime runs the windows and blocks. The plan is made when first
asked for (~10 ms; offline blocks never ask). A graph the plan cannot take (or a check that
fails) leaves ``stream_program`` None, with one warning line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from animator.core.errors import AnimatorError, one_line, warn_input
from keypoints.assets import default_model_path
from keypoints.conv_stream import StreamProgram, UnsupportedGraph, checked_program
from keypoints.features import FeatureConfig
from keypoints.lips import missing_names
from keypoints.onnx_graph import GraphError, read_graph
from keypoints.onnx_session import NotAModel, open_session

CONTRACT_VERSION = "1"
INPUT_NAME = "log_mel"
#: Metadata keys every model must declare (the feature keys come from FeatureConfig).
CONTEXT_KEYS = ("context_past", "context_future")


class ModelContractError(AnimatorError):
    """A model file that breaks the contract; the message is one line, "PATH: problem"."""



def _parse_context(metadata: dict[str, str], key: str) -> int:
    """A non-negative integer metadata value (ValueError naming the key)."""
    if key not in metadata:
        raise ValueError(f"missing metadata key {key!r}")
    text = metadata[key].strip()
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"metadata key {key!r} is not an integer: {text!r}") from None
    if value < 0:
        raise ValueError(f"metadata key {key!r} must be >= 0, got {value}")
    return value


def _parse_keypoint_names(metadata: dict[str, str]) -> tuple[str, ...]:
    """The keypoint_names JSON list (ValueError when malformed or lacking a required name)."""
    if "keypoint_names" not in metadata:
        raise ValueError("missing metadata key 'keypoint_names'")
    try:
        names = json.loads(metadata["keypoint_names"])
    except json.JSONDecodeError:
        names = None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError("metadata key 'keypoint_names' is not a JSON list of strings")
    if len(set(names)) != len(names):
        raise ValueError("metadata key 'keypoint_names' has duplicate names")
    missing = missing_names(names)
    if missing:
        raise ValueError(f"keypoint_names lacks {', '.join(missing)}")
    return tuple(names)


def _static_dim(dim: object) -> int | None:
    """An ONNX dimension as int when static, None when symbolic/unknown."""
    return dim if isinstance(dim, int) and dim >= 0 else None


@dataclass(frozen=True)
class _Contract:
    feature_config: FeatureConfig
    context_past: int
    context_future: int
    keypoint_names: tuple[str, ...]
    description: str


def _parse_metadata(metadata: dict[str, str]) -> _Contract:
    """Validate the metadata_props of a model (ValueError with a one-line reason)."""
    if "contract_version" not in metadata:
        raise ValueError("missing metadata key 'contract_version'")
    version = metadata["contract_version"].strip()
    if version != CONTRACT_VERSION:
        raise ValueError(
            f"contract_version {version!r} is unsupported (expected {CONTRACT_VERSION!r})"
        )
    config = FeatureConfig.from_metadata(metadata)
    past, future = (_parse_context(metadata, key) for key in CONTEXT_KEYS)
    names = _parse_keypoint_names(metadata)
    return _Contract(config, past, future, names, metadata.get("description", ""))


def _check_signature(session: object, contract: _Contract) -> None:
    """Check the declared input/output tensors against the contract (ValueError)."""
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ValueError(f"model has {len(inputs)} inputs, expected 1 ({INPUT_NAME})")
    inp = inputs[0]
    if inp.name != INPUT_NAME:
        raise ValueError(f"input is named {inp.name}, expected {INPUT_NAME}")
    if inp.type != "tensor(float)":
        raise ValueError(f"input {INPUT_NAME} has type {inp.type}, expected tensor(float)")
    if len(inp.shape) != 3:
        raise ValueError(f"input {INPUT_NAME} has rank {len(inp.shape)}, expected 3")
    n_mels = contract.feature_config.n_mels
    if _static_dim(inp.shape[1]) != n_mels:
        raise ValueError(f"input {INPUT_NAME} dim 1 is {inp.shape[1]}, expected n_mels {n_mels}")
    if _static_dim(inp.shape[0]) not in (None, 1):
        raise ValueError(f"input {INPUT_NAME} dim 0 is {inp.shape[0]}, expected 1")

    outputs = session.get_outputs()
    if len(outputs) != 1:
        raise ValueError(f"model has {len(outputs)} outputs, expected 1")
    out = outputs[0]
    if out.type != "tensor(float)":
        raise ValueError(f"output {out.name} has type {out.type}, expected tensor(float)")
    if len(out.shape) != 4:
        raise ValueError(f"output {out.name} has rank {len(out.shape)}, expected 4 [1, T', K, 3]")
    n_keypoints = len(contract.keypoint_names)
    for axis, expected in ((0, 1), (2, n_keypoints), (3, 3)):
        dim = _static_dim(out.shape[axis])
        if dim is not None and dim != expected:
            raise ValueError(
                f"output {out.name} has shape {list(out.shape)}, "
                f"expected [1, T', {n_keypoints}, 3] (K = len(keypoint_names))"
            )


class StepPlanned:
    """What the lip and the shape model share: the window of the contract (``context_past`` +
    1 + ``context_future`` feature frames per output frame, hence the look-ahead) and
    ``stream_program``, the model's checked step plan, made on first use (None, after one
    warning line, when the graph has none; None without a warning when loaded with
    ``streaming=False``). Needs ``path``, ``feature_config``, ``context_past``,
    ``context_future``, ``run``."""

    feature_config: FeatureConfig
    context_past: int
    context_future: int

    _streaming = True
    _program: StreamProgram | None = None
    _planned = False

    @property
    def window_frames(self) -> int:
        """Feature frames consumed per output frame: past + 1 + future."""
        return self.context_past + 1 + self.context_future

    @property
    def algorithmic_latency_s(self) -> float:
        """Look-ahead before a keypoint frame can be computed: future frames + half a window."""
        cfg = self.feature_config
        return (self.context_future * cfg.hop_length + cfg.win_length // 2) / cfg.sample_rate

    @property
    def stream_program(self) -> StreamProgram | None:
        if self._streaming and not self._planned:
            self._planned = True
            self._program = stream_program_or_warn(self.path, self.feature_config,
                                                   self.window_frames - 1, self.run)
        return self._program


class MappingNet(StepPlanned):
    """An ONNX model mapping log-mel features to lip keypoints, validated against the contract.

    Attributes: path, feature_config, keypoint_names, context_past, context_future (feature
    frames), algorithmic_latency_s, description, stream_program (the step plan, or None).
    """

    def __init__(self, path: Path, session: object, contract: _Contract) -> None:
        self.path = path
        self._session = session
        self._output_name = session.get_outputs()[0].name
        self.feature_config = contract.feature_config
        self.keypoint_names = contract.keypoint_names
        self.context_past = contract.context_past
        self.context_future = contract.context_future
        self.description = contract.description

    @classmethod
    def load(cls, path: str | Path | None = None, threads: int = 1,
             streaming: bool = True) -> MappingNet:
        """Load and validate a model (default: the shipped one); ModelContractError if broken.
        ``streaming``: False never makes the step plan (see the module docstring)."""
        path = Path(path) if path is not None else default_model_path()
        try:
            session = open_session(path, threads)
        except NotAModel as err:
            raise ModelContractError(f"{path}: {err}") from None
        metadata = dict(session.get_modelmeta().custom_metadata_map)
        try:
            contract = _parse_metadata(metadata)
            _check_signature(session, contract)
        except ValueError as err:
            raise ModelContractError(f"{path}: {err}") from None
        model = cls(path, session, contract)
        model._probe()
        model._streaming = streaming
        return model

    def _probe(self) -> None:
        """Run once on silence features: output must be finite float32[1, 1, K, 3]."""
        n_frames = self.window_frames
        silence = np.full(
            (1, self.feature_config.n_mels, n_frames),
            self.feature_config.silence_value,
            dtype=np.float32,
        )
        try:
            (out,) = self._session.run([self._output_name], {INPUT_NAME: silence})
        except Exception as err:
            raise ModelContractError(
                f"{self.path}: probe run on {n_frames} frames failed ({one_line(err)[:300]})"
            ) from err
        expected = (1, 1, len(self.keypoint_names), 3)
        if out.shape != expected or out.dtype != np.float32:
            raise ModelContractError(
                f"{self.path}: probe run on {n_frames} frames gave {out.dtype}{list(out.shape)}, "
                f"expected float32{list(expected)}"
            )
        if not np.all(np.isfinite(out)):
            raise ModelContractError(f"{self.path}: probe run on silence gave non-finite output")

    def run(self, features: np.ndarray) -> np.ndarray:
        """float32[n_mels, T] features -> float32[T - past - future, K, 3] keypoints."""
        features = np.asarray(features, dtype=np.float32)
        n_mels = self.feature_config.n_mels
        if features.ndim != 2 or features.shape[0] != n_mels:
            raise ValueError(f"expected features of shape [{n_mels}, T], got {features.shape}")
        n_out = features.shape[1] - self.context_past - self.context_future
        if n_out < 1:
            raise ValueError(
                f"need at least {self.window_frames} feature frames, got {features.shape[1]}"
            )
        batch = np.ascontiguousarray(features[None])
        (out,) = self._session.run([self._output_name], {INPUT_NAME: batch})
        expected = (1, n_out, len(self.keypoint_names), 3)
        if out.shape != expected:
            raise ModelContractError(
                f"{self.path}: output shape {list(out.shape)} for {features.shape[1]} frames, "
                f"expected {list(expected)}"
            )
        return out[0].astype(np.float32, copy=False)


def stream_program_or_warn(path: Path, config: FeatureConfig, lag: int, run
                           ) -> StreamProgram | None:
    """The checked step plan of the model at ``path`` (keypoints.conv_stream), or None after
    one warning line saying why the windowed model runs every frame instead."""
    try:
        return checked_program(read_graph(path), config.n_mels, lag, run, config.silence_value)
    except (GraphError, UnsupportedGraph) as err:
        warn_input(f"{path}: no streaming plan ({one_line(err)}); the windowed model runs "
                   "for every frame")
        return None
