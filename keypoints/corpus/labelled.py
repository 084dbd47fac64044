"""Phone labels made by people or an aligner -> the corpus' viseme segments, so a real recording
gets its lip targets by the same path as espeak's speech (coarticulation, visemes).

Labels are (start s, end s, label) intervals in one notation of keypoints.phone_labels.READERS.
Each label is rewritten to an espeak mnemonic (ARPAbet by a table, IPA by phone_labels' letter
map, SAMPA as it is, which shares espeak's letters); silences leave a gap, which the
coarticulation reads as rest.
"""

from __future__ import annotations

import re

from keypoints.corpus.coarticulation import Segment, segments_from_phones
from keypoints.corpus.espeak import Phone
from keypoints.phone_labels import READERS, SILENCE, ipa_to_ascii

#: ARPAbet (CMU, stress digits dropped) -> espeak-ng's English mnemonics
_ARPABET = {
    "AA": "A:", "AE": "a", "AH": "V", "AO": "O:", "AW": "aU", "AY": "aI", "EH": "E",
    "ER": "3:", "EY": "eI", "IH": "I", "IY": "i:", "OW": "oU", "OY": "OI", "UH": "U",
    "UW": "u:", "AX": "@", "AXR": "3", "IX": "I", "UX": "u:",
    "B": "b", "P": "p", "M": "m", "EM": "m", "F": "f", "V": "v", "T": "t", "D": "d", "K": "k",
    "G": "g", "DX": "t", "Q": "?", "CH": "tS", "JH": "dZ", "S": "s", "Z": "z", "SH": "S",
    "ZH": "Z", "TH": "T", "DH": "D", "HH": "h", "N": "n", "EN": "n", "NX": "n", "NG": "N",
    "L": "l", "EL": "l", "R": "r", "Y": "j", "W": "w",
}  # fmt: skip
#: SAMPA letters that espeak's table spells otherwise
_SAMPA = {"{": "a", "6": "@"}


def espeak_name(label: str, notation: str) -> str | None:
    """The espeak mnemonic of one label (None: a silence; "" : no sound of its own)."""
    if notation not in READERS or notation == "japanese":
        raise ValueError(f"{notation}: no espeak reading of this notation")
    if READERS[notation](label) == SILENCE:
        return None
    if notation == "arpabet":
        return _ARPABET.get(re.sub(r"[0-9]", "", label.strip()).upper(), "")
    text = ipa_to_ascii(label) if notation == "ipa" else label.strip()
    return "".join(_SAMPA.get(c, c) for c in text)


def segments_of(intervals: list[tuple[float, float, str]], notation: str) -> list[Segment]:
    """Viseme segments of labelled intervals: every run of sounding labels is read as one
    espeak utterance (keypoints.corpus.coarticulation.segments_from_phones: soundless labels
    extend the sound before, diphthongs split in two); silences end a run."""
    out: list[Segment] = []
    run: list[Phone] = []
    end_s = 0.0
    for start, stop, label in sorted(intervals):
        name = espeak_name(label, notation)
        if name is None:
            if run:
                out += segments_from_phones(run, end_s)
            run = []
            continue
        if run and start > end_s + 1e-6:  # an unlabelled gap is a pause too
            out += segments_from_phones(run, end_s)
            run = []
        run.append(Phone(name, start))
        end_s = stop
    if run:
        out += segments_from_phones(run, end_s)
    return out
