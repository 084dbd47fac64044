"""Continuous face parameters shared by the drawing backends (toon, warp): the config's eye and
brow values as numbers, blending for tweens, and the recursive-midpoint tween positions."""

from __future__ import annotations

from dataclasses import dataclass

from animator.rig import MouthShape

#: Eye aperture (1 = at rest) of the config's eye values.
EYE_OPEN = {"neutral": 1.0, "wide": 1.25, "squint": 0.45, "blink_closed": 0.0}
#: (raise, furrow) amounts of the config's brow values.
BROW_POSE = {"neutral": (0.0, 0.0), "raise": (1.0, 0.0), "furrow": (0.0, 1.0)}


@dataclass(frozen=True)
class Face:
    """The continuous face parameters a drawing takes; tweens interpolate these."""

    mouth: MouthShape
    eye_open: float = 1.0
    brow_raise: float = 0.0
    brow_furrow: float = 0.0


def face_from_names(mouth: MouthShape, eyes: str, brows: str) -> Face:
    """Face for the config's eye and brow values (see EYE_OPEN, BROW_POSE)."""
    if eyes not in EYE_OPEN:
        raise ValueError(f"unknown eyes {eyes!r}; expected one of {sorted(EYE_OPEN)}")
    if brows not in BROW_POSE:
        raise ValueError(f"unknown brows {brows!r}; expected one of {sorted(BROW_POSE)}")
    raise_, furrow = BROW_POSE[brows]
    return Face(mouth, EYE_OPEN[eyes], raise_, furrow)


def lerp_face(a: Face, b: Face, t: float) -> Face:
    """The face a fraction ``t`` of the way from ``a`` to ``b`` (parameter blend, no dissolve)."""

    def mix(u: float, v: float) -> float:
        return (1.0 - t) * u + t * v

    mouth = MouthShape(mix(a.mouth.open, b.mouth.open), mix(a.mouth.wide, b.mouth.wide),
                       mix(a.mouth.round, b.mouth.round))
    return Face(mouth, mix(a.eye_open, b.eye_open), mix(a.brow_raise, b.brow_raise),
                mix(a.brow_furrow, b.brow_furrow))


def midpoint_ts(depth: int) -> list[float]:
    """Path positions of a recursive-midpoint subdivision ``depth`` levels deep, sorted.

    Level 1 splits [0, 1] at 0.5, level 2 splits both halves (0.25, 0.75), and so on:
    2**depth - 1 positions, which is the uniform grid k / 2**depth.
    """
    if not 0 <= depth <= 5:  # deeper grids collide in NNN = round(100 t) file names
        raise ValueError(f"depth must be 0..5 (got {depth})")
    return [k / 2 ** depth for k in range(1, 2 ** depth)]
