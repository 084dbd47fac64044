"""H.264 + AAC mp4 writing with PyAV (its wheels bundle FFmpeg with libx264 and aac), and the
video output of the offline loop (:class:`Mp4Sink`)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from animator.core.types import Frame, LiveFrame
from animator.sinks.av_writer import AudioTrack, AvWriter, mixed_down
from animator.sinks.compose import FrameCompositor
from animator.sinks.compose_i420 import I420Compositor, planes
from animator.sinks.compose_i420 import to_i420 as to_yuv420

#: Sample rates the AAC encoder takes; anything else is resampled to 48 kHz.
AAC_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)
_AUDIO_BLOCK = 1024  # samples per AAC frame
#: x264 settings, chosen by measurement (``python -m benchmarks.render --encoders``: CPU per
#: frame, size, PSNR/SSIM of the decoded frames against the encoder's input). ``superfast``
#: costs ~1.9 ms of CPU a 512 px frame for ~5-6 MB a minute at CRF 20 (PSNR ~47 dB, SSIM
#: 0.998); ``ultrafast`` halves the CPU for files 2.4x larger, ``veryfast`` halves the size for
#: 1.5x the CPU.
X264_PRESET = "superfast"
X264_CRF = 20
#: x264 threads, frame-threaded: each thread encodes its own frames, so the pictures are
#: those one thread makes (decoded 30 s renders: all 750 frames bit-identical at 512 px; at
#: 720 and 1080 px 3 and 12 frames differ, by at most 7 levels on a few pixels, PSNR >= 77
#: dB: a thread's motion search waits for its reference's rows), unlike sliced threads,
#: whose slices change the picture at the codec's own error level. Two, fixed (the same bytes
#: on every machine, in a render, a batch worker and on Ray; the options string x264 writes
#: into the stream names the count): the encoder was the render's longest thread on one
#: (3.3-4 ms of CPU a 512 px frame on a shared AMD EPYC); on two, the composing thread is.
#: The CPU is about that of one thread (x264 alone: -11 to +8 % a frame over the rigs and
#: sizes measured, under load; a 30 s render 6.3 CPU-s either way; a 20-clip batch on 2
#: workers 20.6 vs 20.8 CPU-s), so batch workers use two as well.
ENCODER_THREADS = 2
#: Composed frames waiting for the encoder (YUV, 0.4 MB each at 512 px, 1.7 MB at 1080 px).
ENCODER_QUEUE = 8
#: Encoder-ready frames kept for choices that come back unchanged (no residual head move:
#: e.g. --motion-gain 0), bytes: ~170 frames at 512 px, ~20 at 1080 px.
STILL_CACHE_BYTES = 64 * 2**20


def fps_fraction(fps: float) -> Fraction:
    """25 -> 25/1, 29.97 -> 30000/1001: the exact rate the container will carry."""
    return Fraction(fps).limit_denominator(1001)


def yuv_frame(yuv: np.ndarray, size: tuple[int, int]) -> av.VideoFrame:
    """uint8[H * 3 / 2, W] I420 planes of a frame of ``size`` (width, height) -> a yuv420p
    VideoFrame, copied plane by plane into FFmpeg's (possibly padded) buffers: 4x cheaper
    than ``VideoFrame.from_ndarray``."""
    frame = av.VideoFrame(*size, "yuv420p")
    for dst, src in zip(frame_planes(frame), planes(yuv, size), strict=True):
        dst[:] = src
    return frame


def frame_planes(frame: av.VideoFrame) -> tuple[np.ndarray, ...]:
    """Writable views (Y uint8[H, W], U and V uint8[H/2, W/2]) of a yuv420p VideoFrame's
    buffers, without their row padding."""
    w, h = frame.width, frame.height
    return tuple(np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:ph, :pw]
                 for plane, pw, ph in zip(frame.planes, (w, w // 2, w // 2),
                                          (h, h // 2, h // 2), strict=True))


class Mp4Writer(AvWriter):
    """Writes frames and the audio track into an mp4 (H.264 yuv420p + AAC, the index at the
    front: plays at once in players and browsers), interleaved in time.

    audio: float32[C, N] in [-1, 1] (C = 1 or 2; more channels are mixed down to mono) at
    ``sample_rate``, or None for a silent video. Use as a context manager; the file is
    complete only after a clean exit.

    A pipeline makes the encoder's frames (:func:`yuv_frame`) in one thread and hands them to
    :meth:`write_frame` (x264, AAC and the muxer) in another.
    """

    def __init__(self, path: str | Path, size: tuple[int, int], fps: float,
                 audio: np.ndarray | None = None, sample_rate: int = 48000,
                 crf: int = X264_CRF, preset: str = X264_PRESET,
                 threads: int = ENCODER_THREADS,
                 x264_options: dict[str, str] | None = None) -> None:
        self.size = size
        self.fps = fps_fraction(fps)
        # +faststart moves the index to the front so players and browsers start at once.
        self._container = av.open(str(path), mode="w", format="mp4",
                                  options={"movflags": "+faststart"})
        vs = self._container.add_stream("libx264", rate=self.fps)
        vs.width, vs.height = size
        vs.pix_fmt = "yuv420p"
        # x264_options: more of FFmpeg's libx264 options (e.g. {"tune": "animation",
        # "x264-params": "keyint=50"}), for the measurements of benchmarks/render_encoders
        vs.options = {"crf": str(crf), "preset": preset, **(x264_options or {})}
        vs.codec_context.thread_count = threads
        vs.codec_context.thread_type = "FRAME"  # never slices: they change the picture
        vs.codec_context.time_base = 1 / self.fps
        self._video = vs
        if audio is not None:
            rate = sample_rate if sample_rate in AAC_RATES else 48000
            # FFmpeg's "fast" AAC coder: half the CPU of the default two-loop search, for the
            # same SNR on speech (37.8 vs 36.8 dB measured on 60 s of speech at 16 kHz)
            self._audio = AudioTrack(self._container, mixed_down(audio, sample_rate, rate),
                                     rate, "aac", _AUDIO_BLOCK, bit_rate=128_000,
                                     options={"aac_coder": "fast"})

    def write(self, rgb: np.ndarray) -> None:
        """Append one uint8[H, W, 3] RGB frame (and the audio up to its end)."""
        self.write_yuv(to_yuv420(rgb))

    def write_yuv(self, yuv: np.ndarray) -> None:
        """Append one frame given as uint8[H * 3 / 2, W] I420 planes (:func:`to_yuv420`)."""
        self.write_frame(yuv_frame(yuv, self.size))

    def write_frame(self, frame: av.VideoFrame) -> None:
        """Append ``frame`` (a yuv420p VideoFrame of :attr:`size`, :func:`yuv_frame`) and the
        audio up to its end."""
        self._encode(frame)


def x264_settings(path: str | Path) -> dict[str, str]:
    """The settings x264 wrote into the video stream of the mp4 at ``path`` (its version
    SEI, in the first packet: ``{"threads": "2", "crf": "20.0", "bframes": "3", ...}``;
    {} when there is none): what any player's media-info shows of how a file was made."""
    with av.open(str(path)) as container:
        for packet in container.demux(video=0):
            data = bytes(packet)
            at = data.find(b"x264 - core")
            if at < 0 or b" options: " not in data[at:]:
                return {}
            end = data.find(b"\x00", at)
            text = data[at:end if end >= 0 else len(data)].decode("ascii", "replace")
            return dict(item.split("=", 1) for item in text.split(" options: ", 1)[1].split()
                        if "=" in item)
    return {}


class StillFrames:
    """Encoder-ready frames (I420 planes) of choices whose composed frame is a function of
    their images alone (:meth:`FrameCompositor.still_key`), so a still head's repeated
    choices are composed and converted once; the least recently used dropped beyond
    ``max_bytes``."""

    def __init__(self, max_bytes: int | None = None) -> None:
        self._frames: OrderedDict[str, np.ndarray] = OrderedDict()
        self._max_bytes = STILL_CACHE_BYTES if max_bytes is None else max_bytes
        self.n_bytes = 0
        self.n_hits = 0

    def get(self, key: str) -> np.ndarray | None:
        got = self._frames.get(key)
        if got is not None:
            self._frames.move_to_end(key)
            self.n_hits += 1
        return got

    def put(self, key: str, yuv: np.ndarray) -> None:
        if yuv.nbytes > self._max_bytes:
            return
        self._frames[key] = yuv
        self.n_bytes += yuv.nbytes
        while self.n_bytes > self._max_bytes:
            self.n_bytes -= self._frames.popitem(last=False)[1].nbytes


class Mp4Sink:
    """The loop's video output, a pipeline of two threads: the sink's own thread composes
    each frame's choice (``compositor``, or the :class:`I420Compositor` of one) straight
    into I420 planes (once per distinct still frame, :class:`StillFrames`)
    and copies them into an encoder frame; the encoder thread runs
    x264, AAC and the muxer. So on two cores the loop and the composing share one while the
    encoder has the other. ``on_frame(frame)`` is
    called after each frame is encoded (in the encoder thread). Use as a context manager:
    the exit waits for the encoder (or abandons it when the run failed) and raises its
    error."""

    name = "mp4"

    def __init__(self, writer: Mp4Writer, compositor: FrameCompositor | I420Compositor,
                 on_frame: Callable[[Frame], None] | None = None,
                 queue_frames: int = ENCODER_QUEUE) -> None:
        from animator.core.mailbox import SinkWorker

        self._writer = writer
        self._planes = (compositor if isinstance(compositor, I420Compositor)
                        else I420Compositor(compositor))  # composed straight into I420
        self._compositor = self._planes.rgb
        self._on_frame = on_frame
        self._stills = StillFrames()
        self._encoder = SinkWorker(self._encode, "mp4-encoder", queue_frames)
        self.n_frames = 0

    def send(self, frame: LiveFrame) -> None:
        if self._encoder.error is not None:
            raise self._encoder.error
        self._encoder.offer((frame.frame, self._video_frame(frame.frame.choice)))

    def _video_frame(self, choice) -> av.VideoFrame:
        """The encoder's frame of ``choice``: a moving frame composed straight into its
        buffers, a still one copied from :class:`StillFrames` (composed once)."""
        key = self._compositor.still_key(choice)
        if key is None:
            frame = av.VideoFrame(*self._writer.size, "yuv420p")
            self._planes.compose_into(frame_planes(frame), choice)
            return frame
        yuv = self._stills.get(key)
        if yuv is None:
            yuv = self._planes.compose(choice)
            self._stills.put(key, yuv)
        return yuv_frame(yuv, self._writer.size)

    def _encode(self, item: tuple[Frame, av.VideoFrame]) -> None:
        self._writer.write_frame(item[1])
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
