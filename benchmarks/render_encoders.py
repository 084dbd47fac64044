"""x264 settings on the frames of real renders (``python -m benchmarks.render --encoders``):
the built-in toon and the photo rig (astronaut) at 512, 720 and 1080 px, each setting on the
same I420 frames through the product's Mp4Writer (video only: the encoder alone). Per
setting: CPU per frame (all threads) and the longest thread's (the critical path: what a
render waits for), wall, MB per minute, and the decoded frames against the encoder's input
(PSNR over the Y, U and V planes; SSIM of Y, 11x11 Gaussian window); whether the pictures
are the shipped setting's exactly (thread counts). And how often a render repeats a frame
(consecutive frames byte-identical), with the encoder's cost on a render that does (a still
head, --motion-gain 0). The measurement behind X264_PRESET, X264_CRF and ENCODER_THREADS in
animator/sinks/mp4.py."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np

from benchmarks.threadcpu import cpu_by_thread

#: (name, preset, threads, crf, more libx264 options); the first is the shipped setting.
SETTINGS = (
    ("superfast, 2 frame threads (shipped)", "superfast", 2, 20, {}),
    ("superfast, 1 thread", "superfast", 1, 20, {}),
    ("superfast, 2 sliced threads", "superfast", 2, 20, {"x264-params": "sliced-threads=1"}),
    ("ultrafast", "ultrafast", 2, 20, {}),
    ("veryfast", "veryfast", 2, 20, {}),
    ("veryfast, rc-lookahead 0", "veryfast", 2, 20, {"x264-params": "rc-lookahead=0"}),
    ("superfast, tune animation", "superfast", 2, 20, {"tune": "animation"}),
    ("superfast, tune stillimage", "superfast", 2, 20, {"tune": "stillimage"}),
    ("superfast, keyint 50 (2 s)", "superfast", 2, 20, {"x264-params": "keyint=50"}),
    ("superfast, CRF 23", "superfast", 2, 23, {}),
    ("superfast, CRF 18", "superfast", 2, 18, {}),
)
#: Settings measured at 720 and 1080 px too (all of them at 512 px).
LARGE_SETTINGS = (0, 1, 3, 4)


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


def decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="yuv420p") for f in container.decode(video=0)]


def quality(frames: list[np.ndarray], sources: list[np.ndarray], height: int) -> dict:
    """PSNR (dB, all planes) and SSIM (Y, every 10th frame) of decoded ``frames`` against
    the I420 ``sources`` they were encoded from."""
    assert len(frames) == len(sources), "the encoder lost frames"
    mse = float(np.mean([np.mean((d.astype(np.float64) - s) ** 2)
                         for d, s in zip(frames, sources, strict=True)]))
    ssims = [ssim(d[:height], s[:height]) for d, s in zip(frames[::10], sources[::10],
                                                          strict=True)]
    return {"psnr_db": round(10 * np.log10(255**2 / max(mse, 1e-12)), 2),
            "ssim_y": round(float(np.mean(ssims)), 4)}


def repeats(yuv: list[np.ndarray]) -> float:
    """Share of frames byte-identical to the frame before."""
    same = sum(np.array_equal(a, b) for a, b in zip(yuv, yuv[1:], strict=False))
    return round(same / max(1, len(yuv) - 1), 3)


def encode(yuv: list[np.ndarray], size: tuple[int, int], setting: tuple, path: Path) -> dict:
    """One setting on ``yuv`` (video only, 25 fps): per-thread CPU and wall, timed."""
    from animator.sinks.mp4 import Mp4Writer

    _, preset, threads, crf, options = setting

    def run() -> None:
        with Mp4Writer(path, size, 25.0, crf=crf, preset=preset, threads=threads,
                       x264_options=options) as writer:
            for frame in yuv:
                writer.write_yuv(frame)

    return cpu_by_thread(run)


def sweep(yuv: list[np.ndarray], size: tuple[int, int], tmp: Path, which=None,
          reps: int = 2) -> list[dict]:
    """``SETTINGS`` (or those indexed by ``which``) on the same frames, alternated ``reps``
    times (the least CPU and wall of each kept: the neighbours' load only adds)."""
    from animator.sinks.mp4 import x264_settings

    chosen = [SETTINGS[k] for k in (which if which is not None else range(len(SETTINGS)))]
    times: dict[str, list[dict]] = {s[0]: [] for s in chosen}
    for _ in range(reps):
        for setting in chosen:
            times[setting[0]].append(encode(yuv, size, setting, tmp / "enc.mp4"))
    out, shipped = [], None
    for setting in chosen:  # the files again, for their size and pictures
        path = tmp / "enc.mp4"
        encode(yuv, size, setting, path)
        frames = decoded(path)
        if shipped is None:
            shipped = frames
        made = x264_settings(path)
        n, minutes = len(yuv), len(yuv) / 25 / 60
        runs = times[setting[0]]
        out.append({"setting": setting[0], "threads": made.get("threads"),
                    "sliced_threads": made.get("sliced_threads"),
                    "cpu_ms_per_frame": round(1000 * min(r["cpu_s"] for r in runs) / n, 2),
                    "critical_ms_per_frame": round(1000 * min(r["critical_s"] for r in runs)
                                                   / n, 2),
                    "wall_ms_per_frame": round(1000 * min(r["wall_s"] for r in runs) / n, 2),
                    "mb_per_min": round(path.stat().st_size / 1e6 / minutes, 2),
                    "same_pictures_as_shipped": all(np.array_equal(a, b) for a, b in
                                                    zip(frames, shipped, strict=True)),
                    **quality(frames, yuv, size[1])})
        path.unlink()
    return out


def frames_of(wav: Path, rig_dir: Path, width_px: int, n_frames: int, tmp: Path,
              motion_gain: float = 1.0) -> tuple[list[np.ndarray], tuple[int, int], float]:
    """The first ``n_frames`` I420 frames of rendering ``wav`` with the rig at ``rig_dir``
    (as an mp4 render composes them), their size and the share of repeated frames over the
    whole render."""
    from animator.engine import EngineConfig
    from animator.render import render
    from animator.rig import load_rig
    from animator.sinks.compose import FrameCompositor
    from animator.sinks.compose_i420 import I420Compositor

    frames = render(wav, None, rig_dir=rig_dir, timeline_path=tmp / "enc.json",
                    config=EngineConfig(motion_gain=motion_gain), progress=False).frames
    comp = I420Compositor(FrameCompositor(load_rig(rig_dir), width_px))
    yuv = [comp.compose(f.choice) for f in frames]
    return yuv[:n_frames], comp.size, repeats(yuv)


def encoders(wav: Path, tmp: Path, n_frames: int = 300) -> list[dict]:
    """Every setting at 512 px and the main ones at 720 and 1080 px on the toon and the
    astronaut; the shipped setting and one thread on still-head renders (repeated frames)."""
    from keypoints.assets import assets_dir

    out = []
    for rig in ("toon", "astronaut"):
        rig_dir = assets_dir() / "characters" / rig
        for width in (512, 720, 1080):
            yuv, size, rep = frames_of(wav, rig_dir, width, n_frames, tmp)
            out.append({"rig": rig, "width_px": width, "frames": len(yuv),
                        "repeated_frames": rep,
                        "settings": sweep(yuv, size, tmp,
                                          None if width == 512 else LARGE_SETTINGS)})
            yuv.clear()
        yuv, size, rep = frames_of(wav, rig_dir, 512, n_frames, tmp, motion_gain=0.0)
        out.append({"rig": rig, "width_px": 512, "frames": len(yuv), "motion_gain": 0.0,
                    "repeated_frames": rep, "settings": sweep(yuv, size, tmp, (0, 1))})
    return out


def print_encoders(cases: list[dict]) -> None:
    """The lines of :func:`encoders`' results."""
    for case in cases:
        still = " (still head)" if "motion_gain" in case else ""
        print(f"x264 on {case['rig']}{still} at {case['width_px']} px ({case['frames']} "
              f"frames; repeated frames {case['repeated_frames']:.0%} of the render):")
        for enc in case["settings"]:
            print(f"  {enc['setting']:38s} cpu {enc['cpu_ms_per_frame']} ms, longest thread "
                  f"{enc['critical_ms_per_frame']} ms, wall {enc['wall_ms_per_frame']} ms, "
                  f"{enc['mb_per_min']} MB/min, PSNR {enc['psnr_db']} dB, SSIM "
                  f"{enc['ssim_y']}, same pictures {enc['same_pictures_as_shipped']}")
