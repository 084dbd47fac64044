"""``animator render``: argument parsing only (see animator/render/)."""

from __future__ import annotations

import argparse

from animator.cli import options

#: keypoint frames per MappingNet call offline (--model-batch)
model_batch = options.number_in(int, 1, 4096, "--model-batch", " frames")


def register(sub: argparse._SubParsersAction) -> None:
    from animator.render import MODEL_BATCH
    from animator.render.exports import EXPORTERS

    formats = "; ".join(f"{e.name} ({'/'.join(e.suffixes)}): {e.help}"
                        for e in EXPORTERS.values())
    r = sub.add_parser(
        "render", help="render an audio file to an mp4 with the character (or its timeline)",
        description="Render AUDIO (wav/flac/ogg/mp3, any rate and channel count) to an H.264 "
                    "+ AAC mp4 that carries the original audio and lasts exactly as long, "
                    "and/or to exports. Without -o no video is made: a timeline alone takes "
                    "a fraction of a second per minute of speech.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    r.add_argument("audio", metavar="AUDIO", help="speech audio file")
    r.add_argument("-o", "--output", default=None, metavar="OUT.mp4",
                   help="video to write (at least one of -o, --timeline, --plot, --export)")
    r.add_argument("--rig", metavar="DIR", default=None,
                   help="rig folder (expressions.json, endpoints/, sequences/); "
                        "default: the built-in toon character")
    r.add_argument("--fps", type=options.fps, default=25.0, help="video frame rate")
    r.add_argument("--seed", type=int, default=0,
                   help="random seed of the head motion (same seed, same video)")
    r.add_argument("--motion", choices=("natural", "seed"), default="natural",
                   help="head motion: 'natural' (follows the speech: nods and turns on "
                        "stressed syllables, settling at phrase ends, a calmer listening state "
                        "in pauses, over phased, re-drawn sinusoids) or 'seed' (the original "
                        "eased sinusoids, for comparison)")
    options.add_motion_gain(r)
    r.add_argument("--silence", choices=("stream", "seed"), default="stream",
                   help="silence mask: 'stream' (causal, lip speed in mouth widths/s) or 'seed' "
                        "(the original whole-clip min-max algorithm)")
    r.add_argument("--timeline", metavar="OUT.json", default=None,
                   help="also write the per-frame timeline JSON")
    r.add_argument("--plot", metavar="OUT.png", default=None,
                   help="also write a plot of angles, chosen pose, silence mask and mouth")
    r.add_argument("--export", action="append", default=[], metavar="FORMAT=PATH",
                   help=f"also write an export (repeatable); formats: {formats}")
    r.add_argument("--expression", metavar="NAME", default="neutral",
                   help="the rig expression the face holds while the mouth rests (e.g. "
                        "happy_soft); speech keeps the mouth")
    r.add_argument("--expressions", metavar="TRACK", default=None, dest="expression_track",
                   help="timed expression cues: a .json list of {start, [end], expression} "
                        "(seconds) or an .srt whose subtitle texts are expression names; "
                        "between cues the face is --expression")
    r.add_argument("--no-blink", dest="blink", action="store_false",
                   help="no idle blinks (by default the eyes blink 10-20 times a minute, "
                        "seeded by --seed, on rigs with eyes-closed frames)")
    r.add_argument("--model-batch", type=model_batch, default=MODEL_BATCH, metavar="N",
                   help="keypoint frames per MappingNet call: 1 computes each frame alone, "
                        "exactly as live mode; more shares the work between neighbouring "
                        "frames (~30x less), which changes the keypoints by float rounding "
                        "only (< 1e-5)")
    r.add_argument("--width", type=options.width_px, default=512, help="video width in pixels")
    r.add_argument("--background", type=options.colour, default="#ecf0f4", metavar="#RRGGBB",
                   help="colour behind transparent rig images")
    r.add_argument("--model", metavar="MODEL.onnx", default=None,
                   help="MappingNet model; default: the shipped assets/models/mappingnet.onnx")
    r.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    r.set_defaults(run=run, parser=r)


def run(args: argparse.Namespace) -> int:
    from animator.engine import EngineConfig
    from animator.render import render
    from animator.render.exports import parse_export
    from animator.stages.idle_blinks import IdleBlinkParams

    if args.motion == "seed" and args.motion_gain != 1.0:
        args.parser.error("--motion-gain applies to the natural motion; --motion seed is the "
                          "original algorithm, unchanged")
    exports = [parse_export(text) for text in args.export]
    result = render(
        args.audio, args.output, rig_dir=args.rig, model_path=args.model,
        config=EngineConfig(fps=args.fps, seed=args.seed, motion=args.motion,
                            silence=args.silence, motion_gain=args.motion_gain,
                            idle_blinks=IdleBlinkParams() if args.blink else None,
                            expression=args.expression),
        width_px=args.width, background_rgb=args.background,
        timeline_path=args.timeline, plot_path=args.plot, exports=exports,
        model_batch=args.model_batch, expression_track=args.expression_track)
    if not args.quiet:
        written = [str(p) for p in (args.output, args.timeline, args.plot) if p is not None]
        written += [path for _, path in exports]
        print(f"{', '.join(written)}: {result.n_frames} frames, {result.duration_s:.2f} s of "
              f"audio, made in {result.elapsed_s:.2f} s ({result.realtime_factor:.1f}x real "
              f"time)")
    return 0
