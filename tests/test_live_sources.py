"""Live inputs replaced by files: an audio file played as a microphone, a fake sounddevice
feeding the real Microphone class, a generated video played as a webcam; and the clock."""

from __future__ import annotations

import sys
import threading
import time
import types

import cv2
import numpy as np
import pytest
import soundfile as sf

from animator.core.errors import LiveError
from animator.live.clock import FrameClock
from animator.sources.audio_input import FileAudio, Microphone, import_sounddevice
from animator.sources.camera import Camera, TrackedCamera, parse_camera
from tests.waiting import wait_for


@pytest.fixture
def tone_wav(tmp_path):
    path = tmp_path / "tone.wav"
    t = np.arange(16000) / 16000
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    return path


def test_file_audio_delivers_whole_blocks_at_the_pace_of_the_clock(tone_wav):
    now = [100.0]
    with FileAudio(tone_wav, 16000, now=lambda: now[0]) as src:
        assert len(src.read()) == 0
        now[0] += 0.025  # 25 ms: two whole 10 ms blocks
        a = src.read()
        now[0] += 0.5
        b = src.read()
        now[0] += 5.0  # past the end: the rest, then nothing (an underrun, not an error)
        c = src.read()
        d = src.read()
        assert src.arrival_s(0) == pytest.approx(100.01)
    assert (len(a), len(b), len(d)) == (320, 52 * 160 - 320, 0)  # whole blocks by 0.525 s
    assert np.array_equal(np.concatenate([a, b, c]), src.samples)


def test_file_audio_loops(tone_wav):
    now = [0.0]
    with FileAudio(tone_wav, 16000, loop=True, now=lambda: now[0]) as src:
        now[0] = 2.5
        out = src.read()
    assert len(out) == 40000 and np.array_equal(out[16000:32000], src.samples)


class FakeSoundDevice:
    """Stand-in for the sounddevice module: its InputStream plays a file through the
    callback from its own thread, in 10 ms blocks; ``unplug()`` stops the stream."""

    def __init__(self, samples: np.ndarray) -> None:
        self.samples = samples
        self.streams: list = []
        self.fail_opens = 0

    def make(self):
        fake = self

        class InputStream:
            def __init__(self, samplerate, blocksize, device, channels, dtype, callback):
                if fake.fail_opens:
                    fake.fail_opens -= 1
                    raise RuntimeError("Error querying device -1")
                self.blocksize, self.callback = blocksize, callback
                self.active = False
                self.closed = False
                self.pos = 0
                fake.streams.append(self)

            def start(self):
                self.active = True
                self.thread = threading.Thread(target=self._run, daemon=True)
                self.thread.start()

            def _run(self):
                while self.active and self.pos < len(fake.samples):
                    block = fake.samples[self.pos:self.pos + self.blocksize]
                    self.pos += len(block)
                    self.callback(block[:, None], len(block), None, None)
                    time.sleep(0.001)

            def stop(self):
                self.active = False

            def close(self):
                self.closed = True

        mod = types.ModuleType("sounddevice")
        mod.InputStream = InputStream
        return mod


def test_microphone_reads_the_device_and_reopens_it_when_it_comes_back(monkeypatch):
    samples = np.linspace(-1, 1, 16000, dtype=np.float32)
    fake = FakeSoundDevice(samples)
    monkeypatch.setitem(sys.modules, "sounddevice", fake.make())
    now = [0.0]
    got = []
    with Microphone(None, 16000, now=lambda: now[0]) as mic:
        wait_for(lambda: got.append(mic.read()) or sum(map(len, got)) == 16000, 10,
                 "the whole file through the callback")
        assert np.array_equal(np.concatenate(got), samples)
        first = fake.streams[0]
        first.stop()  # unplugged
        fake.fail_opens = 1  # ... and still gone at the first retry
        assert len(mic.read()) == 0 and first.closed and mic.n_reopens == 0
        now[0] += 1.5  # a second later it is back
        mic.read()
        assert mic.n_reopens == 1 and len(fake.streams) == 2 and fake.streams[1].active
        wait_for(lambda: len(mic.read()) > 0, 10, "samples from the reopened device")
    assert fake.streams[1].closed  # released on exit


def test_no_microphone_is_one_line_naming_the_default_input(monkeypatch):
    fake = FakeSoundDevice(np.zeros(10, np.float32))
    fake.fail_opens = 1
    monkeypatch.setitem(sys.modules, "sounddevice", fake.make())
    with pytest.raises(LiveError) as err, Microphone(None, 16000):
        pass
    message = str(err.value)
    assert "the default audio input" in message and "None" not in message
    assert "animator devices" in message and "\n" not in message


def test_missing_portaudio_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails
    with pytest.raises(LiveError, match="libportaudio2"):
        import_sounddevice()
    with pytest.raises(LiveError, match="libportaudio2"):
        Microphone()


@pytest.fixture
def video(tmp_path):
    """A 15-frame 30 fps clip whose frame k is uniformly grey level 10 + 10 k."""
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 48))
    for k in range(15):
        writer.write(np.full((48, 64, 3), 10 + 10 * k, np.uint8))
    writer.release()
    return path


def test_video_file_plays_as_a_camera_newest_frame_only(video):
    seen = []
    with Camera(video) as cam:
        wait_for(lambda: cam.ended, 10, "the end of the clip")
        frame = cam.latest()
        seen.append(frame)
        assert cam.latest() is None  # each frame is handed out once
    assert cam.n_captured == 15
    assert frame.number == 14 and frame.rgb.shape == (48, 64, 3)
    assert abs(float(frame.rgb.mean()) - 150) < 4  # the newest, not a queued old one


def test_tracked_camera_runs_the_tracker_on_every_captured_frame(video):
    class Tracker:
        def __init__(self):
            self.levels = []

        def process(self, rgb):
            self.levels.append(round(float(rgb.mean()) / 10))
            return None if len(self.levels) % 2 else {"level": self.levels[-1]}

        def close(self):
            raise AssertionError("a tracker handed in is the caller's to close")

    tracker = Tracker()
    with TrackedCamera(video, tracker=tracker) as cam:
        wait_for(lambda: cam.ended, 10, "the end of the clip")
        obs = cam.latest()
    assert tracker.levels == list(range(1, 16))
    assert obs.frame_number == 14 and obs.face is None and obs.tracked_s >= obs.capture_s


def test_tracked_camera_measures_each_face_in_its_own_thread(video):
    """An observation offering ``measure`` is measured in the capture thread, before the
    loop can pick it up."""
    class Face:
        def __init__(self):
            self.measured_in = None

        def measure(self):
            self.measured_in = threading.current_thread().name

    class Tracker:
        def process(self, rgb):
            return Face()

    with TrackedCamera(video, tracker=Tracker()) as cam:
        wait_for(lambda: cam.ended, 10, "the end of the clip")
        obs = cam.latest()
    assert obs.face.measured_in == "camera"


def test_small_video_files_decode_in_the_capture_thread_with_the_same_frames(tmp_path):
    """FFmpeg's decoder threads are left out for frames up to 1280 x 720 (a real H.264
    clip: frame for frame what a default VideoCapture decodes); bigger ones keep them."""
    from benchmarks.realdata import realdata_dir

    clip = realdata_dir() / "talking_faces" / "news_4.mp4"

    got = []

    class Collecting(Camera):
        def _deliver(self, frame):
            got.append(frame.rgb)

    with Collecting(clip) as cam:
        assert cam._cap.get(cv2.CAP_PROP_N_THREADS) == 1
        wait_for(lambda: len(got) >= 20, 10, "20 frames")
    plain = cv2.VideoCapture(str(clip))
    for rgb in got[:20]:
        ok, bgr = plain.read()
        assert ok and np.array_equal(rgb, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    big = tmp_path / "big.avi"
    writer = cv2.VideoWriter(str(big), cv2.VideoWriter_fourcc(*"MJPG"), 30, (1600, 900))
    writer.write(np.zeros((900, 1600, 3), np.uint8))
    writer.release()
    with Camera(big) as cam:
        assert cam._cap.get(cv2.CAP_PROP_N_THREADS) == cv2.VideoCapture(str(big)).get(
            cv2.CAP_PROP_N_THREADS)


def test_camera_errors_are_one_line(tmp_path):
    with pytest.raises(LiveError, match="not found"):
        Camera(tmp_path / "missing.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(LiveError, match="cannot open video file"):
        with Camera(bad):
            pass
    assert parse_camera("0") == 0 and str(parse_camera("a/b.mp4")) == "a/b.mp4"


def test_clock_keeps_a_fixed_schedule_and_skips_rather_than_bursts():
    now = [10.0]
    slept = []

    def sleep(s):
        slept.append(s)
        now[0] += s

    clock = FrameClock(25.0, now=lambda: now[0], sleep=sleep)
    ticks = [clock.wait() for _ in range(3)]
    assert [t.index for t in ticks] == [0, 1, 2]
    assert [t.due_s for t in ticks] == pytest.approx([10.0, 10.04, 10.08])
    now[0] += 0.01  # work took 10 ms: the next tick still comes on time
    assert clock.wait().due_s == pytest.approx(10.12)
    assert clock.n_late == 0
    now[0] += 0.2  # a 200 ms stall: four ticks missed, served at once from the newest
    t = clock.wait()
    assert t.index == 8 and t.due_s == pytest.approx(10.32) and t.late_s < 0.04
    assert clock.n_skipped == 4 and clock.n_late == 1
    assert clock.wait().index == 9
