"""``animator live`` and ``animator devices``: argument parsing only (see animator/cli.py)."""

from __future__ import annotations

import argparse
import sys

from animator.cli import options


def osc_listen(text: str) -> tuple[str, int]:
    """'[HOST:]PORT' where OSC cues are listened for (HOST 127.0.0.1 when omitted)."""
    if text.isdigit():
        text = f"127.0.0.1:{text}"
    return options.host_port(text)


def register(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser(
        "live", help="animate the character live from a microphone or a webcam",
        description="Live mode: speech (microphone or a file played in real time) and/or a "
                    "face (webcam or a video file) in; the character out, one frame per tick "
                    "of a fixed schedule, to a window, a web page (OBS browser source), a "
                    "virtual camera and/or a VMC receiver. Ctrl-C ends it.",
        formatter_class=options.HelpFormatter)
    r.add_argument("--audio", metavar="mic|FILE", default=None,
                   help="'mic' (default input), 'mic:DEVICE' (see 'animator devices') or an "
                        "audio file played in real time; lips come from it through MappingNet")
    r.add_argument("--camera", metavar="INDEX|FILE", default=None,
                   help="webcam index or a video file played in real time; gives the head "
                        "pose, and the lips when there is no --audio")
    r.add_argument("--rig", metavar="DIR", default=None,
                   help="rig folder; default: the built-in toon character")
    r.add_argument("--model", metavar="MODEL.onnx", default=None,
                   help="MappingNet model; default: the shipped one")
    r.add_argument("--fps", type=options.fps, default=30.0, help="frames per second")
    r.add_argument("--seed", type=int, default=0, help="random seed of the head motion")
    options.add_motion_gain(r)
    options.add_mouth_gain(r)
    r.add_argument("--head", choices=("synth", "tracked", "mix"), default=None,
                   help="head motion: synthesised, your tracked head (mirrored), or both "
                        "added; default: tracked with --camera, synth otherwise")
    r.add_argument("--no-mirror", dest="mirror", action="store_false",
                   help="turn the avatar's head the way you turn yours, not as a mirror image")
    r.add_argument("--window", action="store_true",
                   help="show the avatar in a window (keys 0-9 cue expressions, Esc/q ends)")
    r.add_argument("--web", type=options.port, metavar="PORT", default=None,
                   help="serve the avatar page on http://127.0.0.1:PORT/ (0: a free port)")
    r.add_argument("--allow-origin", type=options.origin, action="append", default=[],
                   metavar="URL",
                   help="with --web: also let pages from this origin (e.g. "
                        "https://studio.example) read the avatar's WebSocket; by default only "
                        "the page the server itself serves may (repeatable)")
    r.add_argument("--virtual-cam", action="store_true",
                   help="send the avatar to a virtual camera (pyvirtualcam, v4l2loopback)")
    r.add_argument("--vmc", type=options.host_port, metavar="HOST:PORT", default=None,
                   help="send head rotation and A/I/U/E/O blendshapes as VMC/OSC over UDP "
                        "(VSeeFace listens on 39539)")
    r.add_argument("--osc-in", type=osc_listen, metavar="[HOST:]PORT", default=None,
                   help="listen for OSC expression cues (Stream Deck, TouchOSC): "
                        "'/avatar/expression NAME' or '/avatar/expression/NAME'; HOST "
                        "defaults to 127.0.0.1 (0.0.0.0 for a tablet on the network)")
    r.add_argument("--expression", metavar="NAME", default="neutral",
                   help="the rig expression the face holds while the mouth rests, until a "
                        "cue (window keys 0-9, the page's keys and WebSocket, POST "
                        "/expression/NAME, --osc-in) changes it")
    r.add_argument("--no-blink", dest="blink", action="store_false",
                   help="no idle blinks while no face drives the eyes (a tracked face's own "
                        "blinks are always shown)")
    r.add_argument("--width", type=options.width_px, default=512,
                   help="width of window and virtual camera images in pixels")
    r.add_argument("--background", type=options.colour, default="#ecf0f4", metavar="#RRGGBB",
                   help="colour behind the character in the window and virtual camera")
    r.add_argument("--loop", action="store_true", help="play audio/video files in a loop")
    r.add_argument("--seconds", type=options.positive_seconds, default=None,
                   help="stop after this many seconds (default: run until Ctrl-C)")
    r.add_argument("--calibrate", type=options.positive_seconds, default=None, metavar="SECONDS",
                   help="with --camera: rest your face (mouth closed, eyes open, looking at "
                        "the camera) for the first SECONDS; they set your resting mouth and "
                        "open eyes at once (default: learned as you go, within seconds)")
    r.set_defaults(run=run)

    d = sub.add_parser("devices", help="list audio input devices (for --audio mic:DEVICE)",
                       description="List the audio input devices that 'animator live --audio "
                                   "mic:DEVICE' accepts (index or name).")
    d.set_defaults(run=run_devices)


def run(args: argparse.Namespace) -> int:
    from animator.live.session import LiveOptions, run_live

    opts = LiveOptions(audio=args.audio, camera=args.camera, rig_dir=args.rig,
                       model_path=args.model, fps=args.fps, seed=args.seed, head=args.head,
                       motion_gain=args.motion_gain, mouth_gain=args.mouth_gain,
                       window=args.window, web_port=args.web, virtual_cam=args.virtual_cam,
                       allow_origins=tuple(args.allow_origin),
                       vmc=args.vmc, width_px=args.width, background_rgb=args.background,
                       loop_files=args.loop, seconds=args.seconds, mirror=args.mirror,
                       calibrate_s=args.calibrate or 0.0, expression=args.expression,
                       idle_blinks=args.blink, osc_in=args.osc_in)

    def ready(info: dict[str, str]) -> None:
        for what, where in info.items():
            print(f"{what}: {where}", file=sys.stderr, flush=True)
        print("live: running, Ctrl-C to stop", file=sys.stderr, flush=True)
        if opts.calibrate_s:
            print(f"live: calibrating: rest your face (mouth closed, eyes open, looking at the "
                  f"camera) for {opts.calibrate_s:g} s", file=sys.stderr, flush=True)

    def synced(estimate) -> None:
        print(f"live: sync (measured): {estimate.line()}", file=sys.stderr, flush=True)

    s = run_live(opts, on_ready=ready, on_sync=synced)
    if s.sync is not None:
        print(f"live: sync: {s.sync.line()}", file=sys.stderr)
    nonfinite = f", {s.nonfinite} with non-finite keypoints" if s.nonfinite else ""
    print(f"live: {s.ticks} frames, {s.late} late, {s.skipped} skipped, {s.stale} without "
          f"fresh input{nonfinite}; sinks: {s.sinks}", file=sys.stderr)
    return 0


def run_devices(args: argparse.Namespace) -> int:
    from animator.sources.audio_input import list_input_devices

    devices = list_input_devices()
    if not devices:
        print("no audio input devices found", file=sys.stderr)
        return 0
    for d in devices:
        mark = "*" if d["default"] else " "
        print(f"{mark} {d['index']:3d}  {d['name']}  ({d['channels']} ch, "
              f"{d['default_samplerate']:g} Hz)")
    return 0
