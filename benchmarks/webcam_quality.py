"""The webcam path on a real clip, frame by frame: FaceMesh on every frame, the engine fed as
the live loop feeds it (lips, tracked head, eye ratios; mouth calibrated to the face), and
the scores of :mod:`benchmarks.face_metrics`.

    python -m benchmarks.webcam_quality CLIP [CLIP ...] [--calibrate S] [--rig DIR] [--json]

(``python -m benchmarks.live --path webcam --video CLIP`` runs this and the real-time loop.)
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from animator.engine import Engine, EngineConfig
from animator.rig import Rig, default_rig_dir, load_rig
from animator.stages.mouth_rest import MouthRestParams
from benchmarks import face_metrics as fm
from keypoints.face import N_LANDMARKS, FaceObservation
from keypoints.lips import LipFrame


def track_video(path: Path) -> tuple[np.ndarray, tuple[int, int], float]:
    """(landmarks float32[T, 478, 3] in pixels, NaN rows where no face; (width, height);
    frames per second) of every frame of a video, FaceMesh in video (tracking) mode."""
    import cv2

    from keypoints.face import FaceTracker

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise OSError(f"{path}: cannot open video")
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    rows, size = [], (0, 0)
    try:
        with FaceTracker(static_image_mode=False) as tracker:
            while True:
                ok, bgr = cap.read()
                if not ok:
                    break
                size = (bgr.shape[1], bgr.shape[0])
                obs = tracker.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                rows.append(obs.landmarks_px if obs is not None
                            else np.full((N_LANDMARKS, 3), np.nan, np.float32))
    finally:
        cap.release()
    if not rows:
        raise OSError(f"{path}: no frames")
    return np.stack(rows), size, float(fps)


def webcam_config(fps: float, calibrate_s: float = 0.0) -> EngineConfig:
    """The engine configuration of the live webcam path (lips and head from the face)."""
    return EngineConfig(fps=fps, head="tracked", mouth_rest=MouthRestParams(),
                        calibrate_s=calibrate_s)


def run_engine(landmarks: np.ndarray, size: tuple[int, int], rig: Rig,
               config: EngineConfig) -> list:
    """The engine's frames for one landmark frame each (frames without a face: the rest
    lips, no head, no eyes, as the live loop does when the face is lost)."""
    engine = Engine(rig, config)
    frames = []
    names = None
    for i, lm in enumerate(landmarks):
        t = i / config.fps
        if np.isnan(lm[0, 0]):
            if names is None:
                from keypoints.face import LIP_KEYPOINTS

                names = tuple(n for n, _ in LIP_KEYPOINTS)
            lips, head, eyes = LipFrame(t, engine.rest_lips(names), names), None, None
        else:
            obs = FaceObservation(lm, size)
            lips = obs.lip_frame(t)
            names = lips.names
            # mirrored as live mode shows it by default: yaw and roll negated, eyes swapped
            head = obs.head_pose_deg() * np.array([1.0, -1.0, -1.0])
            eyes = obs.eye_openness()[::-1]
        frames.extend(engine.push([lips], head, eyes))
    return frames


def score(landmarks: np.ndarray, frames: list, rig: Rig, fps: float) -> dict:
    """Mouth and blink scores of the engine's frames against the landmark references."""
    opening = fm.reference_opening(landmarks)
    table = fm.image_mouths(rig)
    shown = np.array([table[f.choice.image][0] for f in frames])
    paths = [table[f.choice.image][1] for f in frames]
    out = fm.mouth_scores(opening, shown, fm.rest_mouth(rig), paths, fps)
    detected = fm.runs(np.array([f.eyes.closed for f in frames]))
    ref = fm.reference_blinks(fm.reference_eye_openness(landmarks))
    out["blinks"] = fm.blink_scores(ref, detected, fps, len(frames) / fps)
    out["blink_frames_shown"] = sum(f.choice.expression == "blink_closed" for f in frames)
    return out


def clip_quality(path: Path, rig: Rig, calibrate_s: float = 0.0,
                 config: EngineConfig | None = None) -> dict:
    """Track ``path`` and score the webcam path on it (see the module docstring)."""
    landmarks, size, fps = track_video(path)
    cfg = config or webcam_config(fps, calibrate_s)
    if cfg.fps != fps:
        cfg = replace(cfg, fps=fps)
    return {"video": str(path), "fps": round(fps, 3), "size": list(size),
            **score(landmarks, run_engine(landmarks, size, rig, cfg), rig, fps)}


def totals(results: list[dict]) -> dict:
    """Pooled scores over clips: neutral share over all closed frames, the median and the
    lowest per-clip r, blinks found and false per minute over all clips."""
    closed = sum(r["closed_frames"] for r in results)
    neutral = sum(r["closed_frames"] * (r["neutral_when_closed"] or 0.0) for r in results)
    rs = [r["r_open_talking"] for r in results if np.isfinite(r["r_open_talking"])]
    b = {k: sum(r["blinks"][k] for r in results)
         for k in ("reference", "found", "detected", "false")}
    minutes = sum(r["blinks"]["minutes"] for r in results)
    return {
        "clips": len(results), "closed_frames": closed,
        "neutral_when_closed": round(neutral / closed, 4) if closed else None,
        "r_open_talking_median": round(float(np.median(rs)), 4) if rs else None,
        "r_open_talking_min": round(float(np.min(rs)), 4) if rs else None,
        "clips_using_more_than_one_shape": sum(len(r["shapes_talking"]) > 1 for r in results),
        "blinks_found": b["found"], "blinks_reference": b["reference"],
        "blinks_found_share": round(b["found"] / b["reference"], 4) if b["reference"] else None,
        "false_blinks": b["false"], "minutes": round(minutes, 3),
        "false_blinks_per_minute": round(b["false"] / minutes, 3) if minutes else None,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.webcam_quality",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("videos", nargs="+", type=Path)
    ap.add_argument("--calibrate", type=float, default=0.0, metavar="S")
    ap.add_argument("--rig", type=Path, default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rig = load_rig(args.rig or default_rig_dir())
    results = [clip_quality(v, rig, args.calibrate) for v in args.videos]
    report = {"clips": results, "total": totals(results)}
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        for r in results:
            print(quality_line(r))
        print("total:", report["total"])
    return 0


def quality_line(r: dict) -> str:
    b = r["blinks"]
    return (f"{Path(r['video']).name:24s} neutral|closed {r['neutral_when_closed']} "
            f"(n={r['closed_frames']}) r_open {r['r_open_talking']} (n={r['talking_frames']}) "
            f"shapes {r['shapes_talking']} blinks {b['found']}/{b['reference']} "
            f"false {b['false']}")


if __name__ == "__main__":
    sys.exit(main())
