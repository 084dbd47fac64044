"""Reading rig images: any PNG, JPEG or WebP (grey, palette, RGB, RGBA, 8 or 16 bit) as RGB
over a background colour, with memory bounded by the pixel cap (animator/rig/headers.py).

Decoded with Pillow, whose errors are Python exceptions (libpng through OpenCV prints its own
error lines on stderr beside ours)."""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from animator.rig import RigError
from animator.rig.headers import ImageFileError, read_image_bytes


@contextmanager
def _named_errors(path: str | Path) -> Iterator[None]:
    """Every failure to read or decode the image at ``path`` as one RigError naming it."""
    try:
        yield
    except ImageFileError as exc:
        raise RigError(f"{path}: {exc}") from None
    except FileNotFoundError:
        raise RigError(f"{path}: missing") from None
    except (OSError, SyntaxError, ValueError, zlib.error) as exc:
        reason = getattr(exc, "strerror", None) or " ".join(str(exc).split())
        raise RigError(f"{path}: cannot decode image ({reason})") from None


def _decode(data: bytes) -> np.ndarray:
    """uint8[H, W, 3] RGB or uint8[H, W, 4] RGBA of checked image bytes."""
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        if img.mode.startswith("I"):  # 16/32-bit grey: scale, never clip, to 8 bits
            grey = np.asarray(img).astype(np.uint32)
            grey = (grey // 257).clip(0, 255).astype(np.uint8)
            return np.repeat(grey[:, :, None], 3, axis=2)
        has_alpha = "A" in img.mode or "transparency" in img.info
        return np.asarray(img.convert("RGBA" if has_alpha else "RGB"))


def _checked_decode(path: str | Path, expected_size: tuple[int, int] | None) -> np.ndarray:
    """uint8[H, W, 3|4] pixels of the image at ``path``, its header and structure checked
    first; every failure is a RigError naming the file."""
    with _named_errors(path):
        return _decode(read_image_bytes(path, expected_size))


def read_rgb_over(path: str | Path, background_rgb: tuple[int, int, int],
                  expected_size: tuple[int, int] | None = None) -> np.ndarray:
    """uint8[H, W, 3] RGB of the image at ``path``, alpha composited over ``background_rgb``.
    Raises RigError naming the file when it is too large, malformed, not ``expected_size``
    (width, height) when given, or cannot be decoded."""
    raw = _checked_decode(path, expected_size)
    if raw.shape[2] == 4:
        # integer blend (2 bytes a channel, not a float copy): memory stays near the file's
        alpha = raw[:, :, 3:4].astype(np.uint16)
        bg = np.array(background_rgb, dtype=np.uint16)
        mixed = raw[:, :, :3] * alpha + bg * (255 - alpha) + 127
        return (mixed // 255).astype(np.uint8)
    return np.ascontiguousarray(raw)


def read_rgba(path: str | Path, expected_size: tuple[int, int] | None = None) -> np.ndarray:
    """uint8[H, W, 4] RGBA of the image at ``path`` (alpha 255 where it has none), checked and
    decoded as ``read_rgb_over`` does; raises RigError naming the file."""
    raw = _checked_decode(path, expected_size)
    if raw.shape[2] == 3:
        raw = np.concatenate([raw, np.full(raw.shape[:2] + (1,), 255, np.uint8)], axis=2)
    return np.ascontiguousarray(raw)


def read_grey(path: str | Path, expected_size: tuple[int, int] | None = None) -> np.ndarray:
    """uint8[H, W] grey of the image at ``path`` (a head layer's matte), checked and decoded
    as ``read_rgb_over`` does; raises RigError naming the file."""
    with _named_errors(path), Image.open(io.BytesIO(read_image_bytes(path, expected_size))
                                         ) as img:
        return np.asarray(img.convert("L")).copy()
