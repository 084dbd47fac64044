"""The rig quality check: FaceMesh on every endpoint of a small photo rig built here."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from animator.authoring.astronaut import build_photo_rig, load_config
from animator.authoring.check import (
    check_rig,
    format_summary,
    summarise,
    tween_summary,
    write_report,
)
from animator.rig import RigConfig, RigError

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "assets" / "characters" / "astronaut" / "endpoints" / "neutral__center.webp"


def small_config() -> dict:
    raw = load_config()
    raw["poses"] = ["center", "turn_left_small", "nod_up_small"]
    raw["expressions"] = {k: raw["expressions"][k] for k in ("neutral", "speaking_ah")}
    raw["base_paths"] = [bp for bp in raw["base_paths"] if bp["end"] == "speaking_ah"]
    return raw


@pytest.fixture(scope="module")
def small_rig(tmp_path_factory) -> Path:
    bgr = cv2.resize(cv2.imread(str(PHOTO)), (256, 256), interpolation=cv2.INTER_AREA)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    out = tmp_path_factory.mktemp("rig") / "photo"
    tally = build_photo_rig(rgb, out, config=small_config(), depth=1, verify=False)
    # 2 expressions x 3 poses, 1 tween x (1 path x 3 poses + 2 pose sequences), 3 layers x 2
    assert tally.ok and tally.success == 2 * 3 + 1 * 5 + 3 * 2
    return out


def test_check_rig_reports_sensible_values(small_rig, tmp_path):
    sheet = tmp_path / "sheet.png"
    report = check_rig(small_rig, sheet_path=sheet)
    s = report["summary"]
    assert len(report["endpoints"]) == 6
    assert s["endpoints_without_face"] == []
    assert s["mouth_order_ok"] and s["mouth_order_wrong"] == []
    assert s["mouth_open_measured"]["speaking_ah"] > s["mouth_open_measured"]["neutral"] + 0.15
    for axis in ("pitch", "yaw", "roll"):
        assert 0.0 <= s["median_abs_pose_error_deg"][axis] <= 3.0
    turned = next(r for r in report["endpoints"]
                  if r["expr"] == "neutral" and r["pose"] == "turn_left_small")
    assert turned["requested_deg"] == [0.0, 10.0, 0.0]
    assert abs(turned["error_deg"][1]) < 3.0
    centre = next(r for r in report["endpoints"]
                  if r["expr"] == "speaking_ah" and r["pose"] == "center")
    assert centre["error_deg"] == [0.0, 0.0, 0.0] and centre["open_target"] == 0.55
    # The contact sheet: rows expressions, columns poses, plus label bands.
    img = cv2.imread(str(sheet))
    assert img is not None and img.shape[0] > 2 * 150 and img.shape[1] > 3 * 150
    # The report is JSON.
    write_report(report, tmp_path / "report.json")
    back = json.loads((tmp_path / "report.json").read_text())
    assert back["summary"] == json.loads(json.dumps(s))
    assert "mouth order: ok" in format_summary(report)


def test_summary_flags_wrong_order_and_missing_faces():
    cfg = RigConfig.from_dict(small_config(), "test")
    rec = []
    for eid, opened in (("neutral", 0.4), ("speaking_ah", 0.1)):  # the wrong way round
        for pose in cfg.poses:
            face = not (eid == "neutral" and pose == "nod_up_small")
            rec.append({"expr": eid, "pose": pose, "face": face,
                        "error_deg": [1.0, -2.0, 0.5] if face else None,
                        "open": opened if face else None})
    s = summarise(rec, cfg)
    assert not s["mouth_order_ok"] and s["mouth_order_wrong"] == [["neutral", "speaking_ah"]]
    assert s["endpoints_without_face"] == ["neutral__nod_up_small"]
    assert s["median_abs_pose_error_deg"] == {"pitch": 1.0, "yaw": 2.0, "roll": 0.5}


def test_a_broken_rig_is_a_rig_error(tmp_path):
    with pytest.raises(RigError):
        check_rig(tmp_path / "missing")


def test_tweens_are_measured_and_out_of_order_ones_flagged(small_rig):
    report = check_rig(small_rig, tweens=True)
    s = report["summary"]
    assert s["tweens"] == 3 and s["tweens_without_face"] == [] and s["tween_order_wrong"] == []
    assert "tween frames without a face: 0 of 3" in format_summary(report)
    cfg = RigConfig.from_dict(small_config(), "test")
    recs = [{"path": "neutral_to_speaking_ah", "pose": "center", "t": t, "image": f"{t}",
             "face": True, "open": o} for t, o in ((0.25, 0.3), (0.5, 0.1), (0.75, 0.35))]
    bad = tween_summary(recs, cfg)
    assert bad["tween_order_wrong"] == ["neutral_to_speaking_ah__center"]
