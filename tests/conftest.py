"""Shared fixtures: small rig folders in the seed pipeline's layout."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from animator.rig import endpoint_relpath, sequence_dirname, tween_filename

ROOT = Path(__file__).resolve().parents[1]


def portrait_path(name: str) -> Path:
    """A shared portrait (``s8`` -> ../shared/realdata/portraits/s8.jpg); fails loudly when
    the shared material is missing (tests on real portraits are not optional)."""
    from benchmarks.realdata import realdata_dir

    path = realdata_dir() / "portraits" / f"{name}.jpg"
    assert path.is_file(), f"{path}: the shared real material is missing"
    return path

REFERENCE_POSES = [
    "center", "tilt_left_small", "tilt_right_small", "nod_down_small", "nod_up_small"]
# The seed pipeline's expressions.json, as its README documents it (no angles, no shapes).
REFERENCE_RIG_CONFIG = {
    "axes": {
        "mouth": ["neutral", "smile_soft", "smile_big", "ah", "ee", "uw", "frown"],
        "eyes": ["neutral", "wide", "squint", "blink_closed"],
        "brows": ["neutral", "raise", "furrow"],
    },
    "poses": REFERENCE_POSES,
    "expressions": {
        "neutral": {"mouth": "neutral", "eyes": "neutral", "brows": "neutral"},
        "happy_soft": {"mouth": "smile_soft", "eyes": "squint", "brows": "neutral"},
        "happy_big": {"mouth": "smile_big", "eyes": "squint", "brows": "raise"},
        "speaking_ah": {"mouth": "ah", "eyes": "neutral", "brows": "neutral"},
        "surprised_ah": {"mouth": "ah", "eyes": "wide", "brows": "raise"},
        "speaking_ee": {"mouth": "ee", "eyes": "neutral", "brows": "neutral"},
        "speaking_uw": {"mouth": "uw", "eyes": "neutral", "brows": "neutral"},
        "oh_round": {"mouth": "uw", "eyes": "wide", "brows": "neutral"},
        "concerned": {"mouth": "frown", "eyes": "neutral", "brows": "furrow"},
        "blink_closed": {"mouth": "neutral", "eyes": "blink_closed", "brows": "neutral"},
    },
    "base_paths": [
        {"id": "neutral_to_speaking_ah", "start": "neutral", "end": "speaking_ah"},
        {"id": "neutral_to_speaking_ee", "start": "neutral", "end": "speaking_ee"},
        {"id": "speaking_uw_to_neutral", "start": "speaking_uw", "end": "neutral"},
        {"id": "neutral_to_happy_soft", "start": "neutral", "end": "happy_soft"},
        {"id": "speaking_ah_to_speaking_ee", "start": "speaking_ah", "end": "speaking_ee"},
    ],
}


def write_png(path: Path, value: int, size: tuple[int, int] = (24, 32)) -> None:
    """A small solid image (w x h) whose grey level identifies it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((size[1], size[0], 3), value, np.uint8))


def make_reference_rig(root: Path, tweens: tuple[float, ...] = (0.25, 0.5, 0.75),
                  config: dict | None = None) -> Path:
    """A rig folder in the seed layout: every endpoint, and tween sequences (with 000/100
    endpoint copies, as the seed writes them) for every base path and pose."""
    cfg = config or REFERENCE_RIG_CONFIG
    root.mkdir(parents=True, exist_ok=True)
    (root / "expressions.json").write_text(json.dumps(cfg, indent=2))
    for k, expr in enumerate(cfg["expressions"]):
        for j, pose in enumerate(cfg["poses"]):
            write_png(root / endpoint_relpath(expr, pose), 10 + 7 * k + j)
    for bp in cfg["base_paths"]:
        for pose in cfg["poses"]:
            folder = root / "sequences" / sequence_dirname(bp["id"], pose)
            frames = []
            for t in (0.0, *tweens, 1.0):
                write_png(folder / tween_filename(t), 200)
                frames.append({"t": t, "file": tween_filename(t)})
            (folder / "manifest.json").write_text(json.dumps({
                "path_id": bp["id"], "expr_start": bp["start"], "expr_end": bp["end"],
                "pose": pose, "frames": frames}))
    return root


@pytest.fixture
def reference_rig(tmp_path: Path) -> Path:
    return make_reference_rig(tmp_path / "rig")


@pytest.fixture(scope="session")
def model():
    """The shipped MappingNet (read-only: streams keep their own state)."""
    from keypoints.mappingnet import MappingNet

    return MappingNet.load()


@pytest.fixture(scope="session")
def rig():
    """The built-in character's rig (read-only)."""
    from animator.rig import default_rig_dir, load_rig

    return load_rig(default_rig_dir())
