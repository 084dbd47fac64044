"""``python -m benchmarks.visemes [--json OUT]``: the nine mouth shapes (A-H, X) against the
phoneme truth, this project's model side by side with Rhubarb Lip Sync 1.13 on the same clips.

Material:
* synthetic, unseen: espeak-ng voices of the corpus' test split (languages and voice variants
  the model never heard, texts from the other half of the vocabulary), clean and augmented
  as in training (noise, rooms, band limits, gain), phoneme times exact;
* real: recordings with phone times made by people (benchmarks.aligned_speech: three English
  speakers, one Japanese), fetched with ``python -m benchmarks.aligned_speech fetch``;
* real, development: more such recordings (ARCTIC sentences, Praat's North Wind, promo's and
  fave's examples, the eleven GRID clips, a LibriVox reading of a sonnet in four clips: labels
  by people or by an aligner, see
  benchmarks.aligned_speech), the ones that choose the decoder's settings; shown apart, never
  mixed into the real score.

Scores, per 10 ms frame (the truth of keypoints.visemes.frame_truth):
* agreement: the shape shown is one the sound heard then allows (Rhubarb's own rules);
* canonical: the shape is the sound's canonical one (frames whose sound has one);
* speech: agreement over the frames inside sounds only (silence excluded).
Rhubarb runs with each of its recognizers (``phonetic``, ``pocketSphinx``) on the same 16 kHz
audio; its cues are read at the same frame times. Ours (``ours``): the shapes the product
shows, the render's path at 100 fps (one video frame per 10 ms frame): the lip model and the
shape model streaming side by side (keypoints.stream), the engine with its speaking state
(animator.stages.mouth_shapes.shown_shape: rest while it says silence), with the lips' 30 ms
look-ahead and the offline shape lead (animator.render.offline_shape_lead_s: a frame shows
the shape of the middle of its display time, plus the shapes' measured lateness; live
shows it at the frame's time). ``ours, 25 fps``: the same at the product's default 25 fps,
each frame's shape held its 40 ms, scored per 10 ms frame; ``rhubarb R, 25 fps``: Rhubarb's
cues sampled the same way (at the middle of each frame's display time), ``..., frame
start``: at the frame's start time, as a cue importer shows them. ``ours, model only``: the
shape model through the causal decoder alone (keypoints.visemenet), what the shape model
hears without the speaking state.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

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
from keypoints.features import log_mel
from keypoints.mappingnet import MappingNet
from keypoints.stream import AudioLipStream
from keypoints.visemenet import ShapeModel, decode
from keypoints.visemes import SHAPE_INDEX, frame_truth

RECOGNIZERS = ("phonetic", "pocketSphinx")
#: the product's default frame rate: shapes are also scored as a video at it shows them
VIDEO_FPS = 25.0


def our_shapes(model: ShapeModel, audio: np.ndarray, n_frames: int, confirm: int = 2
               ) -> tuple[np.ndarray, float]:
    """(int64[n_frames] shape indices, seconds of compute) for 16 kHz audio, padded as the
    streaming runner pads (first frame before, silence after)."""
    t0 = time.perf_counter()
    cfg = model.feature_config
    feats = log_mel(audio, cfg)[:, :n_frames]
    padded = np.concatenate([np.repeat(feats[:, :1], model.context_past, axis=1), feats,
                             np.full((cfg.n_mels, model.context_future), cfg.silence_value,
                                     np.float32)], axis=1)
    shapes = decode(model.run(padded), confirm)
    return shapes, time.perf_counter() - t0


def shown_shapes(lips: MappingNet, model: ShapeModel, rig, audio: np.ndarray, n_frames: int,
                 fps: float = 100.0, lead_s: float | None = None) -> tuple[np.ndarray, float]:
    """(int64[n_frames] shape indices at 100 Hz, seconds of compute): the shapes the engine
    shows at ``fps`` for 16 kHz audio (each frame's held for its 1/fps), lips and shapes
    streamed as the renderer streams them, with the render's shape lead (``lead_s``: another
    one)."""
    t0 = time.perf_counter()
    stream = AudioLipStream(lips, MODEL_BATCH, model)
    lead_s = offline_shape_lead_s(fps) if lead_s is None else lead_s
    engine = Engine(rig, EngineConfig(fps=fps, idle_blinks=None, shape_lead_s=lead_s))
    frames = engine.push(stream.push(audio)) + engine.push(stream.flush())
    frames += engine.finish(n_frames / 100.0)
    shown = np.array([SHAPE_INDEX[f.viseme] for f in frames], dtype=np.int64)
    return shown[np.minimum(held_by(n_frames, fps), len(shown) - 1)], time.perf_counter() - t0


def held_by(n_frames: int, fps: float) -> np.ndarray:
    """int64[n_frames]: the video frame (at ``fps``) on screen at each 10 ms frame's time."""
    return np.floor(np.arange(n_frames) * (fps / 100.0) + 1e-9).astype(np.int64)


def sampled(shapes: np.ndarray, fps: float, at: float) -> np.ndarray:
    """100 Hz shapes as a video at ``fps`` shows them: each frame takes the shape at
    ``at`` (0: its start, 0.5: the middle) of its display time and holds it for 1/fps."""
    k = held_by(len(shapes), fps)
    return shapes[np.minimum(np.round((k + at) * (100.0 / fps)).astype(np.int64),
                             len(shapes) - 1)]


def rhubarb_shapes(exe: Path, audio: np.ndarray, sr: int, n_frames: int, recognizer: str,
                   tmp: Path, cache: Path | None = None) -> tuple[np.ndarray, float]:
    """Rhubarb's cues on ``audio`` read at t = k / 100: (int64[n_frames], wall seconds).
    Rhubarb is deterministic: its cues (and the time it took) are kept in ``cache`` by the
    audio's and the recognizer's hash, so a rerun measures only our side again."""
    wav, out = tmp / "clip.wav", tmp / "clip.json"
    sf.write(wav, np.clip(audio, -1, 1), sr, subtype="PCM_16")
    key = hashlib.sha256(wav.read_bytes() + recognizer.encode()).hexdigest()[:24]
    hit = cache / f"{key}.json" if cache is not None else None
    if hit is not None and hit.is_file():
        saved = json.loads(hit.read_text())
        cues, elapsed = saved["mouthCues"], saved["elapsed_s"]
    else:
        t0 = time.perf_counter()
        subprocess.run([str(exe), "-q", "--threads", "1", "-r", recognizer, "-f", "json",
                        "-o", str(out), str(wav)], check=True, capture_output=True)
        elapsed = time.perf_counter() - t0
        cues = json.loads(out.read_text())["mouthCues"]
        if hit is not None:
            hit.parent.mkdir(parents=True, exist_ok=True)
            hit.write_text(json.dumps({"mouthCues": cues, "elapsed_s": elapsed}))
    shapes = np.full(n_frames, SHAPE_INDEX["X"], dtype=np.int64)
    for cue in cues:
        lo, hi = round(cue["start"] * 100), round(cue["end"] * 100)
        shapes[max(0, lo) : min(n_frames, hi)] = SHAPE_INDEX[cue["value"]]
    return shapes, elapsed


def scores(shapes: np.ndarray, allowed: np.ndarray, canonical: np.ndarray) -> dict:
    idx = np.arange(len(shapes))
    ok = allowed[idx, shapes]
    speech = ~allowed[:, SHAPE_INDEX["X"]] | (canonical != SHAPE_INDEX["X"])
    has = canonical >= 0
    return {"frames": int(len(shapes)), "agree": int(ok.sum()),
            "canonical_n": int(has.sum()), "canonical_ok": int((shapes == canonical)[has].sum()),
            "speech_n": int(speech.sum()), "speech_ok": int(ok[speech].sum())}


def summary(parts: list[dict]) -> dict:
    tot = {k: sum(p[k] for p in parts) for k in parts[0]}
    return {"frames": tot["frames"],
            "agreement": round(tot["agree"] / tot["frames"], 4),
            "canonical": round(tot["canonical_ok"] / max(1, tot["canonical_n"]), 4),
            "speech_agreement": round(tot["speech_ok"] / max(1, tot["speech_n"]), 4)}


def synthetic_set(n: int, seconds: float, clean: bool, seed: int):
    """[(name, audio 16 kHz, allowed, canonical)] of the test split."""
    from keypoints.corpus import dataset
    from keypoints.viseme_training.data import VisemeRecipe, recipe_seeds

    recipe = VisemeRecipe(seed=seed, split="test", n_speech=n, speech_s=seconds,
                          n_non_speech=0, clean_share=1.0 if clean else 0.0)
    jobs = [(recipe, i, s) for i, s in enumerate(recipe_seeds(recipe))]
    out = []
    for (audio, allowed, canonical, info), (_, i, _) in zip(
            dataset.map_isolated(_make_job, jobs, 2), jobs, strict=True):
        out.append((f"{info['voice']['voice']}#{i}", audio, allowed, canonical))
    return out


def _make_job(job):
    from keypoints.viseme_training.data import make_recording

    return make_recording(*job)


def real_set(root: Path, dev: bool = False):
    """[(name, audio 16 kHz, allowed, canonical)] of the aligned recordings (the development
    clips with ``dev``)."""
    out = []
    for clip in available_clips(root, dev):
        audio, sounds = clip_sounds(clip, root)
        allowed, canonical = frame_truth(sounds, -(-audio.size // 160), 100.0)
        out.append((clip.name, audio, allowed, canonical))
    return out


def run(model_path: Path | None, n_synth: int, seconds: float, root: Path, log=print) -> dict:
    model = ShapeModel.load(model_path)
    lips, rig = MappingNet.load(), load_rig(default_rig_dir())
    exe = rhubarb_binary(root)
    if exe is None:
        log(f"Rhubarb not found under {root}: run python -m benchmarks.aligned_speech fetch")
    trained = trained_on(model.path)
    dev = real_set(root, dev=True)
    sets = {"synthetic clean": synthetic_set(n_synth, seconds, True, 1),
            "synthetic augmented": synthetic_set(n_synth, seconds, False, 2),
            "real": real_set(root),
            "real, development": [c for c in dev if c[0] not in trained],
            "real, development, trained on": [c for c in dev if c[0] in trained]}
    result = {"model": str(model.path), "latency_ms": round(1000 * model.algorithmic_latency_s,
                                                             1), "trained_on": sorted(trained),
              "sets": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, clips in sets.items():
            if not clips:
                log(f"{name}: no clips")
                continue
            rows: dict[str, list[dict]] = {}
            secs: dict[str, float] = {}
            per_clip: dict[str, dict] = {}
            audio_s = 0.0
            for clip_name, audio, allowed, canonical in clips:
                n = len(canonical)
                audio_s += audio.size / 16000
                runs = [("ours", shown_shapes(lips, model, rig, audio, n)),
                        ("ours, model only", our_shapes(model, audio, n)),
                        (f"ours, {VIDEO_FPS:g} fps",
                         shown_shapes(lips, model, rig, audio, n, VIDEO_FPS))]
                for rec in RECOGNIZERS if exe is not None else ():
                    shapes, dt = rhubarb_shapes(exe, audio, 16000, n, rec, Path(tmp),
                                                root / "rhubarb_cues")
                    runs += [(f"rhubarb {rec}", (shapes, dt)),
                             (f"rhubarb {rec}, {VIDEO_FPS:g} fps",
                              (sampled(shapes, VIDEO_FPS, 0.5), dt)),
                             (f"rhubarb {rec}, {VIDEO_FPS:g} fps, frame start",
                              (sampled(shapes, VIDEO_FPS, 0.0), dt))]
                for key, (shapes, dt) in runs:
                    rows.setdefault(key, []).append(scores(shapes, allowed, canonical))
                    secs[key] = secs.get(key, 0.0) + dt
                    per_clip.setdefault(clip_name, {})[key] = rows[key][-1]
            result["sets"][name] = {
                "clips": len(clips), "seconds": round(audio_s, 1),
                "systems": {k: {**summary(v), "realtime_factor": round(audio_s / secs[k], 1)}
                            for k, v in rows.items()}}
            if name.startswith("real"):
                result["sets"][name]["per_clip"] = per_clip
            for k, v in result["sets"][name]["systems"].items():
                log(f"{name:20s} {k:38s} agreement {v['agreement']:.3f}  canonical "
                    f"{v['canonical']:.3f}  speech {v['speech_agreement']:.3f}  "
                    f"({v['realtime_factor']}x real time)")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.visemes", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="default: the shipped one")
    parser.add_argument("--synthetic", type=int, default=6, help="recordings per synthetic set")
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds per recording")
    parser.add_argument("--dir", type=Path, default=None, help=f"default: {cache_dir()}")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args(argv)
    result = run(args.model, args.synthetic, args.seconds, args.dir or cache_dir())
    result["machine"] = machine_info()
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["sets"], indent=1) if not args.json else f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
