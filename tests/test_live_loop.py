"""The live loop on a fake clock: the same engine as offline, source loss and recovery
(audio underrun, face lost), tracked/mixed head, blocking sinks, bounded memory."""

from __future__ import annotations

import sys
import threading
import tracemalloc

import numpy as np
import pytest

from animator.engine import Engine, EngineConfig
from animator.live.clock import FrameClock
from animator.live.loop import LiveLoop
from animator.sources.camera import Observation
from keypoints.assets import assets_dir
from keypoints.audio import load_audio
from keypoints.lips import REQUIRED_NAMES, LipFrame
from keypoints.stream import AudioLipStream

FPS = 30.0
DEMO = assets_dir() / "audio" / "demo_speech.ogg"


@pytest.fixture(scope="module")
def speech():
    return load_audio(DEMO)


class ScheduledAudio:
    """A microphone stand-in: the samples due by ``now`` (10 ms blocks), except during
    ``gap`` (seconds), when the device delivers nothing (unplugged: those samples are lost)."""

    sample_rate = 16000

    def __init__(self, samples: np.ndarray, clock: list[float], gap=(np.inf, np.inf)) -> None:
        self.samples, self.clock, self.gap = samples, clock, gap
        self.pos = 0

    def read(self) -> np.ndarray:
        due = min(len(self.samples), int(self.clock[0] * 100) * 160)
        out = self.samples[self.pos:due]
        self.pos = max(self.pos, due)
        if self.gap[0] <= self.clock[0] < self.gap[1]:
            return np.zeros(0, np.float32)
        return out


def run_ticks(loop: LiveLoop, clock: list[float], n: int, start: int = 0):
    frames = []
    for i in range(start, start + n):
        clock[0] = i / FPS
        frames.extend(loop.step(i, clock[0]))
    return frames


def test_audio_underrun_goes_idle_and_recovers(rig, model, speech):
    clock = [0.0]
    audio = ScheduledAudio(np.tile(speech, 2), clock, gap=(4.0, 7.0))
    loop = LiveLoop(Engine(rig, EngineConfig(fps=FPS)), audio=audio,
                    lip_stream=AudioLipStream(model))
    frames = run_ticks(loop, clock, int(10 * FPS))
    assert [f.index for f in frames] == list(range(len(frames)))  # one frame per tick
    speaking = np.array([f.speaking for f in frames])
    opening = np.array([f.mouth[0] for f in frames])
    angles = np.array([f.angles_deg for f in frames])
    before, gap, after = slice(30, 120), slice(int(5.0 * FPS), 210), slice(240, 300)
    assert speaking[before].mean() > 0.5 and opening[before].max() > 0.2
    # Device gone: rest mouth, mask at the idle floor, but the head still moves (idle).
    assert np.all(opening[gap] == 0.0) and np.all(speaking[gap] == 0.0)
    assert np.ptp(angles[gap], axis=0).max() > 0.3
    assert np.abs(angles[gap]).max() < np.abs(angles[before]).max()
    # Back by itself.
    assert speaking[after].mean() > 0.5 and opening[after].max() > 0.2
    assert loop.n_stale >= 2.5 * FPS


def test_live_frames_match_the_offline_engine_fed_the_same_lips(rig, model, speech):
    """The loop adds no logic of its own to the mouth: the same lips at the same frame
    times through a fresh Engine give the same choices; the newest lips it computes alone
    are those a stream computing every frame gives."""
    clock = [0.0]
    audio = ScheduledAudio(speech[:16000 * 3], clock)
    stream, every = AudioLipStream(model), AudioLipStream(model)
    seen = []
    orig = stream.push_newest

    def spy(samples):
        out = orig(samples)
        ref = every.push(samples)  # every keypoint frame, as offline
        assert (out is None) == (not ref)
        if out is not None:  # the newest alone is the very same frame
            assert out.t_s == ref[-1].t_s and np.array_equal(out.points, ref[-1].points)
        assert stream.n_frames == every.n_frames
        seen.append(out)
        return out

    stream.push_newest = spy
    loop = LiveLoop(Engine(rig, EngineConfig(fps=FPS, seed=4)), audio=audio, lip_stream=stream)
    live = run_ticks(loop, clock, 80)
    ref = Engine(rig, EngineConfig(fps=FPS, seed=4))
    last = None
    for i, (f, lf) in enumerate(zip(live, seen, strict=True)):
        last = lf or last
        pts = last.points if last is not None else np.zeros((len(model.keypoint_names), 3))
        if last is None:  # before the first lip frame the loop shows the rest mouth
            from keypoints.lips import rest_points
            pts = rest_points(model.keypoint_names)
        prosody = last.prosody if last is not None else None  # the accent rides with the lips
        (g,) = ref.push([LipFrame(i / FPS, pts, model.keypoint_names, prosody)])
        assert (g.choice.image, g.angles_deg.tolist()) == (f.choice.image, f.angles_deg.tolist())


def test_live_shows_the_mouth_shapes_the_shape_model_hears(rig, model, speech):
    """With a shape model in the lip stream (as ``animator live`` runs it), each live frame
    shows the shape heard at its lips, as the engine fed those lips with their shape does
    (the heard A, p b m, closing the mouth's opening too); the loop once dropped it and fell
    back to shapes guessed from the opening."""
    from keypoints.visemenet import ShapeModel

    clock = [0.0]
    audio = ScheduledAudio(speech[:16000 * 4], clock)
    stream = AudioLipStream(model, shapes=ShapeModel.load())
    seen = []
    orig = stream.push_newest

    def spy(samples):
        seen.append(orig(samples))
        return seen[-1]

    stream.push_newest = spy
    loop = LiveLoop(Engine(rig, EngineConfig(fps=FPS, seed=2)), audio=audio, lip_stream=stream)
    live = run_ticks(loop, clock, 110)
    ref, last, heard = Engine(rig, EngineConfig(fps=FPS, seed=2)), None, set()
    from keypoints.lips import rest_points

    for i, (f, lf) in enumerate(zip(live, seen, strict=True)):
        last = lf or last
        if last is None:
            (g,) = ref.push([LipFrame(i / FPS, rest_points(model.keypoint_names),
                                      model.keypoint_names)])
        else:
            heard.add(last.viseme)
            (g,) = ref.push([LipFrame(i / FPS, last.points, model.keypoint_names,
                                      last.prosody, last.viseme)])
        assert (f.viseme, f.choice.image, f.mouth.tolist()) == (g.viseme, g.choice.image,
                                                                g.mouth.tolist()), i
    shown = {f.viseme for f in live}
    assert len(heard - {None}) >= 4 and len(shown) >= 4
    closed = [f for f in live if f.viseme == "A"]  # p, b, m heard: the mouth shows closed
    assert closed and all(f.mouth[0] == 0.0 for f in closed)


class FakeFace:
    """The FaceObservation interface: a head pose, lips (mouth open by ``open``) and eyes."""

    def __init__(self, head_deg, open_=0.3, eyes=(0.3, 0.3)) -> None:
        self.head = np.array(head_deg, dtype=float)
        self.open = open_
        self.eyes = np.array(eyes, dtype=float)

    def head_pose_deg(self):
        return self.head

    def eye_openness(self):
        return self.eyes

    def lip_frame(self, t_s):
        pts = np.zeros((4, 3), np.float32)
        pts[0, 1], pts[1, 1] = self.open / 2, -self.open / 2
        pts[2, 0], pts[3, 0] = 0.5, -0.5
        return LipFrame(t_s, pts, REQUIRED_NAMES)


class ScriptedCamera:
    """FaceInput stand-in: a new observation every tick; ``face_at(t)`` says which face."""

    def __init__(self, clock, face_at) -> None:
        self.clock, self.face_at, self.n = clock, face_at, 0

    def latest(self):
        self.n += 1
        return Observation(self.n, self.clock[0], self.clock[0], self.face_at(self.clock[0]))


@pytest.mark.parametrize("mode", ["tracked", "mix"])
def test_tracked_head_mirrors_the_user_fades_when_lost_and_returns(rig, mode):
    clock = [0.0]
    user = FakeFace((4.0, 10.0, -6.0))  # pitch, yaw (user turns to their left), roll

    def face_at(t):
        return None if 3.0 <= t < 6.0 else user

    loop = LiveLoop(Engine(rig, EngineConfig(fps=FPS, head=mode, open_gain=1.0)),  # lips as given
                    face=ScriptedCamera(clock, face_at))
    frames = run_ticks(loop, clock, int(9 * FPS))
    angles = np.array([f.angles_deg for f in frames])
    synth = np.array([f.angles_deg for f in run_ticks(
        LiveLoop(Engine(rig, EngineConfig(fps=FPS)), face=ScriptedCamera(clock, face_at)),
        clock, int(9 * FPS))])
    mirrored = np.array([4.0, -10.0, 6.0])
    tracked = slice(60, 90)
    if mode == "tracked":
        assert np.abs(angles[tracked] - mirrored).max() < 0.05
    else:  # the synthesised motion (same seed, same mask) on top of the tracked head
        assert np.abs(angles[tracked] - mirrored - synth[tracked]).max() < 0.05
    lost = slice(int(5 * FPS), int(6 * FPS))  # 2 s after the face was lost: idle motion
    assert np.abs(angles[lost] - synth[lost]).max() < 0.05
    assert np.abs(np.diff(angles, axis=0)).max() < 2.0  # fades, never jumps
    assert np.abs(angles[int(8 * FPS):] - mirrored).max() < (0.05 if mode == "tracked" else 8)
    # With a face the lips come from it (no audio): the mouth opens; without, it rests.
    opening = np.array([f.mouth[0] for f in frames])
    assert np.allclose(opening[tracked], 0.3, atol=1e-5) and np.all(opening[lost] == 0)


def test_a_blocking_sink_drops_its_frames_and_never_stalls_the_loop(rig, model, speech):
    release = threading.Event()
    fake_now = [0.0]

    class Blocking:
        name = "blocking"
        got: list[int] = []

        def send(self, live):
            self.got.append(live.frame.index)
            release.wait(30)

    class Fast:
        name = "fast"
        got: list[int] = []

        def send(self, live):
            self.got.append(live.frame.index)

    def sleep(s):
        fake_now[0] += s

    clock = FrameClock(FPS, now=lambda: fake_now[0], sleep=sleep)
    audio = ScheduledAudio(speech, fake_now)
    blocking, fast = Blocking(), Fast()
    loop = LiveLoop(Engine(rig, EngineConfig(fps=FPS)), [blocking, fast], audio=audio,
                    lip_stream=AudioLipStream(model))
    runner = threading.Thread(target=loop.run, args=(clock,), kwargs={"duration_s": 3.0})
    runner.start()
    runner.join(60)
    assert not runner.is_alive(), "the loop waited for the blocked sink"
    release.set()
    loop.close()
    assert loop.n_ticks == 90 and clock.n_late == 0 and clock.n_skipped == 0
    stats = loop.sink_stats()
    assert len(blocking.got) <= 2 and stats["blocking"]["dropped"] >= 90 - 3
    assert fast.got[-1] == 89  # the newest frame always gets through
    assert stats["fast"]["handled"] + stats["fast"]["dropped"] == 90


def test_memory_stays_flat_over_many_ticks(rig, model, speech):
    clock = [0.0]

    class Looping(ScheduledAudio):
        def read(self):
            due = int(self.clock[0] * 100) * 160
            idx = np.arange(self.pos, due) % len(self.samples)
            self.pos = due
            return self.samples[idx]

    class Null:
        name = "null"

        def send(self, live):
            pass

    with LiveLoop(Engine(rig, EngineConfig(fps=FPS)), [Null()], audio=Looping(speech, clock),
                  lip_stream=AudioLipStream(model)) as loop:
        run_ticks(loop, clock, 300)  # warm up caches
        tracemalloc.start()
        run_ticks(loop, clock, 1500, start=300)
        mid, _ = tracemalloc.get_traced_memory()
        run_ticks(loop, clock, 1500, start=1800)
        end, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert end - mid < 64 * 1024, (mid, end)  # 50 s more of frames: no growth


def test_engine_head_modes_keep_the_synth_default_unchanged(rig):
    lips = [LipFrame(i / FPS, np.zeros((4, 3), np.float32), REQUIRED_NAMES) for i in range(60)]
    plain = Engine(rig, EngineConfig(fps=FPS))
    a = [plain.push([lf])[0].angles_deg for lf in lips]
    ignored = Engine(rig, EngineConfig(fps=FPS))
    b = [ignored.push([lf], np.array([5.0, 5.0, 5.0]))[0].angles_deg for lf in lips]
    assert np.array_equal(a, b)  # synth: a measured head is ignored
    with pytest.raises(ValueError, match="head"):
        EngineConfig(head="tracked", motion="reference")
    with pytest.raises(ValueError, match="head must be one of"):
        EngineConfig(head="puppet")


def test_the_loop_runs_with_one_blas_thread_frozen_gc_short_gil_switch_then_restores(rig):
    """numpy's OpenBLAS would split each tiny feature-frame product over two threads whose
    idle worker then busy-waits (a whole core spinning at 100 feature frames a second); a
    full garbage collection would walk every object of the process (10-12 ms) mid-frame;
    OpenCV's idle pool workers spin in sched_yield."""
    import gc

    import cv2
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads():  # numpy's own BLAS (opencv may bring an older one of its own)
        return {i["num_threads"] for i in threadpool_info()
                if i["user_api"] == "blas" and "numpy" in i["filepath"]}

    fake_now = [0.0]

    def sleep(s):
        fake_now[0] += s

    seen = []
    loop = LiveLoop(Engine(rig, EngineConfig(fps=FPS)))
    switch = sys.getswitchinterval()
    frozen = gc.get_freeze_count()
    cv_threads = cv2.getNumThreads()
    cv2.setNumThreads(2)
    try:
        with threadpool_limits(limits=2, user_api="blas"):
            assert blas_threads() == {2}
            loop.run(FrameClock(FPS, now=lambda: fake_now[0], sleep=sleep), duration_s=0.1,
                     on_tick=lambda _: seen.append((blas_threads(), sys.getswitchinterval(),
                                                    gc.get_freeze_count(),
                                                    cv2.getNumThreads())))
            assert blas_threads() == {2}  # restored
        assert cv2.getNumThreads() == 2  # restored
    finally:
        cv2.setNumThreads(cv_threads)
    assert seen and all(b == {1} and s <= 0.0005 and c == 1 for b, s, _, c in seen)
    assert all(n > frozen + 10_000 for _, _, n, _ in seen)  # the loaded process is frozen
    assert sys.getswitchinterval() == switch and gc.get_freeze_count() == frozen


@pytest.mark.parametrize("windowed", [True, False])
@pytest.mark.parametrize("chunk", [160, 533, 1601])
def test_newest_lips_only_run_the_model_once_and_match_every_frame(model, speech, chunk,
                                                                  windowed, monkeypatch):
    """Live mode shows one lip frame per tick: push_newest computes that one alone (windowed
    model: one call; step plan: no window at all, every feature frame one step)."""
    assert model.stream_program is not None
    calls = [0]
    run = model.run

    def counting(features):
        calls[0] += 1
        return run(features)

    monkeypatch.setattr(model, "run", counting)
    newest = AudioLipStream(model, windowed=windowed)
    every = AudioLipStream(model, windowed=windowed)
    x = speech[:16000 * 2]
    for start in range(0, len(x), chunk):
        before = calls[0]
        out = newest.push_newest(x[start:start + chunk])
        if windowed:
            assert calls[0] - before == (out is not None)  # at most one model call
        else:
            assert calls[0] == 0
        ref = every.push(x[start:start + chunk])
        assert newest.n_frames == every.n_frames
        if ref:
            assert out.t_s == ref[-1].t_s and np.array_equal(out.points, ref[-1].points)
        else:
            assert out is None
