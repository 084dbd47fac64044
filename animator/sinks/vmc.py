"""VMC (Virtual Motion Capture protocol, OSC over UDP) out: the root transform, the head bone
rotation, the A/I/U/E/O mouth blendshapes and the blink blendshapes (tracked or idle blinks),
for VSeeFace / VTube Studio style receivers.

Per frame, one bundle:
  /VMC/Ext/OK 1                      (i: model loaded)
  /VMC/Ext/T <time s>                (f)
  /VMC/Ext/Root/Pos "root" px py pz qx qy qz qw   (s f f f f f f f; the avatar stays put:
                                                   the identity, so receivers that wait for
                                                   a root before they apply bones do)
  /VMC/Ext/Bone/Pos "Head" px py pz qx qy qz qw   (s f f f f f f f; local rotation)
  /VMC/Ext/Blend/Val "A"|"I"|"U"|"E"|"O" <0..1>   (s f)
  /VMC/Ext/Blend/Val "Blink"|"Blink_L"|"Blink_R" <0..1>   (s f)
  /VMC/Ext/Blend/Apply

Blinks (VRM presets): ``Blink`` closes both eyes and carries the closure they share, the
per-eye clips only the rest, so a receiver that adds them gets each eye's own closure.

Rotations are in Unity's frame (left-handed, x right, y up, z forward, the avatar facing +z),
Euler order z, x, y as Unity applies it: x = -pitch (Unity's +x nods down), y = -yaw (Unity's
+y turns towards +x, the avatar's right), z = roll (Unity's +z tilts the top of the head
towards -x, the avatar's left).
"""

from __future__ import annotations

import math
import socket
import struct

import numpy as np

from animator.core.errors import LiveError
from animator.core.types import EYES_OPEN, EyeState, LiveFrame
from animator.sinks import osc

VOWELS = ("A", "I", "U", "E", "O")
BLINKS = ("Blink", "Blink_L", "Blink_R")
#: Mouth (open, wide) in mouth widths of each vowel shape, and of the closed mouth at rest.
VOWEL_SHAPES = np.array([[0.55, 0.95], [0.15, 1.2], [0.15, 0.72], [0.3, 1.12], [0.4, 0.75]])
REST_SHAPE = np.array([0.0, 1.0])
#: Root position (x, y, z metres) and rotation (x, y, z, w): the identity.
ROOT_TRANSFORM = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)
#: Width (mouth widths) of the soft assignment of a mouth to the vowel shapes.
VOWEL_SIGMA = 0.08


#: The vowel shapes and the rest mouth, stacked once.
_SHAPES = np.vstack([VOWEL_SHAPES, REST_SHAPE])
_SHAPES.flags.writeable = False


def vowel_weights(mouth: np.ndarray) -> np.ndarray:
    """float64[5] A, I, U, E, O weights in [0, 1] (sum <= 1) for mouth (open, wide): a soft
    nearest-shape assignment in which the rest mouth takes part, so a closed mouth gives ~0."""
    d2 = np.sum((_SHAPES - np.asarray(mouth, dtype=np.float64)[:2]) ** 2, axis=1)
    logits = -d2 / (2 * VOWEL_SIGMA**2)
    w = np.exp(logits - logits.max())
    return (w / w.sum())[:5]


def blink_weights(eyes: EyeState) -> tuple[float, float, float]:
    """(Blink, Blink_L, Blink_R) in [0, 1]: the shared closure, then what each eye adds."""
    both = eyes.both
    return both, float(eyes.closure[0]) - both, float(eyes.closure[1]) - both


def head_quaternion(angles_deg: np.ndarray) -> tuple[float, float, float, float]:
    """(x, y, z, w) Unity quaternion of the head for (pitch, yaw, roll) degrees."""
    pitch, yaw, roll = (math.radians(float(a)) for a in angles_deg)
    hx, hy, hz = -pitch / 2, -yaw / 2, roll / 2
    qx = (math.sin(hx), 0.0, 0.0, math.cos(hx))
    qy = (0.0, math.sin(hy), 0.0, math.cos(hy))
    qz = (0.0, 0.0, math.sin(hz), math.cos(hz))
    return _qmul(_qmul(qy, qx), qz)  # Unity: Euler = Y * X * Z


def _qmul(a: tuple[float, ...], b: tuple[float, ...]) -> tuple[float, float, float, float]:
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return (aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz)


def vmc_messages(angles_deg: np.ndarray, mouth: np.ndarray, t_s: float,
                 eyes: EyeState = EYES_OPEN) -> list[bytes]:
    """The OSC messages of one frame, each encoded on its own (the reference of
    :func:`vmc_bundle`)."""
    q = head_quaternion(angles_deg)
    msgs = [osc.message("/VMC/Ext/OK", 1), osc.message("/VMC/Ext/T", float(t_s)),
            osc.message("/VMC/Ext/Root/Pos", "root", *ROOT_TRANSFORM),
            osc.message("/VMC/Ext/Bone/Pos", "Head", 0.0, 0.0, 0.0, *map(float, q))]
    msgs += [osc.message("/VMC/Ext/Blend/Val", v, float(w))
             for v, w in zip(VOWELS, vowel_weights(mouth), strict=True)]
    msgs += [osc.message("/VMC/Ext/Blend/Val", name, w)
             for name, w in zip(BLINKS, blink_weights(eyes), strict=True)]
    msgs.append(osc.message("/VMC/Ext/Blend/Apply"))
    return msgs


def _sized(message: bytes) -> bytes:
    """A bundle element: its size (int32), then the message."""
    return struct.pack(">i", len(message)) + message


def _head(address: str, lead: tuple[str, ...], n_floats: int) -> bytes:
    """The bytes of a bundle element before its ``n_floats`` float32 arguments: size,
    address, type tags and the ``lead`` arguments."""
    full = _sized(osc.message(address, *lead, *[0.0] * n_floats))
    return full[:len(full) - 4 * n_floats]


#: The parts of a frame's bundle that never change: everything but the float arguments
#: (the time, the head's rotation, the blendshape weights), encoded once.
_BUNDLE_HEAD = (osc.osc_string("#bundle") + struct.pack(">Q", osc.IMMEDIATELY)
                + _sized(osc.message("/VMC/Ext/OK", 1)) + _head("/VMC/Ext/T", (), 1))
_ROOT_AND_HEAD = (_sized(osc.message("/VMC/Ext/Root/Pos", "root", *ROOT_TRANSFORM))
                  + _head("/VMC/Ext/Bone/Pos", ("Head",), 7)
                  + struct.pack(">3f", 0.0, 0.0, 0.0))
_BLENDS = tuple(_head("/VMC/Ext/Blend/Val", (name,), 1) for name in VOWELS + BLINKS)
_APPLY = _sized(osc.message("/VMC/Ext/Blend/Apply"))
_F32 = struct.Struct(">f").pack
_F32X4 = struct.Struct(">4f").pack


def vmc_bundle(angles_deg: np.ndarray, mouth: np.ndarray, t_s: float,
               eyes: EyeState = EYES_OPEN) -> bytes:
    """The OSC bundle for one frame (see the module docstring): the bytes of
    ``osc.bundle(vmc_messages(...))``, with what never changes encoded once."""
    weights = [*vowel_weights(mouth).tolist(), *blink_weights(eyes)]
    parts = [_BUNDLE_HEAD, _F32(float(t_s)), _ROOT_AND_HEAD,
             _F32X4(*head_quaternion(angles_deg))]
    for head, w in zip(_BLENDS, weights, strict=True):
        parts += (head, _F32(w))
    parts.append(_APPLY)
    return b"".join(parts)


def parse_host_port(text: str) -> tuple[str, int]:
    """'HOST:PORT' -> (host, port); ValueError with a one-line reason."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT (e.g. 127.0.0.1:39539), got {text!r}")
    return host, int(port)


class VmcSink:
    """Sends one VMC bundle per frame over UDP to ``(host, port)``."""

    name = "vmc"

    def __init__(self, host: str, port: int) -> None:
        try:
            self._addr = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0][4]
        except OSError as exc:
            raise LiveError(f"VMC address {host}:{port}: {exc.strerror or exc}") from None
        family = socket.AF_INET6 if ":" in self._addr[0] else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        self.n_errors = 0

    def send(self, live: LiveFrame) -> None:
        f = live.frame
        try:
            self._sock.sendto(vmc_bundle(f.angles_deg, f.mouth, f.t_s, f.eyes), self._addr)
        except OSError:  # nobody listening (ICMP port unreachable): UDP goes on regardless
            self.n_errors += 1

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> VmcSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
