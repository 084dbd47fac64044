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

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from animator.core.types import LiveFrame
from animator.sinks.compose import FrameCompositor
from animator.sinks.mp4 import fps_fraction
from keypoints.audio import resample

#: container suffix -> (format, video codec, pixel format, codec options, audio codec, rate)
FORMATS = {
    ".webm": ("webm", "libvpx-vp9", "yuva420p",
              {"crf": "30", "b": "0", "deadline": "realtime", "cpu-used": "8",
               "row-mt": "1"}, "libopus", 48000),
    ".mov": ("mov", "prores_ks", "yuva444p10le",
             {"profile": "4", "alpha_bits": "16", "vendor": "apl0"}, "pcm_s16le", None),
}
_AUDIO_BLOCK = 960  # 20 ms at 48 kHz: Opus takes 2.5-60 ms frames


class AlphaVideoWriter:
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
        self._frames = 0
        self._audio = None
        if audio is not None:
            audio = np.asarray(audio, dtype=np.float32)
            if audio.shape[0] > 2:
                audio = audio.mean(axis=0, keepdims=True)
            rate = audio_rate or sample_rate
            if rate != sample_rate:
                audio = np.stack([resample(ch, sample_rate, rate) for ch in audio])
            self._audio = np.ascontiguousarray(audio)
            self._rate = rate
            self._layout = "mono" if audio.shape[0] == 1 else "stereo"
            self._astream = self._container.add_stream(audio_codec, rate=rate,
                                                       layout=self._layout)
            self._apos = 0
            self._aformat = self._astream.codec_context.format.name

    def __enter__(self) -> AlphaVideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._container.close()

    def write(self, rgba: np.ndarray) -> None:
        """Append one uint8[H, W, 4] RGBA frame (and the audio up to its end)."""
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgba), format="rgba")
        frame.pts = self._frames
        frame.time_base = 1 / self.fps
        for p in self._video.encode(frame):
            self._container.mux(p)
        self._frames += 1
        if self._audio is not None:
            self._write_audio(round(self._frames / self.fps * self._rate))

    def _write_audio(self, end: int) -> None:
        end = min(end, self._audio.shape[1])
        while self._apos < end:
            stop = min(self._apos + _AUDIO_BLOCK, end)
            block = self._audio[:, self._apos:stop]
            if self._aformat == "s16":  # PCM: interleaved 16-bit
                data = (np.clip(block, -1, 1) * 32767).round().astype(np.int16)
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data.T.reshape(1, -1)),
                                                   format="s16", layout=self._layout)
            else:
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block), format="fltp",
                                                   layout=self._layout)
            frame.sample_rate = self._rate
            frame.pts = self._apos
            frame.time_base = Fraction(1, self._rate)
            for p in self._astream.encode(frame):
                self._container.mux(p)
            self._apos = stop

    def close(self) -> None:
        if self._audio is not None:
            self._write_audio(self._audio.shape[1])
            for p in self._astream.encode(None):
                self._container.mux(p)
        for p in self._video.encode(None):
            self._container.mux(p)
        self._container.close()


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

