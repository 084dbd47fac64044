"""Reading rig images: any PNG OpenCV reads (grey, RGB, RGBA, 8 or 16 bit) as RGB over a
background colour."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from animator.rig import RigError

# A broken image is reported once, as a RigError naming the file; OpenCV's own warnings
# would only add noise lines to stderr.
cv2.setLogLevel(2)  # 2 = errors only


def read_rgb_over(path: str | Path, background_rgb: tuple[int, int, int]) -> np.ndarray:
    """uint8[H, W, 3] RGB of the image at ``path``, alpha composited over ``background_rgb``.
    Raises RigError naming the file when it cannot be decoded."""
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise RigError(f"{path}: cannot decode image")
    if raw.dtype == np.uint16:
        raw = (raw // 257).astype(np.uint8)
    if raw.ndim == 2:
        raw = cv2.cvtColor(raw, cv2.COLOR_GRAY2BGR)
    if raw.shape[2] == 4:
        alpha = raw[:, :, 3:4].astype(np.float32) / 255.0
        bg = np.array(background_rgb[::-1], dtype=np.float32)
        raw = (raw[:, :, :3].astype(np.float32) * alpha + bg * (1.0 - alpha) + 0.5)
        raw = raw.astype(np.uint8)
    return cv2.cvtColor(raw, cv2.COLOR_BGR2RGB)
