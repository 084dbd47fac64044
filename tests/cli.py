"""Running the real ``animator`` command in a subprocess, and what a refusal looks like."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def animator(*args, env: dict | None = None, cwd: Path | None = None,
             timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m animator ARGS`` (``env`` is laid over this process's environment)."""
    return subprocess.run([sys.executable, "-m", "animator", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env={**os.environ, **(env or {})})


def one_line_error(res: subprocess.CompletedProcess, *expect: str) -> str:
    """The run failed with exit 2 and exactly one 'animator: error:' line holding ``expect``."""
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2, res.stderr
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert lines[0].startswith("animator: error: "), lines[0]
    for text in expect:
        assert text in lines[0], lines[0]
    return lines[0]
