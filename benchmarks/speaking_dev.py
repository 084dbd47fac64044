"""The speaking state on the real development clips (benchmarks.aligned_speech, ``dev=True``).

``python -m benchmarks.speaking_dev [--detail] [--min-low-groups N] [--compare]``

The shipped lips and voice cue run causally over each clip (keypoints.stream.AudioLipStream,
the cue of lip frame k heard up to the lips' look-ahead), the speaking state
(animator.stages.speaking.SpeakingDetector) steps at 25 fps on the lip frame nearest each video
frame, as benchmarks.mappingnet does. Truth: speech = any non-silence phone; video frames
within COLLAR_S (100 ms) of a true boundary are not scored (benchmarks.lip_metrics). Scores:
speaking F1 per clip, and the *pause* frames (scored frames whose truth is silence) called
speech. ``grid_id2_vcd_swwp2s`` is the GRID clip scored elsewhere (benchmarks.realspeech):
it is reported apart and left out of the tuning totals.

The voice cue is recomputed from the clip's log-mel frames for each VoiceParams tried (the
lips do not depend on it), bit for bit the stream's cue for the defaults.

``--lookahead``: the offline renderer's state (``--speaking lookahead``: the causal state fed
the cue muted on the breaths before speech, animator.stages.breath_onsets, on the video
frames from the stream's own cue and loudness) beside the causal one, on the development
clips and on everything ``--compare`` scores.

``--compare``: once a change is chosen, the cue before it (``skip_padded=False``) and with
the defaults side by side on what is scored elsewhere: the real recordings of
benchmarks.realspeech (speaking F1, onset delays), benchmarks.mappingnet's synthetic held-out
sets (pooled F1 and median onset per condition) and the non-speech signals (speaking share).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace

import numpy as np

from animator.render import OFFLINE_SPEAKING_LEAD_S
from animator.stages.breath_onsets import muted_voice
from animator.stages.speaking import SpeakingParams, read_ahead
from benchmarks import realspeech as rs
from benchmarks.aligned_speech import available_clips, cache_dir, clip_intervals, trained_on
from benchmarks.lip_metrics import (
    FPS,
    boundary_delays,
    boundary_times_s,
    f1_score,
    lip_stream_prosody,
    named,
    scored_frames,
    speaking_state,
    video_indices,
)
from keypoints.audio import load_audio
from keypoints.features import log_mel
from keypoints.voice_activity import VoiceActivity, VoiceParams

RATE_HZ = 100.0
SCORED_ELSEWHERE = ("grid_id2_vcd_swwp2s",)


@dataclass
class DevRun:
    name: str
    inner_video: np.ndarray  # float64[n_video, 2, 3]
    idx: np.ndarray  # int[n_video]: the lip frame of each video frame
    columns: np.ndarray  # float64[T + lookahead, n_mels]: log-mel, silence padded as at flush
    lookahead: int
    speech: np.ndarray  # bool[T] at RATE_HZ
    stream_cue: np.ndarray  # float[T]: the stream's own cue (default VoiceParams)
    loudness_db: np.ndarray  # float[T]: the stream's prosody loudness


def load_runs(model, log=print) -> list[DevRun]:
    cfg = model.feature_config
    runs = []
    heard = trained_on(model.path)  # the clips the lips were trained on are no figure here
    for clip in (c for c in available_clips(dev=True) if c.name not in heard):
        samples = load_audio(cache_dir() / clip.wav, cfg.sample_rate)
        points, _, cue, loud = lip_stream_prosody(model, samples)
        n = points.shape[0]
        feats = log_mel(samples, cfg)[:, :n]
        pad = np.full((cfg.n_mels, model.context_future), cfg.silence_value, np.float32)
        columns = np.ascontiguousarray(np.concatenate([feats, pad], 1).T, dtype=np.float64)
        idx = video_indices(n, RATE_HZ)
        names = model.keypoint_names
        inner = np.stack([named(points, names, "upper_lip"),
                          named(points, names, "lower_lip")], 1)[idx].astype(np.float64)
        intervals = [rs.Interval(*iv) for iv in clip_intervals(clip)]
        runs.append(DevRun(clip.name, inner, idx, columns, model.context_future,
                           rs.speech_frames(intervals, n, RATE_HZ), cue, loud))
        log(f"  {clip.name}: {n / RATE_HZ:.2f} s")
    return runs


def voice_cue(run: DevRun, config, params: VoiceParams | None) -> np.ndarray:
    """float[T]: the cue of each lip frame (after feature frame k + lookahead)."""
    cues = VoiceActivity(config, params).steps(run.columns)
    return np.asarray(cues[run.lookahead:run.lookahead + run.speech.size])


def state_of(inner_video: np.ndarray, sp: SpeakingParams, cue_video: np.ndarray,
             loudness_video: np.ndarray | None = None) -> np.ndarray:
    """float[n_video]: the causal speaking state (``loudness_video`` None), or the offline
    renderer's ``--speaking lookahead`` one, as its engine makes it: the cue muted on breaths,
    and each frame the state OFFLINE_SPEAKING_LEAD_S ahead (the last frames keep the last
    state)."""
    if loudness_video is None:
        return speaking_state(inner_video, sp, cue_video)
    state = speaking_state(inner_video, sp, muted_voice(cue_video, loudness_video, FPS))
    return read_ahead(state, round(OFFLINE_SPEAKING_LEAD_S * FPS))


def score_run(run: DevRun, cue: np.ndarray, sp: SpeakingParams, lookahead: bool = False
              ) -> dict:
    pred = state_of(run.inner_video, sp, cue[run.idx],
                    run.loudness_db[run.idx] if lookahead else None) >= 0.5
    truth = run.speech[run.idx]
    edges = boundary_times_s(run.speech, RATE_HZ)
    f1, tp, fp, fn = f1_score(pred, truth, edges)
    keep = scored_frames(truth.size, edges)
    on, off = boundary_delays(pred, run.speech, RATE_HZ, offset_after_s=0.6, min_pause_s=0.25)
    return {"f1": f1, "tp": tp, "fp": fp, "fn": fn, "pause": int(np.sum(keep & ~truth)),
            "onsets_ms": on, "offsets_ms": off, "pred": pred}


def evaluate(runs: list[DevRun], config, sp: SpeakingParams,
             vp: VoiceParams | None, lookahead: bool = False) -> dict:
    per = {r.name: score_run(r, voice_cue(r, config, vp), sp, lookahead) for r in runs}
    tune = [v for k, v in per.items() if k not in SCORED_ELSEWHERE]
    tp, fp, fn = (sum(v[k] for v in tune) for k in ("tp", "fp", "fn"))
    pause = sum(v["pause"] for v in tune)
    on = sum((v["onsets_ms"] for v in tune), [])
    off = sum((v["offsets_ms"] for v in tune), [])
    return {"per": per, "f1_pooled": 2 * tp / (2 * tp + fp + fn),
            "f1_mean": float(np.mean([v["f1"] for v in tune])), "fp": fp, "fn": fn,
            "pause": pause, "false_share": fp / max(1, pause),
            "onset_ms_median": float(np.median(on)) if on else None, "n_onsets": len(on),
            "offset_ms_median": float(np.median(off)) if off else None}


def describe(runs: list[DevRun], config, res: dict, vp: VoiceParams | None) -> None:
    """The false pause frames: time, the cue, the groups' levels above their floor."""
    for r in runs:
        v = res["per"][r.name]
        truth = r.speech[r.idx]
        keep = scored_frames(truth.size, boundary_times_s(r.speech, RATE_HZ))
        bad = np.flatnonzero(v["pred"] & ~truth & keep)
        if not bad.size:
            continue
        cue = voice_cue(r, config, vp)
        first = np.flatnonzero(r.speech)
        print(f"{r.name}: {bad.size} false frames at "
              f"{', '.join(f'{i / FPS:.2f}' for i in bad)} s; first speech "
              f"{first[0] / RATE_HZ:.2f} s; cue there "
              f"{', '.join(f'{cue[r.idx[i]]:.2f}' for i in bad)}")
        _band_levels(r, config, bad)


def _band_levels(run: DevRun, config, frames: np.ndarray) -> None:
    va = VoiceActivity(config)
    levels, above = [], []
    for col in run.columns:
        levels.append(va._groups.dot(col))
        above.append(levels[-1] - (va._threshold - va._margin))
        va.step(col)
    above = np.asarray(above)
    for i in frames[:6]:
        k = run.idx[i] + run.lookahead
        print(f"    t={i / FPS:.2f} dB above floor per group (150..7600 Hz): "
              + " ".join(f"{x:5.1f}" for x in above[k]))


def main(argv: list[str] | None = None) -> int:
    from keypoints.mappingnet import MappingNet

    ap = argparse.ArgumentParser(prog="python -m benchmarks.speaking_dev", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--detail", action="store_true", help="where the false frames are")
    ap.add_argument("--min-low-groups", type=int, default=None)
    ap.add_argument("--compare", action="store_true",
                    help="before (skip_padded=False) vs now on the scored material")
    ap.add_argument("--lookahead", action="store_true",
                    help="the causal state vs the offline renderer's look-ahead, on the "
                         "development clips and the scored material")
    ap.add_argument("--split", choices=("test", "train"), default="test",
                    help="the synthetic sets of --compare/--lookahead: held-out (test) or "
                         "the tuning split (train, another seed)")
    args = ap.parse_args(argv)
    model = MappingNet.load()
    if args.compare or args.lookahead:
        sp = SpeakingParams()
        variants = ({"causal": (VoiceParams(), sp), "lookahead": (VoiceParams(), sp, True)}
                    if args.lookahead else
                    {"before": (VoiceParams(skip_padded=False), sp), "now": (VoiceParams(), sp)})
        if args.lookahead:
            runs = load_runs(model, log=lambda *a: None)
            for v, la in (("causal", False), ("lookahead", True)):
                res = evaluate(runs, model.feature_config, sp, None, la)
                print(f"{v}: development clips F1 pooled {res['f1_pooled']:.4f}, pause frames "
                      f"called speech {res['fp']} of {res['pause']}, misses {res['fn']}; "
                      f"onset / offset median {res['onset_ms_median']:.0f} / "
                      f"{res['offset_ms_median']:.0f} ms; "
                      + ", ".join(f"{k} {x['f1']:.3f}" for k, x in res["per"].items()
                                  if k.startswith("grid")))
        res = compare(model, variants, log=lambda *a: None, split=args.split,
                      real=args.split == "test")
        for v, r in res.items():
            print(f"{v}: real F1 " + " / ".join(f"{x['f1']:.3f}" for x in r["real"].values())
                  + "; onsets / offsets ms " + "; ".join(
                      f"{[round(o) for o in x['onsets_ms']]} / "
                      f"{[round(o) for o in x['offsets_ms']]}" for x in r["real"].values()))
            print(f"  synthetic F1 mean {r['synthetic_f1_mean']:.4f}: "
                  + ", ".join(f"{k} {x['f1']:.4f} ({x['onset_ms']:.0f} / {x['offset_ms']:.0f} ms)"
                              for k, x in r["synthetic"].items()))
            print("  non-speech speaking: " + ", ".join(f"{k} {x:.3f}"
                                                      for k, x in r["non_speech"].items()))
        return 0
    runs = load_runs(model)
    cfg = model.feature_config
    same = all(np.array_equal(voice_cue(r, cfg, None), r.stream_cue) for r in runs)
    print(f"recomputed cue == the stream's: {same}")
    vp = VoiceParams()
    if args.min_low_groups is not None:
        vp = replace(vp, min_low_groups=args.min_low_groups)
    res = evaluate(runs, cfg, SpeakingParams(), vp)
    for name, v in res["per"].items():
        print(f"  {name:22s} F1 {v['f1']:.3f} fp {v['fp']:3d} fn {v['fn']:3d} "
              f"pause {v['pause']:3d}")
    print(f"tuning clips (without {SCORED_ELSEWHERE[0]}): F1 pooled {res['f1_pooled']:.3f} "
          f"mean {res['f1_mean']:.3f}; pause frames called speech {res['fp']} of "
          f"{res['pause']} ({res['false_share']:.3f}); misses {res['fn']}; onset median "
          f"{res['onset_ms_median']} ms ({res['n_onsets']})")
    if args.detail:
        describe(runs, cfg, res, vp)
    return 0



# --- old vs new, once, on what is scored elsewhere ---------------------------------------------

def _cue_of(samples: np.ndarray, model, n: int, vp: VoiceParams | None) -> np.ndarray:
    cfg = model.feature_config
    feats = log_mel(samples, cfg)[:, :n]
    pad = np.full((cfg.n_mels, model.context_future), cfg.silence_value, np.float32)
    cols = np.ascontiguousarray(np.concatenate([feats, pad], 1).T, dtype=np.float64)
    cues = VoiceActivity(cfg, vp).steps(cols)
    return np.asarray(cues[model.context_future:model.context_future + n])


def _lips(samples: np.ndarray, model) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """(inner lips at the video frames, openings at 100 Hz, lip frames, loudness_db at the
    video frames) (blocks of 256)."""
    from keypoints.stream import AudioLipStream

    stream = AudioLipStream(model, block_frames=256)
    frames = stream.push(np.asarray(samples, np.float32)) + stream.flush()
    points = np.stack([f.points for f in frames])
    names = model.keypoint_names
    idx = video_indices(points.shape[0], RATE_HZ)
    inner = np.stack([named(points, names, "upper_lip"),
                      named(points, names, "lower_lip")], 1)[idx].astype(np.float64)
    loud = np.array([f.prosody.loudness_db for f in frames])[idx]
    return inner, points[:, names.index("upper_lip"), 1] - points[:, names.index(
        "lower_lip"), 1], points.shape[0], loud


def _variant_state(samples: np.ndarray, model, n: int, variant: tuple, inner: np.ndarray,
                   loud_video: np.ndarray) -> np.ndarray:
    """The state at the video frames for a variant (VoiceParams, SpeakingParams[,
    lookahead])."""
    cue = _cue_of(samples, model, n, variant[0])[video_indices(n, RATE_HZ)]
    lookahead = len(variant) > 2 and variant[2]
    return state_of(inner, variant[1], cue, loud_video if lookahead else None)


def compare(model, variants: dict[str, tuple],
            seconds: float = 30.0, recordings: int = 5, log=print, split: str = "test",
            real: bool = True) -> dict:
    """Each variant (VoiceParams, SpeakingParams[, lookahead: bool]) on the scored real
    recordings (speaking F1, onsets), the synthetic held-out sets of benchmarks.mappingnet
    (pooled F1 per condition, onsets) and the non-speech signals (speaking share): the same
    lips for all. ``split`` "train" (another seed): the synthetic tuning sets instead;
    ``real`` False: the synthetic sets only."""
    from benchmarks import mappingnet as mn
    from benchmarks.realscore import Prediction, score_aligned

    out: dict = {v: {"real": {}, "synthetic": {}, "non_speech": {}} for v in variants}
    for rec in rs.aligned_recordings(log=log) if real else []:
        inner, op, n, loud = _lips(rec.samples, model)
        for v, variant in variants.items():
            pred = _variant_state(rec.samples, model, n, variant, inner, loud) >= 0.5
            s = score_aligned(rec, Prediction(op, pred))
            out[v]["real"][rec.name] = {"f1": s["f1"], "onsets_ms": s["onsets_ms"],
                                        "offsets_ms": s["offsets_ms"]}
    for name, x in rs.non_speech().items() if real else []:
        x = np.asarray(x, np.float32)
        inner, _, n, loud = _lips(x, model)
        for v, variant in variants.items():
            out[v]["non_speech"][name] = float(np.mean(
                _variant_state(x, model, n, variant, inner, loud) >= 0.5))
    for cond in mn.CONDITIONS:
        counts = {v: [0, 0, 0, [], []] for v in variants}
        for rec in mn.test_set(cond, split, mn.Sizes(recordings, seconds),
                               mn.SEED if split == "test" else mn.SEED + 77):
            inner, _, n, loud = _lips(rec.samples, model)
            speech = rec.speech[:n]
            idx = video_indices(n, RATE_HZ)
            for v, variant in variants.items():
                pred = _variant_state(rec.samples, model, n, variant, inner, loud) >= 0.5
                on, off = boundary_delays(pred, speech, RATE_HZ)
                _, a, b, c = f1_score(pred, speech[idx], boundary_times_s(speech, RATE_HZ))
                k = counts[v]
                k[0], k[1], k[2] = k[0] + a, k[1] + b, k[2] + c
                k[3] += on
                k[4] += off
        for v, (tp, fp, fn, on, off) in counts.items():
            out[v]["synthetic"][cond] = {"f1": round(2 * tp / (2 * tp + fp + fn), 4),
                                         "onset_ms": float(np.median(on)) if on else None,
                                         "offset_ms": float(np.median(off)) if off else None}
        log(f"  {cond}: " + "  ".join(f"{v} {out[v]['synthetic'][cond]}" for v in variants))
    for v in variants:
        syn = out[v]["synthetic"]
        out[v]["synthetic_f1_mean"] = round(float(np.mean([s["f1"] for s in syn.values()])), 4)
    return out


if __name__ == "__main__":
    sys.exit(main())
