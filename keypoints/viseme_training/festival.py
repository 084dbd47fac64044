"""Festival voices for the viseme corpus: speech from voices built on real recordings, with
every phone's time, beside espeak-ng's formant voices (dev only).

Debian packages ``festival`` plus the English voices of FESTIVAL_VOICES: two diphone voices
(kal, ked: concatenated diphones a man recorded) and an HTS voice (slt: a statistical voice
trained on a woman's ARCTIC recordings). Their phone sets are ARPAbet letters in lower case
(``pau`` for silence), read by keypoints.phone_labels.from_arpabet. One festival process
speaks all the phrases of a session: each phrase's wave and its segment file (ESPS xlabel:
``end_s colour phone`` lines after a ``#`` line).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from keypoints.phone_labels import from_arpabet

#: festival voice -> its Scheme selector; all speak American English.
FESTIVAL_VOICES = {
    "kal": "voice_kal_diphone",
    "ked": "voice_ked_diphone",
    "slt": "voice_cmu_us_slt_arctic_hts",
}
#: Duration stretch range (festival's Duration_Stretch: > 1 slower).
STRETCH_RANGE = (0.75, 1.4)


@dataclass(frozen=True)
class FestivalUtterance:
    """samples float32[N] at ``sample_rate``; phones: (start s, end s, label)."""

    samples: np.ndarray
    sample_rate: int
    phones: list[tuple[float, float, str]]


def available() -> list[str]:
    """The FESTIVAL_VOICES installed here (none without festival)."""
    if shutil.which("festival") is None:
        return []
    roots = [Path("/usr/share/festival/voices")]
    have = {p.name for r in roots if r.is_dir() for p in r.glob("*/*")}
    wanted = {"kal": "kal_diphone", "ked": "ked_diphone", "slt": "cmu_us_slt_arctic_hts"}
    return [v for v in FESTIVAL_VOICES if wanted[v] in have]


def read_segs(text: str) -> list[tuple[float, float, str]]:
    """ESPS xlabel text (header, ``#``, then ``end_s colour label`` lines) -> intervals."""
    body = text.split("\n#", 1)[1] if "\n#" in text else text.lstrip("#")
    out: list[tuple[float, float, str]] = []
    start = 0.0
    for line in body.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        end = float(parts[0])
        out.append((start, end, parts[2]))
        start = end
    return out


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def speak_phrases(texts: list[str], voice: str, stretch: float = 1.0,
                  timeout_s: float = 120.0) -> list[FestivalUtterance]:
    """Each text spoken by festival ``voice`` (a FESTIVAL_VOICES key) at ``stretch``."""
    with tempfile.TemporaryDirectory() as tmp:
        lines = [f"({FESTIVAL_VOICES[voice]})",
                 f"(Parameter.set 'Duration_Stretch {stretch:.3f})"]
        for i, text in enumerate(texts):
            lines += [f"(set! utt (Utterance Text {_scheme_string(text)}))", "(utt.synth utt)",
                      f'(utt.save.wave utt "{tmp}/{i}.wav" \'riff)',
                      f'(utt.save.segs utt "{tmp}/{i}.segs")']
        script = Path(tmp) / "run.scm"
        script.write_text("\n".join(lines) + "\n", encoding="utf-8")
        subprocess.run(["festival", "-b", str(script)], check=True, capture_output=True,
                       timeout=timeout_s)
        out = []
        for i in range(len(texts)):
            wav, segs = Path(tmp) / f"{i}.wav", Path(tmp) / f"{i}.segs"
            if not (wav.is_file() and segs.is_file()):
                continue
            samples, sr = sf.read(wav, dtype="float32", always_2d=True)
            out.append(FestivalUtterance(samples[:, 0], int(sr),
                                         read_segs(segs.read_text(encoding="utf-8"))))
        return out


def utterance_sounds(utt: FestivalUtterance, sample_rate: int, offset_s: float):
    """(float32 samples at ``sample_rate``, [(start s, end s, classes)] shifted by offset_s)
    with silence dropped."""
    audio = soxr.resample(utt.samples, utt.sample_rate, sample_rate).astype(np.float32)
    sounds = []
    for lo, hi, label in utt.phones:
        classes = from_arpabet(label)
        if classes and classes != ("sil",) and hi > lo:
            sounds.append((lo + offset_s, hi + offset_s, classes))
    return audio, sounds
