"""Hostile files for the safety tests: PNGs built chunk by chunk, so that each one is broken
in exactly one way."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunk(kind: bytes, data: bytes, length: int | None = None) -> bytes:
    """A PNG chunk with a correct CRC; ``length`` overrides the length field."""
    n = len(data) if length is None else length
    return struct.pack(">I", n) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, *, idat: bytes | None = None, colour_type: int = 2,
        idat_length: int | None = None) -> bytes:
    """An 8-bit PNG of ``width`` x ``height`` (colour type 2 = RGB, 6 = RGBA) whose pixels are
    all zero, or whose IDAT payload is ``idat`` (e.g. garbage that is not zlib)."""
    channels = {2: 3, 6: 4}[colour_type]
    if idat is None:
        rows = b"".join(b"\x00" + bytes(width * channels) for _ in range(height))
        idat = zlib.compress(rows, 9)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (PNG_SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat, idat_length)
            + chunk(b"IEND", b""))


def huge_png(width: int, height: int, colour_type: int = 2) -> bytes:
    """A small file that declares a huge all-zero image: its filtered rows are all zero bytes,
    which deflate packs ~1000:1."""
    channels = {2: 3, 6: 4}[colour_type]
    n = height * (1 + width * channels)
    comp = zlib.compressobj(9)
    block = bytes(16 * 2**20)
    parts = [comp.compress(block) for _ in range(n // len(block))]
    body = b"".join(parts) + comp.compress(bytes(n % len(block))) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return PNG_SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def replace_png(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
