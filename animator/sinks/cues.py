"""Mouth cues in Rhubarb Lip Sync's published output formats, so that the editors and engines
that import Rhubarb's files (After Effects, Blender, Godot, Spine, Moho, OpenToonz) take ours:

* TSV: one line per cue, ``start<TAB>shape`` (seconds, two decimals), then a last line at the
  end of the recording with the closed mouth (X);
* JSON: ``{"metadata": {"soundFile", "duration"}, "mouthCues": [{"start", "end", "value"}]}``;
* XML: ``<rhubarbResult><metadata><soundFile/><duration/></metadata><mouthCues><mouthCue
  start=".." end="..">A</mouthCue>...</mouthCues></rhubarbResult>``;
* Moho switch data (.dat): ``MohoSwitch1`` then ``frame shape`` lines, frames counted from 1
  at the DAT frame rate (a cue whose start falls on the frame of the one before it is left
  out), and the closed mouth at the end; optionally with Preston Blair's shape names.

Times are truncated to hundredths of a second as Rhubarb's are; the cues are the runs of equal
shapes of the render's video frames (``Frame.viseme``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from keypoints.visemes import PRESTON_BLAIR, REST_SHAPE

#: Rhubarb's limits of the DAT frame rate (below, cues drop out; above, nothing gains).
DAT_FPS_RANGE = (10.0, 100.0)


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    shape: str


def centi(t_s: float) -> float:
    """Seconds truncated to hundredths (Rhubarb's resolution), robust to float noise."""
    return math.floor(t_s * 100 + 1e-6) / 100


def cues_from_shapes(shapes: Sequence[str], fps: float, duration_s: float) -> list[Cue]:
    """Runs of equal shapes of video frames i at t = i / fps -> cues covering [0, duration]
    (times in hundredths; of two changes in one hundredth the later wins)."""
    end = centi(duration_s)
    starts: list[tuple[float, str]] = []
    for i, shape in enumerate(shapes):
        t = min(centi(i / fps), end)
        if starts and starts[-1][1] == shape:
            continue
        if starts and t <= starts[-1][0]:
            starts.pop()
            if starts and starts[-1][1] == shape:
                continue
        starts.append((t, shape))
    if not starts:
        starts = [(0.0, REST_SHAPE)]
    ends = [t for t, _ in starts[1:]] + [end]
    cues = [Cue(t, e, s) for (t, s), e in zip(starts, ends, strict=True) if e > t]
    return cues or [Cue(0.0, end, starts[-1][1])]


def tsv_text(cues: list[Cue], duration_s: float) -> str:
    lines = [f"{c.start_s:.2f}\t{c.shape}" for c in cues]
    lines.append(f"{centi(duration_s):.2f}\t{REST_SHAPE}")
    return "\n".join(lines) + "\n"


def json_text(cues: list[Cue], sound_file: str, duration_s: float) -> str:
    body = ",\n".join(f'    {{ "start": {c.start_s:.2f}, "end": {c.end_s:.2f}, '
                      f'"value": {json.dumps(c.shape)} }}' for c in cues)
    return ('{\n  "metadata": {\n    "soundFile": ' + json.dumps(sound_file) +
            f',\n    "duration": {centi(duration_s):.2f}\n  }},\n  "mouthCues": [\n'
            + body + "\n  ]\n}\n")


def xml_text(cues: list[Cue], sound_file: str, duration_s: float) -> str:
    rows = "\n".join(f"    <mouthCue start={quoteattr(f'{c.start_s:.2f}')} "
                     f"end={quoteattr(f'{c.end_s:.2f}')}>{escape(c.shape)}</mouthCue>"
                     for c in cues)
    return ('<?xml version="1.0" encoding="utf-8"?>\n<rhubarbResult>\n  <metadata>\n'
            f"    <soundFile>{escape(sound_file)}</soundFile>\n"
            f"    <duration>{centi(duration_s):.2f}</duration>\n  </metadata>\n"
            f"  <mouthCues>\n{rows}\n  </mouthCues>\n</rhubarbResult>\n")


def dat_text(cues: list[Cue], duration_s: float, fps: float = 24.0,
             preston_blair: bool = False) -> str:
    """Moho switch data at ``fps`` (in DAT_FPS_RANGE)."""
    if not DAT_FPS_RANGE[0] <= fps <= DAT_FPS_RANGE[1]:
        raise ValueError(f"the DAT frame rate must be between {DAT_FPS_RANGE[0]:g} and "
                         f"{DAT_FPS_RANGE[1]:g} fps")

    def name(shape: str) -> str:
        return PRESTON_BLAIR[shape] if preston_blair else shape

    def frame(t_s: float) -> int:
        return 1 + int(fps * t_s + 1e-9)

    lines, last = ["MohoSwitch1"], 0
    for c in cues:
        n = frame(c.start_s)
        if n == last:
            continue
        lines.append(f"{n} {name(c.shape)}")
        last = n
    n = frame(centi(duration_s))
    lines.append(f"{n + 1 if n == last else n} {name(REST_SHAPE)}")
    return "\n".join(lines) + "\n"


def write_cues(path: str | Path, fmt: str, shapes: Sequence[str], fps: float,
               duration_s: float, sound_file: str, dat_fps: float = 24.0,
               preston_blair: bool = False) -> None:
    """Write the cues of ``shapes`` (one per video frame) in ``fmt`` (tsv, json, xml, dat)."""
    cues = cues_from_shapes(shapes, fps, duration_s)
    text = {"tsv": lambda: tsv_text(cues, duration_s),
            "json": lambda: json_text(cues, sound_file, duration_s),
            "xml": lambda: xml_text(cues, sound_file, duration_s),
            "dat": lambda: dat_text(cues, duration_s, dat_fps, preston_blair)}[fmt]()
    Path(path).write_text(text, encoding="utf-8")
