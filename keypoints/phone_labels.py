"""Phone labels of several notations -> the sound classes of :mod:`keypoints.visemes`.

* espeak-ng's phoneme mnemonics (Kirshenbaum-like ASCII: ``a``, ``@``, ``i:``, ``aI``, ``tS``)
  and SAMPA, which shares most letters (``eI``, ``@``, ``D``, ``V``, ``{``);
* IPA (each symbol rewritten to its ASCII letter, then read as above);
* ARPAbet (CMU: ``AA1``, ``JH``; stress digits ignored);
* Japanese HTS full-context/mono labels (``a``, ``N``, ``cl``, ``sh``, ``pau``).

Each reader returns a tuple of one class, two for a diphthong, or () for a label that carries
no sound of its own (modifiers, language switches, stress marks).
"""

from __future__ import annotations

import re

SILENCE = ("sil",)
_SILENCE_LABELS = frozenset({"", "sil", "sp", "spn", "pau", "#", "<p:>", "_", "silence"})

# --- espeak / SAMPA letters ------------------------------------------------------------------

_CLUSTERS = {"tS": "S", "dZ": "S", "ts": "S", "dz": "S", "tC": "S", "dj": "S"}
_VOWELS = {
    "a": "A_", "A": "AA", "&": "AE", "{": "AE", "6": "A_",
    "e": "EH", "E": "EH",
    "i": "IY", "I": "IH",
    "@": "AX", "3": "ER", "V": "AH",
    "o": "O_", "O": "AO", "0": "AO",
    "u": "UW", "U": "UH", "y": "UW", "Y": "UW",
    "2": "OE", "9": "OE", "W": "OE",
}  # fmt: skip
_CONSONANTS = {
    "p": "P", "b": "P", "m": "P", "B": "P",
    "f": "F", "v": "F", "F": "F",
    "T": "S", "D": "S", "s": "S", "z": "S", "S": "S", "Z": "S", "C": "S",
    "t": "T", "d": "T", "k": "T", "g": "T", "q": "T", "G": "T", "c": "T", "x": "T",
    "X": "T", "Q": "T",
    "h": "HH", "H": "HH", "?": "HH",
    "n": "N", "J": "N", "N": "NG",
    "l": "L", "L": "L",
    "r": "R", "R": "R", "*": "R",
    "w": "W", "j": "Y",
}  # fmt: skip


def scan_letters(name: str, vowels: dict[str, str], consonants: dict[str, str]
                 ) -> tuple[str, ...]:
    """The classes an ASCII phone name's letters give: its vowel letters' classes (repeats
    merged, at most two: a diphthong), else the class of its first consonant letter, else ()."""
    found = [vowels[c] for c in name if c in vowels]
    if found:
        out = [found[0]]
        for v in found[1:]:
            if v != out[-1]:
                out.append(v)
        return tuple(out[:2])
    for c in name:
        if c in consonants:
            return (consonants[c],)
    return ()


def from_espeak(name: str) -> tuple[str, ...]:
    """Sound classes of one espeak-ng (or SAMPA) phoneme name."""
    if name.startswith("_") or name in _SILENCE_LABELS:
        return SILENCE
    if name.startswith("("):  # a language switch, e.g. "(en)"
        return ()
    if name[:2] in _CLUSTERS:
        return (_CLUSTERS[name[:2]],)
    return scan_letters(name, _VOWELS, _CONSONANTS)


# --- IPA -------------------------------------------------------------------------------------

_IPA_TO_ASCII = {
    "ə": "@", "ɚ": "3", "ɝ": "3", "ɜ": "3", "ʌ": "V", "æ": "&", "ɑ": "A", "ɒ": "0", "ɔ": "O",
    "ɛ": "E", "ɪ": "I", "ʊ": "U", "ø": "2", "œ": "9", "ɐ": "6", "ʏ": "Y", "ɨ": "I", "ʉ": "u",
    "θ": "T", "ð": "D", "ʃ": "S", "ʒ": "Z", "ŋ": "N", "ɲ": "J", "ɹ": "r", "ɾ": "*", "ʁ": "R",
    "χ": "X", "ɣ": "G", "ʎ": "L", "ç": "C", "ʔ": "?", "ɡ": "g", "ɫ": "l", "ɸ": "f", "β": "B",
    "ʤ": "dZ", "ʧ": "tS", "ː": ":", "ˈ": "", "ˌ": "",
}  # fmt: skip


def ipa_to_ascii(label: str) -> str:
    """One IPA phone label spelled in espeak's ASCII letters."""
    return "".join(_IPA_TO_ASCII.get(c, c) for c in label.strip())


def from_ipa(label: str) -> tuple[str, ...]:
    """Sound classes of one IPA phone label."""
    text = label.strip()
    if text in _SILENCE_LABELS:
        return SILENCE
    return from_espeak(ipa_to_ascii(text))


# --- ARPAbet ---------------------------------------------------------------------------------

_ARPABET = {
    "AA": ("AA",), "AE": ("AE",), "AH": ("AH",), "AO": ("AO",), "AW": ("A_", "AO"),
    "AY": ("A_", "IY"), "EH": ("EH",), "ER": ("ER",), "EY": ("EH", "IY"), "IH": ("IH",),
    "IY": ("IY",), "OW": ("AO", "UW"), "OY": ("AO", "IY"), "UH": ("UH",), "UW": ("UW",),
    "AX": ("AX",), "AXR": ("ER",), "IX": ("IH",), "UX": ("UW",),
    "B": ("P",), "P": ("P",), "M": ("P",), "EM": ("P",), "F": ("F",), "V": ("F",),
    "T": ("T",), "D": ("T",), "K": ("T",), "G": ("T",), "DX": ("T",), "Q": ("HH",),
    "CH": ("S",), "JH": ("S",), "S": ("S",), "Z": ("S",), "SH": ("S",), "ZH": ("S",),
    "TH": ("S",), "DH": ("S",), "HH": ("HH",), "N": ("N",), "EN": ("N",), "NX": ("N",),
    "NG": ("NG",), "L": ("L",), "EL": ("L",), "R": ("R",), "Y": ("Y",), "W": ("W",),
}  # fmt: skip


def from_arpabet(label: str) -> tuple[str, ...]:
    """Sound classes of one ARPAbet phone (stress digits ignored; an unknown label is read by
    its longest known prefix)."""
    key = re.sub(r"[0-9]", "", label.strip()).upper()
    if key.lower() in _SILENCE_LABELS:
        return SILENCE
    for n in range(len(key), 0, -1):
        if key[:n] in _ARPABET:
            return _ARPABET[key[:n]]
    return ()


# --- Japanese (HTS labels) --------------------------------------------------------------------

_JAPANESE = {
    "a": ("A_",), "i": ("IY",), "u": ("UJ",), "e": ("EH",), "o": ("O_",),
    "A": ("A_",), "I": ("IY",), "U": ("UJ",), "E": ("EH",), "O": ("O_",),  # devoiced
    "N": ("NM",), "cl": ("HH",),
    "k": ("T",), "g": ("T",), "t": ("T",), "d": ("T",), "r": ("T",), "gw": ("T",),
    "kw": ("T",),
    "s": ("S",), "z": ("S",), "sh": ("S",), "j": ("S",), "ch": ("S",), "ts": ("S",),
    "f": ("S",),
    "n": ("N",), "h": ("HH",), "m": ("P",), "b": ("P",), "p": ("P",), "v": ("F",),
    "y": ("Y",), "w": ("Y",),
}  # fmt: skip


def from_japanese(label: str) -> tuple[str, ...]:
    """Sound classes of one HTS phone label (palatalised ``ky``, ``ny`` ... read as their
    consonant)."""
    key = label.strip()
    if key.lower() in _SILENCE_LABELS:
        return SILENCE
    if key in _JAPANESE:
        return _JAPANESE[key]
    if key.endswith("y") and key[:-1] in _JAPANESE:
        return _JAPANESE[key[:-1]]
    return ()


READERS = {"espeak": from_espeak, "sampa": from_espeak, "ipa": from_ipa,
           "arpabet": from_arpabet, "japanese": from_japanese}
