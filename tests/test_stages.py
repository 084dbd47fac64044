"""Rig-building stages: planning, recursive midpoints, manifests, resume, atomic output; with a
tiny fake backend (grey levels that show which inputs were used) and the toon backend."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from animator.authoring.build import build_rig, dry_run_lines, plan_build
from animator.authoring.face_params import face_from_names, lerp_face
from animator.authoring.plans import (
    RigBuildError,
    midpoint_levels,
    plan_extremes,
    plan_sequences,
    plan_tilts,
    read_image,
    write_image,
)
from animator.authoring.prompts import Descriptions, describe_angles, pose_prompt
from animator.authoring.runner import Runner
from animator.authoring.toon import render
from animator.authoring.toon_backend import ToonBackend
from animator.rig import MouthShape, RigConfig, load_rig
from tests.conftest import REFERENCE_RIG_CONFIG

SMALL = {
    "poses": ["center", "tilt_left_small", "nod_up_small"],
    "expressions": {
        "neutral": {"mouth": "neutral", "eyes": "neutral", "brows": "neutral"},
        "speaking_ah": {"mouth": "ah", "eyes": "neutral", "brows": "neutral"},
        "happy_soft": {"mouth": "smile_soft", "eyes": "squint", "brows": "neutral"},
    },
    "base_paths": [
        {"id": "neutral_to_speaking_ah", "start": "neutral", "end": "speaking_ah"},
    ],
}
POSE_LEVEL = {"center": 0, "tilt_left_small": 1, "nod_up_small": 2}
EXPR_LEVEL = {"neutral": 0, "speaking_ah": 200, "happy_soft": 100}


def grey(value: float, size: tuple[int, int] = (6, 4)) -> np.ndarray:
    img = np.full((size[1], size[0], 4), 255, np.uint8)
    img[..., :3] = int(round(value))
    return img


def level(img: np.ndarray) -> int:
    return int(img[0, 0, 0])


class FakeBackend:
    """Images whose grey level encodes what was made: expression level + pose level for
    endpoints, the mean of the two neighbours for tweens (so a tween made from the wrong
    neighbours has the wrong level). ``fail`` names labels "expr @ pose" or "path@t" to fail."""

    name = "fake"

    def __init__(self, fail: set[str] = frozenset(), thread_safe: bool = True):
        self.fail, self.thread_safe = set(fail), thread_safe
        self.tweens: list[tuple[str, float, float, float]] = []
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def _enter(self, label: str) -> None:
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if label in self.fail:
                raise RuntimeError(f"fake failure of {label}")
        finally:
            with self._lock:
                self.active -= 1

    def expression(self, base, expr, pose, config):
        self._enter(f"{expr.id} @ {pose}")
        return grey(level(base) + EXPR_LEVEL[expr.id] + POSE_LEVEL[pose])

    def pose(self, source, expr, source_pose, target_pose, config):
        self._enter(f"{expr.id} @ {target_pose}")
        return grey(level(source) - POSE_LEVEL[source_pose] + POSE_LEVEL[target_pose])

    def tween(self, job, config):
        self._enter(f"{job.path_id}@{job.t}")
        with self._lock:
            self.tweens.append((job.path_id, job.t, job.left[0], job.right[0]))
        return grey((level(job.left[1]) + level(job.right[1])) / 2)


def config() -> RigConfig:
    return RigConfig.from_dict(json.loads(json.dumps(SMALL)), "small")


def runner(backend, lines: list[str]) -> Runner:
    return Runner(backend, max_workers=3, progress=False, log=lines.append)


def make_endpoints(folder: Path, cfg: RigConfig) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for e in cfg.expressions:
        for p in cfg.poses:
            write_image(folder / f"{e}__{p}.png", grey(EXPR_LEVEL[e] + POSE_LEVEL[p]))


def test_midpoint_levels():
    assert midpoint_levels(0) == []
    assert midpoint_levels(1) == [[0.5]]
    assert midpoint_levels(3) == [[0.5], [0.25, 0.75], [0.125, 0.375, 0.625, 0.875]]
    for d in range(6):
        assert sum(map(len, midpoint_levels(d))) == 2 ** d - 1
    with pytest.raises(RigBuildError, match="--max-depth"):
        midpoint_levels(6)


def test_extremes(tmp_path):
    cfg, backend, lines = config(), FakeBackend(), []
    base = tmp_path / "portrait.png"
    write_image(base, grey(20))
    out = tmp_path / "endpoints"
    out.mkdir()
    tally = runner(backend, lines).run(plan_extremes(cfg, backend, base, "center", out))
    assert (tally.success, tally.failed) == (2, 0)
    assert sorted(p.name for p in out.iterdir()) == ["happy_soft__center.png",
                                                     "speaking_ah__center.png"]
    assert level(read_image(out / "speaking_ah__center.png")) == 220
    assert "[✓] speaking_ah @ center -> speaking_ah__center.png" in lines
    # --include-neutral adds neutral; the others exist and are kept.
    lines.clear()
    tally = runner(backend, lines).run(plan_extremes(cfg, backend, base, "center", out,
                                                     include_neutral=True))
    assert (tally.success, tally.failed) == (1, 0)
    assert "[i] Skipping 2 existing images (--overwrite redoes them)" in lines
    with pytest.raises(RigBuildError, match="--pose 'sideways' is not one of"):
        plan_extremes(cfg, backend, base, "sideways", out)
    with pytest.raises(RigBuildError, match="missing.png: base image not found"):
        plan_extremes(cfg, backend, tmp_path / "missing.png", "center", out)


def test_tilts_seed_behaviour(tmp_path):
    cfg, backend, lines = config(), FakeBackend(), []
    ep = tmp_path / "endpoints"
    ep.mkdir()
    write_image(ep / "speaking_ah__center.png", grey(200))
    base_neutral = tmp_path / "boy.png"
    write_image(base_neutral, grey(0))
    plan = plan_tilts(cfg, backend, ep, base_neutral=base_neutral)
    tally = runner(backend, lines).run(plan)
    # neutral copied in from --base-neutral; happy_soft has no source: reported, left out.
    assert (tally.success, tally.failed) == (4, 0)
    assert any(line.startswith("[!] Missing source pose for expr 'happy_soft'")
               for line in lines)
    assert "[i] Generating 4 head-tilted endpoints with 3 workers..." in lines
    assert "[✓] neutral @ tilt_left_small -> neutral__tilt_left_small.png" in lines
    assert level(read_image(ep / "neutral__center.png")) == 0
    assert level(read_image(ep / "speaking_ah__nod_up_small.png")) == 202
    assert not (ep / "happy_soft__tilt_left_small.png").exists()
    # A deleted image is remade, the rest kept; --overwrite remakes everything.
    (ep / "neutral__nod_up_small.png").unlink()
    assert runner(backend, []).run(plan_tilts(cfg, backend, ep)).success == 1
    assert runner(backend, []).run(plan_tilts(cfg, backend, ep, overwrite=True)).success == 4


def test_failed_job_is_reported_and_leaves_no_file(tmp_path):
    cfg, lines = config(), []
    backend = FakeBackend(fail={"neutral @ nod_up_small"})
    ep = tmp_path / "endpoints"
    make_endpoints(ep, cfg)
    (ep / "neutral__nod_up_small.png").unlink()
    (ep / "neutral__tilt_left_small.png").unlink()
    tally = runner(backend, lines).run(plan_tilts(cfg, backend, ep))
    assert (tally.success, tally.failed) == (1, 1)
    assert ("[✗] neutral @ nod_up_small -> neutral__nod_up_small.png: RuntimeError: fake "
            "failure of neutral @ nod_up_small") in lines
    assert not (ep / "neutral__nod_up_small.png").exists()
    assert not [p for p in ep.iterdir() if ".part" in p.name]  # no temporary leftovers


def test_sequences_recursive_midpoints_from_neighbours(tmp_path):
    cfg, backend, lines = config(), FakeBackend(), []
    ep, seq = tmp_path / "endpoints", tmp_path / "sequences"
    make_endpoints(ep, cfg)
    plan = plan_sequences(cfg, backend, ep, seq, max_depth=2)
    # 1 base path x 3 poses + 2 neutral pose sequences, 3 tweens each.
    assert plan.n_jobs == 15 and [len(lv) for lv in plan.levels] == [5, 10]
    tally = runner(backend, lines).run(plan)
    assert (tally.success, tally.failed) == (15, 0)
    folder = seq / "neutral_to_speaking_ah__tilt_left_small"
    # ends 1 and 201: t=0.5 -> 101, t=0.25 from (0, 0.5) -> 51, t=0.75 from (0.5, 1) -> 151
    got = {p.name: level(read_image(p)) for p in folder.glob("*.png")}
    assert got == {"000.png": 1, "025.png": 51, "050.png": 101, "075.png": 151, "100.png": 201}
    neighbours = {(t, lt, rt) for pid, t, lt, rt in backend.tweens
                  if pid == "neutral_to_speaking_ah"}
    assert neighbours == {(0.5, 0.0, 1.0), (0.25, 0.0, 0.5), (0.75, 0.5, 1.0)}
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest == {"path_id": "neutral_to_speaking_ah", "expr_start": "neutral",
                        "expr_end": "speaking_ah", "pose": "tilt_left_small",
                        "frames": [{"t": t, "file": f"{round(100 * t):03d}.png"}
                                   for t in (0.0, 0.25, 0.5, 0.75, 1.0)]}
    pose_seq = seq / "neutral_center_to_neutral_nod_up_small"
    assert level(read_image(pose_seq / "050.png")) == 1  # between levels 0 and 2
    pose_manifest = json.loads((pose_seq / "manifest.json").read_text())
    assert (pose_manifest["pose_start"], pose_manifest["pose_end"]) == ("center",
                                                                        "nod_up_small")
    assert "[✓] neutral_to_speaking_ah @ center t=0.25 -> " \
           "neutral_to_speaking_ah__center/025.png" in lines


def test_sequences_failure_manifest_lists_only_existing_and_rerun_resumes(tmp_path):
    cfg, lines = config(), []
    ep, seq = tmp_path / "endpoints", tmp_path / "sequences"
    make_endpoints(ep, cfg)
    backend = FakeBackend(fail={"neutral_to_speaking_ah@0.5"})
    tally = runner(backend, lines).run(plan_sequences(cfg, backend, ep, seq, max_depth=2))
    # the midpoint failed for 3 poses, so their quarter points (no neighbour) failed too
    assert (tally.success, tally.failed) == (6, 9)
    assert any("neighbour frame missing" in line for line in lines if line.startswith("[✗]"))
    folder = seq / "neutral_to_speaking_ah__center"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert [f["file"] for f in manifest["frames"]] == ["000.png", "100.png"]
    assert sorted(p.name for p in folder.iterdir()) == ["000.png", "100.png", "manifest.json"]
    # the same command again, working now: only the 9 missing frames are made
    again = FakeBackend()
    tally = runner(again, []).run(plan_sequences(cfg, again, ep, seq, max_depth=2))
    assert (tally.success, tally.failed) == (9, 0)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert [f["t"] for f in manifest["frames"]] == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_sequences_missing_endpoint_is_reported(tmp_path):
    cfg, lines = config(), []
    ep, seq = tmp_path / "endpoints", tmp_path / "sequences"
    make_endpoints(ep, cfg)
    (ep / "speaking_ah__nod_up_small.png").unlink()
    backend = FakeBackend()
    plan = plan_sequences(cfg, backend, ep, seq, max_depth=1)
    assert plan.n_jobs == 4
    runner(backend, lines).run(plan)
    assert any(line.startswith("[!] Missing endpoint for neutral_to_speaking_ah @ nod_up_small")
               for line in lines)
    assert not (seq / "neutral_to_speaking_ah__nod_up_small").exists()


def test_backend_that_is_not_thread_safe_runs_alone(tmp_path):
    cfg, lines = config(), []
    ep, seq = tmp_path / "endpoints", tmp_path / "sequences"
    make_endpoints(ep, cfg)
    backend = FakeBackend(thread_safe=False)
    runner(backend, lines).run(plan_sequences(cfg, backend, ep, seq, max_depth=2))
    assert "[i] Generating 15 tween frames (depth 2) with 1 workers..." in lines
    assert backend.max_active == 1


def test_toon_backend_redraws_from_parameters():
    cfg = RigConfig.from_dict(json.loads(json.dumps(REFERENCE_RIG_CONFIG)), "seed")
    backend = ToonBackend(supersample=1)
    base = np.zeros((40, 40, 4), np.uint8)
    ah = cfg.expressions["speaking_ah"]
    img = backend.pose(base, ah, "center", "tilt_left_small", cfg)
    face = face_from_names(MouthShape(0.55, 0.95, 0.0), "neutral", "neutral")
    np.testing.assert_array_equal(img, render(0.0, 0.0, 8.0, face, 40, 1))
    from animator.authoring.backend import TweenJob

    job = TweenJob("neutral_to_speaking_ah", 0.25, "neutral", "center", "speaking_ah",
                   "nod_up_small", base, base, (0.0, base), (0.5, base))
    mid = backend.tween(job, cfg)
    neutral = face_from_names(MouthShape(0.0, 1.0, 0.0), "neutral", "neutral")
    np.testing.assert_array_equal(mid, render(2.0, 0.0, 0.0, lerp_face(neutral, face, 0.25),
                                              40, 1))


def test_build_rig_with_toon_loads_and_dry_run_counts_match(tmp_path):
    cfg_path = tmp_path / "expressions.json"
    cfg_path.write_text(json.dumps(SMALL))
    portrait = tmp_path / "portrait.png"
    write_image(portrait, grey(0, (32, 32)))
    outdir = tmp_path / "rig"
    plans = plan_build(cfg_path, portrait, outdir, max_depth=1)
    assert [p.n_jobs for p in plans] == [3, 6, 5]
    assert not outdir.exists()  # planning writes nothing
    lines = []
    tally = build_rig(cfg_path, portrait, outdir, runner(ToonBackend(supersample=1), lines),
                      max_depth=1)
    assert (tally.success, tally.failed) == (14, 0)
    rig = load_rig(outdir)
    assert rig.image_size == (32, 32)
    assert len(rig.sequences) == 3
    assert rig.sequences[("neutral_to_speaking_ah", "center")].frames[1][0] == 0.5
    assert json.loads((outdir / "expressions.json").read_text()) == SMALL
    # a second run makes nothing
    assert [p.n_jobs for p in plan_build(cfg_path, portrait, outdir, max_depth=1)] == [0, 0, 0]


def test_build_rig_with_failures_writes_no_config(tmp_path):
    cfg_path = tmp_path / "expressions.json"
    cfg_path.write_text(json.dumps(SMALL))
    portrait = tmp_path / "portrait.png"
    write_image(portrait, grey(0))
    lines = []
    backend = FakeBackend(fail={"happy_soft @ nod_up_small"})
    tally = build_rig(cfg_path, portrait, tmp_path / "rig", runner(backend, lines),
                      max_depth=1)
    assert tally.failed == 1 and tally.success == 13
    assert not (tmp_path / "rig" / "expressions.json").exists()
    assert any("expressions.json not written" in line for line in lines)


def test_dry_run_cost_lines(tmp_path):
    cfg_path = tmp_path / "expressions.json"
    cfg_path.write_text(json.dumps(SMALL))
    portrait = tmp_path / "portrait.png"
    write_image(portrait, grey(0))
    plans = plan_build(cfg_path, portrait, tmp_path / "rig", max_depth=2)
    lines = dry_run_lines(plans, "openai", "1024x1536", "high")
    assert "[dry-run] 24 API calls to gpt-image-1 (1024x1536, quality high): about $6.00 at " \
           "$0.250 per image" in lines
    assert any("assumption:" in line for line in lines)
    assert "no cost" in dry_run_lines(plans, "toon", "1024x1536", "high")[-1]


def test_prompt_descriptions_come_from_one_table_and_the_config():
    raw = json.loads(json.dumps(SMALL))
    raw["poses"].append("look_around")
    raw["pose_angles"] = {"look_around": {"pitch": -5, "yaw": 10, "roll": 0}}
    raw["character"] = "a clay model of an owl"
    raw["descriptions"] = {"mouth": {"ah": "beak wide open"}}
    cfg = RigConfig.from_dict(raw, "x")
    d = Descriptions.for_config(cfg)
    assert d.character == "a clay model of an owl"
    assert d.feature("mouth", "ah") == "beak wide open"
    assert d.feature("eyes", "squint").startswith("eyes narrowed")  # default kept
    assert d.pose("look_around") == describe_angles(-5, 10, 0)
    assert "viewer's right" in describe_angles(0, 10, 0)
    assert "viewer's right" in describe_angles(0, 0, 8)
    assert "chin lowered" in describe_angles(-5, 0, 0)
    prompt = pose_prompt(d, cfg.expressions["speaking_ah"], "center", "look_around")
    assert "a clay model of an owl" in prompt and "beak wide open" in prompt
    default = Descriptions.for_config(config())
    assert default.character == "the character shown in the reference image"


class _Terminal:
    """A stand-in for stderr on a terminal: collects what is written."""

    def __init__(self):
        self.text = ""

    def isatty(self) -> bool:
        return True

    def write(self, s: str) -> int:
        self.text += s
        return len(s)

    def flush(self) -> None:
        pass


def test_progress_bar_only_on_a_terminal(tmp_path, monkeypatch):
    cfg = config()
    ep = tmp_path / "endpoints"
    make_endpoints(ep, cfg)
    term = _Terminal()
    monkeypatch.setattr("sys.stderr", term)
    backend = FakeBackend()
    shown = Runner(backend, log=lambda line: None)
    shown.run(plan_sequences(cfg, backend, ep, tmp_path / "s1", max_depth=1))
    assert "5/5" in term.text and "img" in term.text
    term.text = ""
    quiet = Runner(backend, progress=False, log=lambda line: None)
    quiet.run(plan_sequences(cfg, backend, ep, tmp_path / "s2", max_depth=1))
    assert term.text == ""
