"""Scores on real speech (``benchmarks.realspeech`` material) for any lip predictor.

A predictor turns samples (float32[N] at 16 kHz) into a :class:`Prediction`: the mouth opening
at 100 Hz and the speaking state per video frame (25 fps). The learned models go through the
real streaming path and the speaking state of animator.stages.speaking; Rhubarb's mouth cues are
mapped to openings (benchmarks.realspeech.RHUBARB_OPEN) and "not X" is its speaking state.

Metrics:
* talking faces: Pearson r between the predicted opening (sampled at each video frame's time)
  and the inner-lip gap FaceMesh measures, at lag 0 and at the best lag in -4..+4 video frames
  (positive: the prediction comes late);
* aligned recordings: speaking F1 (frames within COLLAR_S of a true boundary not scored),
  onset / offset delays at pauses of at least MIN_PAUSE_S (the file's start and end count as
  pauses when the silence there is that long), bilabial closure (share of /p b m/ phones whose
  midpoint opening is below CLOSED_W), and the separation of open vowels from bilabials (AUC:
  chance that an open vowel's midpoint opening exceeds a bilabial's);
* non-speech: share of video frames called speaking, share of 100 Hz frames open beyond
  OPEN_W, 95th percentile of the opening.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from benchmarks import realspeech as rs
from benchmarks.lip_metrics import (
    COLLAR_S,
    FPS,
    boundary_delays,
    boundary_times_s,
    f1_score,
    video_indices,
)

RATE_HZ = 100.0
CLOSED_W = 0.05  # an opening below this (mouth widths) reads as closed lips
OPEN_W = 0.1  # an opening above this reads as an open mouth
MIN_PAUSE_S = 0.25


@dataclass
class Prediction:
    """opening float[T] at RATE_HZ (mouth widths); speaking bool[n_video] at FPS."""

    opening: np.ndarray
    speaking: np.ndarray


Predictor = Callable[[np.ndarray], Prediction]


def at_times(x: np.ndarray, t_s: np.ndarray) -> np.ndarray:
    """x[T] at RATE_HZ sampled at the times t_s (s): the nearest frame, clipped to x."""
    idx = np.clip(np.round(np.asarray(t_s) * RATE_HZ).astype(int), 0, x.size - 1)
    return x[idx]


def score_aligned(rec: rs.AlignedRecording, p: Prediction) -> dict:
    n = p.opening.size
    speech = rs.speech_frames(rec.intervals, n, RATE_HZ)
    idx = video_indices(n, RATE_HZ)
    m = min(idx.size, p.speaking.size)
    truth_video, pred_video = speech[idx[:m]], p.speaking[:m]
    f1, tp, fp, fn = f1_score(pred_video, truth_video, boundary_times_s(speech, RATE_HZ))
    on, off = boundary_delays(pred_video, speech, RATE_HZ, offset_after_s=0.6,
                              min_pause_s=MIN_PAUSE_S)
    out = {"seconds": round(rec.samples.size / rs.SR, 2), "f1": round(f1, 3),
           "tp_fp_fn": [tp, fp, fn], "onsets_ms": on, "offsets_ms": off}
    if rec.phones:
        bil = [iv.mid_s for iv in rec.intervals if rs.phone_key(iv.label) in rs.BILABIALS]
        vow = [iv.mid_s for iv in rec.intervals if rs.phone_key(iv.label) in rs.OPEN_VOWELS]
        ob, ov = at_times(p.opening, bil), at_times(p.opening, vow)
        out["bilabial_open"] = [round(float(x), 3) for x in ob]
        out["vowel_open"] = [round(float(x), 3) for x in ov]
    return out


def auc(high: np.ndarray, low: np.ndarray) -> float | None:
    """P(a value of ``high`` > a value of ``low``), ties half."""
    if not len(high) or not len(low):
        return None
    h, lo = np.asarray(high)[:, None], np.asarray(low)[None, :]
    return float(np.mean((h > lo) + 0.5 * (h == lo)))


def summarise_aligned(per: dict[str, dict]) -> dict:
    bil = np.concatenate([np.asarray(d.get("bilabial_open", []), float) for d in per.values()])
    vow = np.concatenate([np.asarray(d.get("vowel_open", []), float) for d in per.values()])
    on = sum((d["onsets_ms"] for d in per.values()), [])
    off = sum((d["offsets_ms"] for d in per.values()), [])
    return {
        "f1_min": min((d["f1"] for d in per.values()), default=None),
        "f1_mean": round(float(np.mean([d["f1"] for d in per.values()])), 3) if per else None,
        "onset_ms_median": round(float(np.median(on)), 1) if on else None,
        "offset_ms_median": round(float(np.median(off)), 1) if off else None,
        "bilabials": int(bil.size),
        "bilabial_closed": round(float(np.mean(bil < CLOSED_W)), 3) if bil.size else None,
        "open_vowels": int(vow.size),
        "vowel_open_median": round(float(np.median(vow)), 3) if vow.size else None,
        "vowel_vs_bilabial_auc": (round(auc(vow, bil), 3) if bil.size and vow.size else None),
    }


def score_face(face: rs.TalkingFace, p: Prediction) -> dict:
    pred = at_times(p.opening, face.frame_times_s)
    lags = rs.lagged_correlations(pred, face.face_open)
    best = max(lags, key=lambda k: lags[k])
    return {"r0": round(lags[0], 3), "best_lag": int(best), "r_best": round(lags[best], 3)}


def summarise_faces(per: dict[str, dict], faces: list[rs.TalkingFace]) -> dict:
    out = {}
    for group in ("GRID", "news"):
        rows = [per[f.name] for f in faces if f.group == group and f.name in per]
        if rows:
            r0 = [r["r0"] for r in rows]
            out[group] = {"r0_mean": round(float(np.mean(r0)), 3),
                          "r0_min": round(float(np.min(r0)), 3),
                          "best_lags": [r["best_lag"] for r in rows]}
    return out


def score_non_speech(p: Prediction) -> dict:
    return {"speaking": round(float(np.mean(p.speaking)), 3) if p.speaking.size else 0.0,
            "open_share": round(float(np.mean(p.opening > OPEN_W)), 3) if p.opening.size
            else 0.0,
            "open_p95": round(float(np.percentile(p.opening, 95)), 3) if p.opening.size
            else 0.0}


def opening_range(p: Prediction, speech: np.ndarray | None = None) -> dict:
    """Percentiles of the predicted opening (over the speech frames when given)."""
    x = p.opening if speech is None else p.opening[speech[: p.opening.size]]
    if not x.size:
        return {}
    return {f"p{q}": round(float(np.percentile(x, q)), 3) for q in (50, 95, 99)}


def evaluate_real(predictors: dict[str, Predictor], root=None, log=print) -> dict:
    """Every predictor on every piece of real material that is present."""
    faces = rs.talking_faces(cache=root, log=log)
    aligned = rs.aligned_recordings(root, log=log)
    noise = rs.non_speech()
    result: dict = {"collar_s": COLLAR_S, "fps": FPS, "closed_w": CLOSED_W, "open_w": OPEN_W,
                    "sources": {r.name: r.source for r in aligned}, "predictors": {}}
    for label, predict in predictors.items():
        faces_scores = {}
        ranges = []
        for f in faces:
            p = predict(f.samples)
            faces_scores[f.name] = score_face(f, p)
            ranges.append(p.opening)
        aligned_scores = {r.name: score_aligned(r, predict(r.samples)) for r in aligned}
        noise_scores = {name: score_non_speech(predict(np.asarray(x, np.float32)))
                        for name, x in noise.items()}
        all_open = np.concatenate(ranges) if ranges else np.zeros(0)
        entry = {
            "faces": faces_scores,
            "faces_summary": summarise_faces(faces_scores, faces),
            "aligned": aligned_scores,
            "aligned_summary": summarise_aligned(aligned_scores),
            "non_speech": noise_scores,
            "opening_on_faces_audio": ({f"p{q}": round(float(np.percentile(all_open, q)), 3)
                                        for q in (50, 95, 99)} if all_open.size else {}),
        }
        log(f"{label:10s} real: faces {entry['faces_summary']} aligned "
            f"{entry['aligned_summary']} non-speech "
            f"{ {k: v['speaking'] for k, v in noise_scores.items()} }")
        result["predictors"][label] = entry
    return result


def real_table(result: dict) -> str:
    """Markdown: the real-speech metrics, predictors side by side."""
    labels = list(result["predictors"])
    lines = ["| real material | " + " | ".join(labels) + " |", "|---" * (1 + len(labels)) + "|"]

    def row(name: str, fn) -> None:
        cells = []
        for m in labels:
            try:
                cells.append(fn(result["predictors"][m]))
            except (KeyError, TypeError, ValueError):
                cells.append("-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")

    first = result["predictors"][labels[0]] if labels else {}
    for name in first.get("faces", {}):
        row(f"face r lag 0 (best lag, r): {name}",
            lambda e, n=name: f"{e['faces'][n]['r0']:.2f} ({e['faces'][n]['best_lag']:+d}, "
                              f"{e['faces'][n]['r_best']:.2f})")
    row("**GRID mean r / news min r**",
        lambda e: f"**{e['faces_summary']['GRID']['r0_mean']:.2f} / "
                  f"{e['faces_summary']['news']['r0_min']:.2f}**")
    for name in first.get("aligned", {}):
        row(f"speaking F1: {name}", lambda e, n=name: f"{e['aligned'][n]['f1']:.3f}")
    row("onset / offset median ms",
        lambda e: f"{e['aligned_summary']['onset_ms_median']} / "
                  f"{e['aligned_summary']['offset_ms_median']}")
    row("bilabials closed (n)", lambda e: f"{e['aligned_summary']['bilabial_closed']:.0%} "
                                          f"({e['aligned_summary']['bilabials']})")
    row("open vowel vs bilabial AUC (vowel median open)",
        lambda e: f"{e['aligned_summary']['vowel_vs_bilabial_auc']:.2f} "
                  f"({e['aligned_summary']['vowel_open_median']:.2f})")
    row("opening p95 / p99 on the faces' audio",
        lambda e: f"{e['opening_on_faces_audio']['p95']:.2f} / "
                  f"{e['opening_on_faces_audio']['p99']:.2f}")
    for name in first.get("non_speech", {}):
        row(f"{name}: speaking, open share",
            lambda e, n=name: f"{e['non_speech'][n]['speaking']:.2f}, "
                              f"{e['non_speech'][n]['open_share']:.2f}")
    return "\n".join(lines)
