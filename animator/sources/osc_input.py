"""OSC in: expression cues over UDP from Stream Deck (an OSC plugin), TouchOSC, Companion or
any OSC sender (``animator live --osc-in [HOST:]PORT``).

Two address forms, so that both senders of strings and button pads work:

  /avatar/expression "happy_soft"        a string argument names the expression
  /avatar/expression/happy_soft [1.0]    the name in the address; a numeric first argument of
                                         0 is a button's release and is ignored

Messages may come alone or in bundles (nested too). Anything else is counted and ignored;
a name the rig lacks is reported once per name (one line on stderr), never raised: a stray
packet must not end a live show. The decoder is pure (OSC 1.0 types i f s S b h d t T F N I
c r m); the listener is one thread on one UDP socket.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterable

from animator.core.errors import LiveError, warn_input

ADDRESS = "/avatar/expression"
#: Largest datagram read (OSC over UDP is one packet per datagram).
MAX_PACKET = 65536

OscArg = int | float | str | bytes | bool | None


class OscDecodeError(ValueError):
    """A datagram that is not OSC 1.0."""


def _string(data: bytes, i: int) -> tuple[str, int]:
    end = data.find(b"\0", i)
    if end < 0:
        raise OscDecodeError("unterminated string")
    try:
        text = data[i:end].decode("utf-8")
    except UnicodeDecodeError:
        raise OscDecodeError("string is not UTF-8") from None
    return text, (end + 4) & ~3  # past the terminator, padded to 4 bytes


def _take(data: bytes, i: int, n: int) -> bytes:
    if i + n > len(data):
        raise OscDecodeError("truncated argument")
    return data[i:i + n]


#: Fixed-size argument types: tag -> (struct format, size).
_FIXED = {"i": (">i", 4), "f": (">f", 4), "h": (">q", 8), "d": (">d", 8), "t": (">Q", 8),
          "c": (">I", 4), "r": (">I", 4), "m": (">I", 4)}
_CONSTANT = {"T": True, "F": False, "N": None, "I": float("inf")}


def decode_message(data: bytes) -> tuple[str, list[OscArg]]:
    """One OSC message -> (address, arguments)."""
    address, i = _string(data, 0)
    if not address.startswith("/"):
        raise OscDecodeError("address must start with '/'")
    if i >= len(data):
        return address, []  # no type tag string: OSC 1.0 senders may omit it when empty
    tags, i = _string(data, i)
    if not tags.startswith(","):
        raise OscDecodeError("type tags must start with ','")
    args: list[OscArg] = []
    for tag in tags[1:]:
        if tag in _FIXED:
            fmt, size = _FIXED[tag]
            value = struct.unpack(fmt, _take(data, i, size))[0]
            args.append(chr(value) if tag == "c" else value)
            i += size
        elif tag in "sS":
            text, i = _string(data, i)
            args.append(text)
        elif tag == "b":
            (n,) = struct.unpack(">i", _take(data, i, 4))
            if n < 0:
                raise OscDecodeError("negative blob size")
            args.append(_take(data, i + 4, n))
            i += 4 + ((n + 3) & ~3)
        elif tag in _CONSTANT:
            args.append(_CONSTANT[tag])
        else:
            raise OscDecodeError(f"unsupported type tag {tag!r}")
    return address, args


def decode_packet(data: bytes, depth: int = 0) -> list[tuple[str, list[OscArg]]]:
    """A datagram (a message or a bundle of them, nested) -> its messages in order."""
    if depth > 8:
        raise OscDecodeError("bundles nested too deep")
    if not data.startswith(b"#bundle\0"):
        return [decode_message(data)]
    i = 16  # "#bundle\0" + the 8-byte time tag (ignored: cues act at once)
    out = []
    while i < len(data):
        (n,) = struct.unpack(">i", _take(data, i, 4))
        if n <= 0 or n % 4:
            raise OscDecodeError("bad bundle element size")
        out += decode_packet(_take(data, i + 4, n), depth + 1)
        i += 4 + n
    return out


def cue_of(address: str, args: list[OscArg]) -> str | None:
    """The expression a message cues, or None (not a cue, or a button's release)."""
    if address == ADDRESS:
        return args[0] if args and isinstance(args[0], str) and args[0] else None
    if address.startswith(ADDRESS + "/"):
        name = address[len(ADDRESS) + 1:]
        if not name or "/" in name:
            return None
        first = args[0] if args else None
        if isinstance(first, int | float) and not isinstance(first, bool) and first == 0:
            return None  # the release of a button that sent 1 on press
        return name
    return None


class OscCueInput:
    """Listens on UDP ``(host, port)`` and calls ``on_cue(name)`` for each cue naming one of
    ``expressions`` (port 0: a free port, see ``port``)."""

    name = "osc-in"

    def __init__(self, host: str, port: int, on_cue: Callable[[str], None],
                 expressions: Iterable[str]) -> None:
        self._on_cue = on_cue
        self._known = set(expressions)
        self._warned: set[str] = set()
        try:
            family = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0][0]
            self._sock = socket.socket(family, socket.SOCK_DGRAM)
            self._sock.bind((host, port))
        except OSError as exc:
            raise LiveError(f"cannot listen for OSC on {host}:{port}: "
                            f"{exc.strerror or exc}") from None
        self._sock.settimeout(0.2)
        self.host, self.port = host, self._sock.getsockname()[1]
        self.n_packets = self.n_cues = self.n_ignored = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="osc-in", daemon=True)
        self._thread.start()

    def handle(self, data: bytes) -> None:
        """One datagram: cue what it names (called by the listener thread)."""
        self.n_packets += 1
        try:
            messages = decode_packet(data)
        except (OscDecodeError, struct.error):
            self.n_ignored += 1
            return
        for address, args in messages:
            name = cue_of(address, args)
            if name is None:
                self.n_ignored += 1
            elif name not in self._known:
                self.n_ignored += 1
                if name not in self._warned and len(self._warned) < 100:
                    self._warned.add(name)
                    warn_input(f"OSC {address}: unknown expression '{name}' (the rig has: "
                               f"{', '.join(sorted(self._known))})")
            else:
                self.n_cues += 1
                self._on_cue(name)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(MAX_PACKET)
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                continue
            self.handle(data)

    def close(self) -> None:
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join(2.0)
            self._sock.close()

    def __enter__(self) -> OscCueInput:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
