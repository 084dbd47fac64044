"""PNG sequences: one RGBA PNG per video frame (``000000.png``, ``000001.png`` ...), the
character over nothing, for editors that import numbered image sequences (After Effects,
Premiere, Resolve, Blender, Nuke)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2

from animator.core.types import Frame
from animator.sinks.compose import FrameCompositor


def frame_filename(index: int) -> str:
    return f"{index:06d}.png"


def write_png_sequence(folder: str | Path, frames: Sequence[Frame],
                       compositor: FrameCompositor) -> None:
    """Compose every frame with ``compositor`` (transparent) into ``folder`` (existing)."""
    folder = Path(folder)
    for f in frames:
        rgba = compositor.compose(f.choice)
        code = cv2.COLOR_RGBA2BGRA if rgba.shape[2] == 4 else cv2.COLOR_RGB2BGR
        if not cv2.imwrite(str(folder / frame_filename(f.index)), cv2.cvtColor(rgba, code),
                           [cv2.IMWRITE_PNG_COMPRESSION, 1]):
            raise OSError(f"cannot write {folder / frame_filename(f.index)}")
