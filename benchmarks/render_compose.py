"""The compositor alone on a render's own choices: RGB compose + RGB -> I420 (the reference,
what the window, PNG and web sinks show) against composing straight into I420 (what mp4
renders encode), for the demo rig and a layered real-portrait rig: CPU per frame (this
thread, one OpenCV thread, warm caches, min of 3 alternated) and how far apart the pictures
are (PSNR per plane, SSIM of luma). Where the I420 compositor's CPU goes: the luma plane's
warp alone over the box the move reaches (what every moving frame pays; the chroma warp and
the rest are the difference), and decoding each distinct rig image once (decode, RGB ->
I420, box: a render pays it per image it shows, amortised over its frames). Used by
``python -m benchmarks.render --compose``."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks.render_encoders import ssim


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0.0 else 10.0 * float(np.log10(255.0 ** 2 / mse))


def _cpu_ms(fn, items) -> float:
    fn(items[0])
    t0 = time.thread_time()
    for item in items:
        fn(item)
    return 1000.0 * (time.thread_time() - t0) / len(items)


def _luma_warp_ms(i420, choices) -> float | None:
    """CPU ms per moving frame of the luma warp alone, as the compositor makes it for a rig
    without layers (None for a layered rig: its head moves with its matte)."""
    import cv2

    from animator.sinks.compose import residual_matrix
    from animator.sinks.compose_i420 import _warped, reach

    jobs = []
    for choice in choices:
        img, m = i420.image(choice), residual_matrix(choice.residual_deg, i420.char_size)
        if m is not None and img.box is not None and i420.layer(choice.pose) is None:
            jobs.append((img.planes[0], m, reach(img.box, m, i420.char_size, i420.char_size)))
    if not jobs:
        return None
    return _cpu_ms(lambda job: _warped(*job, cv2.BORDER_REPLICATE), jobs)


def _decode_ms(rig_dir: Path, width_px: int, choices) -> tuple[float, int]:
    """(CPU ms per distinct image of a cold compositor's decoding, distinct images)."""
    from animator.rig import load_rig
    from animator.sinks.compose import FrameCompositor
    from animator.sinks.compose_i420 import I420Compositor

    firsts = list({(c.image, c.overlay): c for c in choices}.values())
    cold = I420Compositor(FrameCompositor(load_rig(rig_dir), width_px))
    t0 = time.thread_time()
    for choice in firsts:
        cold.image(choice)
    return 1000.0 * (time.thread_time() - t0) / len(firsts), len(firsts)


def compare(wav: Path, rig_dir: Path, tmp: Path, width_px: int = 512,
            n_frames: int = 300) -> dict:
    """Both compositors on the first ``n_frames`` choices of rendering ``wav`` with the rig
    at ``rig_dir``."""
    from animator.render import render
    from animator.rig import load_rig
    from animator.sinks.compose import FrameCompositor
    from animator.sinks.compose_i420 import I420Compositor, planes, to_i420

    frames = render(wav, None, rig_dir=rig_dir, timeline_path=tmp / "compose.json",
                    progress=False).frames[:n_frames]
    choices = [f.choice for f in frames]
    rgb = FrameCompositor(load_rig(rig_dir), width_px)
    i420 = I420Compositor(FrameCompositor(load_rig(rig_dir), width_px))
    per_plane: dict[str, list[float]] = {"y": [], "u": [], "v": []}
    ssim_y = []
    for choice in choices:
        old, new = to_i420(rgb.compose(choice)), i420.compose(choice)
        pairs = list(zip(planes(old, rgb.size), planes(new, rgb.size), strict=True))
        for name, (a, b) in zip("yuv", pairs, strict=True):
            per_plane[name].append(psnr(a, b))
        ssim_y.append(ssim(*pairs[0]))
    moved = sum(rgb.still_key(c) is None for c in choices)
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # all the work in this thread, so that its CPU time counts it all
    try:
        old_ms, new_ms, luma_ms = [], [], []
        for _ in range(3):  # alternated: the neighbours' load falls on both alike
            old_ms.append(_cpu_ms(lambda c: to_i420(rgb.compose(c)), choices))
            new_ms.append(_cpu_ms(i420.compose, choices))
            luma_ms.append(_luma_warp_ms(i420, choices))
        decode_ms, n_images = _decode_ms(rig_dir, width_px, choices)
    finally:
        cv2.setNumThreads(threads)
    return {"rig": Path(rig_dir).name, "frames": len(choices), "moved": moved,
            "width_px": width_px, "layers": bool(rgb.rig.layers),
            "psnr_db": {k: {"min": round(min(v), 1), "median": round(float(np.median(v)), 1)}
                        for k, v in per_plane.items()},
            "ssim_y_min": round(min(ssim_y), 5),
            "rgb_then_i420_cpu_ms": round(min(old_ms), 3),
            "i420_cpu_ms": round(min(new_ms), 3),
            "luma_warp_cpu_ms": None if luma_ms[0] is None else round(min(luma_ms), 3),
            "images": n_images, "decode_cpu_ms_per_image": round(decode_ms, 3)}
