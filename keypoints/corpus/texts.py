"""Generated texts for the synthetic corpus (no text corpus is downloaded).

Three kinds of phrase, all drawn from a seeded numpy Generator:

* English sentences from templates (for English voices),
* numbers, dates, times and amounts written with digits, which espeak-ng reads in the voice's
  own language (so every language gets real words),
* pseudo-words in Latin letters (onset + nucleus + coda syllables), which espeak-ng
  pronounces with the language's spelling rules: the phonetics of any language, no lexicon.

Held-out texts: the English vocabulary is split in two disjoint halves (``split="train"`` uses
the even-indexed words, ``"test"`` the odd ones) and :func:`phrases` takes a disjoint
syllable inventory per split, so the test texts share no word with the training texts.
"""

from __future__ import annotations

import numpy as np

_SUBJECTS = (
    "the old man", "my sister", "a small dog", "the teacher", "our neighbour", "the pilot",
    "every child", "the farmer", "his mother", "a young woman", "the baker", "my friend",
    "the doctor", "this robot", "the captain", "your brother", "the singer", "a tired cat",
)  # fmt: skip
_VERBS = (
    "found", "painted", "carried", "opened", "moved", "watched", "bought", "cleaned",
    "dropped", "fixed", "lifted", "pushed", "washed", "played with", "looked at", "needed",
    "borrowed", "wanted", "cooked", "measured",
)  # fmt: skip
_OBJECTS = (
    "a blue box", "the heavy door", "three apples", "the map", "a wooden chair",
    "the broken window", "some fresh bread", "a yellow boat", "the piano", "my umbrella",
    "five books", "the long rope", "a warm coat", "the garden gate", "a paper moon",
    "the coffee cup", "a big balloon", "the quiet road",
)  # fmt: skip
_PLACES = (
    "in the morning", "near the river", "before lunch", "at the market", "under the bridge",
    "after school", "by the fireplace", "on Friday", "in the park", "behind the house",
    "at midnight", "on the beach", "during the storm", "in the kitchen",
)  # fmt: skip
_TEMPLATES = (
    "{s} {v} {o}", "{s} {v} {o} {p}", "{p} {s} {v} {o}", "did {s} see {o}",
    "why has {s} {v} {o}", "{s} {v} {o} and {o2}", "please tell {s} about {o}",
    "{s} never {v} {o} {p}",
)  # fmt: skip

_ONSETS = ("", "b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "ch",
           "sh", "br", "pl", "st", "tr", "gr", "fl", "kr", "w", "j", "h", "sp", "dr", "bl")
_NUCLEI = ("a", "e", "i", "o", "u", "ai", "au", "ei", "ou", "ie", "oo", "ee", "ia", "ua")
_CODAS = ("", "", "", "n", "m", "s", "r", "l", "t", "k", "ng", "st", "nd", "x", "p")


def _half(items: tuple[str, ...], split: str) -> tuple[str, ...]:
    """The even (train) or odd (test) indexed items."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return items[0::2] if split == "train" else items[1::2]


def english_sentence(rng: np.random.Generator, split: str) -> str:
    """One English sentence from the templates, vocabulary from ``split``'s half."""
    def pick(items: tuple[str, ...]) -> str:
        half = _half(items, split)
        return half[int(rng.integers(len(half)))]

    template = _TEMPLATES[int(rng.integers(len(_TEMPLATES)))]
    return template.format(s=pick(_SUBJECTS), v=pick(_VERBS), o=pick(_OBJECTS),
                           o2=pick(_OBJECTS), p=pick(_PLACES))


def number_phrase(rng: np.random.Generator) -> str:
    """Digits read in the voice's language: counts, years, times, decimals, lists."""
    kind = int(rng.integers(5))
    if kind == 0:
        return str(int(rng.integers(0, 100000)))
    if kind == 1:
        day, month = int(rng.integers(1, 29)), int(rng.integers(1, 13))
        return f"{day}.{month}.{int(rng.integers(1900, 2100))}"
    if kind == 2:
        return f"{int(rng.integers(0, 24))}:{int(rng.integers(0, 60)):02d}"
    if kind == 3:
        return f"{int(rng.integers(0, 1000))},{int(rng.integers(0, 100))}"
    return " ".join(str(int(rng.integers(0, 100))) for _ in range(int(rng.integers(2, 6))))


def pseudo_word(rng: np.random.Generator, split: str) -> str:
    """1-3 syllables; onsets alternate between the splits, so no word is shared."""
    onsets = _half(_ONSETS[1:], split)  # every syllable starts with a split-specific onset
    syllables = []
    for _ in range(int(rng.integers(1, 4))):
        syllables.append(onsets[int(rng.integers(len(onsets)))]
                         + _NUCLEI[int(rng.integers(len(_NUCLEI)))]
                         + _CODAS[int(rng.integers(len(_CODAS)))])
    return "".join(syllables)


def phrase(rng: np.random.Generator, language: str, split: str) -> str:
    """One phrase for a voice of ``language`` (espeak language id), without end punctuation.

    English: 50 % template sentences; every language: numbers and pseudo-words. About one in
    six phrases has a comma inside (espeak then pauses briefly within the phrase).
    """
    u = rng.random()
    if language.startswith("en") and u < 0.5:
        text = english_sentence(rng, split)
    elif u < 0.75:
        words = [pseudo_word(rng, split) for _ in range(int(rng.integers(2, 8)))]
        text = " ".join(words)
    else:
        text = number_phrase(rng)
    if rng.random() < 1 / 6 and " " in text:
        words = text.split(" ")
        cut = int(rng.integers(1, len(words)))
        text = " ".join(words[:cut]) + ", " + " ".join(words[cut:])
    return text
