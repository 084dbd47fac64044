"""Timed expression tracks: a file of times -> expression names, for offline renders
(``animator render --expressions TRACK``).

Two formats, told apart by the extension:

* ``.json``: a list of cues, ``[{"start": 1.5, "expression": "happy_soft"},
  {"start": 4, "end": 6.5, "expression": "surprised_ah"}, ...]``; times in seconds (``t`` is
  accepted for ``start``); without ``end`` a cue holds until the next one starts.
* ``.srt``: subtitles whose text is the expression name (an editor's marker track exported
  as subtitles); each cue holds from its start to its end, then the rest face returns.

Every name is checked against the rig; any problem is one line naming the file and the line
(:class:`CueError`). Returns the (start s, end s or None, expression) tuples that
:class:`~animator.stages.face_cue.ExpressionTrack` plays.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from animator.core.errors import AnimatorError

Cue = tuple[float, float | None, str]
SUFFIXES = (".json", ".srt")
#: An SRT timing line: HH:MM:SS,mmm --> HH:MM:SS,mmm (a dot is accepted for the comma).
_SRT_TIME = re.compile(r"(\d+):([0-5]\d):([0-5]\d)[,.](\d{1,3})")
_SRT_TIMING = re.compile(rf"^\s*{_SRT_TIME.pattern}\s*-->\s*{_SRT_TIME.pattern}")


class CueError(AnimatorError):
    """A malformed expression track, or a cue naming an expression the rig lacks."""


def check_expression(name: str, expressions: list[str] | dict, what: str) -> None:
    """CueError (one line, starting with ``what``) unless the rig has ``name``."""
    if name not in expressions:
        raise CueError(f"{what}: unknown expression '{name}' (the rig has: "
                       f"{', '.join(expressions)})")


def load_expression_track(path: str | Path, expressions: list[str] | dict) -> list[Cue]:
    """Parse the track at ``path`` and check its names against ``expressions`` (the rig's);
    CueError (one line: ``PATH:LINE: problem``) for anything wrong."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise CueError(f"{path}: an expression track must be .json or .srt")
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: editors write SRT with a BOM
    except FileNotFoundError:
        raise CueError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CueError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") \
            from None
    entries = _parse_json(text, path) if suffix == ".json" else _parse_srt(text, path)
    for line, (_, _, name) in entries:
        check_expression(name, list(expressions), f"{path}:{line}")
    return [cue for _, cue in entries]


def _seconds(value: object, what: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not math.isfinite(value) or value < 0:
        raise CueError(f"{where}: '{what}' must be a number of seconds >= 0")
    return float(value)


def _parse_json(text: str, path: Path) -> list[tuple[int, Cue]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CueError(f"{path}:{exc.lineno}: malformed JSON ({exc.msg})") from None
    if not isinstance(data, list):
        raise CueError(f"{path}:1: expected a list of cues "
                         f"[{{\"start\": SECONDS, \"expression\": NAME}}, ...]")
    out = []
    for line, item in zip(_element_lines(text), data, strict=True):
        where = f"{path}:{line}"
        if not isinstance(item, dict):
            raise CueError(f"{where}: a cue must be an object with start and expression")
        name = item.get("expression")
        if not isinstance(name, str) or not name:
            raise CueError(f"{where}: a cue needs an 'expression' name")
        key = "start" if "start" in item else "t"
        start = _seconds(item.get(key), key, where)
        end = None if item.get("end") is None else _seconds(item["end"], "end", where)
        if end is not None and end <= start:
            raise CueError(f"{where}: 'end' ({end:g}) must come after 'start' ({start:g})")
        out.append((line, (start, end, name)))
    return out


def _element_lines(text: str) -> list[int]:
    """Line number (1-based) where each element of the top-level JSON list starts (the text
    is known to be a valid JSON list)."""
    decoder = json.JSONDecoder()
    ws = re.compile(r"[ \t\n\r]*")
    i = ws.match(text, text.index("[") + 1).end()
    lines = []
    while text[i] != "]":
        lines.append(text.count("\n", 0, i) + 1)
        _, i = decoder.raw_decode(text, i)
        i = ws.match(text, i).end()
        if text[i] == ",":
            i = ws.match(text, i + 1).end()
    return lines


def _srt_seconds(match: re.Match, first: int) -> float:
    h, m, s, ms = (match.group(first + k) for k in range(4))
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000


def _parse_srt(text: str, path: Path) -> list[tuple[int, Cue]]:
    """Blocks separated by blank lines: an optional index line, a timing line, text lines
    (the first is the expression name)."""
    lines = text.splitlines()
    out = []
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        start_line = i
        if lines[i].strip().isdigit():
            i += 1
        timing = _SRT_TIMING.match(lines[i]) if i < len(lines) else None
        if timing is None:
            bad = min(i, len(lines) - 1)
            raise CueError(f"{path}:{bad + 1}: expected a timing line "
                             f"'HH:MM:SS,mmm --> HH:MM:SS,mmm'")
        start, end = _srt_seconds(timing, 1), _srt_seconds(timing, 5)
        if end <= start:
            raise CueError(f"{path}:{i + 1}: the cue ends before it starts")
        i += 1
        if i >= len(lines) or not lines[i].strip():
            raise CueError(f"{path}:{i + 1}: the cue from line {start_line + 1} has no "
                             f"expression name")
        name_line = i + 1
        name = lines[i].strip()
        while i < len(lines) and lines[i].strip():
            i += 1
        out.append((name_line, (start, end, name)))
    return out
