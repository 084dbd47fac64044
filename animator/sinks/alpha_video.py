"""Video with transparency for editors, through PyAV (its wheels bundle libvpx and the ProRes
encoder): the character over nothing, to lay over other footage.

* ``.webm``: VP9 with alpha (yuva420p; FFmpeg stores the alpha plane as a second VP9 stream in
  the Matroska BlockAdditions and tags the track ``alpha_mode``), Opus audio;
  plays with transparency in browsers, OBS, Premiere, Resolve, Blender, FFmpeg (libvpx
  decoder).
* ``.mov``: ProRes 4444 (yuva444p10le, profile 4444, alpha 16 bits in the bitstream), PCM
  audio; the editors' interchange format (After Effects, Premiere, Final Cut, Resolve).

Frames come in as uint8[H, W, 4] straight-alpha RGBA.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from animator.core.types import LiveFrame
from animator.sinks.av_writer import AudioTrack, AvWriter, mixed_down
from animator.sinks.compose import FrameCompositor
from animator.sinks.mp4 import fps_fraction

#: container suffix -> (format, video codec, pixel format, codec options, audio codec, rate)
FORMATS = {
    ".webm": ("webm", "libvpx-vp9", "yuva420p",
              {"crf": "30", "b": "0", "deadline": "realtime", "cpu-used": "8",
               "row-mt": "1"}, "libopus", 48000),
    ".mov": ("mov", "prores_ks", "yuva444p10le",
             {"profile": "4", "alpha_bits": "16", "vendor": "apl0"}, "pcm_s16le", None),
}
_AUDIO_BLOCK = 960  # 20 ms at 48 kHz: Opus takes 2.5-60 ms frames


class AlphaVideoWriter(AvWriter):
    """RGBA frames (and an optional audio track, float32[C, N] at ``sample_rate``) into a
    ``.webm`` or ``.mov`` with transparency. Use as a context manager."""

    def __init__(self, path: str | Path, size: tuple[int, int], fps: float,
                 audio: np.ndarray | None = None, sample_rate: int = 48000) -> None:
        suffix = Path(path).suffix.lower()
        fmt, codec, pix_fmt, options, audio_codec, audio_rate = FORMATS[suffix]
        self.size = size
        self.fps = fps_fraction(fps)
        self._container = av.open(str(path), mode="w", format=fmt)
        vs = self._container.add_stream(codec, rate=self.fps)
        vs.width, vs.height = size
        vs.pix_fmt = pix_fmt
        vs.options = dict(options)
        vs.codec_context.time_base = 1 / self.fps
        vs.codec_context.thread_count = 2
        self._video = vs
        if audio is not None:
            rate = audio_rate or sample_rate
            self._audio = AudioTrack(self._container, mixed_down(audio, sample_rate, rate), rate,
                                     audio_codec, _AUDIO_BLOCK)

    def write(self, rgba: np.ndarray) -> None:
        """Append one uint8[H, W, 4] RGBA frame (and the audio up to its end)."""
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgba), format="rgba")
        self._encode(frame)


class AlphaVideoSink:
    """The loop's output into an :class:`AlphaVideoWriter` (composed with a transparent
    compositor), in the sink's own thread."""

    name = "alpha-video"

    def __init__(self, writer: AlphaVideoWriter, compositor: FrameCompositor,
                 on_frame=None) -> None:
        if not compositor.transparent:
            raise ValueError("an alpha video needs a transparent compositor")
        self._writer = writer
        self._compositor = compositor
        self._on_frame = on_frame
        self.n_frames = 0

    def send(self, frame: LiveFrame) -> None:
        self._writer.write(self._compositor.compose(frame.frame.choice))
        self.n_frames += 1
        if self._on_frame is not None:
            self._on_frame(frame.frame)

    def __enter__(self) -> AlphaVideoSink:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        return None


def read_alpha_frames(path: str | Path, limit: int | None = None) -> list[np.ndarray]:
    """Decode a .webm (with libvpx-vp9, which reads the alpha stream) or .mov back to
    uint8[H, W, 4] RGBA frames: what a player that honours transparency shows."""
    out = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.codec_context.name in ("vp9", "libvpx-vp9"):
            ctx = av.codec.CodecContext.create("libvpx-vp9", "r")
            ctx.extradata = stream.codec_context.extradata
            decode = (ctx.decode(p) for p in container.demux(stream))
        else:
            decode = (container.decode(stream),)
        for frames in decode:
            for f in frames:
                out.append(f.to_ndarray(format="rgba"))
                if limit is not None and len(out) >= limit:
                    return out
    return out

