"""Keeps mediapipe's native start-up notices off the terminal.

mediapipe's C++ side (TFLite, absl) prints INFO/WARNING notices straight to file descriptor 2
when its models start, from its own threads, at moments Python does not control; the GLOG_/TF_
environment switches only take effect when set before the process starts. While a
:func:`native_notices_filtered` block is open, fd 2 is a pipe read by a thread that drops
those notice lines and passes every other line (Python's own warnings and errors included) on
to the real stderr. Blocks nest (a counter); the last one to close restores fd 2 and drains
the pipe, so nothing written meanwhile is lost.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections.abc import Iterator

#: Lines mediapipe 0.10 prints on its own when a graph or model starts.
NOTICE = re.compile(rb"^(INFO: Created TensorFlow Lite|WARNING: All log messages before absl"
                    rb"|[IW]\d{4} [\d:. ]+\d+ \w+\.cc:\d+\])")

_lock = threading.Lock()
_depth = 0
_saved_fd: int | None = None
_reader: threading.Thread | None = None


def _pump(read_fd: int, out_fd: int) -> None:
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        pending = b""
        while chunk := pipe.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if not NOTICE.match(line):
                    os.write(out_fd, line + b"\n")
        if pending and not NOTICE.match(pending):
            os.write(out_fd, pending)


@contextlib.contextmanager
def native_notices_filtered() -> Iterator[None]:
    """Drop mediapipe's notice lines from fd 2 for the block (see the module docstring)."""
    global _depth, _saved_fd, _reader
    with _lock:
        if _depth == 0:
            sys.stderr.flush()
            _saved_fd = os.dup(2)
            read_fd, write_fd = os.pipe()
            os.dup2(write_fd, 2)
            os.close(write_fd)
            _reader = threading.Thread(target=_pump, args=(read_fd, _saved_fd),
                                       name="native-stderr-filter", daemon=True)
            _reader.start()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                sys.stderr.flush()
                os.dup2(_saved_fd, 2)  # closes the pipe's last write end: the reader drains
                _reader.join(timeout=5)
                os.close(_saved_fd)
                _saved_fd, _reader = None, None
