"""Many renders in one command: the jobs (from files, folders and CSV lists), what is already
done, the results manifest, and the one function every worker runs (:func:`run_job`), the
same in a local process pool and on Ray.

A job's outputs are written atomically by :func:`animator.render.render`, so an output that
exists is complete: a batch started again skips it (resumable). Nothing here imports the
engine: a worker imports it on its first job.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from animator.core.errors import AnimatorError, one_line
from animator.core.modes import OFFLINE_SPEAKING
from animator.core.outputs import OutputError, refuse_inputs, write_text_atomic

#: Files a folder INPUT contributes (lower-case extensions); a file named on the command line
#: or in a CSV list may be anything the decoder reads (a video's audio track too).
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".webm")
#: The results manifest in OUTDIR.
MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
CSV_COLUMNS = ("audio", "rig", "seed", "output")


class BatchError(AnimatorError):
    """A batch that cannot start (a bad CSV list, an empty folder, two jobs on one output)."""


@dataclass(frozen=True)
class RenderSettings:
    """What every job of a batch shares (each CSV row may set its own rig and seed)."""

    rig: str | None = None  # None: the built-in character
    seed: int = 0
    fps: float = 25.0
    motion: str = "natural"
    motion_gain: float = 1.0
    mouth_gain: float | None = None  # EngineConfig.open_gain (None: the calibrated default)
    speaking: str = OFFLINE_SPEAKING
    width_px: int = 512
    background_rgb: tuple[int, int, int] = (236, 240, 244)
    model: str | None = None
    timeline: bool = True  # also write OUT.json beside each OUT.mp4
    x264_preset: str | None = None  # None: animator.sinks.mp4's default
    crf: int | None = None


@dataclass(frozen=True)
class Job:
    """One input -> one video (and its timeline). Paths are absolute."""

    audio: str
    output: str  # the mp4
    timeline: str | None  # the timeline JSON, or None
    rig: str | None
    seed: int
    settings: RenderSettings = field(default_factory=RenderSettings)

    @property
    def outputs(self) -> list[str]:
        return [self.output] + ([self.timeline] if self.timeline else [])

    def done(self) -> bool:
        """Every output exists (written atomically, so complete)."""
        return all(os.path.isfile(p) for p in self.outputs)


@dataclass
class JobResult:
    """A line of the manifest."""

    input: str
    output: str
    status: str  # "done", "skipped" (already there), "failed"
    duration_s: float | None = None  # length of the audio
    wall_s: float | None = None  # time the render took
    frames: int | None = None
    error: str | None = None
    worker: str | None = None  # host:pid that rendered it


def _abs(path: str | os.PathLike, base: Path) -> str:
    p = Path(path).expanduser()
    return os.path.abspath(p if p.is_absolute() else base / p)


def _rows_from_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV list: a header naming some of ``CSV_COLUMNS`` (``audio`` needed), or
    no header and the columns in that order."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = [r for r in csv.reader(fh) if any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise BatchError(f"{path}: cannot read the CSV list ({one_line(exc)})") from None
    if not rows:
        raise BatchError(f"{path}: the CSV list is empty")
    header = [c.strip().lower() for c in rows[0]]
    if "audio" in header:
        unknown = [c for c in header if c not in CSV_COLUMNS]
        if unknown:
            raise BatchError(f"{path}: unknown column(s) {', '.join(unknown)} (columns: "
                             f"{', '.join(CSV_COLUMNS)})")
        names, rows = header, rows[1:]
    else:
        names = list(CSV_COLUMNS)
    out = []
    for n, row in enumerate(rows, start=2 if names is header else 1):
        if len(row) > len(names):
            raise BatchError(f"{path}: line {n} has {len(row)} columns, expected at most "
                             f"{len(names)} ({', '.join(names)})")
        rec = {k: v.strip() for k, v in zip(names, row, strict=False)}
        if not rec.get("audio"):
            raise BatchError(f"{path}: line {n} names no audio file")
        rec["_line"] = str(n)
        out.append(rec)
    return out


def plan_jobs(inputs: Sequence[str | os.PathLike], outdir: str | os.PathLike,
              settings: RenderSettings) -> list[Job]:
    """The jobs for INPUT... (audio files, folders of them, CSV lists), in order.

    Outputs: OUTDIR/STEM.mp4 (+ OUTDIR/STEM.json), or a CSV row's ``output`` (relative to
    OUTDIR). A CSV row's ``audio`` and ``rig`` are relative to the CSV's folder. BatchError
    (one line) for an input that does not exist, a CSV that cannot be read, a folder without
    audio, or two jobs that would write the same file; OutputError for an output that is an
    input.
    """
    outdir = Path(os.path.abspath(outdir))
    jobs: list[Job] = []
    for given in inputs:
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.iterdir()
                           if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
            if not found:
                raise BatchError(f"{path}: no audio files in this folder (looked for "
                                 f"{' '.join(AUDIO_SUFFIXES)})")
            jobs += [_job(str(p.absolute()), None, settings.rig, settings.seed, outdir,
                          settings) for p in found]
        elif path.suffix.lower() == ".csv":
            if not path.is_file():
                raise BatchError(f"{path}: no such file")
            base = path.absolute().parent
            for rec in _rows_from_csv(path):
                seed = settings.seed
                if rec.get("seed"):
                    try:
                        seed = int(rec["seed"])
                    except ValueError:
                        raise BatchError(f"{path}: line {rec['_line']}: seed "
                                         f"{rec['seed']!r} is not an integer") from None
                rig = _abs(rec["rig"], base) if rec.get("rig") else settings.rig
                jobs.append(_job(_abs(rec["audio"], base), rec.get("output") or None, rig,
                                 seed, outdir, settings))
        elif path.exists():
            jobs.append(_job(str(path.absolute()), None, settings.rig, settings.seed, outdir,
                             settings))
        else:
            raise BatchError(f"{path}: no such file or folder")
    _check_unique(jobs)
    return jobs


def _job(audio: str, output: str | None, rig: str | None, seed: int, outdir: Path,
         settings: RenderSettings) -> Job:
    out = Path(_abs(output, outdir) if output else outdir / (Path(audio).stem + ".mp4"))
    if out.suffix.lower() != ".mp4":
        raise BatchError(f"{output}: a video is written as .mp4")
    timeline = str(out.with_suffix(".json")) if settings.timeline else None
    return Job(audio, str(out), timeline, rig, seed, settings)


def _check_unique(jobs: Sequence[Job]) -> None:
    seen: dict[str, str] = {}
    for job in jobs:
        for out in job.outputs:
            if out in seen:
                raise BatchError(f"{out}: written by two inputs ({seen[out]} and {job.audio}); "
                                 f"name the outputs in a CSV list (audio,output)")
            seen[out] = job.audio
    inputs = [j.audio for j in jobs] + [j.rig for j in jobs if j.rig]
    refuse_inputs([o for j in jobs for o in j.outputs], inputs)
    for job in jobs:
        if job.audio in seen:
            raise OutputError(f"{job.audio}: is an input and the output of "
                              f"{seen[job.audio]}; an output never replaces an input")


def run_job(job: Job, lip_thread: bool = True) -> JobResult:
    """Render one job in this process: what every worker runs, locally or on Ray. Bad input
    (any AnimatorError) becomes a failed result with its one-line message; so does a bug
    (named by its exception type), so that one file never stops the batch. lip_thread: see
    :func:`animator.render.render` (a worker beside others on every core passes False: the
    same frames, without a thread that could only wait for a core)."""
    from animator.engine import EngineConfig
    from animator.render.offline import render
    from keypoints.compute_threads import compute_threads

    started = time.perf_counter()
    worker = f"{os.uname().nodename}:{os.getpid()}"
    result = JobResult(job.audio, job.output, "failed", worker=worker)
    s = job.settings
    try:
        with compute_threads():  # spawned and Ray workers too, as the command itself
            out = render(job.audio, job.output, rig_dir=job.rig, model_path=s.model,
                         config=EngineConfig(fps=s.fps, seed=job.seed, motion=s.motion,
                                             motion_gain=s.motion_gain, speaking=s.speaking,
                                             open_gain=s.mouth_gain),
                         width_px=s.width_px, background_rgb=s.background_rgb,
                         timeline_path=job.timeline, progress=False, keep_images=True,
                         x264_preset=s.x264_preset, crf=s.crf, lip_thread=lip_thread)
    except AnimatorError as exc:
        result.error = one_line(exc)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # noqa: BLE001 - reported per file; the batch goes on
        result.error = one_line(f"{job.audio}: {type(exc).__name__}: {exc}")
    else:
        result.status = "done"
        result.duration_s = round(out.duration_s, 3)
        result.frames = out.n_frames
    result.wall_s = round(time.perf_counter() - started, 3)
    return result


class Manifest:
    """OUTDIR/manifest.json: one entry per job, rewritten atomically after each result, so
    an interrupted batch leaves a consistent manifest. Entries of files skipped because a
    previous run made them keep that run's numbers."""

    def __init__(self, outdir: str | os.PathLike, jobs: Sequence[Job]) -> None:
        self.path = Path(outdir) / MANIFEST_NAME
        self._previous = self._load_previous()
        self._results: dict[str, JobResult] = {}
        self._order = [j.output for j in jobs]

    def _load_previous(self) -> dict[str, dict]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return {e["output"]: e for e in data.get("files", []) if "output" in e}
        except (OSError, ValueError, TypeError, AttributeError, KeyError):
            return {}  # none yet, or not ours: it is rewritten

    def skipped(self, job: Job) -> JobResult:
        old = self._previous.get(job.output, {})
        result = JobResult(job.audio, job.output, "skipped", old.get("duration_s"),
                           old.get("wall_s"), old.get("frames"), None, old.get("worker"))
        self.add(result)
        return result

    def add(self, result: JobResult) -> None:
        self._results[result.output] = result

    def write(self, **summary: object) -> None:
        files = [asdict(self._results[o]) for o in self._order if o in self._results]
        counts = {s: sum(f["status"] == s for f in files) for s in ("done", "skipped",
                                                                     "failed")}
        data = {"version": MANIFEST_VERSION, "summary": {**counts, **summary}, "files": files}
        write_text_atomic(self.path, json.dumps(data, indent=1) + "\n")


def pending(jobs: Iterable[Job], overwrite: bool) -> tuple[list[Job], list[Job]]:
    """(jobs to run, jobs whose outputs already exist); with ``overwrite`` all run."""
    todo, done = [], []
    for job in jobs:
        (done if job.done() and not overwrite else todo).append(job)
    return todo, done
