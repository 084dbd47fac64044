"""Image dimensions from file headers, without decoding: PNG, WebP and JPEG (the rig image
formats). Reads at most a few hundred bytes per JPEG segment header, never pixel data.
"""

from __future__ import annotations

import struct
from pathlib import Path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: JPEG start-of-frame markers (baseline, progressive, lossless...; not DHT/JPG/DAC).
_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
#: JPEG segments scanned before giving up (a real file has its frame header in the first few).
_MAX_JPEG_SEGMENTS = 64


class ImageHeaderError(ValueError):
    """A header that is not one of the supported formats, or is malformed."""


def _png(head: bytes) -> tuple[int, int]:
    if len(head) < 24 or head[12:16] != b"IHDR":
        raise ImageHeaderError("not a PNG image")
    return struct.unpack(">II", head[16:24])


def _webp(head: bytes) -> tuple[int, int]:
    if len(head) < 30:
        raise ImageHeaderError("truncated WebP header")
    kind = head[12:16]
    if kind == b"VP8 ":
        if head[23:26] != b"\x9d\x01\x2a":
            raise ImageHeaderError("malformed WebP (VP8) header")
        w, h = struct.unpack("<HH", head[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if kind == b"VP8L":
        if head[20] != 0x2F:
            raise ImageHeaderError("malformed WebP (VP8L) header")
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8X":
        return (int.from_bytes(head[24:27], "little") + 1,
                int.from_bytes(head[27:30], "little") + 1)
    raise ImageHeaderError("unknown WebP chunk")


def _jpeg(fh) -> tuple[int, int]:
    fh.seek(2)
    for _ in range(_MAX_JPEG_SEGMENTS):
        marker = fh.read(2)
        while len(marker) == 2 and marker[0] == 0xFF and marker[1] == 0xFF:  # fill bytes
            marker = marker[1:] + fh.read(1)
        if len(marker) < 2 or marker[0] != 0xFF:
            break
        length_raw = fh.read(2)
        if len(length_raw) < 2:
            break
        (length,) = struct.unpack(">H", length_raw)
        if marker[1] in _SOF_MARKERS:
            frame = fh.read(5)
            if len(frame) < 5:
                break
            h, w = struct.unpack(">HH", frame[1:5])
            return w, h
        if length < 2:
            break
        fh.seek(length - 2, 1)
    raise ImageHeaderError("no JPEG frame header found")


#: Format names of the extensions, as messages say them.
FORMAT_NAMES = {"png": "PNG", "webp": "WebP", "jpg": "JPEG"}


def sniff(head: bytes) -> str | None:
    """'png', 'webp', 'jpg' or None from the first 12+ bytes of a file."""
    if head[:8] == PNG_SIGNATURE:
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:3] == b"\xff\xd8\xff":
        return "jpg"
    return None


def image_size(path: str | Path, fmt: str | None = None) -> tuple[int, int]:
    """(width, height) of a PNG, WebP or JPEG file from its header; ``fmt`` ('png', 'webp',
    'jpg') requires that format. Raises OSError when the file cannot be read and
    ImageHeaderError when it is not the format (or broken)."""
    with open(path, "rb") as fh:
        head = fh.read(32)
        found = sniff(head)
        if fmt is not None and found != fmt:
            raise ImageHeaderError(f"not a {FORMAT_NAMES.get(fmt, fmt)} image")
        if found == "png":
            w, h = _png(head)
        elif found == "webp":
            w, h = _webp(head)
        elif found == "jpg":
            w, h = _jpeg(fh)
        else:
            raise ImageHeaderError("not a PNG, WebP or JPEG image")
    if w == 0 or h == 0:
        raise ImageHeaderError("image with zero size")
    return int(w), int(h)
