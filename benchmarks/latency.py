"""Per-stage, per-video-frame latency of the audio path, and the offline render speed.

    python -m benchmarks.latency [--json] [--frames N] [--render-seconds 60]

Each stage is timed on its own, on the same speech, one video frame of work per call:
features (1/fps of audio through the streaming log-mel), mappingnet (the model calls for one
video frame of keypoint frames), silence, motion and select (one step each), and total (one
video frame of audio through the whole streaming engine). Then ``render`` of a 60 s speech
file to a 512 px mp4 (real time factor), and the time from launching ``animator render`` to
its first encoded frame.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from animator.audio_animator import AudioAnimator
from animator.engine import EngineConfig, rig_extent_deg
from animator.rig import default_rig_dir, load_rig
from animator.stages.motion import MotionParams, MotionSynth
from animator.stages.mouth import mouth_features
from animator.stages.selection import FrameSelector
from animator.stages.speaking import SpeakingDetector
from benchmarks.machine import machine_info
from keypoints.assets import assets_dir
from keypoints.audio import load_audio
from keypoints.features import StreamingLogMel
from keypoints.mappingnet import MappingNet
from keypoints.stream import AudioLipStream

FPS = 25.0
DEMO = assets_dir() / "audio" / "demo_speech.ogg"


def _stats_us(samples_ns: list[int], warmup: int) -> dict:
    x = np.asarray(samples_ns[warmup:], dtype=np.float64) / 1000.0
    return {"p50": round(float(np.percentile(x, 50)), 1),
            "p99": round(float(np.percentile(x, 99)), 1),
            "mean": round(float(x.mean()), 1), "n": int(len(x))}


def speech_of_length(seconds: float) -> np.ndarray:
    """The demo speech repeated to ``seconds`` (16 kHz mono float32)."""
    one = load_audio(DEMO)
    reps = int(np.ceil(seconds * 16000 / len(one)))
    return np.tile(one, reps)[: int(seconds * 16000)]


def stage_latencies(n_frames: int, warmup: int = 50) -> dict:
    model = MappingNet.load()
    rig = load_rig(default_rig_dir())
    audio = speech_of_length((n_frames + warmup) / FPS + 1.0)
    hop = round(model.feature_config.sample_rate / FPS)  # samples per video frame
    chunks = [audio[i * hop:(i + 1) * hop] for i in range(n_frames + warmup)]
    clock = time.perf_counter_ns
    t: dict[str, list[int]] = {k: [] for k in
                               ("features", "mappingnet", "silence", "motion", "select", "total")}

    mel = StreamingLogMel(model.feature_config)
    feats = []
    for c in chunks:
        t0 = clock()
        feats.append(mel.push(c))
        t["features"].append(clock() - t0)

    # The model once per keypoint frame on its context window, as the stream runs it.
    allf = np.concatenate(feats, axis=1)
    win = model.context_past + 1 + model.context_future
    per_video = round(model.feature_config.frame_rate_hz / FPS)
    for i in range(n_frames + warmup):
        t0 = clock()
        for k in range(i * per_video, (i + 1) * per_video):
            if k + win <= allf.shape[1]:
                model.run(allf[:, k:k + win])
        t["mappingnet"].append(clock() - t0)

    stream = AudioLipStream(model)
    lips = stream.push(audio) + stream.flush()
    step = max(1, round(model.feature_config.frame_rate_hz / FPS))
    video_lips = lips[::step][: n_frames + warmup]
    silence = SpeakingDetector(FPS)
    motion = MotionSynth(FPS, np.random.default_rng(0),
                         MotionParams().scaled_to_extent(rig_extent_deg(rig)))
    selector = FrameSelector(rig, FPS)
    for lf in video_lips:
        two = np.stack([lf.point("upper_lip"), lf.point("lower_lip")])
        t0 = clock()
        m = silence.step(two)
        t1 = clock()
        angles = motion.step(m, lf.prosody.accent)
        t2 = clock()
        selector.step(angles, mouth_features(lf))
        t3 = clock()
        t["silence"].append(t1 - t0)
        t["motion"].append(t2 - t1)
        t["select"].append(t3 - t2)

    anim = AudioAnimator(rig, model, EngineConfig(fps=FPS))
    for c in chunks:
        t0 = clock()
        anim.push_audio(c)
        t["total"].append(clock() - t0)
    out = {k: _stats_us(v, warmup) for k, v in t.items()}
    core = [a + b + c for a, b, c in zip(t["silence"], t["motion"], t["select"], strict=True)]
    out["core (silence+motion+select)"] = _stats_us(core, warmup)
    return out


def render_speed(seconds: float) -> dict:
    from animator.render import render

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        sf.write(wav, speech_of_length(seconds), 16000)
        result = render(wav, Path(tmp) / "out.mp4", progress=False)
        return {"audio_s": round(result.duration_s, 2), "elapsed_s": round(result.elapsed_s, 2),
                "realtime_factor": round(result.realtime_factor, 1),
                "frames": result.n_frames, "width_px": 512}


_FIRST_FRAME = """
import sys, time
from animator.render import render
def first(_):
    print(time.time(), flush=True)
    raise SystemExit(0)
render(sys.argv[1], sys.argv[2], progress=False, on_frame=first)
"""


def time_to_first_frame(runs: int = 3) -> dict:
    """Seconds from launching a fresh Python process that renders to its first frame."""
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(runs):
            t0 = time.time()
            out = subprocess.run([sys.executable, "-c", _FIRST_FRAME, str(DEMO),
                                  str(Path(tmp) / "o.mp4")], capture_output=True, text=True,
                                 check=True)
            times.append(float(out.stdout.split()[0]) - t0)
    return {"median_s": round(float(np.median(times)), 2), "max_s": round(max(times), 2),
            "runs": runs}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.latency", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print JSON only")
    ap.add_argument("--frames", type=int, default=1500, help="video frames per stage")
    ap.add_argument("--render-seconds", type=float, default=60.0)
    args = ap.parse_args(argv)
    report = {
        "machine": machine_info(),
        "fps": FPS,
        "per_frame_us": stage_latencies(args.frames),
        "render": render_speed(args.render_seconds),
        "first_frame": time_to_first_frame(),
    }
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    m = report["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, "
          f"onnxruntime {m['onnxruntime']}")
    print(f"per video frame at {FPS:g} fps (microseconds):")
    for stage, s in report["per_frame_us"].items():
        print(f"  {stage:30s} p50 {s['p50']:9.1f}   p99 {s['p99']:9.1f}")
    r = report["render"]
    print(f"render {r['audio_s']} s of speech at {r['width_px']} px: {r['elapsed_s']} s "
          f"({r['realtime_factor']}x real time)")
    print(f"launch to first frame: median {report['first_frame']['median_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
