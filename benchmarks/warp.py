"""Speed of the face tracker and the warp rig backend.

    python -m benchmarks.warp [--json] [--repeats 20]

face_track: FaceTracker (video mode) on a 640 x 480 frame of the shipped astronaut photo;
head_pose + lip_frame: the estimator on one observation; warp_render at 384 and 512 px: one
rig image (expression edit + head rotation + mesh warp + mouth paint); warp_image: the bare
piecewise-affine warp of a 512 px image with 478 moved points.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from animator.authoring.warp import WarpBackend, warp_image
from animator.rig import RigConfig
from keypoints.face import FaceTracker

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "assets" / "characters" / "astronaut" / "endpoints" / "neutral__center.webp"
CONFIG = ROOT / "animator" / "authoring" / "default_expressions.json"


def _ms(fn, repeats: int) -> dict:
    fn()  # warm up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return {"p50_ms": round(float(np.median(times)), 2),
            "p90_ms": round(float(np.percentile(times, 90)), 2)}


def run(repeats: int) -> dict:
    bgr = cv2.imread(str(PHOTO))
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    frame = np.full((480, 640, 3), 230, np.uint8)
    frame[48:432, 128:512] = rgb
    out = {}
    with FaceTracker(static_image_mode=False) as tracker:
        out["face_track_640x480"] = _ms(lambda: tracker.process(frame), repeats)
        obs = tracker.process(frame)
    out["head_pose+lip_frame"] = _ms(lambda: (obs.head_pose_deg(), obs.lip_frame(0.0)),
                                     repeats)
    cfg = RigConfig.load(CONFIG)
    expr = cfg.expressions["speaking_ah"]
    for size in (384, 512):
        img = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_CUBIC)
        backend = WarpBackend()
        ah = backend.expression(img, expr, "center", cfg)
        out[f"warp_render_{size}px"] = _ms(
            lambda b=backend, a=ah: b.pose(a, expr, "center", "up_left_small", cfg), repeats)
        backend.close()
    img512 = cv2.resize(rgb, (512, 512), interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(0)
    src = rng.uniform(20, 490, (478, 2))
    dst = src + rng.normal(0.0, 3.0, src.shape)
    out["warp_image_512px"] = _ms(lambda: warp_image(img512, src, dst), repeats)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.warp")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    res = run(args.repeats)
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        for k, v in res.items():
            print(f"{k:24s} p50 {v['p50_ms']:7.2f} ms   p90 {v['p90_ms']:7.2f} ms")


if __name__ == "__main__":
    main()
