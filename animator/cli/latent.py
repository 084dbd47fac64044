"""``animator rig latent fit|apply``: argument parsing only (see animator/cli.py).

``register(rig_sub)`` takes the subparsers of the ``rig`` group (animator/cli_rig.py).
"""

from __future__ import annotations

import argparse

from animator.cli import options


def register(rig_sub: argparse._SubParsersAction) -> None:
    latent = rig_sub.add_parser(
        "latent", help="head yaw by latent directions (fit them, apply them)",
        description="Fit yaw directions in a latent space through yaw-binned centroids (one "
                    "line per side, on images matched in an attribute such as the light "
                    "direction) and turn faces by moving their embedding along them.")
    sub = latent.add_subparsers(dest="latent_command", metavar="LATENT_COMMAND", required=True)

    fit = sub.add_parser(
        "fit", help="fit the directions from embeddings with known yaw",
        formatter_class=options.HelpFormatter,
        description="DATA.npz holds 'embeddings' (N x D), 'yaw' (N, degrees) and optionally "
                    "'groups' (N labels, e.g. the light direction left/centre/right).")
    fit.add_argument("data", metavar="DATA.npz", help="embeddings, yaw and optional groups")
    fit.add_argument("-o", "--output", required=True, metavar="DIRECTIONS.npz",
                     help="directions file to write")
    fit.add_argument("--match", metavar="LABEL", default=None,
                     help="fit only on samples of this group (the source's), so that the "
                          "group's attribute does not leak into the direction")
    fit.add_argument("--bin-width", type=float, default=5.0, help="yaw bin width in degrees")
    fit.add_argument("--bin-edges", type=options.bin_edges, default=None, metavar="E0,E1,...",
                     help="explicit signed bin edges in degrees (0 must be one of them)")
    fit.add_argument("--max-yaw", type=float, default=None, help="ignore samples beyond it")
    fit.add_argument("--min-bins", type=int, default=3, help="fewest bins per side")
    fit.add_argument("--weights", choices=("count", "sqrt", "uniform"), default="count",
                     help="bin weights in the regression")
    fit.add_argument("--drop-empty", action="store_true",
                     help="skip empty bins instead of refusing them")
    fit.add_argument("--one-line", action="store_true",
                     help="one line through both sides (baseline; worse for large angles)")
    fit.set_defaults(run=run_fit)

    ap = sub.add_parser(
        "apply", help="turn a latent or an image along the fitted directions",
        formatter_class=options.HelpFormatter,
        description="INPUT is a .npy latent (D or N x D; the output is .npy) or an image "
                    "(with --encoder/--decoder or --pca; the output is an image).")
    ap.add_argument("directions", metavar="DIRECTIONS.npz")
    ap.add_argument("input", metavar="INPUT", help=".npy latent(s) or an image")
    ap.add_argument("-o", "--output", required=True, metavar="OUTPUT")
    ap.add_argument("--yaw", type=float, required=True, help="target yaw in degrees")
    ap.add_argument("--source-yaw", type=float, default=0.0, help="yaw of the input")
    ap.add_argument("--encoder", metavar="ENC.onnx", help="ONNX encoder (with --decoder)")
    ap.add_argument("--decoder", metavar="DEC.onnx", help="ONNX decoder (with --encoder)")
    ap.add_argument("--pca", metavar="PCA.npz", help="a PCA space file instead of ONNX")
    ap.set_defaults(run=run_apply)


def run_fit(args: argparse.Namespace) -> int:
    from animator.authoring.latent.commands import fit_command

    print(fit_command(args.data, args.output, match=args.match, bin_width_deg=args.bin_width,
                      bin_edges=args.bin_edges, max_abs_yaw_deg=args.max_yaw,
                      min_bins=args.min_bins, weights=args.weights,
                      on_empty="drop" if args.drop_empty else "error",
                      split_sides=not args.one_line))
    return 0


def run_apply(args: argparse.Namespace) -> int:
    from animator.authoring.latent.commands import apply_command

    print(apply_command(args.directions, args.input, args.output, yaw_deg=args.yaw,
                        source_yaw_deg=args.source_yaw, encoder=args.encoder,
                        decoder=args.decoder, pca=args.pca))
    return 0
