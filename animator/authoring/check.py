"""Quality check of a rig folder: measure every endpoint with FaceMesh.

For every expression x pose endpoint: is there a face at all, its head pose (keypoints.face)
against the pose's requested angles, and its mouth opening against the expression's mouth
shape. Pose errors are taken relative to the same expression's ``center`` endpoint (the pose
with all-zero angles), which cancels the portrait's own pose and the small bias an expression
puts on the estimator. A contact sheet (rows expressions, columns poses) shows it all.

    report = check_rig("assets/characters/astronaut", sheet_path="sheet.png")
    write_report(report, "report.json")
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from animator.core.outputs import atomic_output, write_text_atomic
from animator.core.types import AXES
from animator.rig import RigConfig, load_rig
from animator.rig.images import read_rgb_over
from keypoints.face import FaceTracker

#: Expressions whose configured mouth openings differ by at least this (mouth widths) must
#: measure in the same order.
ORDER_MARGIN = 0.1
#: Contact-sheet cell size (pixels) and label band heights.
CELL_PX = 160
HEADER_PX = 34
LABEL_W_PX = 120


def _read_rgb(path: Path) -> np.ndarray:
    """uint8[H, W, 3] RGB of a rig image (alpha composited over white)."""
    return read_rgb_over(path, (255, 255, 255))


def _centre_pose(config: RigConfig) -> str:
    """The pose with the smallest angles (``center`` in every shipped config)."""
    return min(config.poses, key=lambda p: float(np.abs(config.pose_angles[p]).sum()))


#: The quality bar of a warp-built rig: median absolute pose error per axis (degrees).
MAX_MEDIAN_POSE_ERROR_DEG = 2.0
#: Along a tween sequence the measured opening may fall back by this much (FaceMesh noise).
TWEEN_ORDER_SLACK = 0.06


def summarise(records: list[dict], config: RigConfig) -> dict:
    """The summary of per-endpoint records (see ``check_rig``): pure, no I/O."""
    centre = _centre_pose(config)
    errors = np.array([r["error_deg"] for r in records
                       if r["error_deg"] is not None and r["pose"] != centre]).reshape(-1, 3)
    med = (np.median(np.abs(errors), 0) if len(errors) else np.full(3, np.nan))
    worst = (np.max(np.abs(errors), 0) if len(errors) else np.full(3, np.nan))
    opens: dict[str, float] = {}
    for eid in config.expressions:
        vals = [r["open"] for r in records if r["expr"] == eid and r["open"] is not None]
        opens[eid] = float(np.median(vals)) if vals else float("nan")
    wrong = []
    for a in config.expressions:
        for b in config.expressions:
            if config.mouth_shape(b).open - config.mouth_shape(a).open >= ORDER_MARGIN:
                if not opens[a] < opens[b]:
                    wrong.append([a, b])
    no_face = [f"{r['expr']}__{r['pose']}" for r in records if not r["face"]]
    passed = bool(np.all(med <= MAX_MEDIAN_POSE_ERROR_DEG) and not wrong and not no_face)
    return {
        "passed": passed,
        "targets": {"median_abs_pose_error_deg": MAX_MEDIAN_POSE_ERROR_DEG,
                    "mouth_order": "by the expressions' target openings",
                    "endpoints_without_face": 0},
        "median_abs_pose_error_deg": {ax: round(float(v), 2) for ax, v in zip(AXES, med,
                                                                             strict=True)},
        "max_abs_pose_error_deg": {ax: round(float(v), 2) for ax, v in zip(AXES, worst,
                                                                          strict=True)},
        "mouth_open_measured": {k: round(v, 3) for k, v in opens.items()},
        "mouth_open_target": {k: config.mouth_shape(k).open for k in config.expressions},
        "mouth_order_ok": not wrong,
        "mouth_order_wrong": wrong,
        "endpoints_without_face": no_face,
    }


def tween_summary(tweens: list[dict], config: RigConfig) -> dict:
    """Tween frames without a face, and sequences whose measured opening does not follow
    their path (records ``{path, pose, t, face, open}``): pure, no I/O."""
    no_face = [r["image"] for r in tweens if not r["face"]]
    wrong = []
    by_seq: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for r in tweens:
        if r["open"] is not None:
            by_seq.setdefault((r["path"], r["pose"]), []).append((r["t"], r["open"]))
    paths = {bp.id: bp for bp in config.base_paths}
    for (path, pose), pts in sorted(by_seq.items()):
        bp = paths[path]
        a, b = config.mouth_shape(bp.start).open, config.mouth_shape(bp.end).open
        if abs(b - a) < ORDER_MARGIN:
            continue
        sign = 1.0 if b > a else -1.0
        opens = [o for _, o in sorted(pts)]
        if any(sign * (y - x) < -TWEEN_ORDER_SLACK for x, y in zip(opens, opens[1:],
                                                                     strict=False)):
            wrong.append(f"{path}__{pose}")
    return {"tweens": len(tweens), "tweens_without_face": no_face, "tween_order_wrong": wrong}


def check_rig(rigdir: str | Path, sheet_path: str | Path | None = None,
              tweens: bool = False) -> dict:
    """Measure every endpoint of the rig at ``rigdir`` (and with ``tweens`` every tween
    frame); returns the report dict ``{"rig", "endpoints": [...], "summary": {...}}`` (plus
    ``"tweens"``) and writes the contact sheet PNG to ``sheet_path`` if given. Raises
    RigError for a rig that does not load."""
    rig = load_rig(rigdir)
    config = rig.config
    centre = _centre_pose(config)
    measured: dict[tuple[str, str], dict] = {}
    images: dict[tuple[str, str], np.ndarray] = {}
    with FaceTracker(static_image_mode=True) as tracker:
        for eid in config.expressions:
            for pose in config.poses:
                rel = rig.endpoint(eid, pose)
                rgb = _read_rgb(rig.image_path(rel))
                obs = tracker.process(rgb)
                images[(eid, pose)] = rgb
                measured[(eid, pose)] = {
                    "pose_deg": None if obs is None else obs.head_pose_deg(),
                    "open": None if obs is None else obs.mouth_open(),
                }
        tween_records = []
        if tweens:
            for (path, pose), seq in sorted(rig.sequences.items()):
                for t, rel in seq.frames:
                    if t in (0.0, 1.0):
                        continue
                    obs = tracker.process(_read_rgb(rig.image_path(rel)))
                    tween_records.append({
                        "path": path, "pose": pose, "t": t, "image": rel,
                        "face": obs is not None,
                        "open": None if obs is None else round(float(obs.mouth_open()), 3)})
    records = []
    for eid in config.expressions:
        ref = measured[(eid, centre)]["pose_deg"]
        for pose in config.poses:
            m = measured[(eid, pose)]
            want = config.pose_angles[pose] - config.pose_angles[centre]
            err = None
            if m["pose_deg"] is not None and ref is not None:
                err = [round(float(v), 2) for v in (m["pose_deg"] - ref) - want]
            records.append({
                "expr": eid, "pose": pose, "image": rig.endpoint(eid, pose),
                "face": m["pose_deg"] is not None,
                "requested_deg": [float(v) for v in config.pose_angles[pose]],
                "measured_deg": (None if m["pose_deg"] is None
                                 else [round(float(v), 2) for v in m["pose_deg"]]),
                "error_deg": err,
                "open": None if m["open"] is None else round(float(m["open"]), 3),
                "open_target": config.mouth_shape(eid).open,
            })
    report = {"rig": str(rigdir), "endpoints": records, "summary": summarise(records, config)}
    if tweens:
        extra = tween_summary(tween_records, config)
        report["tweens"] = tween_records
        report["summary"].update(extra)
        report["summary"]["passed"] = bool(report["summary"]["passed"]
                                           and not extra["tweens_without_face"]
                                           and not extra["tween_order_wrong"])
    if sheet_path is not None:
        write_sheet(contact_sheet(images, records, config), sheet_path)
    return report


def contact_sheet(images: dict[tuple[str, str], np.ndarray], records: list[dict],
                  config: RigConfig) -> np.ndarray:
    """uint8 RGB sheet: rows expressions, columns poses, labelled; each cell notes the pose
    error (degrees, pitch/yaw/roll) and the measured opening, or NO FACE."""
    exprs, poses = list(config.expressions), list(config.poses)
    h = HEADER_PX + CELL_PX * len(exprs)
    w = LABEL_W_PX + CELL_PX * len(poses)
    sheet = np.full((h, w, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    by_key = {(r["expr"], r["pose"]): r for r in records}
    for j, pose in enumerate(poses):
        x = LABEL_W_PX + j * CELL_PX
        p, y, r = config.pose_angles[pose]
        cv2.putText(sheet, pose[:20], (x + 4, 14), font, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(sheet, f"p{p:+.0f} y{y:+.0f} r{r:+.0f}", (x + 4, 29), font, 0.36,
                    (60, 60, 60), 1, cv2.LINE_AA)
    for i, eid in enumerate(exprs):
        y0 = HEADER_PX + i * CELL_PX
        cv2.putText(sheet, eid[:16], (4, y0 + CELL_PX // 2), font, 0.42, (0, 0, 0), 1,
                    cv2.LINE_AA)
        for j, pose in enumerate(poses):
            x0 = LABEL_W_PX + j * CELL_PX
            thumb = cv2.resize(images[(eid, pose)], (CELL_PX, CELL_PX),
                               interpolation=cv2.INTER_AREA)
            sheet[y0:y0 + CELL_PX, x0:x0 + CELL_PX] = thumb
            rec = by_key[(eid, pose)]
            if not rec["face"]:
                note, colour = "NO FACE", (255, 0, 0)
            else:
                e = rec["error_deg"] or [0.0, 0.0, 0.0]
                note, colour = (f"{e[0]:+.1f} {e[1]:+.1f} {e[2]:+.1f} o{rec['open']:.2f}",
                                (255, 255, 255))
            cv2.rectangle(sheet, (x0, y0 + CELL_PX - 14), (x0 + CELL_PX - 1, y0 + CELL_PX - 1),
                          (0, 0, 0), -1)
            cv2.putText(sheet, note, (x0 + 2, y0 + CELL_PX - 3), font, 0.34, colour, 1,
                        cv2.LINE_AA)
    return sheet


def write_sheet(sheet_rgb: np.ndarray, path: str | Path) -> None:
    """Write an RGB image as PNG atomically."""
    with atomic_output(path) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(sheet_rgb, cv2.COLOR_RGB2BGR)):
            raise OSError(f"{path}: cannot write PNG")


def write_report(report: dict, path: str | Path) -> None:
    """Write the check report as JSON atomically."""
    write_text_atomic(path, json.dumps(report, indent=2) + "\n")


def format_summary(report: dict) -> str:
    """A few human-readable lines of the report's summary."""
    s = report["summary"]
    med = s["median_abs_pose_error_deg"]
    lines = [f"median |pose error| (deg): pitch {med['pitch']}, yaw {med['yaw']}, "
             f"roll {med['roll']}",
             "mouth opening (measured / target): " + ", ".join(
                 f"{k} {v} / {s['mouth_open_target'][k]}"
                 for k, v in s["mouth_open_measured"].items()),
             "mouth order: " + ("ok" if s["mouth_order_ok"]
                                else f"WRONG {s['mouth_order_wrong']}"),
             f"endpoints without a face: {len(s['endpoints_without_face'])}"
             + (f" ({', '.join(s['endpoints_without_face'])})"
                if s["endpoints_without_face"] else "")]
    if "tweens" in s:
        lines.append(f"tween frames without a face: {len(s['tweens_without_face'])} of "
                     f"{s['tweens']}; sequences out of order: "
                     + (", ".join(s["tween_order_wrong"]) or "none"))
    lines.append("result: " + ("PASSED" if s["passed"] else "FAILED")
                 + f" (targets: median |pose error| <= {MAX_MEDIAN_POSE_ERROR_DEG:g} deg per "
                   "axis, mouth openings in order, a face in every endpoint"
                 + (" and tween, tweens in order)" if "tweens" in s else ")"))
    return "\n".join(lines)
