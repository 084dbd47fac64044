"""Phone times for real recordings whose words are known, from a real aligner: PocketSphinx
5.1.1 (PyPI wheel, BSD-2; its US English acoustic model and CMU dictionary ride in the wheel).

Used only by ``python -m benchmarks.aligned_speech fetch`` to label development clips; never at
run time, never in tests. The wheel goes into the cache folder (``tools/pocketsphinx``, a
``pip install --target``), never into the project's environment, and runs in a subprocess:

``python -m benchmarks.forced_align WAV OUT.lab WORDS...`` writes an HTS-style label file
(start, end in 100 ns units, ARPAbet phone without stress; ``SIL`` for silence) that
benchmarks.aligned_speech.read_hts_lab reads.

Caveat: Rhubarb's ``pocketSphinx`` recognizer uses an acoustic model of the same family, so
these phone boundaries may favour it slightly over ours and Rhubarb's ``phonetic`` one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

PACKAGE = "pocketsphinx==5.1.1"
SR = 16000
#: words of the development clips that the CMU dictionary lacks (the sonnet's), in ARPAbet
EXTRA_WORDS = {"beauty's": "B Y UW T IY Z", "riper": "R AY P ER", "feed'st": "F IY D S T",
               "buriest": "B EH R IY IH S T", "churl": "CH ER L", "mak'st": "M EY K S T",
               "niggarding": "N IH G ER D IH NG", "glutton": "G L AH T AH N"}


def install(root: Path, log=print) -> Path:
    """The folder holding the ``pocketsphinx`` package (installed there once, with pip)."""
    target = root / "tools" / "pocketsphinx"
    if not (target / "pocketsphinx").is_dir():
        log(f"pip install --target {target} {PACKAGE} (the aligner of the development clips)")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                        "--only-binary", ":all:", "--target", str(target), PACKAGE], check=True)
    return target


def align(audio: np.ndarray, words: str) -> list[tuple[float, float, str]]:
    """[(start s, end s, ARPAbet phone)] of 16 kHz ``audio`` saying ``words`` (lower case,
    CMU dictionary words), silences as ``SIL``. Needs ``pocketsphinx`` importable."""
    from pocketsphinx import Decoder

    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
    decoder = Decoder(samprate=SR, loglevel="ERROR")
    for word, phones in EXTRA_WORDS.items():
        if word in words.split() and decoder.lookup_word(word) is None:
            decoder.add_word(word, phones, True)
    frame_s = 1.0 / float(decoder.config["frate"])
    decoder.set_align_text(words)
    decoder.start_utt()  # first pass: the word sequence's best path
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    decoder.set_alignment()
    decoder.start_utt()  # second pass: phones and states inside it
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    alignment = decoder.get_alignment()
    if alignment is None:
        raise RuntimeError(f"no alignment for {words!r}")
    return [(p.start * frame_s, (p.start + p.duration) * frame_s, p.name)
            for word in alignment for p in word]


def hts_lab(intervals: list[tuple[float, float, str]]) -> str:
    return "".join(f"{round(a * 1e7)} {round(b * 1e7)} {label}\n" for a, b, label in intervals)


def align_file(wav: Path, words: str, out: Path, target: Path) -> None:
    """Runs :func:`align` in a subprocess that sees the installed aligner in ``target``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(target), str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")])
    subprocess.run([sys.executable, "-m", "benchmarks.forced_align", str(wav), str(out),
                    words], check=True, env=env)


def main(argv: list[str] | None = None) -> int:
    from keypoints.audio import load_audio

    args = sys.argv[1:] if argv is None else argv
    wav, out, words = Path(args[0]), Path(args[1]), " ".join(args[2:])
    out.write_text(hts_lab(align(load_audio(wav, SR), words.lower())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
