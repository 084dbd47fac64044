"""What a render can write besides the video: one exporter per format behind one small
interface, chosen on the command line as ``--export FORMAT=PATH`` (``--timeline PATH`` and
``--plot PATH`` are its shorthands). A new format (e.g. a lip-sync tool's cue list) is one
more entry in :data:`EXPORTERS`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from animator.core.errors import AnimatorError

if TYPE_CHECKING:  # the writers are imported when used: the CLI lists the formats at start-up
    from animator.core.types import Frame


@dataclass(frozen=True)
class RunInfo:
    """What an exporter knows about the run besides its frames."""

    fps: float
    duration_s: float
    seed: int
    audio: str  # the audio file as given
    rig: str  # the rig folder as given
    latency_ms: float  # algorithmic latency of the lips
    poses: tuple[str, ...]  # the rig's poses, in its order
    title: str  # one line describing the run (plots)
    dat_fps: float = 24.0  # frame rate of Moho switch data (moho-dat)
    preston_blair: bool = False  # moho-dat: Preston Blair's shape names
    #: compositor(transparent) -> an animator.sinks.compose.FrameCompositor of the run's rig,
    #: size and canvas (image exports), None when the run has none
    compositor: Callable[[bool], object] | None = None


@dataclass(frozen=True)
class Exporter:
    name: str
    suffixes: tuple[str, ...]  # extensions it writes (lower case, with the dot)
    what: str  # for messages: "timeline", "plot"
    help: str
    #: write(path, frames, run): the whole file at ``path`` (a temporary the caller renames;
    #: a new folder for a ``folder`` exporter)
    write: Callable[[Path, Sequence[Frame], RunInfo], None]
    folder: bool = False  # writes a folder of files (an image sequence)


def _timeline(path: Path, frames: Sequence[Frame], run: RunInfo) -> None:
    from animator.sinks.exports import timeline_text, write_timeline

    write_timeline(path, timeline_text(frames, fps=run.fps, duration_s=run.duration_s,
                                       seed=run.seed, audio=run.audio, rig=run.rig,
                                       latency_ms=run.latency_ms))


def _plot(path: Path, frames: Sequence[Frame], run: RunInfo) -> None:
    from animator.sinks.exports import write_plot

    write_plot(path, frames, list(run.poses), title=run.title)


def _cues(fmt: str) -> Callable[[Path, Sequence[Frame], RunInfo], None]:
    def write(path: Path, frames: Sequence[Frame], run: RunInfo) -> None:
        from animator.sinks.cues import write_cues

        write_cues(path, fmt, [f.viseme for f in frames], run.fps, run.duration_s, run.audio,
                   run.dat_fps, run.preston_blair)

    return write


def _png_sequence(path: Path, frames: Sequence[Frame], run: RunInfo) -> None:
    from animator.sinks.image_sequence import write_png_sequence

    write_png_sequence(path, frames, run.compositor(True))


EXPORTERS: dict[str, Exporter] = {e.name: e for e in (
    Exporter("timeline", (".json",), "timeline",
             "the per-frame timeline JSON (angles, speaking, mouth, chosen image)", _timeline),
    Exporter("plot", (".png",), "plot",
             "a PNG of pitch/yaw/roll, the chosen pose, the speaking state and the mouth",
             _plot),
    Exporter("rhubarb-tsv", (".tsv", ".txt"), "cue list",
             "mouth cues (A-H, X) as Rhubarb Lip Sync's TSV", _cues("tsv")),
    Exporter("rhubarb-json", (".json",), "cue list",
             "mouth cues as Rhubarb Lip Sync's JSON", _cues("json")),
    Exporter("rhubarb-xml", (".xml",), "cue list",
             "mouth cues as Rhubarb Lip Sync's XML", _cues("xml")),
    Exporter("moho-dat", (".dat",), "switch data",
             "mouth cues as Moho/OpenToonz switch data (--dat-fps, --dat-preston-blair)",
             _cues("dat")),
    Exporter("png", (), "PNG sequence",
             "a new folder of RGBA PNG frames with transparency, NNNNNN.png from 000000",
             _png_sequence, folder=True),
)}


class ExportError(AnimatorError):
    """An --export that names no format or no path."""


def parse_export(text: str) -> tuple[str, str]:
    """'FORMAT=PATH' -> (format, path); ExportError (one line) for anything else."""
    name, sep, path = text.partition("=")
    name = name.strip().lower()
    if not sep or not path:
        raise ExportError(f"--export {text!r}: expected FORMAT=PATH, e.g. timeline=out.json")
    if name not in EXPORTERS:
        raise ExportError(f"--export {text!r}: unknown format '{name}' (formats: "
                          f"{', '.join(EXPORTERS)})")
    return name, path
