"""AudioLipStream: chunking-invariant keypoints, one frame per feature frame, NaN guard."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pytest

from animator.stages.speaking import SpeakingDetector
from keypoints.audio import load_audio, resample
from keypoints.features import FeatureConfig, log_mel
from keypoints.lips import REQUIRED_NAMES, LipFrame, rest_points
from keypoints.mappingnet import MappingNet, default_model_path
from keypoints.stream import AudioLipStream

SR = 16000
HOP = 160


@pytest.fixture(scope="module")
def model() -> MappingNet:
    """The shipped default: the learned model."""
    return MappingNet.load()


@pytest.fixture(scope="module")
def baseline() -> MappingNet:
    """The band-energy baseline (its mouth follows loudness, so tones open it)."""
    return MappingNet.load(default_model_path().with_name("baseline.onnx"))


def voiced_burst(duration_s: float, f0_hz: float = 130.0) -> np.ndarray:
    """float32[n]: a harmonic tone (1/h harmonics up to 3.5 kHz) with soft edges, -20 dBFS rms."""
    t = np.arange(round(duration_s * SR)) / SR
    x = sum(np.sin(2 * np.pi * h * f0_hz * t) / h for h in range(1, int(3500 / f0_hz) + 1))
    ramp = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.02)  # 20 ms fade in/out
    x = x * ramp
    return (x * 0.1 / np.sqrt(np.mean(x**2))).astype(np.float32)


def silence(duration_s: float) -> np.ndarray:
    return np.zeros(round(duration_s * SR), np.float32)


def speech_like_signal() -> np.ndarray:
    """0.3 s silence, 0.4 s voiced, 0.3 s silence, 0.3 s voiced, 0.2 s silence, quiet noise."""
    x = np.concatenate(
        [silence(0.3), voiced_burst(0.4), silence(0.3), voiced_burst(0.3, 180.0), silence(0.2)]
    )
    noise = np.random.default_rng(0).standard_normal(x.size) * 10 ** (-65 / 20)
    return (x + noise).astype(np.float32)


def run_stream(model: MappingNet, x: np.ndarray, chunk_sizes: list[int] | None = None):
    stream = AudioLipStream(model)
    frames: list[LipFrame] = []
    if chunk_sizes is None:
        frames += stream.push(x)
    else:
        start = 0
        for size in chunk_sizes:
            frames += stream.push(x[start : start + size])
            start += size
        frames += stream.push(x[start:])
    frames += stream.flush()
    return frames, stream


def opening(frames: list[LipFrame]) -> np.ndarray:
    return np.array([f.point("upper_lip")[1] - f.point("lower_lip")[1] for f in frames])


def test_chunked_equals_whole(model: MappingNet) -> None:
    x = speech_like_signal()
    whole, _ = run_stream(model, x)
    whole_points = np.stack([f.points for f in whole])
    rng = np.random.default_rng(3)
    for max_chunk in (1, 37, 160, 1000, 7000):
        n = x.size if max_chunk > 1 else 4000  # 1-sample chunks over the first 0.25 s only
        sizes = []
        while sum(sizes) < n:
            sizes.append(int(rng.integers(0, max_chunk + 1)))
        chunked, _ = run_stream(model, x, sizes)
        assert [f.t_s for f in chunked] == [f.t_s for f in whole]
        assert np.array_equal(np.stack([f.points for f in chunked]), whole_points), max_chunk


def test_frame_count_and_times(model: MappingNet) -> None:
    for n_samples in (1, 159, 160, 161, 1234, 16000):
        frames, stream = run_stream(model, speech_like_signal()[:n_samples])
        assert len(frames) == math.ceil(n_samples / HOP) == stream.n_frames
        assert [f.t_s for f in frames] == [k * HOP / SR for k in range(len(frames))]
        for f in frames:
            assert f.names == model.keypoint_names
            assert f.points.shape == (len(model.keypoint_names), 3)
            assert f.points.dtype == np.float32
            assert np.all(np.isfinite(f.points))


def test_baseline_voiced_bursts_open_the_mouth_silence_closes_it(baseline: MappingNet) -> None:
    frames, stream = run_stream(baseline, speech_like_signal())
    open_ = opening(frames)
    t_s = np.array([f.t_s for f in frames])

    def mean_open(start_s: float, end_s: float) -> float:
        return float(open_[(t_s >= start_s) & (t_s < end_s)].mean())

    assert mean_open(0.0, 0.25) < 0.02  # leading silence (with -65 dBFS noise)
    assert mean_open(0.4, 0.65) > 0.4  # first burst
    assert mean_open(0.8, 0.95) < 0.02  # gap
    assert mean_open(1.1, 1.25) > 0.4  # second burst
    assert stream.n_nonfinite == 0


def espeak_speech(tmp_path: Path, text: str = "Hello, how are you today?") -> np.ndarray:
    wav = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), text], check=True)
    return load_audio(wav, SR)


def test_espeak_speech_opens_more_than_silence(
    model: MappingNet, baseline: MappingNet, tmp_path: Path
) -> None:
    x = np.concatenate([silence(0.5), espeak_speech(tmp_path)])
    open_ = opening(run_stream(baseline, x)[0])
    assert open_[:40].max() < 0.01  # first 0.4 s: silence
    assert open_[60:].mean() > 0.2  # speech
    assert np.percentile(open_[60:], 90) > 0.45
    open_ = opening(run_stream(model, x)[0])
    assert open_[:40].max() < 0.03
    assert open_[60:].mean() > 4 * max(open_[:40].mean(), 0.01)
    assert np.percentile(open_[60:], 90) > 0.25


def test_empty_and_all_zero_input(model: MappingNet, baseline: MappingNet) -> None:
    stream = AudioLipStream(model)
    assert stream.push(np.zeros(0, np.float32)) == []
    assert stream.flush() == []
    with pytest.raises(RuntimeError):
        stream.push(np.zeros(10, np.float32))

    frames, _ = run_stream(baseline, silence(0.5))
    assert len(frames) == 50
    for f in frames:
        np.testing.assert_allclose(f.points, rest_points(f.names), atol=1e-4)
    frames, _ = run_stream(model, silence(0.5))
    assert len(frames) == 50
    points = np.stack([f.points for f in frames])
    required = [model.keypoint_names.index(n) for n in REQUIRED_NAMES]
    np.testing.assert_allclose(points[:, required], np.broadcast_to(
        rest_points(REQUIRED_NAMES), (50, 4, 3)), atol=0.03)
    np.testing.assert_allclose(points, np.broadcast_to(points[0], points.shape), atol=1e-5)


def mask_of(model: MappingNet, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(keypoints float32[T, K, 3] at 100 Hz, speaking state at 25 fps) through the stream."""
    frames, stream = run_stream(model, x)
    assert stream.n_nonfinite == 0
    points = np.stack([f.points for f in frames]) if frames else np.zeros((0, 4, 3))
    detector = SpeakingDetector(25.0)
    idx = [model.keypoint_names.index("upper_lip"), model.keypoint_names.index("lower_lip")]
    mask = np.array([detector.step(p[idx]) for p in points[::4]])
    return points, mask


def bad_inputs(tmp_path: Path) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    speech = espeak_speech(tmp_path, "Seven, eight, nine.")
    telephone = resample(resample(speech, SR, 8000), 8000, SR)
    return {
        "zero length": np.zeros(0),
        "one sample": np.ones(1),
        "silence": silence(1.0),
        "DC offset": np.full(SR, 0.7),
        "full-scale noise": np.clip(rng.standard_normal(SR) * 3.0, -1, 1),
        "full-scale square": np.sign(np.sin(2 * np.pi * 150 * np.arange(SR) / SR)),
        "tiny level": speech * 1e-6,
        "clipped speech": np.clip(speech * 100.0, -1, 1),
        "8 kHz telephone speech": telephone,
        "speech with DC": speech + 0.5,
    }


def test_bad_input_always_gives_a_valid_stream_and_mask(
    model: MappingNet, baseline: MappingNet, tmp_path: Path
) -> None:
    for m in (model, baseline):
        for name, x in bad_inputs(tmp_path).items():
            x = np.asarray(x, np.float32)
            points, mask = mask_of(m, x)
            assert points.shape[0] == math.ceil(x.size / HOP), name
            assert np.all(np.isfinite(points)) and np.all((mask >= 0) & (mask <= 1)), name


def test_learned_mask_says_silence_for_noise_and_speech_for_telephone_speech(
    model: MappingNet, tmp_path: Path
) -> None:
    rng = np.random.default_rng(11)
    # From the very first frame: the past context repeats the first feature frame, so a
    # stream that starts in noise is not an onset after digital silence.
    for level_dbfs in (-60.0, -40.0, -25.0):
        noise = (rng.standard_normal(3 * SR) * 10 ** (level_dbfs / 20)).astype(np.float32)
        _, mask = mask_of(model, noise)
        assert mask.max() < 0.5, level_dbfs
    _, mask = mask_of(model, bad_inputs(tmp_path)["silence"].astype(np.float32))
    assert mask.max() == 0.0
    # A DC offset starts with a step from the zeros before the first sample (a click): the
    # mask may react to it for a few frames, then stays silent.
    _, mask = mask_of(model, bad_inputs(tmp_path)["DC offset"].astype(np.float32))
    assert mask[5:].max() == 0.0
    _, mask = mask_of(model, bad_inputs(tmp_path)["8 kHz telephone speech"].astype(np.float32))
    assert (mask >= 0.5).mean() > 0.4


def test_rest_points() -> None:
    rest = rest_points(REQUIRED_NAMES)
    expected = np.zeros((4, 3), np.float32)
    expected[2, 0], expected[3, 0] = 0.5, -0.5
    np.testing.assert_array_equal(rest, expected)


def write_nan_model(path: Path, past: int = 2, future: int = 1) -> Path:
    """A contract-valid model: finite on silence, NaN where the mean feature exceeds -5.

    keypoints = rest + sqrt(-5 - mean_over_mels(features)) * 0.01 on the upper lip's y.
    """
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    basis = np.zeros((4, 3), np.float32)
    basis[0, 1] = 0.01
    consts = {
        "starts": np.array([past], np.int64),
        "ends": np.array([-future if future else np.iinfo(np.int64).max], np.int64),
        "axes": np.array([2], np.int64),
        "limit": np.array(-5.0, np.float32),
        "basis": basis.reshape(-1),
        "rest": rest_points(REQUIRED_NAMES).reshape(-1),
        "shape": np.array([1, -1, 4, 3], np.int64),
    }
    node = helper.make_node
    nodes = [
        node("ReduceMean", ["log_mel"], ["mean"], axes=[1], keepdims=1),  # [1, 1, T]
        node("Slice", ["mean", "starts", "ends", "axes"], ["centre"]),  # [1, 1, T']
        node("Sub", ["limit", "centre"], ["margin"]),
        node("Sqrt", ["margin"], ["root"]),  # NaN when the margin is negative
        node("Transpose", ["root"], ["root_t"], perm=[0, 2, 1]),  # [1, T', 1]
        node("Mul", ["root_t", "basis"], ["scaled"]),  # [1, T', 12]
        node("Add", ["scaled", "rest"], ["flat"]),
        node("Reshape", ["flat", "shape"], ["keypoints"]),
    ]
    graph = helper.make_graph(
        nodes,
        "nan_model",
        [helper.make_tensor_value_info("log_mel", TensorProto.FLOAT, [1, 80, "T"])],
        [helper.make_tensor_value_info("keypoints", TensorProto.FLOAT, [1, "T_out", 4, 3])],
        initializer=[numpy_helper.from_array(v, k) for k, v in consts.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    helper.set_model_props(
        model,
        {
            "contract_version": "1",
            **FeatureConfig().to_metadata(),
            "context_past": str(past),
            "context_future": str(future),
            "keypoint_names": json.dumps(list(REQUIRED_NAMES)),
        },
    )
    path.write_bytes(model.SerializeToString())
    return path


def loud_noise(duration_s: float) -> np.ndarray:
    n = round(duration_s * SR)
    return (0.3 * np.random.default_rng(1).standard_normal(n)).astype(np.float32)


def expected_nan_frames(model: MappingNet, x: np.ndarray) -> int:
    """Output frames the model makes non-finite on x (whole file, padded like the stream)."""
    features = log_mel(x, model.feature_config)
    pad = model.feature_config.silence_value
    padded = np.concatenate(
        [
            np.full((80, model.context_past), pad, np.float32),
            features,
            np.full((80, model.context_future), pad, np.float32),
        ],
        axis=1,
    )
    return int((~np.isfinite(model.run(padded))).any(axis=(1, 2)).sum())


def test_nan_output_is_held_at_last_good_frame(tmp_path: Path) -> None:
    model = MappingNet.load(write_nan_model(tmp_path / "nan.onnx"))
    x = np.concatenate([silence(0.3), loud_noise(0.2), silence(0.3)])
    frames, stream = run_stream(model, x, [777] * 20)
    points = np.stack([f.points for f in frames])
    assert np.all(np.isfinite(points))
    n_bad = expected_nan_frames(model, x)
    assert n_bad >= 15  # the noise really produced NaN
    assert stream.n_nonfinite == n_bad
    good_silence = points[0].copy()
    assert good_silence[0, 1] == pytest.approx(0.01 * math.sqrt(5.0), rel=1e-5)
    np.testing.assert_array_equal(points[30:50], np.broadcast_to(good_silence, (20, 4, 3)))


def test_nan_at_start_holds_rest_frame(tmp_path: Path) -> None:
    model = MappingNet.load(write_nan_model(tmp_path / "nan.onnx"))
    frames, stream = run_stream(model, np.concatenate([loud_noise(0.1), silence(0.2)]))
    assert stream.n_nonfinite >= 10
    for f in frames[:10]:
        np.testing.assert_array_equal(f.points, rest_points(REQUIRED_NAMES))
    assert frames[-1].points[0, 1] == pytest.approx(0.01 * math.sqrt(5.0), rel=1e-5)
