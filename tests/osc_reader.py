"""An OSC 1.0 message and bundle parser written from the specification, independent of the
sink's encoder: the tests read what the VMC sink sends with it."""

from __future__ import annotations

import struct


def _string(data: bytes, pos: int) -> tuple[str, int]:
    end = data.index(b"\0", pos)
    return data[pos:end].decode(), (end + 4) & ~3


def parse_osc(data: bytes) -> list[tuple[str, str, list]]:
    """[(address, type tags, args)] of a message or (nested) bundle."""
    if data.startswith(b"#bundle\0"):
        assert struct.unpack(">Q", data[8:16])[0] == 1  # "immediately"
        out, pos = [], 16
        while pos < len(data):
            (size,) = struct.unpack(">i", data[pos:pos + 4])
            assert size % 4 == 0
            out += parse_osc(data[pos + 4:pos + 4 + size])
            pos += 4 + size
        assert pos == len(data)
        return out
    address, pos = _string(data, 0)
    tags, pos = _string(data, pos)
    assert tags.startswith(",")
    args = []
    for t in tags[1:]:
        if t == "i":
            args.append(struct.unpack(">i", data[pos:pos + 4])[0])
            pos += 4
        elif t == "f":
            args.append(struct.unpack(">f", data[pos:pos + 4])[0])
            pos += 4
        elif t == "s":
            s, pos = _string(data, pos)
            args.append(s)
        else:
            raise AssertionError(f"unexpected type tag {t}")
    assert pos == len(data)
    return [(address, tags, args)]
