"""H.264 + AAC mp4 writing with PyAV (its wheels bundle FFmpeg with libx264 and aac), and the
video output of the offline loop (:class:`Mp4Sink`)."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from animator.core.types import Frame, LiveFrame
from animator.sinks.compose import FrameCompositor
from keypoints.audio import resample

#: Sample rates the AAC encoder takes; anything else is resampled to 48 kHz.
AAC_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)
_AUDIO_BLOCK = 1024  # samples per AAC frame
#: x264 threads. The bitstream depends on the thread count and FFmpeg's default is the
#: machine's core count: a fixed count makes the same video from the same input on every
#: machine (a Ray cluster's nodes, a laptop). Two encode as fast as three or four on 2 cores
#: (benchmarks/render.py --encoders) and leave the cores to other files in a batch.
ENCODER_THREADS = 2
#: Composed frames waiting for the encoder (YUV, 0.4 MB each at 512 px, 1.7 MB at 1080 px).
ENCODER_QUEUE = 8


def fps_fraction(fps: float) -> Fraction:
    """25 -> 25/1, 29.97 -> 30000/1001: the exact rate the container will carry."""
    return Fraction(fps).limit_denominator(1001)


def to_yuv420(rgb: np.ndarray) -> np.ndarray:
    """uint8[H, W, 3] RGB -> uint8[H * 3 / 2, W] I420 planes, BT.601 limited range (what x264
    and players assume for untagged SD/HD content)."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)


class Mp4Writer:
    """Writes RGB frames and the audio track into an mp4, interleaved in time.

    x264 preset ``superfast`` by default: measured on a 2-core EPYC at 512 px, 1.0 ms a frame
    against 1.8 ms for ``veryfast``, for files about twice as large (~5 MB a minute at CRF 20)
    that still look clean on flat cartoon colours.

    audio: float32[C, N] in [-1, 1] (C = 1 or 2; more channels are mixed down to mono) at
    ``sample_rate``, or None for a silent video. Use as a context manager; the file is
    complete only after a clean exit.
    """

    def __init__(self, path: str | Path, size: tuple[int, int], fps: float,
                 audio: np.ndarray | None = None, sample_rate: int = 48000,
                 crf: int = 20, preset: str = "superfast",
                 threads: int = ENCODER_THREADS) -> None:
        self.size = size
        self.fps = fps_fraction(fps)
        # +faststart moves the index to the front so players and browsers start at once.
        self._container = av.open(str(path), mode="w", format="mp4",
                                  options={"movflags": "+faststart"})
        vs = self._container.add_stream("libx264", rate=self.fps)
        vs.width, vs.height = size
        vs.pix_fmt = "yuv420p"
        vs.options = {"crf": str(crf), "preset": preset}
        vs.codec_context.thread_count = threads
        vs.codec_context.time_base = 1 / self.fps
        self._video = vs
        self._frames = 0
        self._audio = None
        self._audio_stream = None
        self._audio_pos = 0
        if audio is not None:
            audio = np.asarray(audio, dtype=np.float32)
            if audio.shape[0] > 2:
                audio = audio.mean(axis=0, keepdims=True)
            if sample_rate not in AAC_RATES:
                audio = np.stack([resample(ch, sample_rate, 48000) for ch in audio])
                sample_rate = 48000
            self._audio = np.ascontiguousarray(audio)
            self._layout = "mono" if audio.shape[0] == 1 else "stereo"
            stream = self._container.add_stream("aac", rate=sample_rate, layout=self._layout)
            stream.bit_rate = 128_000
            self._audio_stream = stream
            self._sample_rate = sample_rate

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._container.close()

    def write(self, rgb: np.ndarray) -> None:
        """Append one uint8[H, W, 3] RGB frame (and the audio up to its end)."""
        self.write_yuv(to_yuv420(rgb))

    def write_yuv(self, yuv: np.ndarray) -> None:
        """Append one frame given as uint8[H * 3 / 2, W] I420 planes (:func:`to_yuv420`)."""
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts = self._frames
        frame.time_base = 1 / self.fps
        self._mux(self._video.encode(frame))
        self._frames += 1
        if self._audio is not None:
            self._write_audio_until(round(self._frames / self.fps * self._sample_rate))

    def _write_audio_until(self, end: int) -> None:
        end = min(end, self._audio.shape[1])
        while self._audio_pos < end:
            stop = min(self._audio_pos + _AUDIO_BLOCK, end)
            block = np.ascontiguousarray(self._audio[:, self._audio_pos:stop])
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=self._layout)
            frame.sample_rate = self._sample_rate
            frame.pts = self._audio_pos
            frame.time_base = Fraction(1, self._sample_rate)
            self._mux(self._audio_stream.encode(frame))
            self._audio_pos = stop

    def _mux(self, packets) -> None:
        for p in packets:
            self._container.mux(p)

    def close(self) -> None:
        if self._audio is not None:
            self._write_audio_until(self._audio.shape[1])
            self._mux(self._audio_stream.encode(None))
        self._mux(self._video.encode(None))
        self._container.close()


class Mp4Sink:
    """The loop's video output, a pipeline of two threads: the sink's own thread composes
    each frame's choice (``compositor``) and converts it to YUV, and an encoder thread feeds
    ``writer`` (x264 adds threads of its own), so composing the next frame overlaps encoding
    this one. ``on_frame(frame)`` is called after each frame is encoded (in the encoder
    thread). Use as a context manager: the exit waits for the encoder (or abandons it when
    the run failed) and raises its error."""

    name = "mp4"

    def __init__(self, writer: Mp4Writer, compositor: FrameCompositor,
                 on_frame: Callable[[Frame], None] | None = None,
                 queue_frames: int = ENCODER_QUEUE) -> None:
        from animator.core.mailbox import SinkWorker

        self._writer = writer
        self._compositor = compositor
        self._on_frame = on_frame
        self._encoder = SinkWorker(self._encode, "mp4-encoder", queue_frames)
        self.n_frames = 0

    def send(self, frame: LiveFrame) -> None:
        if self._encoder.error is not None:
            raise self._encoder.error
        yuv = to_yuv420(self._compositor.compose(frame.frame.choice))
        self._encoder.offer((frame.frame, yuv))

    def _encode(self, item: tuple[Frame, np.ndarray]) -> None:
        self._writer.write_yuv(item[1])
        self.n_frames += 1
        if self._on_frame is not None:
            self._on_frame(item[0])

    def __enter__(self) -> Mp4Sink:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._encoder.abandon()
        self._encoder.close(timeout_s=None if exc_type is None else 1.0)
        if exc_type is None and self._encoder.error is not None:
            raise self._encoder.error
