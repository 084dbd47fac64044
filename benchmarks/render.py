"""Offline throughput, measured side by side: renders against their own encoder, timelines,
batches on local workers and on Ray, and the start-up.

    python -m benchmarks.render [--json] [--seconds 60] [--reps 2] [--no-ray] [--encoders]
    python -m benchmarks.render --timeline-only [--json]      (that section alone, seconds)
    python -m benchmarks.render --encoders-only [--seconds 12] (x264 settings alone)
    python -m benchmarks.render --compose [--seconds 12]      (the compositors alone, JSON)

- encode ratio: ``render`` of ``--seconds`` of speech (the demo clip repeated) at 512 px
  against encoding the same frames alone (composed beforehand and held in memory, then
  written through the same Mp4Writer: from RGB frames, RGB -> YUV, x264, AAC, mux; and from
  YUV frames, the encoder alone), alternated; the ratio of each triple and their median,
  with CPU per thread: the longest thread is the critical path and max(longest, CPU / 2)
  the wall an idle 2-core machine could reach ("idle bound"), which load does not move.
- real-time factor at 512, 720 and 1080 px (audio seconds per wall second of ``render``).
- timeline only: ``render`` with no video, in this process (median of 5; CPU per thread and
  the idle bound, as above: the lips run in a thread of their own), and the whole
  ``animator render AUDIO --timeline OUT.json`` command including Python's start-up; where
  the time goes (lips = keypoints/ features and models, engine = the stages, the rest).
- start-up: a fresh ``python -m animator render`` process to its first encoded frame.
- batch: 20 clips (the 16 real talking-face clips, 3-6.6 s, and four 5 s cuts of the demo)
  with ``animator batch --jobs 1`` and ``--jobs 2`` alternated, then on a local Ray head
  (2 CPUs) started here; Ray's overhead per file = (Ray wall - 2 workers' wall) / files;
  the CPU per clip of each (all processes) and the cores available before each pair.
- cores available: two processes burning CPU side by side, before and after (2.0 on an idle
  2-core machine): the ceiling of any parallel speed-up measured in the same run.
- ``--encoders``: x264 presets, threads (frame or sliced), tunes, keyint and CRFs on the
  frames of real renders (toon and astronaut, 512 / 720 / 1080 px; CPU, longest thread and
  wall per frame, MB per minute, PSNR and SSIM of the decoded frames against their source,
  pictures equal to the shipped setting's or not) and how often a render repeats a frame:
  the measurement behind the settings in animator/sinks/mp4.py
  (benchmarks/render_encoders.py).

Every figure is wall time unless named cpu (this process and its children, all threads).
The machine's 1-minute load average is recorded before and after: on a shared machine
compare the ratios of one run, not absolute numbers across runs. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from benchmarks.latency import speech_of_length
from benchmarks.machine import machine_info
from benchmarks.realdata import talking_faces
from benchmarks.render_encoders import encoders, print_encoders
from benchmarks.threadcpu import cpu_by_thread
from benchmarks.timeline_breakdown import timeline_breakdown
from keypoints.assets import assets_dir

DEMO = assets_dir() / "audio" / "demo_speech.ogg"
RATE = 16000
WIDTHS = (512, 720, 1080)

_FIRST_FRAME = """
import os, sys, time
from animator.render import render
def first(_):
    print(time.time(), flush=True)
    os._exit(0)
render(sys.argv[1], sys.argv[2], progress=False, on_frame=first)
"""


def _burn(cpu_s: float) -> float:
    t0 = time.process_time()
    while time.process_time() - t0 < cpu_s:
        pass
    return cpu_s


def cores_available(cpu_s: float = 1.0) -> float:
    """CPU cores this run actually gets now: two processes each burning ``cpu_s`` of CPU,
    total CPU over wall time (2.0 on an idle 2-core machine; on a shared one, what the
    others leave). Parallel speed-ups can only be judged against it."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_burn, [0.01, 0.01])  # started
        t0 = time.perf_counter()
        pool.map(_burn, [cpu_s, cpu_s])
        return _r(2 * cpu_s / (time.perf_counter() - t0), 2)


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall, cpu) seconds of fn(), cpu = this process's threads and its waited children."""
    c0 = time.process_time() + _children_cpu()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0, time.process_time() + _children_cpu() - c0


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _r(x: float, n: int = 3) -> float:
    return round(float(x), n)


def encode_ratio(wav: Path, seconds: float, reps: int, tmp: Path) -> dict:
    """``render`` against encoding its own frames alone, alternated. Encode-only is timed
    two ways: from RGB frames (Mp4Writer.write: RGB -> I420, x264, AAC, mux; the issue's
    figure) and from I420 frames (write_yuv: the encoder alone, the stricter yardstick).
    Per-thread CPU shows the critical path, which the neighbours' load does not change."""
    from animator.render import render
    from animator.rig import default_rig_dir, load_rig
    from animator.sinks.compose import FrameCompositor
    from animator.sinks.mp4 import Mp4Writer, to_yuv420
    from keypoints.audio import decode_audio

    audio, rate = decode_audio(wav)
    frames = render(wav, None, timeline_path=tmp / "ratio.json", progress=False).frames
    comp = FrameCompositor(load_rig(default_rig_dir()), 512)
    images = [comp.compose(f.choice).copy() for f in frames]
    yuv = [to_yuv420(img) for img in images]

    def encode_only(planes: bool) -> None:
        with Mp4Writer(tmp / "encode.mp4", comp.size, 25.0, audio, rate) as writer:
            for img, y in zip(images, yuv, strict=True):
                writer.write_yuv(y) if planes else writer.write(img)

    pairs = []
    for _ in range(reps):
        r = cpu_by_thread(lambda: render(wav, tmp / "render.mp4", progress=False))
        e = cpu_by_thread(lambda: encode_only(False))
        y = cpu_by_thread(lambda: encode_only(True))
        pairs.append({"load": _load(), "render": r, "encode_rgb": e, "encode_yuv": y,
                      "ratio": _r(r["wall_s"] / e["wall_s"], 2),
                      "ratio_vs_yuv": _r(r["wall_s"] / y["wall_s"], 2),
                      "cpu_ratio": _r(r["cpu_s"] / e["cpu_s"], 2),
                      "idle_bound_ratio": _r(r["idle_bound_s"] / e["idle_bound_s"], 2)})
    images.clear()  # 1.2 GB at 60 s: free it before the next section
    yuv.clear()
    render_s = float(np.median([p["render"]["wall_s"] for p in pairs]))

    def med(key: str) -> float:
        return _r(np.median([p[key] for p in pairs]), 2)

    return {"seconds": seconds, "frames": len(frames), "width_px": 512, "pairs": pairs,
            "ratio_median": med("ratio"), "ratio_vs_yuv_median": med("ratio_vs_yuv"),
            "cpu_ratio_median": med("cpu_ratio"),
            "idle_bound_ratio_median": med("idle_bound_ratio"),
            "render_median_s": _r(render_s), "realtime_factor": _r(seconds / render_s, 1),
            "idle_bound_realtime_factor": _r(seconds / np.median(
                [p["render"]["idle_bound_s"] for p in pairs]), 1)}


def realtime_factors(wav: Path, seconds: float, tmp: Path, at_512: dict) -> dict:
    from animator.render import render

    out = {"512": {"wall_s": at_512["render_median_s"],
                   "realtime_factor": at_512["realtime_factor"]}}
    for width in WIDTHS[1:]:
        wall, cpu = _timed(lambda w=width: render(wav, tmp / f"w{w}.mp4", width_px=w,
                                                  progress=False))
        out[str(width)] = {"wall_s": _r(wall), "cpu_s": _r(cpu),
                           "realtime_factor": _r(seconds / wall, 1),
                           "load": _load()}
    return out


def timeline_only(wav: Path, seconds: float, tmp: Path, runs: int = 5) -> dict:
    from animator.render import render

    render(wav, None, timeline_path=tmp / "warm.json", progress=False)
    threads = [cpu_by_thread(lambda: render(wav, None, timeline_path=tmp / "t.json",
                                            progress=False)) for _ in range(runs)]
    walls = [t["wall_s"] for t in threads]
    idle = float(np.median([t["idle_bound_s"] for t in threads]))
    cli = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "animator", "render", str(wav), "--timeline",
                        str(tmp / "cli.json"), "-q"], check=True)
        cli.append(time.perf_counter() - t0)
    return {"seconds": seconds, "in_process_median_s": _r(np.median(walls)),
            "realtime_factor": _r(seconds / np.median(walls), 1),
            "in_process_p90_s": _r(np.percentile(walls, 90)),
            "idle_bound_s": _r(idle), "idle_bound_realtime_factor": _r(seconds / idle, 1),
            "threads_cpu_s": {name: _r(np.median([t["threads"].get(name, 0.0)
                                                  for t in threads]))
                              for name in threads[-1]["threads"]},
            "command_median_s": _r(np.median(cli)),
            "command_realtime_factor": _r(seconds / np.median(cli), 1),
            "breakdown_s": timeline_breakdown(wav, tmp)}


def first_frame(tmp: Path, runs: int = 5) -> dict:
    times = []
    for i in range(runs):
        t0 = time.time()
        out = subprocess.run([sys.executable, "-c", _FIRST_FRAME, str(DEMO),
                              str(tmp / f"ff{i}.mp4")], capture_output=True, text=True,
                             check=True)
        times.append(float(out.stdout.split()[0]) - t0)
    return {"median_s": _r(np.median(times), 2), "max_s": _r(max(times), 2), "runs": runs}


def batch_clips(tmp: Path) -> tuple[list[Path], float]:
    """20 clips: the real talking faces, then 5 s cuts of the demo; (paths, audio seconds)."""
    from keypoints.audio import decode_audio

    clips = list(talking_faces())
    demo = speech_of_length(20.0)
    for k in range(20 - len(clips)):
        path = tmp / f"demo_cut{k}.wav"
        sf.write(path, demo[k * 5 * RATE:(k + 1) * 5 * RATE], RATE)
        clips.append(path)
    clips = clips[:20]
    total = 0.0
    for clip in clips:
        samples, rate = decode_audio(clip)
        total += samples.shape[1] / rate
    return clips, total


def _batch(clips: list[Path], outdir: Path, *extra: str) -> dict:
    """One ``animator batch`` command: wall, CPU of all its processes, the load before."""
    cmd = [sys.executable, "-m", "animator", "batch", *map(str, clips), "-o", str(outdir),
           "-q", *extra]
    load = _load()
    wall, cpu = _timed(lambda: subprocess.run(cmd, check=True))
    return {"wall_s": _r(wall), "cpu_s": _r(cpu), "load_before": load}


def batch_throughput(tmp: Path, reps: int, use_ray: bool) -> dict:
    """20 clips with 1 and 2 local workers, alternated (and the cores available measured
    before each pair: the ceiling of the speed-up on a shared machine), then on local Ray.
    The speed-up is the ratio of the pair's walls; the CPU per clip shows whether two
    workers waste any (oversubscribed pools spin: it would rise)."""
    clips, audio_s = batch_clips(tmp)
    runs: dict[str, list[dict]] = {"jobs1": [], "jobs2": []}
    pairs = []
    for rep in range(reps):
        cores = cores_available()
        for name, jobs in (("jobs1", "1"), ("jobs2", "2")):
            runs[name].append(_batch(clips, tmp / f"b_{name}_{rep}", "--jobs", jobs,
                                     "--overwrite"))
        one, two = runs["jobs1"][-1], runs["jobs2"][-1]
        pairs.append({"cores_available": cores, "speedup": _r(one["wall_s"] / two["wall_s"], 2),
                      "cpu_ratio": _r(two["cpu_s"] / one["cpu_s"], 2)})
    out: dict = {"files": len(clips), "audio_s": _r(audio_s, 1), "pairs": pairs}
    for name, values in runs.items():
        wall = float(np.median([v["wall_s"] for v in values]))
        cpu = float(np.median([v["cpu_s"] for v in values]))
        out[name] = {"runs": values, "median_s": _r(wall), "cpu_s": _r(cpu),
                     "cpu_per_clip_s": _r(cpu / len(clips)),
                     "files_per_min": _r(60 * len(clips) / wall, 1),
                     "realtime_factor": _r(audio_s / wall, 1)}
    out["speedup_2_vs_1"] = _r(np.median([p["speedup"] for p in pairs]), 2)
    out["speedup_per_core_available"] = _r(np.median(
        [p["speedup"] / max(1.0, min(2.0, p["cores_available"])) for p in pairs]), 2)
    out["cpu_ratio_2_vs_1"] = _r(np.median([p["cpu_ratio"] for p in pairs]), 2)
    if use_ray:
        import ray

        t0 = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR",
                 log_to_driver=False)
        start_s = time.perf_counter() - t0
        try:
            address = ray.get_runtime_context().gcs_address
            walls = [_batch(clips, tmp / f"b_ray_{rep}", "--ray", address)["wall_s"]
                     for rep in range(reps)]
        finally:
            ray.shutdown()
        wall = float(np.median(walls))
        out["ray"] = {"start_s": _r(start_s), "walls_s": [_r(w) for w in walls],
                      "median_s": _r(wall), "files_per_min": _r(60 * len(clips) / wall, 1),
                      "overhead_per_file_s": _r((wall - out["jobs2"]["median_s"])
                                                / len(clips))}
    out["files_identical_jobs1_jobs2_ray"] = _same_outputs(
        [tmp / "b_jobs1_0", tmp / "b_jobs2_0"] + ([tmp / "b_ray_0"] if use_ray else []))
    return out


def _same_outputs(folders: list[Path]) -> bool:
    names = sorted(p.name for p in folders[0].iterdir() if p.suffix in (".mp4", ".json")
                   and p.name != "manifest.json")
    return all((f / n).read_bytes() == (folders[0] / n).read_bytes()
               for f in folders[1:] for n in names)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.render", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print JSON only")
    ap.add_argument("--seconds", type=float, default=60.0, help="speech per render")
    ap.add_argument("--reps", type=int, default=2, help="A B pairs per comparison")
    ap.add_argument("--no-ray", action="store_true", help="skip the Ray batch")
    ap.add_argument("--encoders", action="store_true", help="also compare x264 settings")
    ap.add_argument("--encoders-only", action="store_true",
                    help="only the x264 settings compared (benchmarks/render_encoders.py)")
    ap.add_argument("--compose", action="store_true", help="only the compositors compared: "
                    "RGB + conversion vs straight into I420 (benchmarks/render_compose.py)")
    ap.add_argument("--timeline-only", action="store_true",
                    help="only the timeline-only figures (in process, as a command, where the "
                         "time goes): a few seconds")
    args = ap.parse_args(argv)
    report: dict = {"machine": machine_info(), "load_before": _load(),
                    "cores_available_before": cores_available()}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        wav = tmp / "speech.wav"
        sf.write(wav, speech_of_length(args.seconds), RATE)
        if args.compose:
            from benchmarks.render_compose import compare

            report["compose"] = [compare(wav, assets_dir() / "characters" / name, tmp)
                                 for name in ("toon", "astronaut")]
            print(json.dumps({**report, "load_after": _load()}, indent=1))
            return 0
        if args.encoders_only:
            report["encoders"] = encoders(wav, tmp)
            report["load_after"] = _load()
            if args.json:
                print(json.dumps(report, indent=1))
            else:
                print(f"load {report['load_before']} -> {report['load_after']}")
                print_encoders(report["encoders"])
            return 0
        if args.timeline_only:
            report["timeline_only"] = timeline_only(wav, args.seconds, tmp)
            report["load_after"] = _load()
            print(json.dumps(report, indent=1) if args.json else _timeline_line(report))
            return 0
        report["encode_ratio"] = encode_ratio(wav, args.seconds, args.reps, tmp)
        report["realtime"] = realtime_factors(wav, args.seconds, tmp, report["encode_ratio"])
        report["timeline_only"] = timeline_only(wav, args.seconds, tmp)
        report["first_frame"] = first_frame(tmp)
        report["batch"] = batch_throughput(tmp, args.reps, not args.no_ray)
        if args.encoders:
            report["encoders"] = encoders(wav, tmp)
    report["load_after"] = _load()
    report["cores_available_after"] = cores_available()
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    _print(report)
    return 0


def _timeline_line(r: dict) -> str:
    t = r["timeline_only"]
    return (f"timeline only ({t['seconds']:g} s, load {r['load_before']}): "
            f"{t['realtime_factor']}x in process (idle bound {t['idle_bound_realtime_factor']}x), "
            f"{t['command_realtime_factor']}x as a command; seconds: {t['breakdown_s']}")


def _print(r: dict) -> None:
    m = r["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores; load {r['load_before']} -> "
          f"{r['load_after']}; cores available {r['cores_available_before']} -> "
          f"{r['cores_available_after']}")
    e = r["encode_ratio"]
    print(f"render / encode-only ({e['seconds']:g} s, 512 px): {e['ratio_median']} "
          f"(vs YUV frames {e['ratio_vs_yuv_median']}, cpu {e['cpu_ratio_median']}, idle "
          f"bound {e['idle_bound_ratio_median']}), pairs {[p['ratio'] for p in e['pairs']]}")
    for p in e["pairs"]:
        print(f"  load {p['load']}: render threads {p['render']['threads']}")
    for width, v in r["realtime"].items():
        print(f"real time factor {width} px: {v['realtime_factor']}x")
    print(f"  512 px idle bound: {e['idle_bound_realtime_factor']}x")
    print(_timeline_line(r))
    print(f"first frame after launch: median {r['first_frame']['median_s']} s")
    b = r["batch"]
    print(f"batch of {b['files']} ({b['audio_s']} s): 1 worker {b['jobs1']['median_s']} s, "
          f"2 workers {b['jobs2']['median_s']} s (x{b['speedup_2_vs_1']}, "
          f"{b['speedup_per_core_available']} per core available; cpu per clip "
          f"{b['jobs1']['cpu_per_clip_s']} -> {b['jobs2']['cpu_per_clip_s']} s)")
    if "ray" in b:
        print(f"  Ray: start {b['ray']['start_s']} s, batch {b['ray']['median_s']} s, "
              f"overhead {b['ray']['overhead_per_file_s']} s per file")
    print(f"  same outputs: {b['files_identical_jobs1_jobs2_ray']}")
    print_encoders(r.get("encoders", []))


if __name__ == "__main__":
    sys.exit(main())
