"""``animator rig ...``: argument parsing only (see animator/cli.py)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
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
    toon.set_defaults(run=run_toon)


def run_toon(args: argparse.Namespace) -> int:
    from animator.rigbuild.toon import build_toon_rig

    n = build_toon_rig(args.outdir, size_px=args.size, depth=args.depth,
                       overwrite=args.overwrite)
    print(f"{args.outdir}: {n} images written")
    return 0
