"""The warp rig builder on every shared portrait (and the astronaut): what it makes, measured.

    python -m benchmarks.rigbuild [--json] [--out DIR] [--only s8,s42] [--workers 2]
                                  [--size 512] [--depth 2]

Each portrait of ../shared/realdata/portraits (and the shipped astronaut's source photo) is
built with ``animator rig build``'s code (warp backend, the photo-rig config, self-verifying)
into DIR/<name>/, then every endpoint and tween frame is read back from its file and
measured by ``rig check --tweens``: endpoints and tweens with a face, median and max pose
error per axis, mouth opening per expression and their order, and the build time (wall
clock, with the load average before and after: the machine is shared). Animals must be
refused with one "no human face" line and leave nothing behind. DIR/<name>.png is a contact
sheet per portrait: every endpoint (rows expressions, columns poses, errors noted), mouth
close-ups of every expression, and the neutral-to-ah and neutral pose tweens. For the
astronaut it also renders the demo speech (the real engine, mp4 read back) with and without
its head layer and counts the pixels outside the head matte that change while the pose stays.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from animator.authoring.build import build_rig, rig_config_text
from animator.authoring.check import check_rig, contact_sheet
from animator.authoring.plans import DEFAULT_CONFIG_PATH, rest_pose
from animator.authoring.runner import Runner
from animator.authoring.warp import WarpBackend, WarpError
from animator.rig import CONFIG_NAME, RigConfig, load_rig
from animator.sinks.compose import (
    FrameCompositor,
    compose_layered,
    read_matte,
    residual_matrix,
)
from benchmarks.machine import machine_info
from benchmarks.realdata import realdata_dir
from keypoints.face import MOUTH_CORNER_LEFT, MOUTH_CORNER_RIGHT, FaceTracker

ROOT = Path(__file__).resolve().parents[1]
PORTRAITS = realdata_dir() / "portraits"
#: The portraits where no human face should be found.
ANIMALS = ("s22", "s31", "s41")
TARGETS = {"median_pose_error_deg": 2.0, "max_pose_error_deg": 5.0, "face_share": 1.0,
           "build_s": 120.0}


def portraits() -> list[tuple[str, Path]]:
    found = sorted(PORTRAITS.glob("s*.jpg"), key=lambda p: int(p.stem[1:]))
    return [(p.stem, p) for p in found]


def astronaut_source(out: Path) -> Path:
    """The astronaut's head-and-shoulders portrait as a PNG in ``out`` (built from scikit-
    image's bundled photo, as ``make astronaut`` does)."""
    from animator.authoring.astronaut import astronaut_portrait

    path = out / "astronaut_portrait.png"
    rgba = astronaut_portrait(512)
    cv2.imwrite(str(path), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    return path


def _load(uptime: bool = True) -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --- the contact sheet ---------------------------------------------------------------------

def _rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _label(img: np.ndarray, text: str) -> np.ndarray:
    out = img.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 16), (0, 0, 0), -1)
    cv2.putText(out, text, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1,
                cv2.LINE_AA)
    return out


def _strip(tiles: list[np.ndarray], width: int) -> np.ndarray:
    row = np.concatenate(tiles, axis=1) if tiles else np.full((10, width, 3), 255, np.uint8)
    if row.shape[1] < width:
        row = np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0)), constant_values=255)
    return row[:, :width]


def sheet(rigdir: Path, report: dict) -> np.ndarray:
    """uint8 RGB: the check's contact sheet, mouth close-ups, tween strips."""
    rig = load_rig(rigdir)
    cfg = rig.config
    images = {(e, p): _rgb(rig.image_path(rig.endpoint(e, p)))
              for e in cfg.expressions for p in cfg.poses}
    top = contact_sheet(images, report["endpoints"], cfg)
    width = top.shape[1]
    centre = rest_pose(cfg)
    with FaceTracker(static_image_mode=True) as tracker:
        obs = tracker.process(images[("neutral", centre)])
    mouths = []
    if obs is not None:
        lm = obs.landmarks_px[:, :2]
        c = 0.5 * (lm[MOUTH_CORNER_LEFT] + lm[MOUTH_CORNER_RIGHT])
        half = int(1.2 * np.linalg.norm(lm[MOUTH_CORNER_LEFT] - lm[MOUTH_CORNER_RIGHT]))
        for eid in cfg.expressions:
            img = images[(eid, centre)]
            x0, y0 = max(0, int(c[0]) - half), max(0, int(c[1]) - half)
            crop = img[y0:int(c[1]) + half, x0:int(c[0]) + half]
            mouths.append(_label(cv2.resize(crop, (220, 220), interpolation=cv2.INTER_CUBIC),
                                 eid))
    tweens = []
    for path_id, pose in (("neutral_to_speaking_ah", centre),):
        seq = rig.sequences.get((path_id, pose))
        if seq is not None:
            for t, rel in seq.frames:
                tile = cv2.resize(_rgb(rig.image_path(rel)), (200, 200),
                                  interpolation=cv2.INTER_AREA)
                tweens.append(_label(tile, f"ah t={t:.2f}"))
    for folder in sorted((rigdir / "sequences").glob("neutral_center_to_neutral_up_*")):
        for f in sorted(folder.glob("050.*")):
            tile = cv2.resize(_rgb(f), (200, 200), interpolation=cv2.INTER_AREA)
            tweens.append(_label(tile, f"{folder.name[26:]} t=.5"))
    layers = []
    if centre in rig.layers:
        matte_rel, plate_rel = rig.layers[centre]
        matte = read_matte(rig.image_path(matte_rel), rig.image_size)
        plate = _rgb(rig.image_path(plate_rel))
        image = images[("speaking_ah", centre)]
        tiles = [("plate", plate), ("matte", np.dstack([np.uint8(matte * 255)] * 3))]
        for name, res in (("roll +6", (0.0, 0.0, 6.0)), ("roll -6", (0.0, 0.0, -6.0)),
                          ("pitch +5 yaw -5", (5.0, -5.0, 0.0))):
            m = residual_matrix(np.array(res), rig.image_size)
            tiles.append((name, compose_layered(image, matte, plate, m)))
        layers = [_label(cv2.resize(t, (200, 200), interpolation=cv2.INTER_AREA), n)
                  for n, t in tiles]
    return np.concatenate([top, _strip(mouths, width), _strip(tweens, width),
                           _strip(layers, width)], axis=0)


# --- one portrait --------------------------------------------------------------------------

def run_one(name: str, portrait: Path, out: Path, *, workers: int, size: int, depth: int,
            crop: bool = True) -> dict:
    rigdir = out / name
    lines: list[str] = []
    backend = WarpBackend(size_px=size, crop=crop)
    runner = Runner(backend, max_workers=workers, progress=False, log=lines.append)
    load_before = _load()
    t0 = time.perf_counter()
    rec: dict = {"portrait": name, "load_before": load_before}
    try:
        tally = build_rig(DEFAULT_CONFIG_PATH, portrait, rigdir, runner, max_depth=depth)
    except WarpError as exc:
        rec.update({"refused": str(exc), "folder_created": rigdir.exists(),
                    "build_s": round(time.perf_counter() - t0, 2)})
        return rec
    finally:
        backend.close()
    rec.update({"build_s": round(time.perf_counter() - t0, 2), "load_after": _load(),
                "images_made": tally.success, "images_failed": tally.failed,
                "rig_ready": tally.ok,
                "failures": [line for line in lines if line.startswith("[✗]")][:20]})
    if not (rigdir / CONFIG_NAME).exists():  # measure what was made anyway
        if any(line.startswith("[✗] The rig failed its check") for line in lines):
            (rigdir / CONFIG_NAME).write_text(rig_config_text(DEFAULT_CONFIG_PATH, ".webp"))
        else:
            return rec
    report = check_rig(rigdir, tweens=True)
    s = report["summary"]
    n_end = len(report["endpoints"])
    rec.update({
        "endpoints_with_face": f"{n_end - len(s['endpoints_without_face'])}/{n_end}",
        "tweens_with_face": f"{s['tweens'] - len(s['tweens_without_face'])}/{s['tweens']}",
        "median_pose_error_deg": s["median_abs_pose_error_deg"],
        "max_pose_error_deg": s["max_abs_pose_error_deg"],
        "mouth_open": s["mouth_open_measured"],
        "mouth_order_ok": s["mouth_order_ok"],
        "tween_order_wrong": s["tween_order_wrong"],
        "check_passed": s["passed"],
    })
    img = sheet(rigdir, report)
    cv2.imwrite(str(out / f"{name}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    rec["sheet"] = str(out / f"{name}.png")
    return rec


def stillness(rigdir: Path, audio: Path, tmp: Path) -> dict:
    """Render ``audio`` with the rig (the real engine, H.264 mp4 read back) with and without
    its head layer; per pair of consecutive frames at the same pose, the share of pixels
    outside the pose's head matte (grown by 8 px) that changed by more than 12 grey levels in
    the mp4 (the codec's noise aside), and of those the moved head layer reached in neither
    frame that changed at all in the compositor's frames."""
    import shutil

    import av

    from animator.render import render

    def frames_of(rig: Path, out: Path) -> tuple[list[np.ndarray], list[str], list]:
        res = render(audio, out, rig_dir=rig, width_px=load_rig(rig).image_size[0],
                     progress=False)
        with av.open(str(out)) as container:
            pics = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        return pics, [f.choice.pose for f in res.frames], [f.choice for f in res.frames]

    rig = load_rig(rigdir)
    outside, mattes = {}, {}
    for pose, (matte_rel, _) in rig.layers.items():
        mattes[pose] = read_matte(rig.image_path(matte_rel), rig.image_size)
        grown = cv2.dilate((mattes[pose] > 0).astype(np.uint8), np.ones((17, 17), np.uint8))
        outside[pose] = grown == 0

    def untouched(choice) -> np.ndarray:
        """bool[H, W]: where this frame's moved head layer does not reach."""
        m = residual_matrix(choice.residual_deg, rig.image_size)
        matte = mattes[choice.pose]
        if m is not None:
            matte = cv2.warpAffine(matte, m, rig.image_size, flags=cv2.INTER_LINEAR)
        return matte == 0
    flat = tmp / "no_layer"
    shutil.copytree(rigdir, flat, ignore=shutil.ignore_patterns("layers"))
    out = {}
    for name, folder in (("head_layer", rigdir), ("whole_image", flat)):
        pics, poses, choices = frames_of(folder, tmp / f"{name}.mp4")
        compositor = FrameCompositor(load_rig(folder), load_rig(folder).image_size[0])
        shares, exact, switches = [], [], 0
        previous = None
        for i in range(min(len(pics), len(poses))):
            composed = compositor.compose(choices[i])  # the frame before the video codec
            if i and poses[i] == poses[i - 1]:
                mask = outside[poses[i]]
                diff = np.abs(pics[i].astype(int) - pics[i - 1].astype(int)).max(axis=2)
                shares.append(float((diff[mask] > 12).mean()))
                free = untouched(choices[i]) & untouched(choices[i - 1])
                exact.append(float(np.any(composed[free] != previous[free], axis=-1).mean()))
            elif i:
                switches += 1
            previous = composed
        out[name] = {"frames": len(pics), "pose_switches": switches,
                     "mp4_changed_outside_matte_mean": round(float(np.mean(shares)), 5),
                     "mp4_changed_outside_matte_max": round(float(np.max(shares)), 5),
                     "composed_changed_outside_matte_mean": round(float(np.mean(exact)), 5),
                     "composed_changed_outside_matte_max": round(float(np.max(exact)), 5)}
    return out


def verdict(rec: dict) -> bool:
    """Does one portrait's record meet the targets (animals: refused, nothing written)?"""
    if rec["portrait"] in ANIMALS:
        return "no human face" in rec.get("refused", "") and not rec["folder_created"]
    if "median_pose_error_deg" not in rec:
        return False
    med, worst = rec["median_pose_error_deg"], rec["max_pose_error_deg"]
    return bool(rec["check_passed"] and rec["rig_ready"]
                and all(v <= TARGETS["median_pose_error_deg"] for v in med.values())
                and all(v <= TARGETS["max_pose_error_deg"] for v in worst.values())
                and rec["build_s"] <= TARGETS["build_s"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.rigbuild",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "animator-rigbuild"),
                    help="folder for the rigs and contact sheets (not part of the project)")
    ap.add_argument("--only", default=None, help="comma-separated portraits, e.g. s8,astronaut")
    ap.add_argument("--workers", type=int, default=2, help="build threads")
    ap.add_argument("--size", type=int, default=512, help="rig image width (pixels)")
    ap.add_argument("--depth", type=int, default=2, help="tween depth")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    todo = portraits() + [("astronaut", None)]
    if len(todo) == 1:
        print(f"no portraits found in {PORTRAITS}", file=sys.stderr)
    if args.only:
        wanted = set(args.only.split(","))
        todo = [(n, p) for n, p in todo if n in wanted]
    results = []
    for name, path in todo:
        if (out / name).exists():
            import shutil

            shutil.rmtree(out / name)
        crop = path is not None
        if path is None:
            path = astronaut_source(out)
        rec = run_one(name, path, out, workers=args.workers, size=args.size, depth=args.depth,
                      crop=crop)
        rec["meets_targets"] = verdict(rec)
        results.append(rec)
        if not args.json:
            print(json.dumps(rec), file=sys.stderr, flush=True)
    astro = out / "astronaut"
    if any(r["portrait"] == "astronaut" and r.get("rig_ready") for r in results):
        demo = ROOT / "assets" / "audio" / "demo_speech.ogg"
        head = stillness(astro, demo, out)
        next(r for r in results if r["portrait"] == "astronaut")["stillness"] = head
        if not args.json:
            print(json.dumps({"stillness": head}), file=sys.stderr, flush=True)
    summary = {"portraits": len(results), "meet_targets": sum(r["meets_targets"]
                                                               for r in results),
               "targets": TARGETS, "machine": machine_info(), "results": results,
               "config": str(DEFAULT_CONFIG_PATH.relative_to(ROOT)),
               "poses_x_expressions": [len(RigConfig.load(DEFAULT_CONFIG_PATH).poses),
                                       len(RigConfig.load(DEFAULT_CONFIG_PATH).expressions)]}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for r in results:
            print(f"{r['portrait']:10s} {'OK ' if r['meets_targets'] else 'NO '} "
                  f"{r.get('refused') or ''}{r.get('endpoints_with_face', '')} "
                  f"{r.get('tweens_with_face', '')} med {r.get('median_pose_error_deg')} "
                  f"max {r.get('max_pose_error_deg')} {r['build_s']} s")
        print(f"{summary['meet_targets']}/{summary['portraits']} meet the targets; sheets "
              f"in {out}")
    return 0 if summary["meet_targets"] == summary["portraits"] else 1


if __name__ == "__main__":
    sys.exit(main())
