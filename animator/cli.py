"""The ``animator`` command: argument parsing and error reporting only, no logic."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from animator import __version__

EXIT_BAD_INPUT = 2


def _positive_fps(text: str) -> float:
    value = float(text)
    if not 1 <= value <= 240:
        raise argparse.ArgumentTypeError("fps must be between 1 and 240")
    return value


def _even_width(text: str) -> int:
    value = int(text)
    if not 16 <= value <= 4096:
        raise argparse.ArgumentTypeError("width must be between 16 and 4096 pixels")
    return value


def _color(text: str) -> tuple[int, int, int]:
    from animator.compose import parse_color

    try:
        return parse_color(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="animator",
        description="Talking-head pose animator: speech in, a character rig's frames out. "
                    "Lip keypoints come from an audio-driven ONNX model (MappingNet); head "
                    "motion is synthesised and damped while the speaker is silent; every "
                    "frame shows the nearest image of the rig.",
        epilog="Run 'animator COMMAND --help' for the options of a command.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    r = sub.add_parser(
        "render", help="render an audio file to an mp4 with the character",
        description="Render AUDIO (wav/flac/ogg/mp3, any rate and channel count) to an H.264 "
                    "+ AAC mp4 that carries the original audio and lasts exactly as long.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    r.add_argument("audio", metavar="AUDIO", help="speech audio file")
    r.add_argument("-o", "--output", required=True, metavar="OUT.mp4", help="video to write")
    r.add_argument("--rig", metavar="DIR", default=None,
                   help="rig folder (expressions.json, endpoints/, sequences/); "
                        "default: the built-in toon character")
    r.add_argument("--fps", type=_positive_fps, default=25.0, help="video frame rate")
    r.add_argument("--seed", type=int, default=0,
                   help="random seed of the head motion (same seed, same video)")
    r.add_argument("--motion", choices=("natural", "seed"), default="natural",
                   help="head motion: 'natural' (phased, re-drawn, smoothed jitter, idle "
                        "breathing) or 'seed' (the original eased sinusoids, for comparison)")
    r.add_argument("--silence", choices=("stream", "seed"), default="stream",
                   help="silence mask: 'stream' (causal, lip speed in mouth widths/s) or 'seed' "
                        "(the original whole-clip min-max algorithm)")
    r.add_argument("--timeline", metavar="OUT.json", default=None,
                   help="also write the per-frame timeline JSON")
    r.add_argument("--plot", metavar="OUT.png", default=None,
                   help="also write a plot of angles, chosen pose, silence mask and mouth")
    r.add_argument("--width", type=_even_width, default=512, help="video width in pixels")
    r.add_argument("--background", type=_color, default="#ecf0f4", metavar="#RRGGBB",
                   help="colour behind transparent rig images")
    r.add_argument("--model", metavar="MODEL.onnx", default=None,
                   help="MappingNet model; default: the shipped assets/models/mappingnet.onnx")
    r.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")

    rig = sub.add_parser("rig", help="build character rigs",
                         description="Build rig folders (see README: 'Rig folder').")
    rig_sub = rig.add_subparsers(dest="rig_command", metavar="RIG_COMMAND", required=True)
    toon = rig_sub.add_parser(
        "toon", help="draw the built-in procedural cartoon character into a rig folder",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    toon.add_argument("outdir", metavar="OUTDIR", help="rig folder to create or complete")
    toon.add_argument("--size", type=int, default=512, help="image size in pixels (square)")
    toon.add_argument("--depth", type=int, default=2,
                      help="tween depth: 2^depth - 1 tween frames per path")
    toon.add_argument("--overwrite", action="store_true", help="redraw existing images")
    return parser


def _run_render(args: argparse.Namespace) -> int:
    from animator.engine import EngineConfig
    from animator.render import render

    result = render(
        args.audio, args.output, rig_dir=args.rig, model_path=args.model,
        config=EngineConfig(fps=args.fps, seed=args.seed, motion=args.motion,
                            silence=args.silence),
        width_px=args.width, background_rgb=args.background,
        timeline_path=args.timeline, plot_path=args.plot)
    if not args.quiet:
        print(f"{result.out_path}: {result.n_frames} frames, {result.duration_s:.2f} s of audio, "
              f"rendered in {result.elapsed_s:.1f} s ({result.realtime_factor:.1f}x real time)")
    return 0


def _run_rig_toon(args: argparse.Namespace) -> int:
    from animator.rigbuild.toon import build_toon_rig

    n = build_toon_rig(args.outdir, size_px=args.size, depth=args.depth,
                       overwrite=args.overwrite)
    print(f"{args.outdir}: {n} images written")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from animator.errors import USER_ERRORS

    try:
        if args.command == "render":
            return _run_render(args)
        return _run_rig_toon(args)
    except USER_ERRORS as exc:
        print(f"animator: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("animator: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
