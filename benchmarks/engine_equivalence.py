"""Old engine vs new engine, frame for frame: a check for a deliberate change of the engine's
float rounding (e.g. numpy on 2-5 element arrays replaced by Python floats).

    PYTHONPATH=OLD_TREE python benchmarks/engine_equivalence.py dump old.pkl
    PYTHONPATH=NEW_TREE python benchmarks/engine_equivalence.py dump new.pkl
    python benchmarks/engine_equivalence.py compare old.pkl new.pkl [--tol 1e-6]

``dump`` runs, in the tree on ``PYTHONPATH``: the demo clip and every real recording in
``realdata/talking_faces`` through the offline render path (timeline only, the default
options and idle blinks; a few with other seeds, 30 fps, the reference modes), and a
synthetic face (random-walk lips, measured head angles and eye ratios with gaps, the
``mix`` and ``tracked`` head modes with the learned mouth rest) through the engine, fed one
video frame of lips per push. ``compare`` requires per frame the same image, overlay, pose,
expression, viseme, eyes-closed state and speaking state, and every float (angles, residual,
mouth, path position, speaking mask, eye closure) within ``--tol`` (``--face-tol`` for the
synthetic face); it prints the largest difference of each field per run.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

import numpy as np

FLOATS = ("angles", "residual", "mouth", "path_t", "speaking", "closure")
EXACT = ("image", "overlay", "pose", "expression", "viseme", "closed", "speaking_on")


def _record(frame) -> dict:
    c = frame.choice
    return {"i": frame.index, "t": frame.t_s, "image": c.image, "overlay": c.overlay,
            "pose": c.pose, "expression": c.expression, "viseme": frame.viseme,
            "closed": bool(frame.eyes.closed), "speaking_on": frame.speaking >= 0.5,
            "angles": np.asarray(frame.angles_deg, np.float64).tolist(),
            "residual": np.asarray(c.residual_deg, np.float64).tolist(),
            "mouth": np.asarray(frame.mouth, np.float64).tolist(), "path_t": float(c.path_t),
            "speaking": float(frame.speaking),
            "closure": np.asarray(frame.eyes.closure, np.float64).tolist()}


def _audio_cases(realdata: Path):
    from animator.engine import EngineConfig
    from keypoints.assets import assets_dir

    demo = assets_dir() / "audio" / "demo_speech.ogg"
    yield "demo default", demo, EngineConfig()
    yield "demo seed 5", demo, EngineConfig(seed=5)
    clips = sorted((realdata / "talking_faces").glob("*.mp*"))
    for clip in clips:
        yield f"{clip.name} default", clip, EngineConfig()
    yield "bbaf2n seed 3 30 fps", realdata / "talking_faces" / "bbaf2n.mpg", EngineConfig(
        fps=30, seed=3)
    yield "news_2 reference modes", realdata / "talking_faces" / "news_2.mp4", EngineConfig(
        seed=1, motion="reference", speaking="reference")


def _synthetic_face(head: str, seed: int = 7, n_video: int = 1500) -> list:
    """A face on a camera: random-walk lips at 25 fps, measured head and eyes with gaps."""
    from animator.engine import Engine, EngineConfig
    from animator.rig import default_rig_dir, load_rig
    from animator.stages.mouth_rest import MouthRestParams
    from keypoints.lips import LipFrame

    rng = np.random.default_rng(seed)
    names = ("upper_lip", "lower_lip", "left_corner", "right_corner")
    engine = Engine(load_rig(default_rig_dir()), EngineConfig(
        head=head, mouth_rest=MouthRestParams(), calibrate_s=1.0, seed=seed))
    base = np.array([[0, 0.02, 0], [0, -0.02, 0], [0.38, 0, 0], [-0.38, 0, 0]], np.float32)
    walk = np.zeros((4, 3), np.float32)
    head_deg = np.zeros(3)
    out = []
    for i in range(n_video):
        walk = (0.9 * walk + rng.normal(0, 0.03, (4, 3))).astype(np.float32)
        points = base + walk
        points[0, 1] += abs(walk[0, 1]) * 4 * (i // 40 % 2)  # talking spells open the mouth
        if i % 97 == 13:
            points[2, 0] = np.nan  # a lost frame
        head_deg = 0.95 * head_deg + rng.normal(0, 0.8, 3)
        measured = None if (i // 60) % 5 == 4 else head_deg.copy()
        eyes = None if (i // 50) % 7 == 6 else np.array([0.3, 0.31]) * (
            0.2 if i % 83 < 4 else 1.0)
        lf = LipFrame(i / 25.0, points, names)
        out += engine.push([lf], head_deg=measured, eyes=eyes)
    return out + engine.finish(n_video / 25.0)


def dump(path: Path, realdata: Path) -> None:
    from animator.render import render
    from keypoints.mappingnet import MappingNet

    model = MappingNet.load()
    runs = {}
    for name, audio, config in _audio_cases(realdata):
        result = render(audio, None, config=config, timeline_path=path.with_suffix(".json"),
                        progress=False, model=model)
        runs[name] = [_record(f) for f in result.frames]
        print(f"{name}: {len(runs[name])} frames", file=sys.stderr)
    for head in ("mix", "tracked"):
        runs[f"synthetic face, head {head}"] = [_record(f) for f in _synthetic_face(head)]
    path.with_suffix(".json").unlink(missing_ok=True)
    path.write_bytes(pickle.dumps(runs))


def _diff(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    same_nan = np.isnan(a) == np.isnan(b)
    if not same_nan.all():
        return float("inf")
    d = np.abs(np.where(np.isnan(a), 0.0, a - b))
    return float(d.max()) if d.size else 0.0


def compare(old_path: Path, new_path: Path, tol: float, face_tol: float) -> int:
    old, new = pickle.loads(old_path.read_bytes()), pickle.loads(new_path.read_bytes())
    assert old.keys() == new.keys(), (sorted(old), sorted(new))
    bad = n_frames = n_bitwise = 0
    print(f"{'run':32s} " + " ".join(f"{k:>9s}" for k in FLOATS) + "   (largest |old - new|)")
    for name in old:
        a, b = old[name], new[name]
        limit = face_tol if name.startswith("synthetic") else tol
        if len(a) != len(b):
            print(f"{name}: {len(a)} vs {len(b)} frames")
            bad += 1
            continue
        worst = dict.fromkeys(FLOATS, 0.0)
        for fa, fb in zip(a, b, strict=True):
            n_frames += 1
            n_bitwise += all(fa[k] == fb[k] for k in FLOATS)
            for key in EXACT + ("i", "t"):
                if fa[key] != fb[key]:
                    bad += 1
                    print(f"{name} frame {fa['i']}: {key} {fa[key]!r} vs {fb[key]!r}")
            for key in FLOATS:
                d = _diff(fa[key], fb[key])
                worst[key] = max(worst[key], d)
                if d > limit:
                    bad += 1
                    print(f"{name} frame {fa['i']}: {key} differs by {d:.3g} (> {limit:g})")
        print(f"{name:32s} " + " ".join(f"{v:9.2g}" for v in worst.values()))
    print(f"{len(old)} runs, {n_frames} frames ({n_bitwise} with every float bit-identical); "
          f"frames or fields that differ beyond the rules: {bad}")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("out", type=Path)
    d.add_argument("--realdata", type=Path, default=None,
                   help="the real-data folder (default: benchmarks.realdata.realdata_dir())")
    c = sub.add_parser("compare")
    c.add_argument("old", type=Path)
    c.add_argument("new", type=Path)
    c.add_argument("--tol", type=float, default=1e-6)
    c.add_argument("--face-tol", type=float, default=1e-5,
                   help="for the synthetic face runs: there the learned resting mouth picks "
                        "its closed frames by a threshold, so a mouth feature that moves by "
                        "float32 rounding (the features are now computed in double) can "
                        "move the rest, and the features read against it, by more")
    args = ap.parse_args(argv)
    if args.cmd == "dump":
        from benchmarks.realdata import realdata_dir

        dump(args.out, args.realdata or realdata_dir())
        return 0
    return compare(args.old, args.new, args.tol, args.face_tol)


if __name__ == "__main__":
    sys.exit(main())
