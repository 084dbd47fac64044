"""A WebSocket client in its own process, as a browser would be, recording when each frame
choice arrived (benchmarks.live)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

_RECORDER = """
import json, sys, time
from websockets.sync.client import connect
with connect(sys.argv[1], compression=None, origin=sys.argv[3]) as ws, \
        open(sys.argv[2], "w") as out:
    print("ready", flush=True)
    try:
        for text in ws:
            m = json.loads(text)
            print(time.perf_counter(), m['audio_sample'], m['camera_frame'], file=out)
    except Exception:
        pass
"""


class WsRecorder:
    """A WebSocket client in its own process (as a browser would be): the receive time
    (``time.perf_counter``: CLOCK_MONOTONIC, shared by processes) of every frame choice."""

    def __init__(self, port: int) -> None:
        # to a file, not a pipe: a full pipe would stall the client (and so its socket)
        self._log = tempfile.NamedTemporaryFile("r", suffix=".txt")
        self._proc = subprocess.Popen([sys.executable, "-c", _RECORDER,
                                       f"ws://127.0.0.1:{port}/ws", self._log.name,
                                       f"http://127.0.0.1:{port}"],  # as the page would
                                      stdout=subprocess.PIPE, text=True)
        if self._proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the WebSocket recorder did not connect")
        self.got: list[tuple[float, int | None, int | None]] = []

    def close(self) -> None:
        """Stop the client (after the server closed) and parse what it received."""
        try:
            self._proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.communicate()
        out = self._log.read()
        self._log.close()

        def num(x: str) -> int | None:
            return None if x == "None" else int(x)

        for line in out.splitlines():
            t, a, c = line.split()
            self.got.append((float(t), num(a), num(c)))


def wait_until(cond: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise RuntimeError("benchmark setup timed out")
        time.sleep(0.01)
