"""What every video file writer shares: the audio track written in step with the frames, the
packets muxed as they come, and the file closed (complete) only on a clean exit."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction

import av
import numpy as np

from keypoints.audio import resample


def mixed_down(audio: np.ndarray, sample_rate: int, rate: int) -> np.ndarray:
    """float32[C, N] at ``sample_rate`` -> float32[1|2, M] at ``rate`` (more than two channels
    are mixed down to mono)."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.shape[0] > 2:
        audio = audio.mean(axis=0, keepdims=True)
    if rate != sample_rate:
        audio = np.stack([resample(ch, sample_rate, rate) for ch in audio])
    return np.ascontiguousarray(audio)


class AudioTrack:
    """float32[C, N] samples at ``rate`` (:func:`mixed_down`) encoded by ``codec`` in blocks of
    ``block`` samples; planar float or, for PCM codecs, interleaved 16-bit."""

    def __init__(self, container: av.container.OutputContainer, audio: np.ndarray,
                 rate: int, codec: str, block: int, bit_rate: int | None = None,
                 options: dict[str, str] | None = None) -> None:
        self.samples = audio
        self.rate = rate
        self._block = block
        self._layout = "mono" if audio.shape[0] == 1 else "stereo"
        self.stream = container.add_stream(codec, rate=rate, layout=self._layout)
        if bit_rate is not None:
            self.stream.bit_rate = bit_rate
        if options:
            self.stream.options = dict(options)
        self._pos = 0

    def encode_until(self, end: int) -> Iterable[av.Packet]:
        """Packets of the samples up to ``end`` (not yet encoded)."""
        end = min(end, self.samples.shape[1])
        pcm = self.stream.codec_context.format.name == "s16"
        while self._pos < end:
            stop = min(self._pos + self._block, end)
            block = self.samples[:, self._pos:stop]
            if pcm:
                data = (np.clip(block, -1, 1) * 32767).round().astype(np.int16)
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data.T.reshape(1, -1)),
                                                   format="s16", layout=self._layout)
            else:
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block), format="fltp",
                                                   layout=self._layout)
            frame.sample_rate = self.rate
            frame.pts = self._pos
            frame.time_base = Fraction(1, self.rate)
            yield from self.stream.encode(frame)
            self._pos = stop

    def finish(self) -> Iterable[av.Packet]:
        """The rest of the samples and the encoder's last packets."""
        yield from self.encode_until(self.samples.shape[1])
        yield from self.stream.encode(None)


class AvWriter:
    """Base of the writers: subclasses open ``_container``, add ``_video`` (and ``_audio``, an
    :class:`AudioTrack` or None), set ``fps`` (a Fraction), and call :meth:`_encode` per frame.
    Use as a context manager: the file is complete only after a clean exit."""

    _container: av.container.OutputContainer
    _video: av.video.stream.VideoStream
    _audio: AudioTrack | None = None
    _frames = 0  # video frames written
    fps: Fraction

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._container.close()

    def _mux(self, packets: Iterable[av.Packet]) -> None:
        for p in packets:
            self._container.mux(p)

    def _encode(self, frame: av.VideoFrame) -> None:
        """``frame`` at the next time step, then the audio up to its end."""
        frame.pts = self._frames
        frame.time_base = 1 / self.fps
        self._mux(self._video.encode(frame))
        self._frames += 1
        if self._audio is not None:
            self._mux(self._audio.encode_until(round(self._frames / self.fps
                                                     * self._audio.rate)))

    def close(self) -> None:
        if self._audio is not None:
            self._mux(self._audio.finish())
        self._mux(self._video.encode(None))
        self._container.close()
