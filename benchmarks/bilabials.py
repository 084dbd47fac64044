"""``python -m benchmarks.bilabials [--json OUT]``: closed lips on /p b m/, the mouth the
engine shows with the heard closed shape (EngineConfig.shape_closes_mouth, ``fused``) and
without it (``raw``: the lip model's opening), side by side.

Each clip goes through the product's path: lips and the shape model streamed together
(keypoints.stream, the render's blocks), the engine with its shape lead (offline: the
render's animator.render.offline_shape_lead_s; ``live``: 0), at 100 fps (the mouth of every
10 ms frame) and at the default 25 fps (the frame on screen at each instant). Rhubarb Lip Sync
1.13 (phonetic, its shapes read as openings: benchmarks.realspeech.RHUBARB_OPEN) is the
anchor.

Material (benchmarks.aligned_speech; fetch it with ``python -m benchmarks.aligned_speech
fetch``): ``real``, the four scored recordings (three English speakers, one Japanese);
``real, development``, the development clips (ARCTIC, North Wind, promo, fave, the eleven
GRID clips, phone times by people or by an aligner); ``synthetic``, unseen espeak-ng voices of
the corpus' test split (exact phone times); and the talking faces of ../shared/realdata
(opening r against FaceMesh's inner-lip gap). The fusion has no parameter: nothing here was
tuned on any of it.

Per set and system, at the middle of each sound (the frame on screen then):
* bilabials closed: share of /p b m/ (sound class P) whose opening is below CLOSED_W;
* open vowels (AA, AE, AH, the open a of other languages): median opening, share closed;
* other sounds closed: share of every other sound shown closed (false closures);
* AUC: chance that an open vowel's opening exceeds a bilabial's (ties half);
* heard at bilabials: the shapes the shape model gave at the bilabials' middles (its recall
  on A is what the fusion can add), and the per-frame confusion of the heard shape against the
  sound class (bilabial, open vowel, other speech, silence) on the real clips.
The speaking state reads the lips, never the fused opening: it is checked identical.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from animator.engine import Engine, EngineConfig
from animator.render import MODEL_BATCH, offline_shape_lead_s
from animator.rig import default_rig_dir, load_rig
from benchmarks.aligned_speech import (
    available_clips,
    cache_dir,
    clip_sounds,
    rhubarb_binary,
    trained_on,
)
from benchmarks.machine import machine_info
from benchmarks.realscore import CLOSED_W, at_times, auc
from keypoints.mappingnet import MappingNet
from keypoints.stream import AudioLipStream
from keypoints.visemenet import ShapeModel
from keypoints.visemes import SHAPES, Sound

SR = 16000
OPEN_CLASSES = frozenset({"AA", "AE", "AH", "A_"})
FPS_LIST = (100.0, 25.0)
#: system -> (EngineConfig.shape_closes_mouth, offline shape lead, EngineConfig.open_gain):
#: ``raw`` the lips' own opening; ``fused, gain 1`` closed on A, unscaled; ``fused`` the
#: product's default (closed on A, the calibrated opening gain); ``fused, live`` no lead.
SYSTEMS = {"raw": (False, True, 1.0), "fused, gain 1": (True, True, 1.0),
           "fused": (True, True, None), "fused, live": (True, False, None)}


def shown_openings(lips: MappingNet, shapes: ShapeModel, rig, audio: np.ndarray
                   ) -> tuple[dict, np.ndarray]:
    """({(system, fps): (opening float[n_video], speaking float[n_video])}, heard shapes of
    the lip frames (str[T], causal, no lead)) of 16 kHz audio."""
    stream = AudioLipStream(lips, MODEL_BATCH, shapes)
    frames = stream.push(audio) + stream.flush()
    heard = np.array([f.viseme for f in frames])
    out = {}
    for fps in FPS_LIST:
        for name, (closes, offline, gain) in SYSTEMS.items():
            engine = Engine(rig, EngineConfig(
                fps=fps, idle_blinks=None, shape_closes_mouth=closes, open_gain=gain,
                shape_lead_s=offline_shape_lead_s(fps) if offline else 0.0))
            shown = engine.push(frames) + engine.finish(audio.size / SR)
            out[(name, fps)] = (np.array([f.mouth[0] for f in shown]),
                                np.array([f.speaking for f in shown]))
    return out, heard


def on_screen(values: np.ndarray, fps: float, t_s: np.ndarray) -> np.ndarray:
    """The value of the video frame (at ``fps``) on screen at each time."""
    return values[np.clip(np.floor(np.asarray(t_s) * fps + 1e-9).astype(int), 0,
                          values.size - 1)]


def kind_of(sound: Sound) -> str:
    if sound.classes == ("P",):
        return "bilabial"
    return "open vowel" if sound.classes[0] in OPEN_CLASSES else "other"


def rhubarb_opening(exe: Path, audio: np.ndarray, tmp: Path, cache: Path) -> np.ndarray:
    """Rhubarb's phonetic cues read as openings at 100 Hz (benchmarks.visemes caches them)."""
    from benchmarks.realspeech import RHUBARB_OPEN
    from benchmarks.visemes import rhubarb_shapes

    shapes, _ = rhubarb_shapes(exe, audio, SR, -(-audio.size // 160), "phonetic", tmp, cache)
    table = np.array([RHUBARB_OPEN[s] for s in SHAPES])
    return table[shapes]


def measure_clip(lips, shapes, rig, audio: np.ndarray, sounds: list[Sound], rhubarb=None
                 ) -> dict:
    """Openings at the middles of the clip's sounds per system, the heard shapes at the
    bilabials and the per-frame heard-vs-truth counts."""
    runs, heard = shown_openings(lips, shapes, rig, audio)
    mids = np.array([(s.start_s + s.end_s) / 2 for s in sounds])
    kinds = [kind_of(s) for s in sounds]
    out: dict = {"kinds": kinds, "open": {}, "same_speaking": True}
    for (name, fps), (opening, speaking) in runs.items():
        out["open"][f"{name}, {fps:g} fps"] = on_screen(opening, fps, mids).tolist()
        if not np.array_equal(speaking, runs[("raw", fps)][1]):
            out["same_speaking"] = False
    if rhubarb is not None:
        out["open"]["rhubarb"] = on_screen(rhubarb, 100.0, mids).tolist()
    lead = round(offline_shape_lead_s(100.0) * 100)
    idx = np.clip(np.round(mids * 100).astype(int) + lead, 0, len(heard) - 1)
    out["heard"] = [str(heard[k]) for k in idx]
    # per 10 ms frame: the sound class against the shape heard (lead as the render's)
    truth = np.full(len(heard), "silence", dtype=object)
    for s, kind in zip(sounds, kinds, strict=True):
        truth[int(np.ceil(s.start_s * 100)) : int(np.ceil(s.end_s * 100))] = kind
    shifted = np.concatenate([heard[lead:], np.repeat(heard[-1:], lead)])
    out["frames"] = {k: {sh: int(np.sum((truth == k) & (shifted == sh))) for sh in SHAPES}
                     for k in ("bilabial", "open vowel", "other", "silence")}
    return out


def summarise(clips: dict[str, dict]) -> dict:
    kinds = sum((c["kinds"] for c in clips.values()), [])
    kinds = np.array(kinds)
    first = next(iter(clips.values()))
    systems = {}
    for name in first["open"]:
        x = np.concatenate([np.asarray(c["open"][name], float) for c in clips.values()])
        bil, vow, oth = x[kinds == "bilabial"], x[kinds == "open vowel"], x[kinds == "other"]
        systems[name] = {
            "bilabials_closed": round(float(np.mean(bil < CLOSED_W)), 3) if bil.size else None,
            "open_vowel_median": round(float(np.median(vow)), 3) if vow.size else None,
            "open_vowels_closed": round(float(np.mean(vow < CLOSED_W)), 3) if vow.size else None,
            "others_closed": round(float(np.mean(oth < CLOSED_W)), 3) if oth.size else None,
            "auc": None if auc(vow, bil) is None else round(auc(vow, bil), 3)}
    heard = sum((c["heard"] for c in clips.values()), [])
    bil_heard = [h for h, k in zip(heard, kinds, strict=True) if k == "bilabial"]
    frames = {k: {sh: sum(c["frames"][k][sh] for c in clips.values()) for sh in SHAPES}
              for k in first["frames"]}
    n_a = sum(frames[k]["A"] for k in frames)
    return {"clips": len(clips), "bilabials": int(np.sum(kinds == "bilabial")),
            "open_vowels": int(np.sum(kinds == "open vowel")),
            "others": int(np.sum(kinds == "other")),
            "speaking_identical": all(c["same_speaking"] for c in clips.values()),
            "systems": systems,
            "heard_at_bilabials": {s: bil_heard.count(s) for s in SHAPES if bil_heard.count(s)},
            "frames_heard": frames,
            "a_recall_frames": round(frames["bilabial"]["A"]
                                     / max(1, sum(frames["bilabial"].values())), 3),
            "a_precision_frames": round(frames["bilabial"]["A"] / max(1, n_a), 3)}


def synthetic_clips(n: int, seconds: float, seed: int):
    """[(name, audio, sounds)]: unseen espeak-ng voices (the corpus' test split), clean."""
    from keypoints.viseme_training.data import speak_with_phones

    out = []
    for i in range(n):
        audio, sounds, info = speak_with_phones(np.random.default_rng([seed, i]), "test",
                                                seconds)
        out.append((f"{info.get('voice', {}).get('voice', 'voice')}#{i}", audio,
                    [s for s in sounds if s.classes and s.classes != ("sil",)]))
    return out


def faces_r(lips, shapes, rig, root: Path, log=print) -> dict:
    """Opening r against FaceMesh's inner-lip gap per talking face, lag 0 and best lag, per
    system (100 fps openings sampled at the video's frame times, as benchmarks.realscore)."""
    from benchmarks import realspeech as rs

    out: dict = {}
    for face in rs.talking_faces(cache=root, log=log):
        runs, _ = shown_openings(lips, shapes, rig, face.samples)
        for name in SYSTEMS:
            opening = runs[(name, 100.0)][0]
            pred = at_times(opening, face.frame_times_s)
            lags = rs.lagged_correlations(pred, face.face_open)
            best = max(lags, key=lambda k: lags[k])
            out.setdefault(name, {})[face.name] = {"r0": round(lags[0], 3),
                                                   "best_lag": int(best),
                                                   "r_best": round(lags[best], 3)}
    summary = {}
    for name, per in out.items():
        for group, rows in (("GRID", [v for k, v in per.items() if not k.startswith("news")]),
                            ("news", [v for k, v in per.items() if k.startswith("news")])):
            if rows:
                summary.setdefault(name, {})[group] = {
                    "r0_mean": round(float(np.mean([r["r0"] for r in rows])), 3),
                    "r0_min": round(float(np.min([r["r0"] for r in rows])), 3),
                    "r_best_mean": round(float(np.mean([r["r_best"] for r in rows])), 3),
                    "best_lags": [r["best_lag"] for r in rows]}
    return {"per_clip": out, "summary": summary}


def fused_predictors(model: MappingNet, raw, label: str) -> dict:
    """{label: predictor} for benchmarks.realscore: the speaking state of ``raw`` (the lips'
    predictor, benchmarks.mappingnet.model_predictor) with the opening the engine shows at
    100 fps with the shipped shape model beside the lips (``fused``); {} when that model does
    not fit ``model`` (other features, more look-ahead)."""
    from benchmarks.realscore import Prediction
    from keypoints.visemenet import fits_lips

    shapes, rig = ShapeModel.load(), load_rig(default_rig_dir())
    if not fits_lips(shapes, model):
        return {}

    def predict(samples: np.ndarray) -> Prediction:
        runs, _ = shown_openings(model, shapes, rig, np.asarray(samples, np.float32))
        return Prediction(runs[("fused", 100.0)][0], raw(samples).speaking)

    return {label: predict}


def run(root: Path, n_synth: int, seconds: float, shape_path: Path | None = None,
        log=print) -> dict:
    lips, shapes = MappingNet.load(), ShapeModel.load(shape_path)
    rig = load_rig(default_rig_dir())
    exe = rhubarb_binary(root)
    heard = trained_on(lips.path)  # development clips the lips were trained on: apart
    sets = {"real": [], "real, development": [], "real, development, lips trained on": [],
            "synthetic": []}
    for dev, name in ((False, "real"), (True, "real, development")):
        for clip in available_clips(root, dev):
            audio, sounds = clip_sounds(clip, root)
            apart = dev and clip.name in heard
            sets[f"{name}, lips trained on" if apart else name].append((clip.name, audio,
                                                                         sounds))
    sets["synthetic"] = synthetic_clips(n_synth, seconds, 7)
    result: dict = {"shape_model": str(shapes.path), "closed_w": CLOSED_W, "sets": {}}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name, clips in sets.items():
            if not clips:
                if name.endswith("lips trained on"):
                    continue
                log(f"{name}: no clips (python -m benchmarks.aligned_speech fetch)")
                continue
            per = {}
            for clip_name, audio, sounds in clips:
                rh = (rhubarb_opening(exe, audio, Path(tmp), root / "rhubarb_cues")
                      if exe is not None else None)
                per[clip_name] = measure_clip(lips, shapes, rig, audio, sounds, rh)
            result["sets"][name] = summarise(per)
            log(f"{name}: {json.dumps(result['sets'][name]['systems'])}")
    result["faces"] = faces_r(lips, shapes, rig, root, log)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    return result


def table(result: dict) -> str:
    """Markdown: the systems side by side per set."""
    lines = []
    for name, s in result["sets"].items():
        systems = list(s["systems"])
        lines += [f"**{name}** ({s['clips']} clips: {s['bilabials']} bilabials, "
                  f"{s['open_vowels']} open vowels, {s['others']} other sounds; speaking "
                  f"state identical raw/fused: {s['speaking_identical']})", "",
                  "| | " + " | ".join(systems) + " |", "|---" * (1 + len(systems)) + "|"]
        for key, label, fmt in (("bilabials_closed", "bilabials closed", "{:.0%}"),
                                ("open_vowel_median", "open vowel median opening", "{:.3f}"),
                                ("open_vowels_closed", "open vowels closed", "{:.0%}"),
                                ("others_closed", "other sounds closed", "{:.0%}"),
                                ("auc", "open vowel vs bilabial AUC", "{:.2f}")):
            cells = ["-" if s["systems"][m][key] is None else fmt.format(s["systems"][m][key])
                     for m in systems]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines += ["", f"heard at the bilabials' middles: {s['heard_at_bilabials']}; per 10 ms "
                      f"frame, A recall inside bilabials {s['a_recall_frames']:.0%}, A "
                      f"precision {s['a_precision_frames']:.0%}", ""]
    faces = result.get("faces", {}).get("summary", {})
    if faces:
        systems = list(faces)
        lines += ["| talking faces | " + " | ".join(systems) + " |",
                  "|---" * (1 + len(systems)) + "|"]
        for group in ("GRID", "news"):
            if group in faces[systems[0]]:
                lines.append(f"| {group}: r lag 0 mean (min); best-lag r mean | " + " | ".join(
                    f"{faces[m][group]['r0_mean']:.3f} ({faces[m][group]['r0_min']:.2f}); "
                    f"{faces[m][group]['r_best_mean']:.3f}" for m in systems) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bilabials", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape-model", type=Path, default=None,
                        help="default: the shipped viseme model")
    parser.add_argument("--synthetic", type=int, default=8, help="synthetic recordings")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per recording")
    parser.add_argument("--dir", type=Path, default=None, help=f"default: {cache_dir()}")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args(argv)
    result = run(args.dir or cache_dir(), args.synthetic, args.seconds, args.shape_model,
                 log=lambda s: print(s, file=sys.stderr))
    result["machine"] = machine_info()
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
