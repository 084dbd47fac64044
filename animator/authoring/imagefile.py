"""Rig image files as the builders write them: the format follows the file's extension.

- ``.png``: lossless (RGB or RGBA); for flat colour and transparency (the toon, mattes).
- ``.webp``: lossy at ``WEBP_QUALITY`` (alpha, when present, is kept losslessly); for photos,
  full colour at about a tenth of a PNG's size, no palette banding.
- ``.jpg``: for opaque photos when WebP is not wanted (4:4:4 chroma, ``JPEG_QUALITY``).

Encoders are deterministic: the same pixels give the same bytes. Every file is written to a
temporary name and renamed, so a killed build never leaves half an image.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from animator.core.outputs import write_bytes_atomic

#: Quality of lossy WebP rig images (0-100): at 90 a 512 px portrait is ~30-60 kB and the
#: error is below the film grain of the photos it comes from (PSNR ~41 dB).
WEBP_QUALITY = 90
#: libwebp effort (0-6): 4 is its default; 6 saves ~3 % for ~15 % more time.
WEBP_METHOD = 4
#: Quality of JPEG rig images.
JPEG_QUALITY = 92
#: Extensions a rig image may have, with the Pillow format that writes it.
FORMATS = {".png": "PNG", ".webp": "WEBP", ".jpg": "JPEG"}


class ImageFileError(Exception):
    """An image that cannot be read or written; the message names the file."""


def read_image(path: Path) -> np.ndarray:
    """uint8[H, W, 4] RGBA of an image file (any format Pillow reads), turned upright as its
    EXIF orientation says (a phone photo stored sideways)."""
    try:
        with Image.open(path) as img:
            upright = ImageOps.exif_transpose(img)
            return np.asarray(upright.convert("RGBA")).copy()
    except FileNotFoundError:
        raise ImageFileError(f"{path}: file not found") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageFileError(f"{path}: cannot read image ({exc})") from None


def _opaque(arr: np.ndarray) -> bool:
    return arr.shape[2] == 3 or bool(np.all(arr[..., 3] == 255))


def encode_image(rgba: np.ndarray, ext: str) -> bytes:
    """The bytes of a uint8[H, W, 1|3|4] image in the format of ``ext`` (see FORMATS).
    Opaque RGBA is stored as RGB; single-channel images as greyscale."""
    arr = np.ascontiguousarray(rgba)
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2]
                                                           not in (1, 3, 4)):
        raise ValueError(f"expected uint8[H, W, 1|3|4], got {arr.dtype}{list(arr.shape)}")
    fmt = FORMATS.get(ext.lower())
    if fmt is None:
        raise ValueError(f"unsupported image extension {ext!r} (one of {', '.join(FORMATS)})")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        img = Image.fromarray(arr, "L")
    elif _opaque(arr):
        img = Image.fromarray(np.ascontiguousarray(arr[..., :3]), "RGB")
    elif fmt == "JPEG":
        raise ValueError("JPEG cannot store transparency: use .png or .webp")
    else:
        img = Image.fromarray(arr, "RGBA")
    buf = io.BytesIO()
    if fmt == "WEBP":
        img.save(buf, "WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD, exact=False)
    elif fmt == "JPEG":
        img.save(buf, "JPEG", quality=JPEG_QUALITY, subsampling=0)
    else:
        img.save(buf, "PNG", compress_level=6)
    return buf.getvalue()


def write_image(path: Path, rgba: np.ndarray) -> None:
    """Write an image atomically, in the format of the path's extension."""
    path = Path(path)
    try:
        data = encode_image(np.asarray(rgba), path.suffix)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    write_bytes_atomic(path, data)
