"""The nine mouth shapes of Rhubarb Lip Sync (A-H and X) and which of them each speech sound
allows: the one table behind the viseme model's training targets, its evaluation and the
cue exports.

Shapes, as Rhubarb's README defines them (the animators' Hanna-Barbera chart):

  A  closed mouth, slight pressure between the lips: P, B, M
  B  slightly open mouth, clenched teeth: most consonants (K, S, T ...), the EE of "bee"
  C  open mouth: EH as in "men", AE as in "bat"; the in-between from A/B to D
  D  wide open mouth: AA as in "father"
  E  slightly rounded mouth: AO as in "off", ER as in "bird"; the in-between from C/D to F
  F  puckered lips: UW as in "you", OW as in "show", W as in "way"
  G  upper teeth on the lower lip: F as in "for", V as in "very"
  H  tongue raised behind the upper teeth, open about as C: a long L
  X  idle, lips closed and relaxed: pauses

A sound does not always decide one shape (a T is said with whatever the neighbouring vowels
leave the lips doing), so each *sound class* allows a set of shapes, following Rhubarb's own
animation rules (its ``getShapeSets``): a frame *agrees* with the truth when the shape shown
is in the set of the sound heard then. Each class also names a *canonical* shape (the one to
draw when nothing else decides; None where any open shape is right).

Sound classes are ARPAbet-like names; :mod:`keypoints.phone_labels` reads espeak-ng, SAMPA,
IPA, ARPAbet and Japanese labels into them. Long and short sounds differ for a few classes
(Rhubarb: a short AH is C, a long one D; a long L is H), diphthongs take their first shape for
the first 60 % of their time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The shapes in the order of every model output and array of this project.
SHAPES: tuple[str, ...] = ("A", "B", "C", "D", "E", "F", "G", "H", "X")
SHAPE_INDEX = {s: i for i, s in enumerate(SHAPES)}
#: The shape of silence (and of a mouth chart's base image).
REST_SHAPE = "X"

DESCRIPTIONS: dict[str, str] = {
    "A": "closed mouth with slight pressure between the lips (P, B, M)",
    "B": "slightly open mouth with clenched teeth (most consonants; EE)",
    "C": "open mouth (EH as in men, AE as in bat)",
    "D": "wide open mouth (AA as in father)",
    "E": "slightly rounded mouth (AO as in off, ER as in bird)",
    "F": "puckered lips (UW as in you, OW as in show, W)",
    "G": "upper teeth touching the lower lip (F, V)",
    "H": "tongue raised behind the upper teeth, open about as C (long L)",
    "X": "idle: lips closed and relaxed (pauses)",
}
#: Preston Blair's names of the shapes (Moho's and OpenToonz's mouth charts).
PRESTON_BLAIR: dict[str, str] = {"A": "MBP", "B": "etc", "C": "E", "D": "AI", "E": "O",
                                 "F": "U", "G": "FV", "H": "L", "X": "rest"}

ANY = "ABCDEFGHX"
ANY_OPEN = "BCDEFGH"
#: Split point of a diphthong: its first shape for this share of its duration.
DIPHTHONG_FIRST = 0.6
#: Sounds shorter than this (seconds) count as short for the duration rules below.
SHORT_S = 0.2


@dataclass(frozen=True)
class Rule:
    """The shapes a sound class allows, and the one to draw when nothing else decides."""

    allowed: str
    canonical: str | None


#: class -> (rule, rule when shorter than SHORT_S or None)
_RULES: dict[str, tuple[Rule, Rule | None]] = {
    "sil": (Rule("X", "X"), None),
    # vowels
    "AA": (Rule("D", "D"), None),
    "AE": (Rule("C", "C"), None),
    "AH": (Rule("D", "D"), Rule("C", "C")),
    "A_": (Rule("CD", "D"), None),  # open /a/ of most languages (between AE and AA)
    "AO": (Rule("E", "E"), None),
    "O_": (Rule("EF", "E"), None),  # pure /o/: rounded, between AO and OW's end
    "EH": (Rule("C", "C"), None),
    "IY": (Rule("B", "B"), None),
    "IH": (Rule("B", "B"), None),
    "UW": (Rule("F", "F"), None),
    "UH": (Rule("F", "F"), None),
    "AX": (Rule("BC", "C"), None),  # schwa
    "ER": (Rule("E", "E"), Rule("BC", "C")),
    "OE": (Rule("EF", "E"), None),  # front rounded mid (ø, œ)
    "UJ": (Rule("BF", "F"), None),  # compressed, barely rounded u (Japanese)
    # consonants
    "P": (Rule("A", "A"), None),  # p b m and the bilabial closures
    "F": (Rule("G", "G"), None),  # f v
    "T": (Rule(ANY_OPEN, "B"), None),  # t d and k g: any open mouth
    "S": (Rule("BF", "B"), None),  # s z sh zh th dh ch jh
    "N": (Rule("BCFH", "B"), None),
    "NM": (Rule("ABCFH", "B"), None),  # a nasal that takes its neighbour's place (Japanese N)
    "NG": (Rule("BCEF", "B"), None),
    "L": (Rule("H", "H"), Rule("BEFH", "B")),
    "R": (Rule("BEF", "E"), None),
    "Y": (Rule("BCF", "B"), None),
    "W": (Rule("F", "F"), None),
    "HH": (Rule(ANY, None), None),  # h, glottal stops: the neighbours decide
}
CLASSES: tuple[str, ...] = tuple(_RULES)


def rule(cls: str, duration_s: float = 1.0) -> Rule:
    """The rule of sound class ``cls`` for a sound lasting ``duration_s``."""
    long, short = _RULES[cls]
    return short if short is not None and duration_s < SHORT_S else long


@dataclass(frozen=True)
class Sound:
    """A labelled stretch of speech: one or two sound classes (two: a diphthong) over
    [start_s, end_s)."""

    start_s: float
    end_s: float
    classes: tuple[str, ...]


def frame_truth(sounds: list[Sound], n_frames: int, frame_rate_hz: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """(allowed bool[T, 9], canonical int64[T]: shape index or -1) for frames at t = k / rate.

    Time outside every sound is silence (X). A diphthong's first class covers the first
    DIPHTHONG_FIRST of its time."""
    allowed = np.zeros((n_frames, len(SHAPES)), dtype=bool)
    allowed[:, SHAPE_INDEX[REST_SHAPE]] = True
    canonical = np.full(n_frames, SHAPE_INDEX[REST_SHAPE], dtype=np.int64)
    for s in sounds:
        duration = s.end_s - s.start_s
        if duration <= 0 or not s.classes:
            continue
        cuts = [s.start_s, s.end_s] if len(s.classes) == 1 else \
            [s.start_s, s.start_s + DIPHTHONG_FIRST * duration, s.end_s]
        for cls, lo_s, hi_s in zip(s.classes, cuts[:-1], cuts[1:], strict=False):
            r = rule(cls, duration)
            lo = max(0, int(np.ceil(lo_s * frame_rate_hz)))
            hi = min(n_frames, int(np.ceil(hi_s * frame_rate_hz)))
            if hi <= lo:
                continue
            allowed[lo:hi] = False
            for shape in r.allowed:
                allowed[lo:hi, SHAPE_INDEX[shape]] = True
            canonical[lo:hi] = -1 if r.canonical is None else SHAPE_INDEX[r.canonical]
    return allowed, canonical


def agreement(shapes: np.ndarray, allowed: np.ndarray, mask: np.ndarray | None = None
              ) -> float:
    """Share of frames whose shape index (int[T]) is allowed (bool[T, 9]); over ``mask``
    (bool[T]) when given."""
    ok = allowed[np.arange(len(shapes)), shapes]
    if mask is not None:
        ok = ok[mask]
    return float(ok.mean()) if ok.size else float("nan")
