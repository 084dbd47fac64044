"""What people expect of an avatar, measured: idle blinks over a 10-minute render, how fast an
expression cue shows live, and what a headless browser's screenshot of the page shows.

    python -m benchmarks.avatar [--json] [--minutes 10] [--cues 20] [--out DIR]

- blinks: ``animator render --timeline`` of ``--minutes`` of real speech (the 16 real
  talking-face clips of ../shared/realdata and the read speech of Debian's codec2-examples,
  joined with pauses of 0.3-1.5 s, repeated) and of as long a silence, with the built-in
  rig at 25 fps, seed 0; from the timeline's ``eyes`` field: blinks a minute, the interval
  between blink starts, the closure of each (frames shut x 40 ms), the share of doubles
  (the next blink within 1 s), and that every shut frame shows the rig's blink image.
  Targets: 10-20 a minute, no closure longer than 200 ms.
- cue latency: a live session (30 fps, silence played as its audio, page + OSC in), cued
  alternately happy_soft and neutral over OSC (python-osc) and HTTP POST: the time from
  sending the cue to the page's first frame of the cued face (received on the WebSocket),
  and its frames: target one frame plus its tween (33 + 200 ms at 30 fps).
- screenshot: ``chromium --headless --screenshot`` of the page (toon and astronaut rigs,
  1280x720 and 360x640 windows, ?background=00ff00) at its load event: the share of the
  window that is greenscreen, against the share the fitted character leaves; pictures in
  ``--out``.

The machine's 1-minute load average is recorded before and after. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import soundfile as sf

from benchmarks.machine import machine_info
from benchmarks.motion import CODEC2, CODEC2_SPEECH
from benchmarks.realdata import talking_faces
from keypoints.assets import assets_dir
from keypoints.audio import SAMPLE_RATE, load_audio

FPS = 25
CHROMIUM = "/usr/bin/chromium"


def speech_track(seconds: float, seed: int = 0) -> np.ndarray:
    """float32[N] at SAMPLE_RATE: real speech clips joined by pauses, repeated to length."""
    paths = talking_faces() + [CODEC2 / p for p in CODEC2_SPEECH if (CODEC2 / p).exists()]
    clips = [load_audio(p)[: 30 * SAMPLE_RATE] for p in paths]
    rng = np.random.default_rng(seed)
    parts, total = [], 0
    while total < seconds * SAMPLE_RATE:
        for clip in clips:
            gap = np.zeros(int(rng.uniform(0.3, 1.5) * SAMPLE_RATE), np.float32)
            parts += [clip, gap]
            total += len(clip) + len(gap)
    return np.concatenate(parts)[: int(seconds * SAMPLE_RATE)]


def blink_stats(frames: list[dict], fps: float) -> dict:
    closed = np.array([f["eyes"] == "closed" for f in frames])
    c = np.concatenate([[False], closed, [False]])
    starts = np.flatnonzero(c[1:] & ~c[:-1])
    lengths = np.flatnonzero(~c[1:] & c[:-1]) - starts
    minutes = len(frames) / fps / 60
    gaps = np.diff(starts) / fps
    closure_ms = 1000 * lengths / fps
    return {
        "minutes": round(minutes, 2), "blinks": int(len(starts)),
        "per_minute": round(len(starts) / minutes, 2),
        "interval_s": {k: round(float(v), 2) for k, v in zip(
            ("min", "p5", "p50", "p95", "max"),
            [gaps.min(), *np.percentile(gaps, [5, 50, 95]), gaps.max()], strict=True)},
        "doubles": round(float(np.mean(gaps < 1.0)), 3),
        "closure_ms": {k: round(float(v), 1) for k, v in zip(
            ("min", "p50", "max"), [closure_ms.min(), np.median(closure_ms),
                                    closure_ms.max()], strict=True)},
        "closure_ms_counts": {str(int(k)): int(n) for k, n in zip(
            *np.unique(closure_ms, return_counts=True), strict=True)},
        "shut_frames_on_blink_image": bool(all(
            f["image"].startswith("endpoints/blink__") for f in frames
            if f["eyes"] == "closed")),
        "blinks_while_speaking": int(sum(frames[s]["speaking"] >= 0.5 for s in starts)),
    }


def measure_blinks(minutes: float, tmp: Path) -> dict:
    from animator.render import render

    out = {}
    for name, audio in (("speech", speech_track(minutes * 60)),
                        ("silence", np.zeros(int(minutes * 60 * SAMPLE_RATE), np.float32))):
        wav = tmp / f"{name}.wav"
        sf.write(wav, audio, SAMPLE_RATE)
        t0 = time.perf_counter()
        render(wav, None, timeline_path=tmp / f"{name}.json", progress=False)
        elapsed = time.perf_counter() - t0
        frames = json.loads((tmp / f"{name}.json").read_text())["frames"]
        out[name] = {**blink_stats(frames, FPS), "render_s": round(elapsed, 2)}
    return out


def measure_cues(n: int, tmp: Path) -> dict:
    from pythonosc.udp_client import SimpleUDPClient
    from websockets.sync.client import connect

    from animator.live.session import LiveOptions, run_live
    from animator.stages.selection import SelectParams

    wav = tmp / "quiet.wav"
    sf.write(wav, np.zeros(int(SAMPLE_RATE * (n * 1.5 + 20)), np.float32), SAMPLE_RATE)
    fps = 30
    ready: dict[str, str] = {}
    stop, done = threading.Event(), threading.Event()
    opts = LiveOptions(audio=str(wav), web_port=0, osc_in=("127.0.0.1", 0), fps=fps,
                       idle_blinks=False)

    def run():
        try:
            run_live(opts, stop=stop, on_ready=ready.update)
        finally:
            done.set()

    threading.Thread(target=run, daemon=True).start()
    deadline = time.monotonic() + 60
    while "web" not in ready and time.monotonic() < deadline:
        time.sleep(0.05)
    url = ready["web"]
    osc = SimpleUDPClient("127.0.0.1", int(ready["osc-in"].split(" ")[0].rsplit(":", 1)[1]))
    results: dict[str, list] = {"osc": [], "http": []}
    try:
        with connect(url.replace("http://", "ws://") + "ws", origin=url.rstrip("/")) as ws:
            for _ in range(n):
                for route in ("osc", "http"):
                    for name in ("happy_soft", "neutral"):
                        time.sleep(0.3)  # let the face settle
                        while True:  # drain what queued meanwhile
                            try:
                                ws.recv(timeout=0)
                            except TimeoutError:
                                break
                        sent = time.perf_counter()
                        if route == "osc":
                            osc.send_message("/avatar/expression", name)
                        else:
                            urllib.request.urlopen(urllib.request.Request(
                                f"{url}expression/{name}", method="POST"), timeout=5)
                        first_i = None
                        while True:
                            msg = json.loads(ws.recv(timeout=5))
                            first_i = msg["i"] if first_i is None else first_i
                            if msg["image"].startswith(f"endpoints/{name}__"):
                                break
                        results[route].append((1000 * (time.perf_counter() - sent),
                                               msg["i"] - first_i + 1))
    finally:
        stop.set()
        done.wait(30)
    tween_ms = 1000 * SelectParams().cue_tween_s
    target = 1000 / fps + tween_ms
    out = {"fps": fps, "tween_ms": tween_ms, "target_ms": round(target, 1)}
    for route, rows in results.items():
        ms = np.array([r[0] for r in rows])
        frames = np.array([r[1] for r in rows])
        out[route] = {"cues": len(rows), "ms_p50": round(float(np.median(ms)), 1),
                      "ms_p95": round(float(np.percentile(ms, 95)), 1),
                      "ms_max": round(float(ms.max()), 1),
                      "frames_max": int(frames.max()),
                      "within_target": round(float(np.mean(ms <= target)), 3)}
    return out


def measure_screenshots(out_dir: Path) -> list[dict]:
    import cv2

    from animator.rig import load_rig
    from animator.sinks.web import WebSink

    rows = []
    for name in ("toon", "astronaut"):
        rig = load_rig(assets_dir() / "characters" / name)
        w, h = rig.image_size
        with WebSink(rig, 0) as sink:
            for size in ((1280, 720), (360, 640)):
                shot = out_dir / f"page_{name}_{size[0]}x{size[1]}.png"
                with tempfile.TemporaryDirectory() as profile:
                    t0 = time.perf_counter()
                    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                                    "--disable-background-networking",
                                    "--disable-component-update", "--disable-sync",
                                    "--no-first-run", f"--user-data-dir={profile}",
                                    "--hide-scrollbars", f"--window-size={size[0]},{size[1]}",
                                    f"--screenshot={shot}", sink.url + "?background=00ff00"],
                                   check=True, capture_output=True, timeout=120)
                    took = time.perf_counter() - t0
                img = cv2.imread(str(shot))
                green = float(np.mean(np.all(img == (0, 255, 0), axis=2)))
                scale = min(size[0] / w, size[1] / h)
                outside = 1 - (w * scale * h * scale) / (size[0] * size[1])
                rows.append({"rig": name, "window": f"{size[0]}x{size[1]}",
                             "greenscreen_share": round(green, 3),
                             "outside_character_share": round(outside, 3),
                             "screenshot_s": round(took, 2), "file": str(shot)})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--minutes", type=float, default=10.0, help="length of each blink render")
    ap.add_argument("--cues", type=int, default=10,
                    help="rounds of cues (each: happy_soft and neutral over OSC and HTTP)")
    ap.add_argument("--out", type=Path, default=None, help="keep the screenshots here")
    args = ap.parse_args(argv)
    result = {"machine": machine_info(), "load_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = args.out or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        result["blinks"] = measure_blinks(args.minutes, Path(tmp))
        result["cues"] = measure_cues(args.cues, Path(tmp))
        result["screenshots"] = measure_screenshots(out_dir)
    result["load_after"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    for name, b in result["blinks"].items():
        print(f"blinks, {b['minutes']} min of {name}: {b['blinks']} ({b['per_minute']}/min), "
              f"interval s {b['interval_s']}, doubles {b['doubles']:.0%}, closure ms "
              f"{b['closure_ms']} {b['closure_ms_counts']}, on the blink image: "
              f"{b['shut_frames_on_blink_image']}, rendered in {b['render_s']} s")
    c = result["cues"]
    for route in ("osc", "http"):
        r = c[route]
        print(f"cue -> cued face on the page ({route}, {r['cues']} cues): p50 {r['ms_p50']} "
              f"p95 {r['ms_p95']} max {r['ms_max']} ms ({r['frames_max']} frames at most); "
              f"target {c['target_ms']} ms: {r['within_target']:.0%} within")
    for s in result["screenshots"]:
        print(f"screenshot {s['rig']} {s['window']}: greenscreen {s['greenscreen_share']:.1%} "
              f"of the window (the fitted character leaves {s['outside_character_share']:.1%})"
              f", {s['screenshot_s']} s")
    print(f"load average {result['load_before']:.2f} -> {result['load_after']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
