"""OSC 1.0 encoding (messages and bundles), the wire format of VMC: small enough to write out.

Arguments: int -> 'i' (int32), float -> 'f' (float32), str -> 's', bytes -> 'b' (blob),
bool -> 'T'/'F'. Everything big-endian, every part padded with zeros to 4 bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

#: OSC time tag meaning "immediately".
IMMEDIATELY = 1


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def osc_string(text: str) -> bytes:
    """A null-terminated ASCII/UTF-8 string padded to 4 bytes."""
    return _pad(text.encode("utf-8") + b"\0")


def message(address: str, *args: int | float | str | bytes | bool) -> bytes:
    """One OSC message."""
    if not address.startswith("/"):
        raise ValueError(f"OSC address must start with '/', got {address!r}")
    tags, data = [","], []
    for a in args:
        if isinstance(a, bool):
            tags.append("T" if a else "F")
        elif isinstance(a, int):
            tags.append("i")
            data.append(struct.pack(">i", a))
        elif isinstance(a, float):
            tags.append("f")
            data.append(struct.pack(">f", a))
        elif isinstance(a, str):
            tags.append("s")
            data.append(osc_string(a))
        elif isinstance(a, bytes):
            tags.append("b")
            data.append(struct.pack(">i", len(a)) + _pad(a))
        else:
            raise TypeError(f"cannot encode {type(a).__name__} as an OSC argument")
    return osc_string(address) + osc_string("".join(tags)) + b"".join(data)


def bundle(elements: Sequence[bytes], timetag: int = IMMEDIATELY) -> bytes:
    """An OSC bundle of encoded messages (or bundles)."""
    parts = [osc_string("#bundle"), struct.pack(">Q", timetag)]
    for e in elements:
        parts.append(struct.pack(">i", len(e)) + e)
    return b"".join(parts)
