"""Audio in for live mode: the microphone, or a file played in real time as if it were one.

Both are context managers with one method, ``read()``: the mono float32 samples at
``sample_rate`` that arrived since the last call (possibly none). Neither ever blocks.
sounddevice (and the PortAudio library under it) is imported only when a microphone is used.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from animator.core.errors import LiveError
from keypoints.audio import load_audio

#: Samples per device block (10 ms at 16 kHz): what one read can lag behind the device.
BLOCK_SAMPLES = 160
#: Samples kept at most when the loop does not read (2 s at 16 kHz); older ones are dropped.
MAX_BUFFERED_S = 2.0
PORTAUDIO_HINT = ("the microphone needs the PortAudio library: install it with "
                  "'apt-get install libportaudio2' (Debian/Ubuntu), then 'pip install sounddevice'")


def import_sounddevice():
    """The sounddevice module, or LiveError saying what to install."""
    try:
        import sounddevice
    except (ImportError, OSError) as exc:  # OSError: PortAudio library not found
        raise LiveError(f"{PORTAUDIO_HINT} ({' '.join(str(exc).split())})") from None
    return sounddevice


def list_input_devices() -> list[dict]:
    """[{index, name, channels, default_samplerate, default}] for each audio input device."""
    sd = import_sounddevice()
    try:
        devices = sd.query_devices()
        default_in = sd.default.device[0]
    except Exception as exc:  # PortAudio errors have no common base class worth naming
        raise LiveError(f"cannot list audio devices: {exc}") from None
    return [{"index": i, "name": d["name"], "channels": d["max_input_channels"],
             "default_samplerate": d["default_samplerate"], "default": i == default_in}
            for i, d in enumerate(devices) if d["max_input_channels"] > 0]


class FileAudio:
    """A decoded audio file handed out at the pace of ``now()``, in whole device blocks,
    as a microphone would; after its end it delivers nothing (or starts again: ``loop``).

    enter(): decoding happens at construction; the clock starts at ``__enter__``.
    """

    def __init__(self, path: str | Path, sample_rate: int = 16000, *, loop: bool = False,
                 block_samples: int = BLOCK_SAMPLES,
                 now: Callable[[], float] = time.perf_counter) -> None:
        self.path = Path(path)
        self.sample_rate = sample_rate
        self.samples = load_audio(self.path, sample_rate)
        self._loop = loop
        self._block = block_samples
        self._now = now
        self._start_s: float | None = None
        self._pos = 0  # samples handed out (counting repeats)

    def __enter__(self) -> FileAudio:
        self._start_s = self._now()
        return self

    def __exit__(self, *exc: object) -> None:
        self._start_s = None

    def arrival_s(self, sample_index: int) -> float:
        """Clock time at which the sample ``sample_index`` (counting repeats) was delivered."""
        if self._start_s is None:
            raise RuntimeError("FileAudio is not open")
        block_end = (sample_index // self._block + 1) * self._block
        return self._start_s + block_end / self.sample_rate

    def read(self) -> np.ndarray:
        if self._start_s is None:
            raise RuntimeError("FileAudio.read() outside its 'with' block")
        elapsed = (self._now() - self._start_s) * self.sample_rate + 1e-6  # float noise
        due = int(elapsed) // self._block * self._block
        n = len(self.samples)
        if not self._loop:
            due = min(due, n)
        if due <= self._pos:
            return np.zeros(0, np.float32)
        # copied slice by slice (a loop wraps to the start): no index array, nothing the
        # size of the file allocated per read
        out = np.empty(due - self._pos, dtype=np.float32)
        done = 0
        while done < len(out):
            at = (self._pos + done) % n
            take = min(n - at, len(out) - done)
            out[done:done + take] = self.samples[at:at + take]
            done += take
        self._pos = due
        return out


class Microphone:
    """An audio input device through sounddevice; blocks land in a bounded buffer from the
    device's callback thread. A device that stops (unplugged) is reopened about once a
    second, so the avatar recovers by itself when it comes back.

    device: sounddevice device index or name (None: the default input).
    """

    def __init__(self, device: int | str | None = None, sample_rate: int = 16000,
                 block_samples: int = BLOCK_SAMPLES,
                 now: Callable[[], float] = time.monotonic) -> None:
        self._sd = import_sounddevice()
        self.device = device
        self.sample_rate = sample_rate
        self._block = block_samples
        self._now = now
        self._buf: collections.deque[np.ndarray] = collections.deque(
            maxlen=max(1, int(MAX_BUFFERED_S * sample_rate / block_samples)))
        self._lock = threading.Lock()
        self._stream = None
        self._open_wanted = False  # between __enter__ and __exit__
        self._retry_at = 0.0
        self.n_overflows = 0  # blocks the device reported lost
        self.n_reopens = 0

    def _callback(self, indata: np.ndarray, frames: int, time_info: object,
                  status: object) -> None:
        if status:
            self.n_overflows += 1
        block = np.array(indata[:, 0] if indata.ndim == 2 else indata, dtype=np.float32)
        with self._lock:
            self._buf.append(block)

    def _open(self) -> None:
        try:
            stream = self._sd.InputStream(
                samplerate=self.sample_rate, blocksize=self._block, device=self.device,
                channels=1, dtype="float32", callback=self._callback)
            stream.start()
        except Exception as exc:
            what = "the default audio input" if self.device is None else \
                f"audio input {self.device!r}"
            raise LiveError(f"cannot open {what} (see 'animator devices'): "
                            f"{' '.join(str(exc).split())}") from None
        self._stream = stream

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
            finally:
                stream.close()

    def __enter__(self) -> Microphone:
        self._open()
        self._open_wanted = True
        return self

    def __exit__(self, *exc: object) -> None:
        self._open_wanted = False
        self._close_stream()

    def read(self) -> np.ndarray:
        if self._stream is not None and not self._stream.active:
            self._close_stream()  # the device stopped (unplugged, error): retry below
            self._retry_at = self._now()
        if self._stream is None and self._open_wanted and self._now() >= self._retry_at:
            try:
                self._open()
                self.n_reopens += 1
            except LiveError:
                self._retry_at = self._now() + 1.0
        with self._lock:
            blocks = list(self._buf)
            self._buf.clear()
        return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
