"""Live mode, measured: the audio path and the webcam path driven from files in real time.

    python -m benchmarks.live [--json] [--seconds 30] [--fps 30] [--path audio|webcam|both]
                              [--video CLIP ...] [--calibrate S]

Audio path: the demo speech played as a microphone (10 ms blocks) -> MappingNet and the shape
model (as ``animator live`` runs them) -> engine -> web sink, with a WebSocket client on
127.0.0.1 receiving the frame choices; run twice in turn for each way of running the models
(``streaming``: the step plans, one step per 10 ms feature frame; ``windowed``: onnxruntime on
the 65-frame window of the newest frame each tick), seconds/2 per run, so both see the same
machine. Webcam path: real
faces. Each ``--video`` (default: every clip in ../shared/realdata/talking_faces, real people
talking and pausing) is first tracked frame by frame and scored (benchmarks.webcam_quality):
the share of frames showing the neutral mouth while the measured lips are closed, the
correlation of the avatar's mouth opening with the measured one while talking, the mouth
shapes used, blinks found against an eye-openness reference and false blinks a minute. Then
the first clip (by default news_4.mp4, the longest, at 30 fps) is played as a webcam (in a
loop) -> FaceMesh -> engine (head tracked, lips and eyes from the face, mouth against the
face's learned rest) -> web sink -> client, for the timings below. ``--camera file`` (the
default, the figure of earlier reports) decodes the file as it plays, as ``animator live
--camera FILE`` does; ``--camera memory`` decodes it before the run and copies a frame per
read like a capture buffer (benchmarks.memory_camera): without the file's decoding.

Compute per frame, exactly: the wall time (``perf_counter``) of one ``LiveLoop.step`` in the
loop thread. Audio path: taking the samples that arrived since the last frame, the streaming
log-mel of every 10 ms feature frame in them, one MappingNet call (for the newest keypoint
frame, the one the frame shows), the engine (speaking state, motion, mouth, frame choice) and
handing the frame to the web sink (inline: its JSON, ~20 us, written to the page's socket
when that never waits, else into the page's one-slot mailbox for its own thread). Not
included: the wait for the tick.
Webcam path:
the same step plus the FaceMesh + head pose + lips time of the observation the step picked
up (that runs in the capture thread). ``compute_cpu_ms`` is the CPU time the loop thread
spent in the step: wall minus CPU is time it waited for a core (the machine busy with other
work) or for the GIL.

CPU share of one core: the process's CPU time (every thread: loop, sinks, server, capture;
not the WebSocket client, a process of its own) over the wall time of the run, from 10 % of
the run on (start-up left out), and the loop thread's alone; ``threads``: the share per
thread (by name: ``MainThread`` runs the loop, ``web-client`` sends to the page) and its
context switches per tick, voluntary (it waited: a sleep, a mailbox, the GIL) and
involuntary (preempted). On this VM each wake-up of a thread costs ~50 us of its CPU (a
bare 33 ms sleep costs the sleeper that much), and a tick 33 ms after the last runs on cold
caches (~1.1 ms of CPU for the audio path's step against ~0.35 ms back to back): the web sink
has no thread of its own and writes to a page's socket from the tick (animator.sinks.web).
The sync model (animator.live.sync, without the page's draw) is set beside the measured
capture -> WebSocket latency.

Also per path: end-to-end latency (an audio sample / camera frame entering -> its frame
choice received from the WebSocket), frames late by more than one period, skipped ticks,
frames each sink dropped, the process RSS at the start, after 10 % of the run and at the
end, and the machine's 1-minute load average before and after. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from animator.audio_animator import AudioAnimator
from animator.engine import Engine, EngineConfig
from animator.live.clock import FrameClock
from animator.live.loop import STALE_S, LiveLoop
from animator.live.sync import AudioTiming
from animator.live.sync import estimate as sync_estimate
from animator.rig import default_rig_dir, load_rig
from animator.sinks.compose import FrameCompositor
from animator.sinks.web import WebSink
from animator.sources.audio_input import BLOCK_SAMPLES, FileAudio
from animator.sources.camera import TrackedCamera
from animator.stages.speaking import SpeakingParams
from benchmarks.machine import machine_info
from benchmarks.memory_camera import MemoryTrackedCamera
from benchmarks.realdata import talking_faces
from benchmarks.threadcpu import task_snapshot, threads_between
from benchmarks.webcam_quality import clip_quality, quality_line, totals, webcam_config
from benchmarks.ws_recorder import WsRecorder, wait_until
from keypoints.assets import assets_dir
from keypoints.audio import load_audio
from keypoints.mappingnet import MappingNet
from keypoints.stream import AudioLipStream
from keypoints.visemenet import ShapeModel

DEMO = assets_dir() / "audio" / "demo_speech.ogg"
#: the real clip the webcam path is timed on by default
TIMING_CLIP = "news_4.mp4"


def rss_mb() -> float:
    """Resident memory of this process in MiB (Linux /proc)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _ms(x: list[float] | np.ndarray) -> dict:
    a = np.asarray(x, dtype=np.float64) * 1000.0
    if not len(a):
        return {"n": 0}
    return {"p50": round(float(np.percentile(a, 50)), 2),
            "p99": round(float(np.percentile(a, 99)), 2),
            "max": round(float(a.max()), 2), "n": int(len(a))}


def _run_loop(loop: LiveLoop, web: WebSink, seconds: float, fps: float,
              extra_compute: Callable[[], float] | None = None) -> tuple[dict, WsRecorder]:
    rec = WsRecorder(web.port)
    wait_until(lambda: web.n_clients == 1, 10)
    n = int(seconds * fps) + 2
    steps = np.zeros(n)  # preallocated: the benchmark itself must not grow while it measures
    cpu = np.zeros(n)
    count = [0]
    load = {"before": round(os.getloadavg()[0], 2)}
    rss = {"start": round(rss_mb(), 1)}
    clock = FrameClock(fps)
    tenth = max(1, n // 10)
    share: dict[str, float] = {}
    tasks: dict[str, dict] = {}

    def on_tick(_frame) -> None:
        if count[0] < n:
            steps[count[0]] = loop.last_step_s + (extra_compute() if extra_compute else 0.0)
            cpu[count[0]] = loop.last_step_cpu_s
        count[0] += 1
        if count[0] == tenth:
            rss["after_10pct"] = round(rss_mb(), 1)
            tasks["before"] = task_snapshot()
            share["wall"], share["cpu"] = time.perf_counter(), time.process_time()

    loop.run(clock, duration_s=seconds, on_tick=on_tick)
    wall_s, cpu_s = time.perf_counter() - share["wall"], time.process_time() - share["cpu"]
    threads = threads_between(tasks["before"], task_snapshot(), wall_s, count[0] - tenth)
    rss["end"] = round(rss_mb(), 1)
    load["after"] = round(os.getloadavg()[0], 2)
    time.sleep(0.2)  # the last messages in flight
    web.close()  # ends the recorder's connection
    rec.close()
    stats = {"frames": loop.n_ticks, "late_over_one_period": clock.n_late,
             "skipped_ticks": clock.n_skipped, "max_late_ms": round(clock.max_late_s * 1e3, 2),
             "compute_ms": _ms(steps[:min(n, count[0])]),
             "compute_cpu_ms": _ms(cpu[:min(n, count[0])]), "rss_mb": rss,
             "cpu_share_of_one_core": {
                 "process": round(cpu_s / wall_s, 4),
                 "loop_thread": round(float(cpu[tenth:min(n, count[0])].sum()) / wall_s, 4)},
             "threads": threads,
             "raw": {"compute_s": steps[:min(n, count[0])], "cpu_s": cpu[:min(n, count[0])]},
             "load_avg_1min": load,
             "sinks": loop.sink_stats(), "received": len(rec.got)}
    return stats, rec


def _audio_run(model: MappingNet, shapes: ShapeModel | None, windowed: bool, seconds: float,
               fps: float) -> dict:
    rig = load_rig(default_rig_dir())
    sr = model.feature_config.sample_rate
    with FileAudio(DEMO, sr, loop=True) as audio, WebSink(rig, 0) as web:
        lips = AudioLipStream(model, None, shapes, windowed=windowed)
        loop = LiveLoop(Engine(rig, EngineConfig(fps=fps)), [web], audio=audio,
                        lip_stream=lips)
        with loop:
            stats, rec = _run_loop(loop, web, seconds, fps)
        # shown: the sample at the centre of the lips shown; oldest new: the oldest sample a
        # frame is the first to reflect (adds the frame period's sample-and-hold: worst case);
        # captured: shown + the wait of that sample for the rest of its device block
        shown, first, captured = [], [], []
        prev = None
        for recv_s, c, _ in rec.got:
            if c is None:
                continue
            shown.append(recv_s - audio.arrival_s(c))
            captured.append(shown[-1] + (BLOCK_SAMPLES - c % BLOCK_SAMPLES) / sr)
            if prev is not None and c > prev:
                first.append(recv_s - audio.arrival_s(prev + 1))
            prev = c
    stats["raw"].update(shown_s=shown, first_s=first, captured_s=captured)
    return stats


def _merged(runs: list[dict]) -> dict:
    """The runs of one way as one: counts added, percentiles over all their frames."""
    raw = {k: np.concatenate([r["raw"][k] for r in runs]) for k in runs[0]["raw"]}
    out = {"runs": len(runs), "frames": sum(r["frames"] for r in runs),
           "late_over_one_period": sum(r["late_over_one_period"] for r in runs),
           "skipped_ticks": sum(r["skipped_ticks"] for r in runs),
           "max_late_ms": max(r["max_late_ms"] for r in runs),
           "compute_ms": _ms(raw["compute_s"]), "compute_cpu_ms": _ms(raw["cpu_s"]),
           "cpu_share_of_one_core": {
               k: round(float(np.mean([r["cpu_share_of_one_core"][k] for r in runs])), 4)
               for k in ("process", "loop_thread")},
           "threads": {name: {"cpu_share_of_one_core": round(float(np.mean(
               [r["threads"].get(name, {}).get("cpu_share_of_one_core", 0.0) for r in runs])), 4),
                              "switches_per_tick": {k: round(float(np.mean(
                                  [r["threads"].get(name, {}).get("switches_per_tick", {})
                                   .get(k, 0.0) for r in runs])), 2)
                                  for k in ("voluntary", "involuntary")}}
                       for name in dict.fromkeys(k for r in runs for k in r["threads"])},
           "rss_mb": [r["rss_mb"] for r in runs],
           "load_avg_1min": [r["load_avg_1min"] for r in runs],
           "sinks": [r["sinks"] for r in runs], "received": sum(r["received"] for r in runs),
           "end_to_end_ms": {"audio_sample_shown_to_ws": _ms(raw["shown_s"]),
                             "oldest_new_audio_sample_to_ws": _ms(raw["first_s"]),
                             "audio_sample_captured_to_ws": _ms(raw["captured_s"])}}
    return out


def audio_path(seconds: float, fps: float, with_shapes: bool = True) -> dict:
    """Both ways of running the models, in turn (windowed, streaming, windowed, streaming),
    seconds/2 each. ``with_shapes`` False: the lips alone (what the shape model costs)."""
    model = MappingNet.load()
    # as ``animator live`` runs it beside the lips
    shapes = ShapeModel.load() if with_shapes else None
    runs: dict[str, list[dict]] = {"windowed": [], "streaming": []}
    for _ in range(2):
        for way in runs:
            runs[way].append(_audio_run(model, shapes, way == "windowed", seconds / 2, fps))
    stats = {way: _merged(r) for way, r in runs.items()}
    sr = model.feature_config.sample_rate
    smooth = SpeakingParams()
    timing = AudioTiming.of(model, BLOCK_SAMPLES, fps)
    for st in stats.values():
        # the sync model with this run's measured step, without the sink and the page's draw
        # (the measurement ends when the client has the frame: it includes the sink)
        e = sync_estimate(timing, st["compute_ms"]["p50"], 0.0)
        st["sync_model_ms"] = {"capture_to_handoff_predicted":
                                   round(e.total_ms - e.page_draw_ms, 2),
                               "capture_to_ws_measured_p50":
                                   st["end_to_end_ms"]["audio_sample_captured_to_ws"]["p50"],
                               "audio_delay_for_obs": e.audio_delay_ms}
    stats["shape_model"] = shapes is not None
    stats["algorithmic_ms"] = {
        "model_lookahead_plus_half_window": round(model.algorithmic_latency_s * 1e3, 2),
        "device_block": round(1e3 * BLOCK_SAMPLES / sr, 2),
        "frame_period_sample_and_hold_max": round(1e3 / fps, 2),
        "mouth_total_max": round(model.algorithmic_latency_s * 1e3 + 1e3 * BLOCK_SAMPLES / sr
                                 + 1e3 / fps, 2),
        "silence_mask_smoothing_delay": round(1e3 * smooth.smooth_s / 2, 1),
        "note": "the mask smoothing delays only the head-motion gain, not the mouth"}
    return stats


def make_face_video(path: Path, seconds: float, fps: float = 30.0, width: int = 480,
                    blank: tuple[float, float] | None = None) -> Path:
    """An MJPG clip of the toon character speaking the demo clip with natural head motion,
    rendered through the offline engine; ``blank`` (start, end seconds) shows no face."""
    rig = load_rig(default_rig_dir())
    anim = AudioAnimator(rig, MappingNet.load(), EngineConfig(fps=fps, seed=1))
    speech = load_audio(DEMO)
    n = int(seconds * fps)
    reps = int(np.ceil(seconds * 16000 / len(speech))) + 1
    frames = anim.push_audio(np.tile(speech, reps)[: int((seconds + 1) * 16000)])[:n]
    comp = FrameCompositor(rig, width, (236, 240, 244))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, comp.size)
    empty = np.full((comp.size[1], comp.size[0], 3), (244, 240, 236), np.uint8)
    for f in frames:
        hide = blank is not None and blank[0] <= f.t_s < blank[1]
        writer.write(empty if hide else cv2.cvtColor(comp.compose(f.choice), cv2.COLOR_RGB2BGR))
    writer.release()
    return path


class _ObsLog:
    """Wraps a TrackedCamera: the capture time of every observation the loop picks up
    (preallocated for ``n`` camera frames) and the tracking time of the newest one."""

    def __init__(self, cam: TrackedCamera, n: int) -> None:
        self.cam = cam
        self.capture_s = np.full(n, np.nan)
        self.pending_track_s = 0.0

    def latest(self):
        obs = self.cam.latest()
        if obs is not None:
            if obs.frame_number < len(self.capture_s):
                self.capture_s[obs.frame_number] = obs.capture_s
            self.pending_track_s = obs.tracked_s - obs.capture_s
        return obs

    def take_track_s(self) -> float:
        """FaceMesh time of an observation picked up since the last call (0 if none)."""
        t, self.pending_track_s = self.pending_track_s, 0.0
        return t


def webcam_path(seconds: float, fps: float, videos: list[Path] | None = None,
                calibrate_s: float = 0.0, camera: str = "file") -> dict:
    rig = load_rig(default_rig_dir())
    if not videos:  # timed on the longest one, at 30 fps like a webcam
        videos = sorted(talking_faces(), key=lambda p: p.name != TIMING_CLIP)
    quality = [clip_quality(v, rig, calibrate_s) for v in videos]
    video = videos[0]
    kind = {"file": TrackedCamera, "memory": MemoryTrackedCamera}[camera]
    with kind(video, loop=True) as cam, WebSink(rig, 0) as web:
        log = _ObsLog(cam, int(seconds * fps * 2) + 100)
        loop = LiveLoop(Engine(rig, webcam_config(fps, calibrate_s)), [web], face=log)
        with loop:
            stats, rec = _run_loop(loop, web, seconds, fps, log.take_track_s)
        e2e = [recv_s - log.capture_s[c] for recv_s, _, c in rec.got
               if c is not None and c < len(log.capture_s) and np.isfinite(log.capture_s[c])]
        tracked = [c is not None for _, _, c in rec.got]
    stats.pop("raw")
    stats["video"] = str(video)
    stats["camera"] = camera
    stats["compute_ms_note"] = ("FaceMesh + head pose + lips + eyes (capture thread) + "
                                "loop step")
    stats["compute_cpu_ms_note"] = "loop step only (FaceMesh runs in the capture thread)"
    stats["end_to_end_ms"] = {"camera_frame_read_to_ws": _ms(e2e)}
    stats["frames_with_a_face"] = int(sum(tracked))
    stats["quality"] = {"clips": quality, "total": totals(quality)}
    return stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.live", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print JSON only")
    ap.add_argument("--seconds", type=float, default=30.0, help="run length per path")
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--path", choices=("audio", "webcam", "both"), default="both")
    ap.add_argument("--video", type=Path, action="append", default=None, metavar="CLIP",
                    help="a real face video for the webcam path (repeatable; default: "
                         "the talking faces of ../shared/realdata)")
    ap.add_argument("--calibrate", type=float, default=0.0, metavar="S",
                    help="webcam path: take each clip's first S seconds as the face at rest")
    ap.add_argument("--camera", choices=("file", "memory"), default="file",
                    help="webcam path: decode the clip as it plays (file) or before (memory)")
    ap.add_argument("--no-shapes", action="store_true",
                    help="audio path: without the mouth-shape model (the lips alone)")
    args = ap.parse_args(argv)
    for video in args.video or []:
        if not video.is_file():
            print(f"error: {video}: video file not found", file=sys.stderr)
            return 2
    report: dict = {"machine": machine_info(), "fps": args.fps, "seconds": args.seconds,
                    "stale_s": STALE_S}
    if args.path in ("audio", "both"):
        report["audio"] = audio_path(args.seconds, args.fps, not args.no_shapes)
    if args.path in ("webcam", "both"):
        try:
            report["webcam"] = webcam_path(args.seconds, args.fps, args.video, args.calibrate,
                                           args.camera)
        except OSError as exc:  # a file that is no video: one line, as the CLI does
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    m = report["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}; "
          f"{args.seconds:g} s per path at {args.fps:g} fps")
    paths = [(f"audio {way}", report["audio"][way]) for way in ("windowed", "streaming")
             if "audio" in report] + ([(f"webcam ({args.camera})", report["webcam"])]
                                      if "webcam" in report else [])
    for name, s in paths:
        c = s["compute_ms"]
        cpu = s["compute_cpu_ms"]
        share = s["cpu_share_of_one_core"]
        print(f"{name}: compute/frame p50 {c['p50']} ms, p99 {c['p99']} ms, max {c['max']} ms "
              f"(loop thread CPU p50 {cpu['p50']}, p99 {cpu['p99']} ms); CPU share of one "
              f"core: process {100 * share['process']:.1f} %, loop thread "
              f"{100 * share['loop_thread']:.1f} %; late>1 period {s['late_over_one_period']}, "
              f"skipped {s['skipped_ticks']}; load {s['load_avg_1min']}")
        print("  threads (CPU share of one core; context switches per tick, voluntary/"
              "involuntary): " + "; ".join(
                  f"{name} {100 * t['cpu_share_of_one_core']:.2f} % "
                  f"({t['switches_per_tick']['voluntary']}/{t['switches_per_tick']['involuntary']})"
                  for name, t in s["threads"].items()))
        for what, e in s["end_to_end_ms"].items():
            print(f"  {what}: p50 {e.get('p50')} ms, p99 {e.get('p99')} ms, "
                  f"max {e.get('max')} ms")
        if "sync_model_ms" in s:
            print(f"  sync model: {s['sync_model_ms']}")
    if "audio" in report:
        print(f"  algorithmic (audio): {report['audio']['algorithmic_ms']}")
    if "webcam" in report:
        q = report["webcam"]["quality"]
        print(f"webcam quality (live timings above on {Path(report['webcam']['video']).name}):")
        for r in q["clips"]:
            print("  " + quality_line(r))
        print(f"  total: {q['total']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
