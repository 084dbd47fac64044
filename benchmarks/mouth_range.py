"""``python -m benchmarks.mouth_range [--json OUT]``: how wide the lip model opens the mouth on
real speech, against how wide the speakers' own mouths open, and the display gain that follows.

A model trained on squared error pulls its openings towards their mean, so the mouth it
predicts from audio opens less than the speaker's did. The talking faces of
../shared/realdata (GRID and news clips: each clip's audio through the lip stream, the
inner-lip gap FaceMesh measures on its video, both in mouth widths, on the same video frames)
give the two distributions. Closed lips read alike in both; above the closed level
(animator.stages.mouth.OPEN_KNEE_W) the speakers' quantiles are the predicted ones expanded
about that knee by a nearly constant factor. The factor fitted at the pooled ``QUANTILE``
(where the widest shapes live) is the gain the engine shows audio-driven openings with
(animator.stages.mouth.AUDIO_OPEN_GAIN, :func:`~animator.stages.mouth.expanded_open`); the
fit is checked at the other quantiles, and the constant printed beside it so that a retrained
model shows when it drifts.
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
    from benchmarks.realscore import at_times

    points, _ = lip_stream(lips, face.samples)
    pred = at_times(opening(points, lips.keypoint_names), face.frame_times_s)
    ok = np.isfinite(face.face_open)
    return pred[ok], face.face_open[ok]


def knee_gain(pred: np.ndarray, measured: np.ndarray, q: float = QUANTILE) -> float:
    """The expansion about the knee that maps the predicted q-th percentile opening onto the
    measured one: (measured_q - knee) / (predicted_q - knee)."""
    from animator.stages.mouth import OPEN_KNEE_W

    return float((np.percentile(measured, q) - OPEN_KNEE_W)
                 / max(np.percentile(pred, q) - OPEN_KNEE_W, 1e-6))


def run(log=print) -> dict:
    from animator.stages.mouth import AUDIO_OPEN_GAIN, expanded_open
    from benchmarks import realspeech as rs
    from keypoints.mappingnet import MappingNet

    lips = MappingNet.load()
    per, pooled = {}, {"GRID": ([], []), "news": ([], [])}
    for face in rs.talking_faces(log=log):
        pred, measured = clip_openings(lips, face)
        per[face.name] = {"group": face.group, "frames": int(pred.size),
                          "pred_q": round(float(np.percentile(pred, QUANTILE)), 3),
                          "face_q": round(float(np.percentile(measured, QUANTILE)), 3),
                          "gain": round(knee_gain(pred, measured), 2)}
        pooled[face.group][0].append(pred)
        pooled[face.group][1].append(measured)
    groups = {g: {"frames": int(sum(a.size for a in p)),
                  "gain": round(knee_gain(np.concatenate(p), np.concatenate(m)), 2)}
              for g, (p, m) in pooled.items() if p}
    result = {"quantile": QUANTILE, "clips": per, "groups": groups,
              "shipped_gain": AUDIO_OPEN_GAIN}
    if per:
        p = np.concatenate([clip for preds, _ in pooled.values() for clip in preds])
        m = np.concatenate([clip for _, faces in pooled.values() for clip in faces])
        shown = np.array([expanded_open(float(x), AUDIO_OPEN_GAIN) for x in p])
        result["pooled_gain"] = round(knee_gain(p, m), 2)
        result["percentiles"] = {  # predicted, shown (shipped gain), measured
            str(q): [round(float(np.percentile(x, q)), 3) for x in (p, shown, m)]
            for q in (25, 50, 75, 90, 95, 99)}
    return result


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
        print(f"{name:16s} {c['group']:5s} p{QUANTILE:g} predicted {c['pred_q']:.3f}  "
              f"face {c['face_q']:.3f}  gain about the knee {c['gain']:.2f}")
    for g, c in result["groups"].items():
        print(f"{g}: gain {c['gain']:.2f} ({c['frames']} frames)")
    print(f"pooled: gain {result['pooled_gain']:.2f}; shipped {result['shipped_gain']:.2f}")
    print("percentile: predicted / shown / measured opening (mouth widths)")
    for q, (p, s, m) in result["percentiles"].items():
        print(f"  p{q}: {p:.3f} / {s:.3f} / {m:.3f}")
    if args.json:
        from pathlib import Path
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
