"""Audio decoding/resampling: formats, rates, channels, and one-line errors naming the path."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import soundfile

from keypoints.audio import (
    SAMPLE_RATE,
    AudioError,
    decode_audio,
    load_audio,
    resample,
    to_mono,
)

DURATION_S = 1.5
TONE_HZ = 440.0


def tone(sample_rate: int, duration_s: float = DURATION_S, freq_hz: float = TONE_HZ) -> np.ndarray:
    """float32[N]: a sine at half scale."""
    t = np.arange(round(sample_rate * duration_s)) / sample_rate
    return (0.5 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def dominant_hz(x: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.argmax(spectrum) * sample_rate / x.size)


def write_mp3(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    """Encode mono float32 samples to mp3 with PyAV."""
    with av.open(str(path), "w", format="mp3") as container:
        stream = container.add_stream("mp3", rate=sample_rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="fltp", layout="mono")
        frame.sample_rate = sample_rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def write_video_only(path: Path) -> None:
    """A tiny mp4 with one video stream and no audio."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for _ in range(3):
            image = np.zeros((32, 32, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def check_tone_at_16k(x: np.ndarray, tolerance_s: float) -> None:
    assert x.dtype == np.float32 and x.ndim == 1
    assert abs(x.size / SAMPLE_RATE - DURATION_S) <= tolerance_s
    assert abs(dominant_hz(x, SAMPLE_RATE) - TONE_HZ) < 2.0


def test_wav_44k_stereo(tmp_path: Path) -> None:
    left = tone(44100)
    stereo = np.stack([left, np.zeros_like(left)], axis=1)  # right channel silent
    path = tmp_path / "stereo.wav"
    soundfile.write(path, stereo, 44100, subtype="PCM_16")
    samples, sample_rate = decode_audio(path)
    assert sample_rate == 44100 and samples.shape == (2, left.size)
    assert samples.dtype == np.float32 and np.abs(samples).max() <= 1.0
    x = load_audio(path)
    check_tone_at_16k(x, tolerance_s=1 / SAMPLE_RATE)
    # the silent channel halves the mono amplitude (mean of channels)
    assert abs(np.abs(x[1000:-1000]).max() - 0.25) < 0.01


def test_flac_48k(tmp_path: Path) -> None:
    path = tmp_path / "tone.flac"
    soundfile.write(path, tone(48000), 48000)
    check_tone_at_16k(load_audio(path), tolerance_s=1 / SAMPLE_RATE)


def test_ogg_22k(tmp_path: Path) -> None:
    path = tmp_path / "tone.ogg"
    soundfile.write(path, tone(22050), 22050, format="OGG", subtype="VORBIS")
    check_tone_at_16k(load_audio(path), tolerance_s=1 / SAMPLE_RATE)


def test_mp3_via_pyav_without_console_output(tmp_path: Path, capfd) -> None:
    path = tmp_path / "tone.mp3"
    write_mp3(path, tone(44100), 44100)
    capfd.readouterr()
    x = load_audio(path)
    # mp3 frames (1152 samples) and encoder delay may add a few ms
    check_tone_at_16k(x, tolerance_s=0.06)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_resample_identity_and_mono() -> None:
    x = tone(16000)
    assert resample(x, 16000, 16000) is x
    assert resample(np.zeros(0, np.float32), 8000, 16000).size == 0
    assert abs(resample(x, 16000, 8000).size - x.size // 2) <= 1
    assert to_mono(np.stack([x, x])).shape == x.shape
    np.testing.assert_array_equal(to_mono(x[None]), x)


def expect_error(path: Path, reason: str) -> None:
    with pytest.raises(AudioError) as info:
        decode_audio(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert reason in message and "\n" not in message, message


def test_errors_name_the_path(tmp_path: Path) -> None:
    expect_error(tmp_path / "missing.wav", "not found")

    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    expect_error(empty, "empty file")

    text_wav = tmp_path / "notes.wav"
    text_wav.write_text("this is not audio\n" * 20)
    expect_error(text_wav, "unsupported or corrupt")

    text_mp3 = tmp_path / "notes.mp3"
    text_mp3.write_text("this is not audio either\n" * 20)
    expect_error(text_mp3, "unsupported or corrupt")

    corrupt = tmp_path / "corrupt.flac"
    good = tmp_path / "good.flac"
    soundfile.write(good, tone(16000), 16000)
    corrupt.write_bytes(good.read_bytes()[:4] + bytes(range(256)) * 8)
    expect_error(corrupt, "corrupt")

    zero_samples = tmp_path / "zero.wav"
    soundfile.write(zero_samples, np.zeros((0, 1), np.float32), 16000)
    expect_error(zero_samples, "no audio samples")

    video = tmp_path / "video.mp4"
    write_video_only(video)
    expect_error(video, "no audio stream")


@pytest.mark.filterwarnings("error")
def test_float_files_clipped_to_full_scale_and_non_finite_ones_refused(tmp_path: Path) -> None:
    """A float WAV beyond full scale comes back clipped to [-1, 1] (the rest as written);
    one with a NaN or an infinity (also two that would cancel in a sum) is refused, with
    no warning on the way."""
    x = (3.0 * tone(16000)).astype(np.float32)
    x[:5] = [-0.0, 1.0, -1.0, 1e30, -1e30]
    loud = tmp_path / "loud.wav"
    soundfile.write(loud, x, 16000, subtype="FLOAT")
    got, _ = decode_audio(loud)
    np.testing.assert_array_equal(got[0], np.clip(x, -1.0, 1.0))
    assert np.signbit(got[0, 0])
    for bad in ([np.nan], [np.inf], [np.inf, -np.inf]):
        y = tone(16000).astype(np.float32)
        y[10:10 + len(bad)] = bad
        path = tmp_path / f"bad{len(bad)}.wav"
        soundfile.write(path, y, 16000, subtype="FLOAT")
        expect_error(path, "non-finite samples")
