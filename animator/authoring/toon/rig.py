"""The toon's rig folder: every expression at every pose and the tween sequences, drawn in parallel
and stored as palette PNGs."""

from __future__ import annotations

import io
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from animator.authoring.face_params import (
    Face,
    face_from_names,
    lerp_face,
    midpoint_ts,
)
from animator.authoring.toon.raycast import render
from animator.authoring.toon.shapes import LINE
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

#: The rig config shipped with this module (poses, expressions, base paths, pose angles).
CONFIG_PATH = Path(__file__).with_name("toon_expressions.json")

# --- the rig folder -----------------------------------------------------------------------

#: PNG encoding: a 256-entry palette with per-entry alpha keeps a 512 px image near 17 kB
#: instead of ~50 kB as full RGBA. Opaque pixels get a median-cut palette, mapped without
#: dithering (dither noise doubled the file size; the remaining banding is faint); partly
#: transparent pixels, which in the toon are only the anti-aliased rim of the outline, get LINE
#: at ALPHA_LEVELS alpha steps (255 / (ALPHA_LEVELS + 1) apart).
OPAQUE_COLOURS = 239
ALPHA_LEVELS = 16
PNG_COMPRESS_LEVEL = 9


def encode_png(rgba: np.ndarray) -> bytes:
    """PNG bytes of a toon picture, uint8[H, W, 4] RGBA; deterministic for equal input.

    Lossy in colour (OPAQUE_COLOURS opaque colours) and, for partly transparent
    pixels, in the colour too (they become LINE); fully transparent stays transparent.
    """
    rgba = np.ascontiguousarray(rgba)
    alpha = rgba[..., 3]
    opaque = alpha == 255
    n_opaque = OPAQUE_COLOURS
    transparent = n_opaque + ALPHA_LEVELS  # palette index of the fully transparent entry
    rgb = rgba[..., :3].copy()
    line = np.round(LINE * 255).astype(np.uint8)
    rgb[~opaque] = line  # the palette should not spend entries on hidden colours
    rgb_img = Image.fromarray(rgb, "RGB")
    pal_img = rgb_img.quantize(n_opaque, method=Image.Quantize.MEDIANCUT,
                               dither=Image.Dither.NONE)
    idx = np.asarray(rgb_img.quantize(palette=pal_img, dither=Image.Dither.NONE))
    index = np.full(alpha.shape, transparent, np.uint8)
    index[opaque] = idx[opaque]
    partial = (alpha > 0) & ~opaque
    level = np.clip(np.round(alpha[partial] / 255.0 * (ALPHA_LEVELS + 1)) - 1, 0,
                    ALPHA_LEVELS - 1)
    index[partial] = (n_opaque + level).astype(np.uint8)

    palette = np.zeros((transparent + 1, 3), np.uint8)
    used = np.asarray(pal_img.getpalette()[: 3 * n_opaque], np.uint8).reshape(-1, 3)
    palette[: len(used)] = used
    palette[n_opaque:transparent] = line
    trns = np.full(transparent + 1, 255, np.uint8)
    steps = np.arange(1, ALPHA_LEVELS + 1) / (ALPHA_LEVELS + 1)
    trns[n_opaque:transparent] = np.round(steps * 255).astype(np.uint8)
    trns[transparent] = 0
    out = Image.fromarray(index, "P")
    out.putpalette(palette.tobytes())
    buf = io.BytesIO()
    out.save(buf, "PNG", compress_level=PNG_COMPRESS_LEVEL, optimize=False,
             transparency=trns.tobytes())
    return buf.getvalue()


@dataclass(frozen=True)
class _Job:
    """One image to draw: where it goes and what it shows."""

    relpath: str
    angles_deg: tuple[float, float, float]  # pitch, yaw, roll
    face: Face
    size_px: int


def _render_job(job: _Job) -> bytes:
    return encode_png(render(*job.angles_deg, job.face, job.size_px))


def load_toon_config(path: str | Path = CONFIG_PATH) -> dict:
    """The raw rig config dict (default: the one shipped with this module)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def plan_rig(config: RigConfig, size_px: int, depth: int
             ) -> tuple[list[_Job], list[tuple[str, dict]]]:
    """(images to draw, manifests to write as (relpath, dict)) for a whole rig folder.

    Endpoints for every expression x pose; for every base path x pose, the tweens at
    midpoint_ts(depth), drawn from the interpolated face parameters of the two ends.
    """
    faces = {eid: face_from_names(config.mouth_shape(eid), e.eyes, e.brows)
             for eid, e in config.expressions.items()}
    angles = {p: tuple(float(a) for a in config.pose_angles[p]) for p in config.poses}
    jobs = [_Job(endpoint_relpath(eid, pose), angles[pose], faces[eid], size_px)
            for eid in config.expressions for pose in config.poses]
    manifests = []
    for bp in config.base_paths:
        for pose in config.poses:
            folder = f"{SEQUENCES_DIR}/{sequence_dirname(bp.id, pose)}"
            ts = midpoint_ts(depth)
            for t in ts:
                face = lerp_face(faces[bp.start], faces[bp.end], t)
                jobs.append(_Job(f"{folder}/{tween_filename(t)}", angles[pose], face, size_px))
            if ts:
                manifests.append((f"{folder}/{MANIFEST_NAME}",
                                  sequence_manifest(bp.id, bp.start, bp.end, pose, ts)))
    return jobs, manifests


def build_toon_rig(outdir: str | Path, *, size_px: int = 512, depth: int = 2,
                   overwrite: bool = False, progress: bool = True,
                   config: dict | None = None, workers: int | None = None) -> int:
    """Draw the toon rig folder into ``outdir``; returns the number of images written.

    ``config`` is a raw rig config dict (default: toon_expressions.json next to this module),
    e.g. a subset of its poses. Tween sequences hold 2**depth - 1 frames each (endpoint copies
    are not written: the loader adds them). ``workers`` processes draw in parallel (default:
    up to 2); the output is byte-identical whatever the count. Refuses a folder that already
    holds a rig unless ``overwrite``.
    """
    from tqdm import tqdm  # only the builder needs it

    outdir = Path(outdir)
    if config is None:
        config_text = CONFIG_PATH.read_text(encoding="utf-8")
        raw = json.loads(config_text)
    else:
        raw = config
        config_text = json.dumps(raw, indent=2) + "\n"
    parsed = RigConfig.from_dict(raw, str(CONFIG_PATH) if config is None else "config")
    if (outdir / CONFIG_NAME).exists() and not overwrite:
        raise OutputError(f"{outdir}: already holds a rig ({CONFIG_NAME}); "
                          f"pass --overwrite to redraw it")
    jobs, manifests = plan_rig(parsed, size_px, depth)
    for folder in sorted({str(Path(j.relpath).parent) for j in jobs}):
        (outdir / folder).mkdir(parents=True, exist_ok=True)

    n_workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    show = progress and sys.stderr.isatty()
    bar = tqdm(total=len(jobs), desc="toon rig", unit="img", disable=not show)
    written = 0
    pool = ProcessPoolExecutor(n_workers) if n_workers > 1 else None
    try:
        results = pool.map(_render_job, jobs, chunksize=1) if pool else map(_render_job, jobs)
        for job, png in zip(jobs, results, strict=True):
            with atomic_output(outdir / job.relpath) as tmp:
                tmp.write_bytes(png)
            written += 1
            bar.update(1)
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    write_rig_metadata(outdir, manifests, config_text)
    return written
