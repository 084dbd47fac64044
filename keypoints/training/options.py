"""The command-line options both training recipes take (the lips' and the shapes'), and the
recipe and settings they select."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path


def recipe_parser(prog: str, description: str | None, default_out: Path
                  ) -> argparse.ArgumentParser:
    """--out, --workers, --threads, --steps, --recordings, --seed, --real-clips, --real-copies
    (keypoints.corpus.real_clips); a recipe adds its own."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=default_out, help="output .onnx")
    parser.add_argument("--workers", type=int, default=2, help="corpus processes")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--steps", type=int, help="training steps (default: settings)")
    parser.add_argument("--recordings", type=int, help="speech recordings (default: recipe)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--real-clips", default="",
                        help="comma-separated development clips (benchmarks.aligned_speech) "
                             "to train on as well")
    parser.add_argument("--real-copies", type=int, default=0,
                        help="copies of each real clip (1 clean, the rest augmented)")
    return parser


def chosen(args: argparse.Namespace, recipe, settings):
    """(recipe, settings) with what ``args`` sets of :func:`recipe_parser`'s options."""
    if args.recordings is not None:
        recipe = replace(recipe, n_speech=args.recordings)
    if args.real_clips:
        recipe = replace(recipe, real_clips=tuple(args.real_clips.split(",")),
                         real_copies=args.real_copies)
    settings = replace(settings, threads=args.threads)
    if args.steps is not None:
        settings = replace(settings, steps=args.steps)
    return recipe, settings
