"""Where the real test material lives: ``../shared/realdata`` beside the repository (CI has it
there), or beside any folder above it (a git worktree nested deeper). Never copied in."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def realdata_dir() -> Path:
    """The ``shared/realdata`` folder nearest above the repository; FileNotFoundError naming
    where it was looked for when there is none."""
    for parent in REPO.parents:
        candidate = parent / "shared" / "realdata"
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"no shared/realdata beside {REPO} or any folder above it")


def talking_faces() -> list[Path]:
    """The real talking-face clips (GRID .mpg and news .mp4), sorted by name."""
    folder = realdata_dir() / "talking_faces"
    return sorted(p for p in folder.iterdir() if p.suffix in (".mpg", ".mp4"))
