"""``animator batch``: argument parsing and reporting only (see animator/render/batch.py)."""

from __future__ import annotations

import argparse
import os
import sys
import time

from animator.cli import options
from animator.cli.render import add_encoder_options

#: Exit status when some files failed (the others were rendered).
EXIT_SOME_FAILED = 1
jobs = options.number_in(int, 1, 256, "--jobs")


def register(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser(
        "batch", help="render many audio files, here or on a Ray cluster",
        description="Render every INPUT to OUTDIR/NAME.mp4 plus its timeline OUTDIR/NAME.json. "
                    "An INPUT is an audio file, a folder (its audio files), or a CSV list "
                    "with the columns audio,rig,seed,output (a header row names them; audio "
                    "and rig relative to the CSV's folder, output relative to OUTDIR; empty "
                    "cells take the options below). Finished outputs are skipped, so an "
                    "interrupted batch is resumed by running it again; OUTDIR/manifest.json "
                    "records each file's status, audio duration, wall time and error. A bad "
                    "file is reported and skipped: the exit status is 1 if any failed.",
        formatter_class=options.HelpFormatter)
    b.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="audio file, folder of audio files, or CSV list")
    b.add_argument("-o", "--outdir", required=True, metavar="OUTDIR",
                   help="folder for the videos, timelines and manifest (made if missing)")
    b.add_argument("-j", "--jobs", type=jobs, default=os.cpu_count() or 1,
                   help="files rendered at once by local worker processes (with --ray: the "
                        "CPUs of the local Ray started for the run)")
    b.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run the files as Ray tasks: on the cluster at ADDRESS (ray://HOST:10001 "
                        "or HOST:6379), or, without ADDRESS, on a local Ray started for the run; "
                        "inputs and OUTDIR must be at the same paths on every node")
    b.add_argument("--overwrite", action="store_true",
                   help="render again files whose outputs exist")
    b.add_argument("--no-timeline", action="store_true", help="write the videos only")
    b.add_argument("--rig", metavar="DIR", default=None,
                   help="rig folder; default: the built-in toon character")
    b.add_argument("--seed", type=int, default=0, help="random seed of the head motion")
    b.add_argument("--fps", type=options.fps, default=25.0, help="video frame rate")
    options.add_modes(b)
    b.add_argument("--width", type=options.width_px, default=512, help="video width in pixels")
    b.add_argument("--background", type=options.colour, default="#ecf0f4", metavar="#RRGGBB",
                   help="colour behind transparent rig images")
    b.add_argument("--model", metavar="MODEL.onnx", default=None,
                   help="MappingNet model; default: the shipped one")
    add_encoder_options(b)
    b.add_argument("-q", "--quiet", action="store_true", help="print only failures")
    b.set_defaults(run=run, parser=b)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from animator.core.outputs import OutputError, refuse_inputs
    from animator.render.batch import Manifest, RenderSettings, pending, plan_jobs
    from animator.render.runners import in_process, local_pool, ray_cluster

    options.check_modes(args)
    started = time.perf_counter()
    outdir = args.outdir
    if os.path.exists(outdir) and not os.path.isdir(outdir):
        raise OutputError(f"{outdir}: is not a folder")
    settings = RenderSettings(
        rig=os.path.abspath(args.rig) if args.rig else None, seed=args.seed, fps=args.fps,
        motion=args.motion, motion_gain=args.motion_gain, speaking=args.speaking,
        mouth_gain=args.mouth_gain,
        width_px=args.width,
        background_rgb=args.background,
        model=os.path.abspath(args.model) if args.model else None,
        timeline=not args.no_timeline, x264_preset=args.preset, crf=args.crf)
    jobs = plan_jobs(args.inputs, outdir, settings)
    try:
        os.makedirs(outdir, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{outdir}: cannot make the folder ({exc.strerror})") from None
    todo, done = pending(jobs, args.overwrite)
    manifest = Manifest(outdir, jobs)
    refuse_inputs([manifest.path], [j.audio for j in jobs])
    for job in done:
        manifest.skipped(job)
    if args.ray is not None:
        where = f"Ray {args.ray or 'local'}"
        results = ray_cluster(todo, args.ray or None, None if args.ray else args.jobs)
    elif args.jobs == 1 or len(todo) <= 1:
        where, results = "this process", in_process(todo)
    else:
        where = f"{min(args.jobs, len(todo))} local workers"
        results = local_pool(todo, min(args.jobs, len(todo)))
    failed = 0
    show = sys.stderr.isatty() and not args.quiet
    summary = {"runner": where}
    try:
        with tqdm(total=len(todo), unit="file", desc="batch", disable=not show) as bar:
            for result in results:
                manifest.add(result)
                manifest.write(**summary)
                if result.status == "failed":
                    failed += 1
                    tqdm.write(f"animator: error: {result.error}", file=sys.stderr)
                    bar.set_postfix(failed=failed)
                bar.update(1)
    finally:
        summary["wall_s"] = round(time.perf_counter() - started, 3)
        manifest.write(**summary)
    if not args.quiet:
        n_done = len(todo) - failed
        print(f"{outdir}: {n_done} rendered, {len(done)} already there, {failed} failed, "
              f"in {summary['wall_s']:.1f} s on {where} (manifest: {manifest.path})")
    return EXIT_SOME_FAILED if failed else 0
