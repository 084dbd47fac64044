"""A mouth shape (Rhubarb's A-H, X) for lips that carry none: measured lips (a face on a
camera) or a lip model run without the viseme model. The nearest of the basic shapes' mouth
openings and widths, with X while the mouth rests and A for a closed mouth while speaking
(the viseme model, when it runs, decides instead: it hears F/V and L, which lips cannot show
apart). :func:`shown_shape` is the one a frame shows: rest (X) while the speaking state says
silence, whatever was heard. :func:`closed_by_shape`: the other way round, a heard closed
shape (A: p, b, m) closes the mouth's opening, so that rigs drawn by opening (not by mouth
charts) close their lips on bilabials too."""

from __future__ import annotations

import math

import numpy as np

from animator.stages.mouth import OPEN_KNEE_W, expanded_open

#: (open, wide, round) in mouth widths of the shapes a mouth's outline can show (the rig
#: defaults' scale: animator/rig.py DEFAULT_MOUTH_SHAPES); the mouth chart builder draws
#: them. G (teeth on the lower lip) and H (the tongue) are not a matter of the outline.
SHAPE_MOUTHS: dict[str, tuple[float, float, float]] = {
    "X": (0.00, 1.00, 0.0), "A": (0.00, 0.94, 0.1), "B": (0.10, 1.05, 0.0),
    "C": (0.33, 1.05, 0.0), "D": (0.55, 0.95, 0.0), "E": (0.30, 0.82, 0.5),
    "F": (0.15, 0.72, 1.0),
}
#: the open shapes, told apart by their opening and width
_NAMES = ("B", "C", "D", "E", "F")
_POINTS = tuple((n, SHAPE_MOUTHS[n][0], SHAPE_MOUTHS[n][1]) for n in _NAMES)
#: Below this opening (mouth widths) the mouth counts as closed.
CLOSED_OPEN = OPEN_KNEE_W
#: The shape of closed lips pressed together (p, b, m).
CLOSED_SHAPE = "A"


def shape_from_mouth(mouth: np.ndarray | tuple[float, float], speaking: float) -> str:
    """mouth float[2] (open, wide) in mouth widths, speaking in [0, 1] -> a shape name (the
    nearest open shape: a scan in Python floats, ties to the first, a NaN distance wins as
    in np.argmin)."""
    open_w, wide_w = float(mouth[0]), float(mouth[1])
    if open_w < CLOSED_OPEN:
        return "A" if speaking >= 0.5 else "X"
    best, low = _NAMES[0], math.inf
    for name, o, w in _POINTS:
        d2 = (o - open_w) * (o - open_w) + (w - wide_w) * (w - wide_w)
        if d2 < low or (d2 != d2 and low == low):
            best, low = name, d2
    return best


def shown_shape(heard: str | None, mouth: np.ndarray, speaking: float,
                talk_speaking: float = 0.5) -> str:
    """The shape a frame shows: ``heard`` (the viseme model's, None without one) or the
    mouth's (:func:`shape_from_mouth`), but rest (X) while the speaking state is below
    ``talk_speaking`` (the selector's threshold): a breath, a click or room noise that the
    shape model hears as a sound in a pause shows the resting mouth, as the rest of the face
    does. Only heard shapes are gated: lips that carry no shape (a face on a camera) show
    their own opening, also a mouth held open in a pause."""
    if heard is None:
        return shape_from_mouth(mouth, speaking)
    return "X" if speaking < talk_speaking else heard


def closed_by_shape(heard: str | None, mouth: tuple | np.ndarray) -> tuple | np.ndarray:
    """The mouth (open, wide) a frame shows: with the closed shape heard (A: p, b, m; the
    viseme model's, None without one) the opening at rest (0), the width kept; else ``mouth``
    itself. The lip model alone closes the lips at the middle of only about one bilabial in
    three of real speech (its opening dips, rarely to closed: benchmarks.bilabials); the
    shape model names the closure. Only heard shapes count: lips that carry none (a face on
    a camera) show their own opening."""
    if heard != CLOSED_SHAPE:
        return mouth
    return (0.0, float(mouth[1]))


def shown_mouth(heard: str | None, mouth: tuple | np.ndarray, open_gain: float,
                closes: bool) -> tuple | np.ndarray:
    """The mouth (open, wide) a frame shows: the opening expanded by ``open_gain`` above the
    closed level (lips from a model open less than real mouths:
    animator.stages.mouth.expanded_open), then closed on a heard closed shape when ``closes``
    (:func:`closed_by_shape`)."""
    if open_gain != 1.0:
        mouth = (expanded_open(float(mouth[0]), open_gain), float(mouth[1]))
    return closed_by_shape(heard, mouth) if closes else mouth
