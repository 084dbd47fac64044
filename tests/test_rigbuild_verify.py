"""Whole-rig builds with the warp backend on a real portrait: self-verification, resume equal to
a fresh build, real pose tweens, full-colour files, head layers and blink frames; the CLI's
one-line refusal of an animal. Tiny rigs (3 expressions x 3 poses, 160 px) keep it quick."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from animator.authoring.build import build_rig
from animator.authoring.imagefile import read_image
from animator.authoring.runner import Runner
from animator.authoring.warp import WarpBackend
from animator.rig import load_rig
from keypoints.face import FaceTracker
from tests.conftest import ROOT, portrait_path

TINY = {
    "poses": ["center", "turn_left_small", "nod_up_small"],
    "pose_angles": {"center": {"pitch": 0, "yaw": 0, "roll": 0},
                    "turn_left_small": {"pitch": 0, "yaw": 10, "roll": 0},
                    "nod_up_small": {"pitch": 8, "yaw": 0, "roll": 0}},
    "expressions": {
        "neutral": {"mouth": "neutral", "eyes": "neutral", "brows": "neutral"},
        "speaking_ah": {"mouth": "ah", "eyes": "neutral", "brows": "neutral"},
        "blink": {"mouth": "neutral", "eyes": "blink_closed", "brows": "neutral"},
    },
    "base_paths": [{"id": "neutral_to_speaking_ah", "start": "neutral", "end": "speaking_ah"}],
}
SIZE = 160


def build(portrait: Path, out: Path, cfg: Path, backend=None, verify: bool = True):
    lines: list[str] = []
    backend = backend or WarpBackend(size_px=SIZE)
    runner = Runner(backend, max_workers=2, progress=False, log=lines.append)
    tally = build_rig(cfg, portrait, out, runner, max_depth=1, verify=verify)
    return tally, lines


def images_of(root: Path) -> dict[str, bytes]:
    """Every finished image of a rig folder (not a killed run's hidden .part files)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.suffix in (".webp", ".png") and not p.name.startswith(".")}


@pytest.fixture(scope="module")
def cfg(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "expressions.json"
    path.write_text(json.dumps(TINY))
    return path


@pytest.fixture(scope="module")
def fresh(tmp_path_factory, cfg) -> tuple[Path, list[str]]:
    out = tmp_path_factory.mktemp("fresh") / "rig"
    tally, lines = build(portrait_path("s42"), out, cfg)
    assert tally.ok, lines
    return out, lines


def test_fresh_build_is_verified_full_colour_with_layers_and_blinks(fresh):
    out, lines = fresh
    assert any(line.startswith("[i] Check:") and line.endswith("PASSED") for line in lines)
    assert lines[-1] == f"[i] Rig ready: {out}"
    report = json.loads((out / "check.json").read_text())
    assert report["summary"]["passed"] and report["summary"]["endpoints_without_face"] == []
    # every endpoint and tween was measured as it was made
    assert len(report["images"]) == 3 * 3 + 1 * 3 + 2
    rig = load_rig(out)
    assert rig.config.image_ext == ".webp" and rig.image_size == (SIZE, SIZE)
    assert rig.endpoint("blink", "nod_up_small") == "endpoints/blink__nod_up_small.webp"
    assert rig.config.blink_expression() == "blink"
    assert set(rig.layers) == set(TINY["poses"])
    img = read_image(out / rig.endpoint("speaking_ah", "center"))
    assert len(np.unique(img[..., :3].reshape(-1, 3), axis=0)) > 2000  # no palette


def test_resume_after_any_interruption_gives_the_fresh_images(fresh, cfg, tmp_path):
    out, _ = fresh
    resumed = tmp_path / "rig"
    shutil.copytree(out, resumed)
    # A build killed at some point: a pseudo-random half of its files never got written
    # (writes are atomic: a file is there whole or not at all), and no config yet.
    files = sorted(p for p in resumed.rglob("*") if p.is_file())
    rng = np.random.default_rng(3)
    for p in rng.choice(files, len(files) // 2, replace=False):
        p.unlink()
    (resumed / "expressions.json").unlink(missing_ok=True)
    tally, lines = build(portrait_path("s42"), resumed, cfg)
    assert tally.ok, lines
    assert images_of(resumed) == images_of(out)


def test_cli_build_killed_mid_run_then_rerun_equals_the_fresh_build(fresh, cfg, tmp_path):
    """The real thing: SIGKILL a running `rig build` once it is writing tween frames, run
    it again, and compare every image with the fresh build's."""
    out, _ = fresh
    target = tmp_path / "rig"
    cmd = [sys.executable, "-m", "animator", "rig", "build", str(portrait_path("s42")),
           str(target), "--config", str(cfg), "--max-depth", "1", "--image-size", str(SIZE)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if len(list((target / "sequences").glob("*/05*.webp"))) >= 2:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the build finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
    assert not (target / "expressions.json").exists()
    assert 0 < len(images_of(target)) < len(images_of(out))
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Rig ready" in res.stdout
    assert images_of(target) == images_of(out)


def test_neutral_pose_tween_midpoint_is_a_real_half_turn(fresh):
    out, _ = fresh
    mid = out / "sequences" / "neutral_center_to_neutral_nod_up_small" / "050.webp"
    with FaceTracker(static_image_mode=True) as tracker:
        def pitch(path: Path) -> float:
            return float(tracker.process(np.ascontiguousarray(read_image(path)[..., :3]))
                         .head_pose_deg()[0])

        p0 = pitch(out / "endpoints" / "neutral__center.webp")
        p1 = pitch(out / "endpoints" / "neutral__nod_up_small.webp")
        pm = pitch(mid)
    assert p1 - p0 > 5.0
    assert abs((pm - p0) - 0.5 * (p1 - p0)) < 1.5  # half way, not a blend of the two


class _Spoiler:
    """The warp backend, except one image that comes out blank (a face-less result)."""

    def __init__(self, bad_label: str) -> None:
        self._b = WarpBackend(size_px=SIZE, calibrate=False)  # pose accuracy is not tested
        self.bad = bad_label
        for name in ("name", "thread_safe", "verifiable", "image_ext", "prepare", "head_layer",
                     "tween"):
            setattr(self, name, getattr(self._b, name))

    @property
    def portrait(self):
        return self._b.portrait

    def expression(self, base, expr, pose, config):
        return self._b.expression(base, expr, pose, config)

    def pose(self, source, expr, source_pose, target_pose, config):
        img = self._b.pose(source, expr, source_pose, target_pose, config)
        if f"{expr.id} @ {target_pose}" == self.bad:
            img = np.full_like(img, 128)
        return img


def test_a_bad_image_fails_with_its_reason_and_no_verify_builds_anyway(tmp_path):
    cfg = tmp_path / "expressions.json"  # two images and one pose tween
    cfg.write_text(json.dumps({**TINY, "poses": ["center", "nod_up_small"], "base_paths": [],
                               "expressions": {"neutral": TINY["expressions"]["neutral"]}}))
    out = tmp_path / "rig"
    tally, lines = build(portrait_path("s42"), out, cfg, _Spoiler("neutral @ nod_up_small"))
    assert tally.failed == 1 and not tally.ok
    assert ("[✗] neutral @ nod_up_small -> neutral__nod_up_small.webp: no face found in the "
            "result") in lines
    assert not (out / "endpoints" / "neutral__nod_up_small.webp").exists()
    assert not (out / "expressions.json").exists() and "Rig ready" not in lines[-1]
    tally, lines = build(portrait_path("s42"), tmp_path / "unchecked", cfg,
                         _Spoiler("neutral @ nod_up_small"), verify=False)
    assert tally.ok and (tmp_path / "unchecked" / "expressions.json").exists()


def test_cli_refuses_an_animal_in_one_line_and_writes_nothing(tmp_path):
    res = subprocess.run([sys.executable, "-m", "animator", "rig", "build",
                          str(portrait_path("s31")), str(tmp_path / "dog")],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 1
    assert res.stderr.count("\n") == 1 and "s31.jpg: no human face" in res.stderr
    assert "Traceback" not in res.stderr and res.stdout == ""
    assert not (tmp_path / "dog").exists()


def test_cli_unreadable_portrait_is_bad_input(tmp_path):
    junk = tmp_path / "portrait.jpg"
    junk.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    res = subprocess.run([sys.executable, "-m", "animator", "rig", "build", str(junk),
                          str(tmp_path / "rig")], capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    assert res.returncode == 2 and res.stderr.count("\n") == 1
    assert "portrait.jpg: cannot read image" in res.stderr
    assert not (tmp_path / "rig").exists()
