"""``animator render``: argument parsing only (see animator/render/)."""

from __future__ import annotations

import argparse

from animator.cli import options

#: keypoint frames per MappingNet call offline (--model-batch)
model_batch = options.number_in(int, 1, 4096, "--model-batch", " frames")
dat_fps = options.number_in(float, 10, 100, "--dat-fps")
margin_px = options.number_in(int, 0, 4096, "--margin", " pixels")
crf = options.number_in(int, 0, 51, "--crf")
#: x264 presets --preset offers (animator.sinks.mp4 measures them; named here so that --help
#: needs no PyAV), fastest first
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium")


def add_encoder_options(parser: argparse.ArgumentParser) -> None:
    """--preset and --crf of the H.264 encoder (mp4 outputs), for render and batch."""
    parser.add_argument("--preset", choices=X264_PRESETS, default="superfast",
                        help="x264 speed preset of an .mp4 (superfast: ~1.9 ms of CPU a "
                             "512 px frame, ~5 MB a minute; ultrafast: half the CPU, 2.4x the "
                             "size; veryfast: half the size, 1.5x the CPU)")
    parser.add_argument("--crf", type=crf, default=20, metavar="0-51",
                        help="x264 quality of an .mp4: lower is better and larger")


def canvas_size(text: str) -> tuple[int, int]:
    from animator.sinks.compose import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


#: where --place can put the character (animator.sinks.compose.PLACEMENTS, kept here so that
#: --help needs no OpenCV)
PLACEMENTS = ("bottom-right", "bottom-left", "bottom-center", "center", "top-left",
              "top-right", "top-center", "left", "right")


def register(sub: argparse._SubParsersAction) -> None:
    from animator.render import MODEL_BATCH
    from animator.render.exports import EXPORTERS

    formats = "; ".join(f"{e.name} ({'a new folder' if e.folder else '/'.join(e.suffixes)}): "
                        f"{e.help}" for e in EXPORTERS.values())
    r = sub.add_parser(
        "render", help="render an audio file to an mp4 with the character (or its timeline)",
        description="Render AUDIO (wav/flac/ogg/mp3, any rate and channel count) to an H.264 "
                    "+ AAC mp4 that carries the original audio and lasts exactly as long, "
                    "and/or to exports. Without -o no video is made: a timeline alone takes "
                    "a fraction of a second per minute of speech.",
        formatter_class=options.HelpFormatter)
    r.add_argument("audio", metavar="AUDIO", help="speech audio file")
    r.add_argument("-o", "--output", default=None, metavar="OUT.mp4",
                   help="video to write (at least one of -o, --timeline, --plot, --export); "
                        "the extension decides: .mp4 (H.264 + AAC), .webm (VP9 with alpha + "
                        "Opus) or .mov (ProRes 4444 with alpha + PCM): the character over "
                        "nothing, for editors")
    r.add_argument("--rig", metavar="DIR", default=None,
                   help="rig folder (expressions.json, endpoints/, sequences/); "
                        "default: the built-in toon character")
    r.add_argument("--fps", type=options.fps, default=25.0, help="video frame rate")
    r.add_argument("--seed", type=int, default=0,
                   help="random seed of the head motion (same seed, same video)")
    options.add_modes(r)
    r.add_argument("--timeline", metavar="OUT.json", default=None,
                   help="also write the per-frame timeline JSON")
    r.add_argument("--plot", metavar="OUT.png", default=None,
                   help="also write a plot of angles, chosen pose, speaking state, mouth and "
                        "blinks")
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
                        "exactly as live mode; more (the default) computes the file's lips "
                        "in large batches, only the frames shown (~30x less work), which "
                        "changes the keypoints by float rounding only (< 1e-5)")
    r.add_argument("--width", type=options.width_px, default=512, help="video width in pixels")
    r.add_argument("--background", type=options.colour, default="#ecf0f4", metavar="#RRGGBB",
                   help="colour behind transparent rig images")
    r.add_argument("--size", type=canvas_size, default=None, metavar="WxH",
                   help="place the character on a canvas of this size (e.g. 1920x1080) "
                        "instead of a frame of its own; see --place")
    r.add_argument("--place", choices=tuple(PLACEMENTS), default="bottom-right",
                   help="where the character goes on the --size canvas")
    r.add_argument("--margin", type=margin_px, default=0, metavar="PX",
                   help="pixels between the character and the canvas edges it is placed "
                        "against")
    add_encoder_options(r)
    r.add_argument("--dat-fps", type=dat_fps, default=24.0, metavar="FPS",
                   help="frame rate of the moho-dat export (10-100, Rhubarb's default 24)")
    r.add_argument("--dat-preston-blair", action="store_true",
                   help="moho-dat export with Preston Blair's shape names (MBP, etc, E, AI, "
                        "O, U, FV, L, rest; OpenToonz needs them)")
    r.add_argument("--viseme-model", metavar="MODEL.onnx", default=None,
                   help="mouth-shape model (Rhubarb's A-H, X); default: the shipped "
                        "assets/models/visemes.onnx")
    r.add_argument("--no-visemes", action="store_true",
                   help="do not run the mouth-shape model: shapes follow the mouth's opening "
                        "(no G or H)")
    r.add_argument("--model", metavar="MODEL.onnx", default=None,
                   help="MappingNet model; default: the shipped assets/models/mappingnet.onnx")
    r.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    r.set_defaults(run=run, parser=r)


def run(args: argparse.Namespace) -> int:
    from animator.engine import EngineConfig
    from animator.render import render
    from animator.render.exports import parse_export
    from animator.stages.idle_blinks import IdleBlinkParams

    options.check_modes(args)
    exports = [parse_export(text) for text in args.export]
    canvas = None
    if args.size is not None:  # OpenCV (~0.25 s to import) only for a video on a canvas
        from animator.sinks.compose import Canvas

        canvas = Canvas(args.size, args.place, args.margin)
    result = render(
        args.audio, args.output, rig_dir=args.rig, model_path=args.model,
        config=EngineConfig(fps=args.fps, seed=args.seed, motion=args.motion,
                            speaking=args.speaking, motion_gain=args.motion_gain,
                            open_gain=args.mouth_gain,
                            idle_blinks=IdleBlinkParams() if args.blink else None,
                            expression=args.expression),
        width_px=args.width, background_rgb=args.background,
        timeline_path=args.timeline, plot_path=args.plot, exports=exports,
        model_batch=args.model_batch, expression_track=args.expression_track,
        shape_model_path=args.viseme_model, visemes=not args.no_visemes, canvas=canvas,
        dat_fps=args.dat_fps, preston_blair=args.dat_preston_blair,
        x264_preset=args.preset, crf=args.crf)
    if not args.quiet:
        written = [str(p) for p in (args.output, args.timeline, args.plot) if p is not None]
        written += [path for _, path in exports]
        print(f"{', '.join(written)}: {result.n_frames} frames, {result.duration_s:.2f} s of "
              f"audio, made in {result.elapsed_s:.2f} s ({result.realtime_factor:.1f}x real "
              f"time)")
    return 0
