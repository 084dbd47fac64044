"""Build the shipped photo character ``assets/characters/astronaut`` with the warp backend.

The portrait is NASA's public-domain photograph of astronaut Eileen Collins, as bundled with
scikit-image (``skimage.data.astronaut()``; a build-time tool only, never needed to run the
rig). It is cropped to the head and shoulders, lightly denoised (film grain upscaled is only
noise) and scaled; the rig is then made by ``animator rig build``'s own code (warp backend,
self-verified, full-colour WebP, head layers, blink frames) from that portrait.

    python -m animator.authoring.astronaut OUTDIR [--size 512] [--depth 2] [--overwrite]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from animator.authoring.build import build_rig
from animator.authoring.imagefile import write_image
from animator.authoring.runner import Runner, Tally
from animator.authoring.warp import WarpBackend, WarpError
from animator.core.outputs import OutputError
from animator.rig import CONFIG_NAME, RigError

#: The photo rig config (poses, expressions, base paths) shipped next to this module.
CONFIG_PATH = Path(__file__).with_name("default_expressions.json")
#: Head-and-shoulders crop of the 512 x 512 astronaut image: (x0, y0, side) pixels.
CROP_PX = (94, 0, 264)
#: Non-local-means strength (grey levels) for the film grain.
DENOISE = 6


def load_config(path: str | Path = CONFIG_PATH) -> dict:
    """A fresh copy of the raw photo rig config (default: default_expressions.json)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def astronaut_portrait(size_px: int) -> np.ndarray:
    """uint8[size_px, size_px, 4] RGBA: the cropped, denoised astronaut portrait."""
    from skimage.data import astronaut  # build-time only

    x0, y0, side = CROP_PX
    crop = np.ascontiguousarray(astronaut()[y0:y0 + side, x0:x0 + side])
    clean = cv2.fastNlMeansDenoisingColored(crop, None, DENOISE, DENOISE, 7, 21)
    rgb = cv2.resize(clean, (size_px, size_px), interpolation=cv2.INTER_CUBIC)
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])


def build_photo_rig(portrait: np.ndarray, outdir: str | Path, *, config: dict | None = None,
                    depth: int = 2, overwrite: bool = False, workers: int = 2,
                    verify: bool = True, log=None) -> Tally:
    """Build a rig folder from ``portrait`` (uint8[H, W, 3|4], used as it is: no crop) with
    the warp backend, as ``animator rig build --crop none --image-size W`` would.
    ``config``: raw rig config (default: default_expressions.json). Returns the tally."""
    outdir = Path(outdir)
    if (outdir / CONFIG_NAME).exists() and not overwrite:
        raise OutputError(f"{outdir}: already holds a rig ({CONFIG_NAME}); pass --overwrite")
    with tempfile.TemporaryDirectory(prefix="astronaut-") as tmp:
        src = Path(tmp) / "portrait.png"
        write_image(src, np.ascontiguousarray(portrait))
        cfg_path = CONFIG_PATH
        if config is not None:
            cfg_path = Path(tmp) / CONFIG_NAME
            cfg_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        backend = WarpBackend(size_px=portrait.shape[1], crop=False)
        runner = Runner(backend, max_workers=workers, progress=log is None,
                        log=log or (lambda line: None))
        try:
            return build_rig(cfg_path, src, outdir, runner, max_depth=depth,
                             overwrite=overwrite, verify=verify, endpoint_copies=False)
        finally:
            backend.close()


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m animator.authoring.astronaut",
                                 description="Build the astronaut photo rig (warp backend).")
    ap.add_argument("outdir", help="rig folder to write")
    ap.add_argument("--size", type=int, default=512, help="image size in pixels (square)")
    ap.add_argument("--depth", type=int, default=2, help="tween subdivision depth")
    ap.add_argument("--workers", type=int, default=2, help="images made in parallel")
    ap.add_argument("--overwrite", action="store_true",
                    help="rebuild an existing rig folder from scratch (its files are removed)")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    out = Path(args.outdir)
    try:
        if args.overwrite and (out / CONFIG_NAME).exists():
            for sub in ("endpoints", "sequences", "layers"):
                shutil.rmtree(out / sub, ignore_errors=True)
            for name in (CONFIG_NAME, "check.json"):
                (out / name).unlink(missing_ok=True)
        out.mkdir(parents=True, exist_ok=True)
        tally = build_photo_rig(astronaut_portrait(args.size), out, depth=args.depth,
                                workers=args.workers, log=print)
    except (OutputError, RigError, WarpError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{tally.done_line()} in {time.perf_counter() - start:.1f} s")
    return 0 if tally.ok else 1


if __name__ == "__main__":
    sys.exit(main())
