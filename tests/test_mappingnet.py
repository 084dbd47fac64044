"""MappingNet: the shipped model obeys the contract; broken models are refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from keypoints.features import FeatureConfig
from keypoints.mappingnet import (
    MappingNet,
    ModelContractError,
    default_model_path,
)

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

NAMES = ["upper_lip", "lower_lip", "left_corner", "right_corner"]


def good_metadata(**overrides: str) -> dict[str, str]:
    meta = {
        "contract_version": "1",
        **FeatureConfig().to_metadata(),
        "context_past": "0",
        "context_future": "0",
        "keypoint_names": json.dumps(NAMES),
    }
    meta.update(overrides)
    return meta


def write_model(
    path: Path,
    metadata: dict[str, str],
    *,
    input_name: str = "log_mel",
    n_mels: int = 80,
    k_graph: int = 4,
    out_shape: list | None = None,
    output_rank: int = 4,
    nan: bool = False,
) -> Path:
    """A tiny model: keypoints[0, t] = the first K*3 mel bands of frame t (past = future = 0)."""
    n_values = k_graph * 3
    reshape = [1, -1, k_graph, 3] if output_rank == 4 else [1, -1, n_values]
    declared = out_shape or (["T", k_graph, 3] if output_rank == 4 else ["T", n_values])
    initializers = [
        numpy_helper.from_array(np.array([0], np.int64), "starts"),
        numpy_helper.from_array(np.array([n_values], np.int64), "ends"),
        numpy_helper.from_array(np.array([2], np.int64), "axes"),
        numpy_helper.from_array(np.array(reshape[:2], np.int64), "shape_head"),
        numpy_helper.from_array(np.ones(reshape[2], np.float32), "k_ones"),
        numpy_helper.from_array(np.array(reshape[3:], np.int64), "shape_tail"),
        numpy_helper.from_array(np.array(np.nan if nan else 0.0, np.float32), "bias"),
    ]
    nodes = [
        helper.make_node("Transpose", [input_name], ["t"], perm=[0, 2, 1]),  # [1, T, n_mels]
        helper.make_node("Slice", ["t", "starts", "ends", "axes"], ["s"]),  # [1, T, K*3]
        helper.make_node("Add", ["s", "bias"], ["b"]),
        # K = the length of NonZero(ones[K]): data-dependent, so onnxruntime cannot infer it
        # statically and only the probe run can catch a K mismatch
        helper.make_node("NonZero", ["k_ones"], ["k_nonzero"]),  # [1, K]
        helper.make_node("Shape", ["k_nonzero"], ["k_shape"], start=1),  # [K]
        helper.make_node("Concat", ["shape_head", "k_shape", "shape_tail"], ["shape"], axis=0),
        helper.make_node("Reshape", ["b", "shape"], ["keypoints"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [1, n_mels, "T"])],
        [helper.make_tensor_value_info("keypoints", TensorProto.FLOAT, [1, *declared])],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    helper.set_model_props(model, metadata)
    path.write_bytes(model.SerializeToString())
    return path


def expect_refused(path: Path, reason: str) -> None:
    with pytest.raises(ModelContractError) as info:
        MappingNet.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert reason in message, message
    assert "\n" not in message


def test_shipped_model_loads_and_runs() -> None:
    model = MappingNet.load()
    assert model.path == default_model_path()
    assert model.keypoint_names[:4] == tuple(NAMES)
    assert model.description.startswith("LipNet")
    cfg = model.feature_config
    assert (cfg.sample_rate, cfg.n_fft, cfg.hop_length, cfg.win_length, cfg.n_mels) == (
        16000,
        512,
        160,
        400,
        80,
    )
    # algorithmic latency: future frames of 10 ms + half a 400-sample window, <= 45 ms
    assert model.algorithmic_latency_s == pytest.approx(
        (model.context_future * 160 + 200) / 16000
    )
    assert model.algorithmic_latency_s <= 0.045
    k = len(model.keypoint_names)
    window = model.window_frames
    features = np.full((80, window + 19), cfg.silence_value, np.float32)
    out = model.run(features)
    assert out.shape == (20, k, 3) and out.dtype == np.float32
    # silence: a still mouth, nearly closed, at about rest width
    opening = out[:, 0, 1] - out[:, 1, 1]
    assert np.all(np.abs(opening) < 0.03)
    np.testing.assert_allclose(out[:, 2, 0], 0.5, atol=0.03)
    np.testing.assert_allclose(out, np.broadcast_to(out[0], out.shape), atol=1e-5)
    with pytest.raises(ValueError):
        model.run(features[:, : window - 1])
    with pytest.raises(ValueError):
        model.run(features[:40])


def test_shipped_model_is_what_the_training_command_produced() -> None:
    import hashlib

    report = json.loads(default_model_path().with_name("mappingnet.train.json").read_text())
    data = default_model_path().read_bytes()
    assert report["onnx"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert len(data) <= 2_000_000


def test_shipped_baseline_is_the_deterministic_baseline_build(tmp_path: Path) -> None:
    from keypoints.training.baseline import build_baseline

    first = build_baseline(tmp_path / "a.onnx").read_bytes()
    second = build_baseline(tmp_path / "b.onnx").read_bytes()
    assert first == second
    shipped = default_model_path().with_name("baseline.onnx")
    assert first == shipped.read_bytes(), "rebuild: python -m keypoints.training.baseline"
    baseline = MappingNet.load(shipped)
    assert baseline.description == "baseline: band-energy mouth opening (not learned)"
    assert (baseline.context_past, baseline.context_future) == (8, 2)


def test_metadata_round_trip() -> None:
    model = MappingNet.load()
    meta = onnx.load(str(default_model_path())).metadata_props
    meta = {p.key: p.value for p in meta}
    assert FeatureConfig.from_metadata(meta) == model.feature_config
    assert FeatureConfig.from_metadata(model.feature_config.to_metadata()) == model.feature_config
    assert json.loads(meta["keypoint_names"]) == list(model.keypoint_names)


def test_default_path_follows_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ANIMATOR_ASSETS", str(tmp_path))
    assert default_model_path() == tmp_path / "models" / "mappingnet.onnx"
    expect_refused(tmp_path / "models" / "mappingnet.onnx", "not found")
    with pytest.raises(ModelContractError, match="not found"):
        MappingNet.load()


def test_tiny_good_model_is_accepted(tmp_path: Path) -> None:
    model = MappingNet.load(write_model(tmp_path / "good.onnx", good_metadata()))
    features = np.arange(80 * 5, dtype=np.float32).reshape(80, 5)
    out = model.run(features)
    assert out.shape == (5, 4, 3)
    np.testing.assert_array_equal(out[2].ravel(), features[:12, 2])
    assert model.algorithmic_latency_s == pytest.approx(200 / 16000)


def test_refuses_missing_and_non_onnx_files(tmp_path: Path) -> None:
    expect_refused(tmp_path / "absent.onnx", "model file not found")
    text = tmp_path / "text.onnx"
    text.write_text("not a model\n")
    expect_refused(text, "not a loadable ONNX model")


def test_refuses_wrong_input_name(tmp_path: Path) -> None:
    path = write_model(tmp_path / "m.onnx", good_metadata(), input_name="mel")
    expect_refused(path, "input is named mel, expected log_mel")


def test_refuses_missing_metadata_key(tmp_path: Path) -> None:
    meta = good_metadata()
    del meta["hop_length"]
    expect_refused(write_model(tmp_path / "m.onnx", meta), "missing metadata key 'hop_length'")
    meta = good_metadata()
    del meta["context_future"]
    expect_refused(write_model(tmp_path / "m.onnx", meta), "'context_future'")


def test_refuses_bad_metadata_values(tmp_path: Path) -> None:
    cases = [
        (good_metadata(contract_version="2"), "contract_version '2' is unsupported"),
        (good_metadata(n_mels="eighty"), "'n_mels' is not an integer"),
        (good_metadata(scale="big"), "'scale' is not a number"),
        (good_metadata(context_past="-1"), "'context_past' must be >= 0"),
        (good_metadata(keypoint_names="upper_lip,lower_lip"), "not a JSON list of strings"),
    ]
    for meta, reason in cases:
        expect_refused(write_model(tmp_path / "m.onnx", meta), reason)


def test_refuses_keypoint_names_lacking_lower_lip(tmp_path: Path) -> None:
    names = ["upper_lip", "chin", "left_corner", "right_corner"]
    meta = good_metadata(keypoint_names=json.dumps(names))
    expect_refused(write_model(tmp_path / "m.onnx", meta), "keypoint_names lacks lower_lip")


def test_refuses_wrong_output_rank(tmp_path: Path) -> None:
    path = write_model(tmp_path / "m.onnx", good_metadata(), output_rank=3)
    expect_refused(path, "rank 3, expected 4")


def test_refuses_input_with_wrong_n_mels(tmp_path: Path) -> None:
    path = write_model(tmp_path / "m.onnx", good_metadata(), n_mels=40)
    expect_refused(path, "dim 1 is 40, expected n_mels 80")


def test_refuses_k_mismatch_static_and_at_probe(tmp_path: Path) -> None:
    five = json.dumps([*NAMES, "chin"])
    static = write_model(tmp_path / "static.onnx", good_metadata(keypoint_names=five))
    expect_refused(static, "expected [1, T', 5, 3]")
    # symbolic K: only the probe run can tell
    dynamic = write_model(
        tmp_path / "dynamic.onnx", good_metadata(keypoint_names=five), out_shape=["T", "K", 3]
    )
    expect_refused(dynamic, "probe run on 1 frames gave float32[1, 1, 4, 3]")


def test_refuses_non_finite_probe_output(tmp_path: Path) -> None:
    path = write_model(tmp_path / "nan.onnx", good_metadata(), nan=True)
    expect_refused(path, "non-finite")
