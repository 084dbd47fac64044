"""Build the shipped photo character ``assets/characters/astronaut`` with the warp backend.

The portrait is NASA's public-domain photograph of astronaut Eileen Collins, as bundled with
scikit-image (``skimage.data.astronaut()``; a build-time tool only, never needed to run the
rig). It is cropped to the head and shoulders, lightly denoised (film grain costs PNG bytes
and nothing else), and every rig image is made by ``WarpBackend`` from it: the expressions of
``default_expressions.json`` at every pose, and the tween frames of every base path.

    python -m animator.authoring.astronaut OUTDIR [--size 384] [--colours 96] [--overwrite]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from animator.authoring.backend import TweenJob
from animator.authoring.face_params import midpoint_ts
from animator.authoring.warp import WarpBackend
from animator.core.outputs import OutputError, atomic_output
from animator.rig import (
    CONFIG_NAME,
    MANIFEST_NAME,
    SEQUENCES_DIR,
    RigConfig,
    endpoint_relpath,
    sequence_dirname,
    sequence_manifest,
    tween_filename,
    write_rig_metadata,
)

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


def rig_palette(images: list[np.ndarray], colours: int, focus_box: tuple[int, int, int, int]
                ) -> np.ndarray:
    """uint8[colours, 3]: one k-means palette (in Lab) for a whole rig (no flicker between frames),
    from RGB(A) ``images``, with the pixels inside ``focus_box`` (x0, y0, x1, y1: the face)
    weighted three times, so skin gradients get most of the entries. Deterministic."""
    x0, y0, x1, y1 = focus_box
    samples = []
    for img in images:
        rgb = img[..., :3]
        samples += [rgb[::3, ::3].reshape(-1, 3)] + [rgb[y0:y1:2, x0:x1:2].reshape(-1, 3)] * 3
    rgb = np.concatenate(samples).astype(np.float32)[None] / 255.0
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)[0]  # cluster where distances are perceptual
    cv2.setRNGSeed(0)
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.1)
    _, _, centres = cv2.kmeans(lab, colours, None, crit, 1, cv2.KMEANS_PP_CENTERS)
    back = cv2.cvtColor(centres[None].astype(np.float32), cv2.COLOR_Lab2RGB)[0]
    return np.clip(np.round(back * 255.0), 0, 255).astype(np.uint8)


def encode_png(rgba: np.ndarray, palette: np.ndarray | None) -> bytes:
    """PNG bytes of an opaque image mapped to ``palette`` (uint8[K, 3], K <= 256, no
    dithering), or full RGB when None; deterministic for equal input."""
    img = Image.fromarray(np.ascontiguousarray(rgba[..., :3]), "RGB")
    if palette is not None:
        pal_img = Image.new("P", (1, 1))
        entries = np.repeat(palette[:1], 256, 0)
        entries[: len(palette)] = palette
        pal_img.putpalette(entries.tobytes())
        img = img.quantize(palette=pal_img, dither=Image.Dither.NONE)
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def build_photo_rig(portrait: np.ndarray, outdir: str | Path, *, config: dict | None = None,
                    depth: int = 2, colours: int = 128, overwrite: bool = False,
                    backend: WarpBackend | None = None) -> int:
    """Write a rig folder made by warping ``portrait`` (uint8[H, W, 3|4]); returns the number
    of images written. ``config``: raw rig config (default: default_expressions.json)."""
    outdir = Path(outdir)
    if not 0 <= colours <= 256:
        raise ValueError(f"colours must be 0..256 (got {colours})")
    if config is None:
        config_text = CONFIG_PATH.read_text(encoding="utf-8")
        raw = json.loads(config_text)
    else:
        raw = config
        config_text = json.dumps(raw, indent=2) + "\n"
    cfg = RigConfig.from_dict(raw, str(CONFIG_PATH) if config is None else "config")
    if (outdir / CONFIG_NAME).exists() and not overwrite:
        raise OutputError(f"{outdir}: already holds a rig ({CONFIG_NAME}); pass --overwrite")
    backend = backend or WarpBackend()
    center = cfg.poses[0] if "center" not in cfg.poses else "center"
    images: dict[str, np.ndarray] = {}
    endpoints: dict[tuple[str, str], np.ndarray] = {}
    for eid, expr in cfg.expressions.items():
        front = backend.expression(portrait, expr, center, cfg)
        for pose in cfg.poses:
            img = front if pose == center else backend.pose(front, expr, center, pose, cfg)
            endpoints[(eid, pose)] = img
            images[endpoint_relpath(eid, pose)] = img
    manifests = []
    for bp in cfg.base_paths:
        for pose in cfg.poses:
            folder = f"{SEQUENCES_DIR}/{sequence_dirname(bp.id, pose)}"
            start, end = endpoints[(bp.start, pose)], endpoints[(bp.end, pose)]
            ts = midpoint_ts(depth)
            for t in ts:
                job = TweenJob(bp.id, t, bp.start, pose, bp.end, pose, start, end,
                               (0.0, start), (1.0, end))
                images[f"{folder}/{tween_filename(t)}"] = backend.tween(job, cfg)
            manifests.append((f"{folder}/{MANIFEST_NAME}",
                              sequence_manifest(bp.id, bp.start, bp.end, pose, ts)))
    palette = None
    if colours:
        obs = backend.observe(portrait)
        h, w = portrait.shape[:2]
        box = (0, 0, w, h)
        if obs is not None:
            lo, hi = obs.landmarks_px[:, :2].min(0), obs.landmarks_px[:, :2].max(0)
            size = hi - lo  # widen the face box to take in the hair
            lo, hi = lo - size * [0.3, 0.45], hi + size * [0.3, 0.05]
            box = (*np.maximum(lo.astype(int), 0), *np.minimum(hi.astype(int), [w, h]))
        fronts = [endpoints[(eid, center)] for eid in cfg.expressions]
        palette = rig_palette([portrait, *fronts], colours, box)
    for rel, img in images.items():
        (outdir / rel).parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(outdir / rel) as tmp:
            tmp.write_bytes(encode_png(img, palette))
    write_rig_metadata(outdir, manifests, config_text)
    return len(images)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m animator.authoring.astronaut",
                                 description="Build the astronaut photo rig (warp backend).")
    ap.add_argument("outdir", help="rig folder to write")
    ap.add_argument("--size", type=int, default=384, help="image size in pixels (square)")
    ap.add_argument("--colours", type=int, default=96,
                    help="PNG palette size, at most 256 (0 = full RGB)")
    ap.add_argument("--depth", type=int, default=2, help="tween subdivision depth")
    ap.add_argument("--overwrite", action="store_true", help="rebuild an existing rig folder")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    try:
        n = build_photo_rig(astronaut_portrait(args.size), args.outdir, depth=args.depth,
                            colours=args.colours, overwrite=args.overwrite)
    except (OutputError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {n} images to {args.outdir} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
