"""Per-stage, per-video-frame latency of the audio path, and the offline render speed.

    python -m benchmarks.latency [--json] [--frames N] [--render-seconds 60] [--no-render]

Each stage is timed on its own, on the same speech, one video frame of work per call, as wall
time (``perf_counter``) and as the calling thread's CPU time (``thread_time``: what the work
costs whatever else the machine runs; wall minus CPU is waiting for a core): features (1/fps
of audio through the streaming log-mel), prosody, the lip model and the shape (viseme) model
for one video frame of keypoint frames, each both ways side by side (25 frames each in turn):
``windowed`` (onnxruntime on the 65-frame window of each keypoint frame, the model contract's
definition) and ``streaming`` (the step plan, keypoints.conv_stream: the video frame's
feature frames in one block of steps); speaking (with the voice cue, and beside it the lips
alone, as before the cue), motion and select (one step each); and ``total``: one video frame
of audio through the whole streaming engine (keypoints.stream + animator.engine, no shape
model), the windowed and the streaming lips fed the same audio in turn. Then ``render`` of a
60 s speech file to a 512 px mp4 (real time factor), a timeline-only render of the same file
with the lip model in blocks (the offline default) and streamed (``model_batch=1``), side by
side, and the time from launching ``animator render`` to its first encoded frame.
"""

from __future__ import annotations

import argparse
import json
import os
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
from animator.stages.mouth import mouth_rows, open_wide_w
from animator.stages.selection import FrameSelector
from animator.stages.speaking import SpeakingDetector
from benchmarks.machine import machine_info
from keypoints.assets import assets_dir
from keypoints.audio import load_audio
from keypoints.compute_threads import compute_threads
from keypoints.features import StreamingLogMel
from keypoints.mappingnet import MappingNet
from keypoints.prosody import StreamingProsody
from keypoints.stream import AudioLipStream
from keypoints.visemenet import ShapeModel

FPS = 25.0
DEMO = assets_dir() / "audio" / "demo_speech.ogg"
#: video frames each way in turn
TURN = 25
#: stages measured both ways: (windowed, streaming) names
PAIRS = (("mappingnet windowed", "mappingnet streaming"),
         ("shapes windowed", "shapes streaming"),
         ("total windowed", "total streaming"))


def _stats_us(samples_ns: list[int] | np.ndarray, warmup: int) -> dict:
    x = np.asarray(samples_ns[warmup:], dtype=np.float64) / 1000.0
    return {"p50": round(float(np.percentile(x, 50)), 1),
            "p99": round(float(np.percentile(x, 99)), 1),
            "mean": round(float(x.mean()), 1), "n": int(len(x))}


def speech_of_length(seconds: float) -> np.ndarray:
    """The demo speech repeated to ``seconds`` (16 kHz mono float32)."""
    one = load_audio(DEMO)
    reps = int(np.ceil(seconds * 16000 / len(one)))
    return np.tile(one, reps)[: int(seconds * 16000)]


class _Timer:
    """Wall and thread-CPU nanoseconds of each call of ``timed``, per stage."""

    def __init__(self) -> None:
        self.wall: dict[str, list[int]] = {}
        self.cpu: dict[str, list[int]] = {}

    def timed(self, stage: str, fn, *args):
        w0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        out = fn(*args)
        c1, w1 = time.thread_time_ns(), time.perf_counter_ns()
        self.wall.setdefault(stage, []).append(w1 - w0)
        self.cpu.setdefault(stage, []).append(c1 - c0)
        return out


def _windows(model, feats: np.ndarray, frames: range) -> None:
    """The windowed model once per keypoint frame in ``frames`` (as a per-frame stream)."""
    win = model.window_frames
    for k in frames:
        if k + win <= feats.shape[1]:
            model.run(feats[:, k:k + win])


def _steps(stream, feats: np.ndarray, frames: range) -> None:
    """The step plan over the feature frames in ``frames`` in one call (as a stream's push
    runs them: keypoints.conv_stream.ConvStream.steps)."""
    stream.steps(feats[:, frames.start:min(frames.stop, feats.shape[1])])


def stage_latencies(n_frames: int, warmup: int = 50) -> dict:
    model = MappingNet.load()
    shapes = ShapeModel.load()
    rig = load_rig(default_rig_dir())
    audio = speech_of_length((n_frames + warmup) / FPS + 1.0)
    hop = round(model.feature_config.sample_rate / FPS)  # samples per video frame
    chunks = [audio[i * hop:(i + 1) * hop] for i in range(n_frames + warmup)]
    tm = _Timer()

    mel = StreamingLogMel(model.feature_config)
    feats = [tm.timed("features", mel.push, c) for c in chunks]
    prosody = StreamingProsody(model.feature_config, model.context_future)
    for f in feats:
        tm.timed("prosody", prosody.push, f)

    # Both ways in turn, TURN video frames each (side by side under the same load, without
    # one way evicting the other's weights from the caches every frame): the windowed model
    # on each keypoint frame's window, the step plan on each new feature frame.
    allf = np.concatenate(feats, axis=1)
    per_video = round(model.feature_config.frame_rate_hz / FPS)
    steps = {m: m.stream_program.start() for m in (model, shapes)}
    for net, name in ((model, "mappingnet"), (shapes, "shapes")):
        for start in range(0, n_frames + warmup, TURN):
            turn = range(start, min(start + TURN, n_frames + warmup))
            for i in turn:
                frames = range(i * per_video, (i + 1) * per_video)
                tm.timed(f"{name} windowed", _windows, net, allf, frames)
            for i in turn:
                frames = range(i * per_video, (i + 1) * per_video)
                tm.timed(f"{name} streaming", _steps, steps[net], allf, frames)

    stream = AudioLipStream(model)
    lips = stream.push(audio) + stream.flush()
    step = max(1, round(model.feature_config.frame_rate_hz / FPS))
    video_lips = lips[::step][: n_frames + warmup]
    silence, lips_only = SpeakingDetector(FPS), SpeakingDetector(FPS)
    motion = MotionSynth(FPS, np.random.default_rng(0),
                         MotionParams().scaled_to_extent(rig_extent_deg(rig)))
    selector = FrameSelector(rig, FPS)
    rows = mouth_rows(video_lips[0].names)
    for lf in video_lips:
        # what the engine hands the stages: Python floats (animator.engine.Engine._sample)
        points = lf.points.tolist()
        two = (points[rows[0]], points[rows[1]])
        mouth = open_wide_w(*(points[r] for r in rows))
        tm.timed("speaking, lips only", lips_only.step, two)  # before the voice cue
        m = tm.timed("speaking", silence.step, two, lf.prosody.voice)
        angles = tm.timed("motion", motion.step, m, lf.prosody.accent)
        tm.timed("select", selector.step, angles, mouth)

    engines = {}
    for name, windowed in (("total windowed", True), ("total streaming", False)):
        engines[name] = anim = AudioAnimator(rig, model, EngineConfig(fps=FPS))
        anim.lips = AudioLipStream(model, windowed=windowed)
    for start in range(0, len(chunks), TURN):
        for name, anim in engines.items():
            for c in chunks[start:start + TURN]:
                tm.timed(name, anim.push_audio, c)

    out = {"wall_us": {k: _stats_us(v, warmup) for k, v in tm.wall.items()},
           "cpu_us": {k: _stats_us(v, warmup) for k, v in tm.cpu.items()}}
    for kind, t in (("wall_us", tm.wall), ("cpu_us", tm.cpu)):
        core = np.add(np.add(t["speaking"], t["motion"]), t["select"])
        out[kind]["core (speaking+motion+select)"] = _stats_us(core, warmup)
    out["ratios_windowed_over_streaming"] = {
        new.replace(" streaming", ""): {
            f"{kind} {q}": round(out[kind][old][q] / max(out[kind][new][q], 1e-9), 1)
            for kind in ("wall_us", "cpu_us") for q in ("p50", "p99")}
        for old, new in PAIRS}
    return out


def timeline_render_speed(seconds: float, runs: int = 3) -> dict:
    """A timeline-only render of ``seconds`` of speech, the lip and shape models in blocks
    (the offline default) and streamed one step per feature frame, in turn; median wall and
    process CPU seconds of ``runs``."""
    from animator.render import render

    model = MappingNet.load()
    got: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        sf.write(wav, speech_of_length(seconds), 16000)
        for _ in range(runs):
            for name, batch in (("blocks", None), ("streaming", 1)):
                kw = {} if batch is None else {"model_batch": batch}
                w0, c0 = time.perf_counter(), time.process_time()
                render(wav, None, timeline_path=Path(tmp) / "t.json", progress=False,
                       model=model, **kw)
                t = got.setdefault(name, {"wall_s": [], "cpu_s": []})
                t["wall_s"].append(time.perf_counter() - w0)
                t["cpu_s"].append(time.process_time() - c0)
    out = {name: {k: round(float(np.median(v)), 3) for k, v in t.items()}
           for name, t in got.items()}
    out["audio_s"] = seconds
    out["streaming_over_blocks_cpu"] = round(out["streaming"]["cpu_s"]
                                             / out["blocks"]["cpu_s"], 2)
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
    ap.add_argument("--no-render", action="store_true", help="the per-frame stages only")
    args = ap.parse_args(argv)
    load = [round(os.getloadavg()[0], 2)]
    with compute_threads():  # as every command runs (keypoints.compute_threads)
        report = {"machine": machine_info(), "fps": FPS,
                  "per_frame": stage_latencies(args.frames)}
        if not args.no_render:
            report["timeline_render"] = timeline_render_speed(args.render_seconds)
            report["render"] = render_speed(args.render_seconds)
            report["first_frame"] = time_to_first_frame()
    load.append(round(os.getloadavg()[0], 2))
    report["load_avg_1min"] = {"before": load[0], "after": load[1]}
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    m = report["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, "
          f"onnxruntime {m['onnxruntime']}; load average {load[0]} -> {load[1]}")
    print(f"per video frame at {FPS:g} fps (microseconds; wall, and the thread's CPU time):")
    wall, cpu = report["per_frame"]["wall_us"], report["per_frame"]["cpu_us"]
    for stage in wall:
        w, c = wall[stage], cpu[stage]
        print(f"  {stage:30s} wall p50 {w['p50']:8.1f} p99 {w['p99']:8.1f}   "
              f"cpu p50 {c['p50']:8.1f} p99 {c['p99']:8.1f}")
    for stage, r in report["per_frame"]["ratios_windowed_over_streaming"].items():
        print(f"  windowed / streaming, {stage}: " + ", ".join(f"{k} {v}x"
                                                              for k, v in r.items()))
    if "timeline_render" in report:
        t = report["timeline_render"]
        print(f"timeline-only render of {t['audio_s']:g} s: blocks {t['blocks']} vs streaming "
              f"{t['streaming']} (CPU x{t['streaming_over_blocks_cpu']})")
        r = report["render"]
        print(f"render {r['audio_s']} s of speech at {r['width_px']} px: {r['elapsed_s']} s "
              f"({r['realtime_factor']}x real time)")
        print(f"launch to first frame: median {report['first_frame']['median_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
