"""x264 settings on the frames of a real render (``python -m benchmarks.render --encoders``):
CPU and wall per frame, MB per minute, and the quality of the decoded frames against the
encoder's input (PSNR over the Y, U and V planes; SSIM of Y, 11x11 Gaussian window). The
measurement behind X264_PRESET, X264_CRF and ENCODER_THREADS in animator/sinks/mp4.py."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np

#: (preset, threads, crf) compared; the first is the shipped setting.
SETTINGS = (("superfast", 1, 20), ("superfast", 2, 20), ("ultrafast", 1, 20),
            ("veryfast", 1, 20), ("superfast", 1, 23), ("superfast", 1, 18))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two uint8[H, W] planes (Wang et al. 2004, Gaussian sigma 1.5)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (11, 11), 1.5)

    ma, mb = blur(a), blur(b)
    va, vb, cov = blur(a * a) - ma * ma, blur(b * b) - mb * mb, blur(a * b) - ma * mb
    s = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
    return float(s.mean())


def quality(path: Path, sources: list[np.ndarray], height: int) -> dict:
    """PSNR (dB, all planes) and SSIM (Y, every 10th frame) of ``path``'s decoded frames
    against the I420 ``sources`` it was encoded from."""
    with av.open(str(path)) as container:
        decoded = [f.to_ndarray(format="yuv420p") for f in container.decode(video=0)]
    assert len(decoded) == len(sources), "the encoder lost frames"
    mse = float(np.mean([np.mean((d.astype(np.float64) - s) ** 2)
                         for d, s in zip(decoded, sources, strict=True)]))
    ssims = [ssim(d[:height], s[:height]) for d, s in zip(decoded[::10], sources[::10],
                                                           strict=True)]
    return {"psnr_db": round(10 * np.log10(255**2 / max(mse, 1e-12)), 2),
            "ssim_y": round(float(np.mean(ssims)), 4)}


def encoders(yuv: list[np.ndarray], size: tuple[int, int], audio: np.ndarray, rate: int,
             tmp: Path, timed) -> list[dict]:
    """Each of SETTINGS on the same I420 frames (and audio) through the product's
    Mp4Writer; ``timed(fn)`` -> (wall, cpu)."""
    from animator.sinks.mp4 import Mp4Writer

    out = []
    for preset, threads, crf in SETTINGS:
        path = tmp / f"enc_{preset}_{threads}_{crf}.mp4"

        def encode(preset=preset, threads=threads, crf=crf, path=path) -> None:
            with Mp4Writer(path, size, 25.0, audio, rate, crf=crf, preset=preset,
                           threads=threads) as writer:
                for frame in yuv:
                    writer.write_yuv(frame)

        wall, cpu = timed(encode)
        minutes = len(yuv) / 25 / 60
        out.append({"preset": preset, "threads": threads, "crf": crf,
                    "wall_ms_per_frame": round(1000 * wall / len(yuv), 2),
                    "cpu_ms_per_frame": round(1000 * cpu / len(yuv), 2),
                    "mb_per_min": round(path.stat().st_size / 1e6 / minutes, 2),
                    **quality(path, yuv, size[1])})
        path.unlink()
    return out
