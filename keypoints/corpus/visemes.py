"""The one table: espeak-ng phoneme mnemonics -> visemes -> mouth shape -> lip keypoints.

A viseme is a mouth shape with a *dominance* (how strongly it imposes itself on its
neighbours, the Cohen-Massaro coarticulation model, see ``keypoints.corpus.coarticulation``).
Shapes are in mouth widths at rest (the lip keypoint unit), consistent with the rig's default
mouth shapes (animator/rig.py: ah open 0.55 wide 0.95, ee 0.2 / 1.15, uw 0.18 / 0.72 round 1):

  open    inner-lip gap (jaw opening + lip separation)
  wide    corner-to-corner distance (1 = rest)
  round   lip rounding / protrusion in [0, 1] (z of the lip midpoints, narrower corners)
  tuck    lower lip drawn up and in against the upper teeth (f, v) in [0, 1]

espeak names phonemes in its own ASCII mnemonics (Kirshenbaum-like: ``a``, ``@``, ``i:``,
``aI``, ``tS``, ``O~``, ``d;`` ...). :func:`visemes_of` reads a mnemonic as one viseme or,
for diphthongs, two (the phoneme's duration is split between them); modifiers (``:``, ``;``,
``~``, ``#``, ``-``, digits) are ignored; names starting with ``_`` are pauses; language
switches like ``(en)`` and stress marks carry no sound.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from keypoints.phone_labels import scan_letters


@dataclass(frozen=True)
class Viseme:
    """A target mouth shape (mouth widths) and its dominance over neighbours.

    dominance_open weighs ``open`` and ``tuck``; dominance_shape weighs ``wide`` and
    ``round`` (lingual consonants let the neighbouring vowels shape the lips).
    """

    name: str
    open: float
    wide: float
    round: float
    tuck: float
    dominance_open: float
    dominance_shape: float


#: name: (open, wide, round, tuck, dominance_open, dominance_shape)
_TABLE: dict[str, tuple[float, float, float, float, float, float]] = {
    "rest": (0.00, 1.00, 0.00, 0.0, 4.0, 4.0),  # pause: closed, relaxed
    "PP": (0.00, 0.96, 0.05, 0.0, 12.0, 1.0),  # p b m: lips closed
    "FF": (0.05, 1.00, 0.00, 1.0, 6.0, 1.0),  # f v: lower lip to upper teeth
    "TH": (0.14, 1.02, 0.00, 0.0, 1.5, 0.5),  # T D: tongue between teeth
    "DD": (0.16, 1.00, 0.00, 0.0, 1.0, 0.4),  # t d n l: alveolar
    "SS": (0.07, 1.08, 0.00, 0.0, 3.0, 1.0),  # s z: teeth nearly together, spread
    "SH": (0.10, 0.84, 0.55, 0.0, 2.5, 2.5),  # S Z tS dZ: protruded
    "KK": (0.20, 1.00, 0.00, 0.0, 0.8, 0.3),  # k g N h x: velar/glottal
    "RR": (0.12, 0.86, 0.40, 0.0, 1.2, 1.5),  # r R
    "WW": (0.06, 0.70, 0.95, 0.0, 3.0, 4.0),  # w: tight rounding
    "JJ": (0.10, 1.10, 0.00, 0.0, 1.0, 1.0),  # j: spread
    "AA": (0.55, 0.95, 0.00, 0.0, 2.0, 1.0),  # a A &: open
    "EH": (0.36, 1.10, 0.00, 0.0, 2.0, 1.5),  # e E
    "IY": (0.18, 1.15, 0.00, 0.0, 2.0, 2.0),  # i I
    "AX": (0.30, 1.00, 0.00, 0.0, 1.2, 0.6),  # @ 3 V: neutral
    "OH": (0.40, 0.80, 0.70, 0.0, 2.0, 2.5),  # o O 0
    "UW": (0.18, 0.72, 1.00, 0.0, 2.0, 3.0),  # u U
    "UY": (0.18, 0.76, 0.90, 0.0, 2.0, 3.0),  # y Y 2 9 W: front rounded
}
VISEMES: dict[str, Viseme] = {name: Viseme(name, *values) for name, values in _TABLE.items()}
VISEME_NAMES: tuple[str, ...] = tuple(VISEMES)

#: Multi-letter consonants read as one viseme (checked before the letter rules).
_CLUSTERS = {"tS": "SH", "dZ": "SH", "ts": "SS", "dz": "SS", "tC": "SH", "dj": "SH"}
#: One letter -> viseme. Vowel letters may combine into a diphthong; consonants never do.
_VOWEL_LETTERS = {
    "a": "AA", "A": "AA", "&": "AA",
    "e": "EH", "E": "EH",
    "i": "IY", "I": "IY",
    "@": "AX", "3": "AX", "V": "AX",
    "o": "OH", "O": "OH", "0": "OH",
    "u": "UW", "U": "UW",
    "y": "UY", "Y": "UY", "2": "UY", "9": "UY", "W": "UY",
}  # fmt: skip
_CONSONANT_LETTERS = {
    "p": "PP", "b": "PP", "m": "PP", "B": "PP",
    "f": "FF", "v": "FF", "F": "FF",
    "T": "TH", "D": "TH",
    "t": "DD", "d": "DD", "n": "DD", "l": "DD", "L": "DD", "J": "DD",
    "s": "SS", "z": "SS", "C": "SS",
    "S": "SH", "Z": "SH",
    "k": "KK", "g": "KK", "N": "KK", "h": "KK", "x": "KK", "X": "KK", "q": "KK", "G": "KK",
    "c": "KK", "Q": "KK", "H": "KK", "?": "KK",
    "r": "RR", "R": "RR",
    "w": "WW",
    "j": "JJ",
}  # fmt: skip


def is_pause(name: str) -> bool:
    """True for espeak's pause phonemes (``_``, ``_:``, ``_!``, ``_|`` ...)."""
    return name.startswith("_")


def visemes_of(name: str) -> tuple[str, ...]:
    """Viseme names for one espeak phoneme mnemonic: () when it carries no sound of its own
    (modifiers, language switches), ("rest",) for pauses, 1-2 names otherwise."""
    if is_pause(name):
        return ("rest",)
    if name.startswith("("):
        return ()
    if name in _CLUSTERS:
        return (_CLUSTERS[name],)
    return scan_letters(name, _VOWEL_LETTERS, _CONSONANT_LETTERS)


def shape_array(names: list[str] | tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(targets float64[n, 4] as open, wide, round, tuck; dominance float64[n, 4])."""
    targets = np.array([[VISEMES[n].open, VISEMES[n].wide, VISEMES[n].round, VISEMES[n].tuck]
                        for n in names], dtype=np.float64).reshape(-1, 4)
    dominance = np.array([[VISEMES[n].dominance_open, VISEMES[n].dominance_shape,
                           VISEMES[n].dominance_shape, VISEMES[n].dominance_open]
                          for n in names], dtype=np.float64).reshape(-1, 4)
    return targets, dominance


# --- mouth shape -> keypoints ---------------------------------------------------------------

#: Keypoints the trained model outputs (the contract's four first, then the outer lip midpoints).
KEYPOINT_NAMES: tuple[str, ...] = (
    "upper_lip", "lower_lip", "left_corner", "right_corner", "upper_outer", "lower_outer",
)  # fmt: skip
UPPER_SHARE = 0.3  # share of the opening taken by the upper lip (the jaw moves the lower one)
CORNER_DROP = 0.15  # corners move down by this fraction of the opening
PROTRUSION_W = 0.12  # z of the lip midpoints at full rounding
UPPER_THICKNESS_W = 0.14  # outer - inner lip midpoint, at rest
LOWER_THICKNESS_W = 0.18
TUCK_LIFT_W = 0.04  # lower lip raised (y) and drawn in (-z) at full tuck


def keypoints_from_shape(shape: np.ndarray) -> np.ndarray:
    """float[T, 4] (open, wide, round, tuck) -> float32[T, 6, 3] keypoints (KEYPOINT_NAMES).

    Face-normalised frame: origin at the mouth centre at rest, unit = mouth width at rest,
    x to the character's left, y up, z towards the viewer. Inner gap = open exactly.
    """
    shape = np.asarray(shape, dtype=np.float64)
    open_, wide, round_, tuck = (shape[:, i] for i in range(4))
    n = shape.shape[0]
    out = np.zeros((n, len(KEYPOINT_NAMES), 3), dtype=np.float64)
    upper_y = UPPER_SHARE * open_
    lower_y = upper_y - open_
    protrusion = PROTRUSION_W * round_
    out[:, 0] = np.stack([np.zeros(n), upper_y, protrusion], axis=1)
    out[:, 1] = np.stack([np.zeros(n), lower_y, protrusion - TUCK_LIFT_W * tuck], axis=1)
    corner_y = -CORNER_DROP * open_
    corner_z = -0.5 * protrusion  # corners pull back as the midpoints push forward
    out[:, 2] = np.stack([wide / 2, corner_y, corner_z], axis=1)
    out[:, 3] = np.stack([-wide / 2, corner_y, corner_z], axis=1)
    thin = 1.0 - 0.3 * round_  # rounded lips look thicker forward, thinner vertically
    out[:, 4] = np.stack([np.zeros(n), upper_y + UPPER_THICKNESS_W * thin, 1.2 * protrusion],
                         axis=1)
    out[:, 5] = np.stack([np.zeros(n), lower_y + TUCK_LIFT_W * tuck - LOWER_THICKNESS_W * thin,
                          1.2 * protrusion - 2 * TUCK_LIFT_W * tuck], axis=1)
    return out.astype(np.float32)


def rest_keypoints() -> np.ndarray:
    """float32[6, 3]: the keypoints of the rest viseme."""
    rest = VISEMES["rest"]
    return keypoints_from_shape(np.array([[rest.open, rest.wide, rest.round, rest.tuck]]))[0]
