"""``animator rig ...``: argument parsing only (see animator/cli.py).

The stage commands keep the seed face-rig pipeline's flags (generate_extreme_expressions.py,
generate_head_tilts.py, generate_all_sequences.py), so its documented workflow runs unchanged;
the work is done in animator/authoring/ (plans, runner, build).
"""

from __future__ import annotations

import argparse

from animator.cli import options

BACKENDS = ("warp", "openai", "toon", "latent")
SIZES = ("1024x1024", "1024x1536", "1536x1024", "auto")  # gpt-image-1's
QUALITIES = ("low", "medium", "high")
FMT = options.HelpFormatter


def _common(p: argparse.ArgumentParser, config_default: str | None = "expressions.json",
            config_note: str = "") -> None:
    """Options every generating stage takes."""
    p.add_argument("--config", default=config_default, metavar="JSON",
                   help="the rig config (expressions.json: poses, expressions, base_paths)"
                        + config_note)
    p.add_argument("--backend", choices=BACKENDS, default="warp",
                   help="how images are made: 'warp' (offline mesh warp of a photo), 'openai' "
                        "(gpt-image-1; needs OPENAI_API_KEY, costs money), 'toon' (the "
                        "built-in procedural character), 'latent' (yaw turns along fitted "
                        "latent directions; expressions and tweens by warp)")
    p.add_argument("--max-workers", type=options.max_workers, default=4,
                   help="images made in parallel (parallel API calls for openai)")
    p.add_argument("--overwrite", action="store_true",
                   help="redo images that exist (by default they are kept: a re-run resumes)")
    p.add_argument("--dry-run", action="store_true",
                   help="print how many images (API calls) and, for openai, the cost estimate; "
                        "make nothing")
    p.add_argument("--size", choices=SIZES, default="1024x1536",
                   help="image size asked of gpt-image-1 (openai backend)")
    p.add_argument("--quality", choices=QUALITIES, default="high",
                   help="gpt-image-1 quality (openai backend; sets the price)")
    p.add_argument("--directions", default=None, metavar="DIRS.npz",
                   help="latent backend: yaw directions from 'animator rig latent fit'")
    p.add_argument("--encoder", default=None, metavar="ENC.onnx",
                   help="latent backend: ONNX encoder of the latent space (with --decoder)")
    p.add_argument("--decoder", default=None, metavar="DEC.onnx",
                   help="latent backend: ONNX decoder of the latent space (with --encoder)")
    p.add_argument("--pca", default=None, metavar="PCA.npz",
                   help="latent backend: a PCA latent space (default space: FaceMesh "
                        "landmarks)")
    p.add_argument("--max-attempts", type=options.max_attempts, default=5,
                   help="tries per image on HTTP 429/5xx, with exponential backoff and "
                        "jitter, honouring Retry-After (openai backend)")


def register(sub: argparse._SubParsersAction) -> None:
    rig = sub.add_parser("rig", help="build character rigs",
                         description="Build rig folders (see README: 'Rig folder').")
    rig_sub = rig.add_subparsers(dest="rig_command", metavar="RIG_COMMAND", required=True)

    toon = rig_sub.add_parser(
        "toon", help="draw the built-in procedural cartoon character into a rig folder",
        formatter_class=FMT)
    toon.add_argument("outdir", metavar="OUTDIR", help="rig folder to create or complete")
    toon.add_argument("--size", type=options.number_in(int, 16, 2048, "--size", " pixels"),
                      default=512, help="image size in pixels (square)")
    toon.add_argument("--depth", type=options.max_depth, default=2,
                      help="tween depth: 2^depth - 1 tween frames per path")
    toon.add_argument("--overwrite", action="store_true", help="redraw existing images")
    toon.set_defaults(run=run_toon)

    ext = rig_sub.add_parser(
        "extremes", formatter_class=FMT,
        help="make every expression at one pose from a neutral portrait",
        description="Make <expr>__<pose>.png for every expression of the config from a "
                    "neutral portrait (the seed's generate_extreme_expressions.py).")
    _common(ext)
    ext.add_argument("--base-image", required=True, metavar="PORTRAIT",
                     help="the neutral face at --pose")
    ext.add_argument("--pose", default="center", help="the pose of the portrait and results")
    ext.add_argument("--outdir", "--output-dir", dest="outdir", default="frames/endpoints",
                     help="endpoints folder to write")
    ext.add_argument("--include-neutral", action="store_true",
                     help="also remake 'neutral' itself through the backend")
    ext.set_defaults(run=run_extremes)

    tilts = rig_sub.add_parser(
        "tilts", formatter_class=FMT,
        help="turn every expression found at a source pose to every other pose",
        description="For every <expr>__<source-pose>.png in the endpoints folder, make "
                    "<expr>__<pose>.png for every other pose of the config (the seed's "
                    "generate_head_tilts.py).")
    _common(tilts)
    tilts.add_argument("--endpoints-dir", default="frames/endpoints",
                       help="folder with the expression images")
    tilts.add_argument("--base-neutral", default=None, metavar="IMG",
                       help="copied in as neutral__<source-pose>.png when that is missing")
    tilts.add_argument("--source-pose", default="center",
                       help="the pose the existing expressions are in")
    tilts.set_defaults(run=run_tilts)

    seq = rig_sub.add_parser(
        "sequences", formatter_class=FMT,
        help="make tween frames for every base path at every pose",
        description="Tween frames by recursive midpoints (depth d: 2^d - 1 per sequence) "
                    "for every base path x pose, and the neutral pose sequences "
                    "neutral_center_to_neutral_<pose> (the seed's generate_all_sequences.py "
                    "and generate_neutral_pose_sequences.py).")
    _common(seq)
    seq.add_argument("--endpoints-dir", default="frames/endpoints",
                     help="folder with the endpoint images")
    seq.add_argument("--sequences-dir", default="frames/sequences",
                     help="folder to write <path_id>__<pose>/NNN.png and manifest.json into")
    seq.add_argument("--max-depth", type=options.max_depth, default=2,
                     help="midpoint subdivision depth: 2^depth - 1 tweens per sequence")
    seq.set_defaults(run=run_sequences)

    build = rig_sub.add_parser(
        "build", formatter_class=FMT,
        help="all stages in one command: portrait -> rig folder",
        description="Extremes, head poses and tween sequences into OUTDIR (endpoints/, "
                    "sequences/, expressions.json), a rig folder that 'animator render "
                    "--rig' loads. Re-running makes only what is missing.")
    _common(build, config_default=None,
            config_note="; default: the photo-rig config, or the toon's for --backend toon")
    build.add_argument("portrait", metavar="PORTRAIT", help="neutral, front-facing portrait")
    build.add_argument("outdir", metavar="OUTDIR", help="rig folder to create or complete")
    build.add_argument("--max-depth", type=options.max_depth, default=2,
                       help="midpoint subdivision depth: 2^depth - 1 tweens per sequence")
    build.add_argument("--image-size", default=512, metavar="PX",
                       type=options.number_in(int, 64, 2048, "--image-size", " pixels"),
                       help="warp backend: width of the rig images in pixels (the portrait "
                            "is scaled to it)")
    build.add_argument("--mouth-chart", action="store_true",
                       help="warp backend: make a mouth chart instead (the rest face at each "
                            "pose plus mouths/A-F and X drawn on the portrait, placed at the "
                            "mouth, as animators draw one); default config: the chart's")
    build.add_argument("--crop", choices=("head", "none"), default="head",
                       help="warp backend: 'head' cuts a square head-and-shoulders crop "
                            "around the face; 'none' keeps the whole portrait")
    build.set_defaults(verify=True)  # before the flag: no "(default: True)" in its help
    build.add_argument("--no-verify", dest="verify", action="store_false",
                       default=argparse.SUPPRESS,
                       help="do not measure the images as they are made (by default every "
                            "image is checked with FaceMesh: a face, the head pose asked "
                            "for, the mouth opening in order; a bad image fails, and 'Rig "
                            "ready' needs the whole rig to pass)")
    build.set_defaults(run=run_build)

    check = rig_sub.add_parser(
        "check", formatter_class=FMT, help="measure a rig folder and write a JSON report",
        description="Check a rig folder (poses measured on the images, sizes, tweens); "
                    "prints a summary and writes the report as JSON.")
    check.add_argument("rigdir", metavar="RIGDIR", help="rig folder to check")
    check.add_argument("--sheet", default=None, metavar="PNG",
                       help="also write a contact sheet of the rig")
    check.add_argument("--report", default=None, metavar="JSON",
                       help="where to write the report (default: RIGDIR/check.json)")
    check.add_argument("--tweens", action="store_true",
                       help="also measure every tween frame (a face in each, openings in "
                            "order along each sequence)")
    check.set_defaults(run=run_check)

    from animator.cli import latent  # `rig latent fit|apply`: latent-direction head turns

    latent.register(rig_sub)


def run_toon(args: argparse.Namespace) -> int:
    from animator.authoring.toon import build_toon_rig

    n = build_toon_rig(args.outdir, size_px=args.size, depth=args.depth,
                       overwrite=args.overwrite)
    print(f"{args.outdir}: {n} images written")
    return 0


def _runner(args: argparse.Namespace):
    from pathlib import Path

    from animator.authoring.build import make_backend
    from animator.authoring.runner import Runner

    backend = make_backend(args.backend, size=args.size, quality=args.quality,
                           max_attempts=args.max_attempts, directions=args.directions,
                           encoder=args.encoder, decoder=args.decoder, pca=args.pca,
                           image_size=getattr(args, "image_size", 512),
                           crop=getattr(args, "crop", "head") == "head")
    inputs = [getattr(args, name, None) for name in ("config", "portrait", "base_image",
                                                     "base_neutral", "directions", "encoder",
                                                     "decoder", "pca")]
    return Runner(backend, max_workers=args.max_workers,
                  inputs=tuple(Path(p) for p in inputs if p))


def _dry_run(args: argparse.Namespace, plans: list) -> int:
    from animator.authoring.build import dry_run_lines

    for line in dry_run_lines(plans, args.backend, args.size, args.quality):
        print(line)
    return 0


def _finish(runner, tally) -> int:
    runner.log(tally.done_line())
    return 0 if tally.ok else 1


def run_extremes(args: argparse.Namespace) -> int:
    from pathlib import Path

    from animator.authoring.plans import plan_extremes
    from animator.rig import RigConfig

    config = RigConfig.load(args.config)

    def plan(backend):
        return plan_extremes(config, backend, Path(args.base_image), args.pose,
                             Path(args.outdir), include_neutral=args.include_neutral,
                             overwrite=args.overwrite)

    if args.dry_run:
        return _dry_run(args, [plan(None)])
    runner = _runner(args)
    Path(args.outdir).mkdir(parents=True, exist_ok=True)
    return _finish(runner, runner.run(plan(runner.backend)))


def run_tilts(args: argparse.Namespace) -> int:
    from pathlib import Path

    from animator.authoring.plans import plan_tilts
    from animator.rig import RigConfig

    config = RigConfig.load(args.config)
    base_neutral = Path(args.base_neutral) if args.base_neutral else None

    def plan(backend):
        return plan_tilts(config, backend, Path(args.endpoints_dir),
                          source_pose=args.source_pose, base_neutral=base_neutral,
                          overwrite=args.overwrite)

    if args.dry_run:
        return _dry_run(args, [plan(None)])
    runner = _runner(args)
    return _finish(runner, runner.run(plan(runner.backend)))


def run_sequences(args: argparse.Namespace) -> int:
    from pathlib import Path

    from animator.authoring.plans import plan_sequences
    from animator.rig import RigConfig

    config = RigConfig.load(args.config)

    def plan(backend):
        return plan_sequences(config, backend, Path(args.endpoints_dir),
                              Path(args.sequences_dir), max_depth=args.max_depth,
                              overwrite=args.overwrite)

    if args.dry_run:
        return _dry_run(args, [plan(None)])
    runner = _runner(args)
    return _finish(runner, runner.run(plan(runner.backend)))


def run_build(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from animator.authoring.build import build_rig, default_config_path, plan_build
    from animator.authoring.plans import image_ext_for
    from animator.authoring.warp import NoHumanFace

    config = Path(args.config) if args.config else default_config_path(args.backend)
    if args.mouth_chart and not args.config:
        from animator.authoring.mouth_chart import CONFIG_PATH

        config = CONFIG_PATH
    if args.dry_run:
        return _dry_run(args, plan_build(config, Path(args.portrait), Path(args.outdir),
                                         max_depth=args.max_depth, overwrite=args.overwrite,
                                         ext=image_ext_for(args.backend),
                                         layers=args.backend == "warp"))
    runner = _runner(args)
    try:
        tally = build_rig(config, Path(args.portrait), Path(args.outdir), runner,
                          max_depth=args.max_depth, overwrite=args.overwrite,
                          verify=args.verify)
    except NoHumanFace as exc:  # a portrait the build refuses: a failed build, not bad input
        print(f"animator: failed: {exc}", file=sys.stderr)
        return 1
    return _finish(runner, tally)


def run_check(args: argparse.Namespace) -> int:
    from pathlib import Path

    from animator.authoring.check import check_rig, format_summary, write_report
    from animator.core.outputs import Output, check_outputs
    from animator.rig import RigError, load_rig

    report_path = Path(args.report) if args.report else Path(args.rigdir) / "check.json"
    outputs = [Output(report_path, "report", (".json",))]
    if args.sheet:
        outputs.append(Output(args.sheet, "contact sheet", (".png",)))
    try:
        inputs = load_rig(args.rigdir).files()
    except RigError:  # a broken rig is still checked: protect what can be named
        inputs = [Path(args.rigdir) / "expressions.json"]
    check_outputs(outputs, inputs)
    report = check_rig(args.rigdir, sheet_path=args.sheet, tweens=args.tweens)
    write_report(report, report_path)
    print(f"rig: {args.rigdir} ({len(report['endpoints'])} endpoints)")
    print(format_summary(report))
    print(f"report: {report_path}" + (f", contact sheet: {args.sheet}" if args.sheet else ""))
    return 0 if report["summary"]["passed"] else 1
