"""A tiny end-to-end training: a few seconds of corpus, a few steps, ONNX export, contract check."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from keypoints.corpus.visemes import KEYPOINT_NAMES
from keypoints.mappingnet import MappingNet
from keypoints.training.data import CorpusRecipe
from keypoints.training.fit import TrainSettings
from keypoints.training.model import LipNetConfig
from keypoints.training.recipe import report_path, run

RECIPE = CorpusRecipe(seed=3, n_speech=3, speech_s=3.0, n_non_speech=2, non_speech_s=1.0)
SETTINGS = TrainSettings(seed=3, steps=6, batch=2, crop_frames=120, threads=1)
NET = LipNetConfig(channels=8, dilations=(1, 2), context_future=2)


def train_tiny(out: Path) -> dict:
    return run(out, RECIPE, SETTINGS, NET, workers=2, log=lambda _: None)


def test_tiny_training_exports_a_contract_model(tmp_path: Path) -> None:
    out = tmp_path / "tiny.onnx"
    report = train_tiny(out)
    model = MappingNet.load(out)
    assert model.keypoint_names == KEYPOINT_NAMES
    assert (model.context_past, model.context_future) == (NET.context_past, 2)
    assert NET.receptive_field == 3 + 2 * (1 + 2)
    assert model.algorithmic_latency_s == pytest.approx((2 * 160 + 200) / 16000)
    assert report["onnx"]["max_abs_diff_vs_torch"] < 1e-4
    assert json.loads(report_path(out).read_text())["onnx"] == report["onnx"]
    assert report["corpus"]["recordings"] == 5 and len(report["curve"]) >= 1
    out_frames = model.run(np.full((80, 40), -10.0, np.float32))
    assert out_frames.shape == (40 - NET.receptive_field + 1, len(KEYPOINT_NAMES), 3)
    assert np.all(np.isfinite(out_frames))


def test_training_is_reproducible(tmp_path: Path) -> None:
    a = train_tiny(tmp_path / "a.onnx")
    b = train_tiny(tmp_path / "b.onnx")
    assert a["onnx"]["sha256"] == b["onnx"]["sha256"]
    assert (tmp_path / "a.onnx").read_bytes() == (tmp_path / "b.onnx").read_bytes()


def test_offset_weights_mark_the_start_of_every_pause() -> None:
    from keypoints.training.data import OFFSET_WINDOW_S, offset_weights

    speech = np.zeros(200, dtype=bool)
    speech[20:60] = True
    speech[100:190] = True
    w = offset_weights(speech, 4.0)
    n = round(OFFSET_WINDOW_S * 100)
    assert np.all(w[60 : 60 + n] == 5.0) and np.all(w[190:] == 5.0)
    assert np.all(w[:60] == 1.0) and np.all(w[60 + n : 190] == 1.0)
