"""Rig image files read with bounded memory: the size comes from the header and is checked
against a pixel cap (and the rig's size) before anything is decoded, and a PNG's chunk
structure is walked first so that a length field cannot make the decoder allocate more than
the file holds. Pure byte parsing: no decoder is imported here.

Memory for one image is then bounded by its file size plus a few bytes per pixel of the cap.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

#: Largest image a rig may use, in pixels: 3840 x 2160 (a 4K UHD frame). Decoding one costs
#: at most ~4 bytes a pixel (RGBA) plus the compositing copies, ~100 MB at the cap.
MAX_IMAGE_PIXELS = 3840 * 2160
#: Largest image file read (bytes): a rig image is a few hundred kB; a 4K PNG of noise ~25 MB.
MAX_IMAGE_BYTES = 64 * 1024 * 1024

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ImageFileError(ValueError):
    """An image file that is malformed or too large; the message says which (no path)."""


def _checked_size(width: int, height: int) -> tuple[int, int]:
    if width <= 0 or height <= 0:
        raise ImageFileError("image with zero size")
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageFileError(f"image is {width}x{height}, more than the "
                             f"{MAX_IMAGE_PIXELS / 1e6:.1f} megapixels a rig image may have")
    return width, height


def png_header_size(head: bytes) -> tuple[int, int]:
    """(width, height) from the first 24 bytes of a PNG file, within the pixel cap."""
    if len(head) < 24 or head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise ImageFileError("not a PNG image")
    width, height = struct.unpack(">II", head[16:24])
    return _checked_size(int(width), int(height))


def walk_png(data: bytes) -> tuple[int, int]:
    """Check a whole PNG's structure without decoding it; returns (width, height).

    Every chunk must fit in the file, critical chunks must pass their CRC, the image data
    must be present and the file must end with IEND: a chunk whose length field points past
    the end of the file is refused here instead of being allocated by the decoder.
    """
    size = png_header_size(data[:24])
    pos, n = 8, len(data)
    seen_idat = False
    while True:
        if pos + 12 > n:
            raise ImageFileError("truncated PNG (no IEND chunk)")
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        end = pos + 12 + length
        if length > 0x7FFFFFFF or end > n:
            raise ImageFileError(f"corrupt PNG: chunk {kind!r} claims {length} bytes, more "
                                 f"than the file holds")
        if kind[:1].isupper():  # critical chunk: its CRC must hold
            (crc,) = struct.unpack(">I", data[end - 4:end])
            if zlib.crc32(data[pos + 4:end - 4]) != crc:
                raise ImageFileError(f"corrupt PNG: bad CRC in chunk {kind!r}")
        seen_idat |= kind == b"IDAT"
        if kind == b"IEND":
            break
        pos = end
    if not seen_idat:
        raise ImageFileError("corrupt PNG: no image data")
    return size


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's start-of-frame marker."""
    if data[:2] != b"\xff\xd8":
        raise ImageFileError("not a JPEG image")
    pos, n = 2, len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            raise ImageFileError("corrupt JPEG: bad marker")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length field
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        if length < 2 or pos + 2 + length > n:
            raise ImageFileError("corrupt JPEG: segment past the end of the file")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if length < 7:
                raise ImageFileError("corrupt JPEG: short frame header")
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            return _checked_size(width, height)
        pos += 2 + length
    raise ImageFileError("corrupt JPEG: no frame header")


def webp_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a WebP file's VP8, VP8L or VP8X header."""
    if len(data) < 30 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ImageFileError("not a WebP image")
    kind = data[12:16]
    if kind == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return _checked_size(width & 0x3FFF, height & 0x3FFF)
    if kind == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return _checked_size((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if kind == b"VP8X":
        return _checked_size(int.from_bytes(data[24:27], "little") + 1,
                             int.from_bytes(data[27:30], "little") + 1)
    raise ImageFileError("corrupt WebP: unknown chunk")


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG (whole structure checked), JPEG or WebP file's bytes."""
    if data[:8] == PNG_SIGNATURE:
        return walk_png(data)
    if data[:2] == b"\xff\xd8":
        return jpeg_size(data)
    if data[:4] == b"RIFF":
        return webp_size(data)
    raise ImageFileError("not a PNG, JPEG or WebP image")


def read_image_bytes(path: str | Path,
                     expected_size: tuple[int, int] | None = None) -> bytes:
    """The bytes of a rig image, checked (size within the caps, structure sound, and equal to
    ``expected_size`` (width, height) when given) before any decoder sees them. Raises
    ImageFileError (or OSError for an unreadable file)."""
    with open(path, "rb") as fh:
        data = fh.read(MAX_IMAGE_BYTES + 1)
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageFileError(f"file larger than {MAX_IMAGE_BYTES // 2**20} MB")
    size = image_size(data)
    if expected_size is not None and size != tuple(expected_size):
        raise ImageFileError(f"image is {size[0]}x{size[1]}, the rig's images are "
                             f"{expected_size[0]}x{expected_size[1]}")
    return data
