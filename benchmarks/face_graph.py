"""FaceMesh as the stock solution runs it against keypoints.face_graph, on real faces.

    python -m benchmarks.face_graph [--json] [--rounds 8] [--block 60] [--fps 30]
                                    [--clip CLIP] [--no-check]

Check (unless ``--no-check``): every frame of every clip of ../shared/realdata/talking_faces
through both, in video (tracking) mode, each its own tracker: the landmarks must be equal bit
for bit (count of frames, of frames with a face, of frames that differ, largest difference).

Timing: the frames of one clip (default news_4.mp4, 700 x 700, decoded before) go through
three trackers in turn, blocks of ``--block`` frames each, ``--rounds`` times, paced at
``--fps`` (a sleep between frames, as a camera's capture thread waits for its next frame):

- ``stock``: ``mp.solutions.face_mesh.FaceMesh`` (its graph on a thread pool) and
  ``process``, landmarks read from its message (the project's tracker before);
- ``caller_process``: the graph in the calling thread, still read through ``process``;
- ``caller``: ``CallerThreadFaceMesh.landmarks`` (what ``FaceTracker`` runs now).

Each block gives the process's CPU time per frame (every thread: the caller and the graph's
pool), the share of one core at that frame rate, and the context switches per frame of the
threads (``MainThread`` calls; ``native`` is the pool). Medians over the rounds; the 1-minute
load average before and after. The three see the same frames in the same order.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks.machine import machine_info
from benchmarks.realdata import talking_faces
from benchmarks.threadcpu import task_snapshot, threads_between
from keypoints.face import landmark_array

OPTIONS = {"max_num_faces": 1, "refine_landmarks": True, "static_image_mode": False}
WAYS = ("stock", "caller_process", "caller")


def rgb_frames(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


def make(way: str):
    """(mesh, read) with read(rgb) -> float32[478, 3] | None."""
    import mediapipe as mp

    from keypoints.face_graph import CallerThreadFaceMesh

    if way == "caller":
        mesh = CallerThreadFaceMesh(**OPTIONS)
        return mesh, mesh.landmarks
    mesh = (mp.solutions.face_mesh.FaceMesh(**OPTIONS) if way == "stock"
            else CallerThreadFaceMesh(**OPTIONS))

    def read(rgb: np.ndarray) -> np.ndarray | None:
        found = mesh.process(rgb).multi_face_landmarks
        return landmark_array(found[0]) if found else None

    return mesh, read


def check(clips: list[Path]) -> dict:
    """Stock vs caller on every frame of ``clips``."""
    out = {"clips": 0, "frames": 0, "with_face": 0, "differing": 0, "max_abs_diff": 0.0}
    for clip in clips:
        (stock, want), (caller, got) = make("stock"), make("caller")
        with stock, caller:
            for rgb in rgb_frames(clip):
                a, b = want(rgb), got(rgb)
                out["frames"] += 1
                if (a is None) != (b is None):
                    out["differing"] += 1
                elif a is not None:
                    out["with_face"] += 1
                    diff = float(np.abs(a - b).max())
                    out["differing"] += int(not np.array_equal(a, b))
                    out["max_abs_diff"] = max(out["max_abs_diff"], diff)
        out["clips"] += 1
    return out


def timing(frames: list[np.ndarray], rounds: int, block: int, fps: float) -> dict:
    meshes = {way: make(way) for way in WAYS}
    period = 1.0 / fps
    per: dict[str, list[dict]] = {way: [] for way in WAYS}
    load = {"before": round(os.getloadavg()[0], 2)}
    try:
        for way in WAYS:  # warm each up (models opened, first detection done)
            for rgb in frames[:5]:
                meshes[way][1](rgb)
        start = 5
        for _ in range(rounds):
            chunk = [frames[(start + i) % len(frames)] for i in range(block)]
            start += block
            for way in WAYS:
                read = meshes[way][1]
                before, cpu0, t0 = task_snapshot(), time.process_time(), time.perf_counter()
                for rgb in chunk:
                    time.sleep(period)
                    read(rgb)
                wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
                threads = threads_between(before, task_snapshot(), wall, block)
                per[way].append({"cpu_ms_per_frame": 1e3 * cpu / block, "threads": threads})
    finally:
        for mesh, _ in meshes.values():
            mesh.close()
    load["after"] = round(os.getloadavg()[0], 2)
    out: dict = {"load_avg_1min": load}
    for way, blocks in per.items():
        ms = [b["cpu_ms_per_frame"] for b in blocks]
        names = dict.fromkeys(n for b in blocks for n in b["threads"])
        out[way] = {
            "cpu_ms_per_frame": {"median": round(float(np.median(ms)), 3),
                                 "min": round(min(ms), 3), "max": round(max(ms), 3)},
            "share_of_one_core_at_fps": round(float(np.median(ms)) * fps / 1e3, 4),
            "switches_per_frame": {n: round(float(np.median(
                [b["threads"].get(n, {}).get("switches_per_tick", {}).get("voluntary", 0.0)
                 for b in blocks])), 2) for n in names}}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.face_graph", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--block", type=int, default=60, help="frames per block")
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--clip", type=Path, default=None, help="timing clip (default news_4)")
    ap.add_argument("--no-check", action="store_true", help="skip the landmark check")
    args = ap.parse_args(argv)
    clips = talking_faces()
    clip = args.clip or next(p for p in clips if p.name == "news_4.mp4")
    report: dict = {"machine": machine_info(), "clip": str(clip), "fps": args.fps,
                    "rounds": args.rounds, "block": args.block}
    if not args.no_check:
        report["check"] = check(clips)
    report["timing"] = timing(rgb_frames(clip), args.rounds, args.block, args.fps)
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    if "check" in report:
        print(f"landmarks, stock vs caller thread: {report['check']}")
    t = report["timing"]
    print(f"timing on {clip.name} at {args.fps:g} fps, {args.rounds} rounds of {args.block} "
          f"frames, load {t['load_avg_1min']}:")
    for way in WAYS:
        w = t[way]
        print(f"  {way:15s} CPU/frame {w['cpu_ms_per_frame']} ms, "
              f"{100 * w['share_of_one_core_at_fps']:.1f} % of a core; "
              f"voluntary switches/frame {w['switches_per_frame']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
