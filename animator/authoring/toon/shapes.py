"""The toon's look and 3D model: colours, light, the pivot, and the ellipsoid blobs of head and
body (head units, degrees)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from animator.core.geometry import rotation_matrix

# --- look ---------------------------------------------------------------------------------


def _rgb(hex_code: str) -> np.ndarray:
    """float32[3] in 0..1 from '#rrggbb'."""
    return np.array([int(hex_code[i:i + 2], 16) / 255.0 for i in (1, 3, 5)], np.float32)


SKIN = _rgb("#ffd3b4")
HAIR = _rgb("#6b3a26")
HAIR_SHINE = _rgb("#9a5a3a")
SHIRT = _rgb("#2fb3a6")
COLLAR = _rgb("#f4f1e8")
LINE = _rgb("#3b2626")
EYE_WHITE = _rgb("#ffffff")
IRIS = _rgb("#3a8fd6")
IRIS_DARK = _rgb("#1f5c99")
PUPIL = _rgb("#1d1b2a")
BROW = _rgb("#4e2a1c")
MOUTH_INSIDE = _rgb("#6e1f2f")
TONGUE = _rgb("#ec7a86")
TEETH = _rgb("#ffffff")
LIPS = _rgb("#e88a82")
BLUSH = _rgb("#ff8f8f")
#: Multiplier of a colour in the shadow band of the cel shading (warm, slightly purple).
SHADOW_TINT = np.array([0.9, 0.77, 0.76], np.float32)
#: Direction towards the light, world coordinates (upper left, in front).
LIGHT_DIR = np.array([-0.45, 0.6, 0.66], np.float32) / np.linalg.norm([-0.45, 0.6, 0.66])

#: The world window the output image shows (head units): x from -HALF_W to +HALF_W, y from
#: TOP_Y down to TOP_Y - 2 HALF_W. The head (radius ~1.1 with hair) leaves wide margins so
#: +-15 deg poses and small extra shifts/rotations stay inside the frame; the torso runs off
#: the bottom edge (a bust: replicating the bottom rows extends it).
HALF_W = 2.05
TOP_Y = 1.72
#: Rotation pivot: in the neck, below and behind the face centre (head units).
PIVOT = np.array([0.0, -1.05, -0.2], np.float32)


# --- geometry -----------------------------------------------------------------------------


def _yaw_only(deg: float) -> np.ndarray:
    return rotation_matrix(0.0, deg, 0.0)


@dataclass(frozen=True, eq=False)
class Blob:
    """An ellipsoid part of the character.

    ``rot`` (float[3, 3]) takes the ellipsoid's own axes to its group's axes; ``line_group``:
    outlines are drawn only where two different line groups (or the background) meet;
    ``keep`` optionally accepts/rejects hits given the hit on the unit sphere (float[..., 3]),
    which is how the hair shell gets its hairline.
    """

    name: str
    centre: tuple[float, float, float]
    radii: tuple[float, float, float]
    colour: np.ndarray
    line_group: int
    rot: np.ndarray = field(default_factory=lambda: np.eye(3))
    keep: Callable[[np.ndarray], np.ndarray] | None = None


def _hair_keep(unit: np.ndarray) -> np.ndarray:
    """bool[...]: where the hair shell exists, given hit points on its unit sphere.

    The hairline height (unit-sphere y) is a function of the azimuth around the head: a
    side-swept fringe of pointed locks at the front, above the ears at the sides, down to the
    nape at the back.
    """
    x, y, z = unit[..., 0], unit[..., 1], unit[..., 2]
    az = np.arctan2(x, z)  # 0 at the front, +-pi at the back; > 0 on the character's left
    cos_az = np.cos(az)
    base = -0.16 + 0.6 * cos_az  # front 0.44, sides -0.16, back -0.76
    # Pointed locks over the forehead, swept towards the character's right (viewer's left).
    front = np.clip((cos_az - 0.25) / 0.75, 0.0, 1.0)
    phase = (az + 0.12) * 5.0 / math.pi
    saw = np.abs(phase - np.round(phase)) * 2.0  # 0 at a lock tip, 1 between locks
    locks = 0.2 * (1.0 - saw) ** 1.8 * front
    sweep = 0.1 * np.clip(-az, -1.0, 1.0) * front  # higher on the viewer's right
    # Fuller sides: hair comes down over the temples, just above the ears.
    temples = 0.16 * np.exp(-(((np.abs(az) - 1.15) / 0.35) ** 2))
    return y > base - locks + sweep - temples


SKULL = Blob("skull", (0.0, 0.0, 0.0), (1.0, 1.04, 0.96), SKIN, 0)
CHEEKS = Blob("cheeks", (0.0, -0.3, 0.06), (0.9, 0.72, 0.86), SKIN, 0)
NOSE = Blob("nose", (0.0, -0.2, 0.9), (0.13, 0.1, 0.12), SKIN, 0)
HEAD_BLOBS: tuple[Blob, ...] = (
    SKULL,
    CHEEKS,
    NOSE,
    Blob("ear_left", (0.96, -0.1, -0.08), (0.18, 0.25, 0.1), SKIN, 1, _yaw_only(25.0)),
    Blob("ear_right", (-0.96, -0.1, -0.08), (0.18, 0.25, 0.1), SKIN, 2, _yaw_only(-25.0)),
    Blob("hair", (0.0, 0.1, -0.04), (1.07, 1.06, 1.05), HAIR, 3, keep=_hair_keep),
    Blob("tuft", (0.12, 1.08, 0.05), (0.1, 0.24, 0.08), HAIR, 4,
         rotation_matrix(0.0, 0.0, 28.0)),
)
BODY_BLOBS: tuple[Blob, ...] = (
    Blob("neck", (0.0, -1.05, -0.16), (0.3, 0.45, 0.28), SKIN, 5),
    Blob("collar", (0.0, -1.38, -0.2), (0.44, 0.15, 0.38), COLLAR, 6),
    Blob("torso", (0.0, -1.97, -0.4), (1.42, 0.62, 0.66), SHIRT, 7),
)
#: Which blobs take the painted face texture.
FACE_BLOBS = ("skull", "cheeks")
