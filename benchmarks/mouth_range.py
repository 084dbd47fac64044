"""``python -m benchmarks.mouth_range [--json OUT]``: how wide the lip model opens the mouth on
real speech, against how wide the speakers' own mouths open, and the display gain that follows.

A model trained on squared error pulls its openings towards their mean, so the mouth it
predicts from audio opens less than the speaker's did. The talking faces of
../shared/realdata (GRID and news clips: each clip's audio through the lip stream, the
inner-lip gap FaceMesh measures on its video, both in mouth widths, on the same video frames)
give the two distributions; their upper quantiles (where the widest shapes live) are compared
per clip and pooled over the clips. The pooled ratio at ``QUANTILE`` is the calibrated gain
the engine shows the audio-driven opening with (animator.stages.mouth.AUDIO_OPEN_GAIN):
this benchmark prints it beside the constant so a retrained model shows when it drifts.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

#: the upper quantile whose ratio sets the gain (the loud open vowels, not the rare extremes)
QUANTILE = 95.0


def clip_openings(lips, face) -> tuple[np.ndarray, np.ndarray]:
    """(predicted, measured) inner-lip gaps in mouth widths at the clip's video frames where
    FaceMesh found a face."""
    from benchmarks.lip_metrics import lip_stream, opening

    points, _ = lip_stream(lips, face.samples)
    pred = opening(points, lips.keypoint_names)
    at = np.clip(np.round(face.frame_times_s * 100.0).astype(int), 0, pred.size - 1)
    ok = np.isfinite(face.face_open)
    return pred[at][ok], face.face_open[ok]


def quantile_ratio(pred: np.ndarray, measured: np.ndarray, q: float = QUANTILE) -> float:
    """measured / predicted opening at the q-th percentile of each (mouth widths)."""
    return float(np.percentile(measured, q) / max(np.percentile(pred, q), 1e-6))


def run(log=print) -> dict:
    from animator.stages.mouth import AUDIO_OPEN_GAIN
    from benchmarks import realspeech as rs
    from keypoints.mappingnet import MappingNet

    lips = MappingNet.load()
    faces = rs.talking_faces(log=log)
    per, pooled = {}, {"GRID": ([], []), "news": ([], [])}
    for face in faces:
        pred, measured = clip_openings(lips, face)
        per[face.name] = {"group": face.group, "frames": int(pred.size),
                          "pred_p95": round(float(np.percentile(pred, QUANTILE)), 3),
                          "face_p95": round(float(np.percentile(measured, QUANTILE)), 3),
                          "ratio": round(quantile_ratio(pred, measured), 2)}
        pooled[face.group][0].append(pred)
        pooled[face.group][1].append(measured)
    groups = {}
    for g, (p, m) in pooled.items():
        if p:
            p, m = np.concatenate(p), np.concatenate(m)
            groups[g] = {"frames": int(p.size), "ratio": round(quantile_ratio(p, m), 2),
                         "ratio_p90": round(quantile_ratio(p, m, 90.0), 2),
                         "ratio_p99": round(quantile_ratio(p, m, 99.0), 2)}
    all_p = np.concatenate([a for p, _ in pooled.values() for a in p]) if per else np.zeros(1)
    all_m = np.concatenate([a for _, m in pooled.values() for a in m]) if per else np.zeros(1)
    return {"quantile": QUANTILE, "clips": per, "groups": groups,
            "pooled_ratio": round(quantile_ratio(all_p, all_m), 2) if per else None,
            "shipped_gain": AUDIO_OPEN_GAIN}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", help="write the result as JSON here")
    args = ap.parse_args(argv)
    result = run(log=lambda m: print(m, file=sys.stderr))
    if not result["clips"]:
        print("no talking faces found (../shared/realdata/talking_faces)", file=sys.stderr)
        return 1
    for name, c in result["clips"].items():
        print(f"{name:16s} {c['group']:5s} p{QUANTILE:g} predicted {c['pred_p95']:.3f}  "
              f"face {c['face_p95']:.3f}  ratio {c['ratio']:.2f}")
    for g, c in result["groups"].items():
        print(f"{g}: ratio p90 {c['ratio_p90']:.2f}  p95 {c['ratio']:.2f}  "
              f"p99 {c['ratio_p99']:.2f}  ({c['frames']} frames)")
    print(f"pooled p{QUANTILE:g} ratio {result['pooled_ratio']:.2f}; "
          f"shipped gain {result['shipped_gain']:.2f}")
    if args.json:
        from pathlib import Path
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
