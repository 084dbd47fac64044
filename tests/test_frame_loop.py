"""The one loop offline: a fast clock, queueing sinks (every frame, in order, the loop never
more than the queue ahead, a failed sink stops the run instead of hanging it), and the head
measurement handed to the engine as an argument."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from animator.core.mailbox import FifoQueue, LatestSlot, SinkWorker
from animator.engine import Engine, EngineConfig
from animator.live.clock import FastClock, FrameClock
from animator.live.loop import FrameLoop, LiveLoop, Reading
from keypoints.lips import REQUIRED_NAMES, LipFrame, rest_points

FPS = 25.0


class Lips:
    """A file-like source: ``n_chunks`` reads of 10 lip frames at 100 Hz, then the end."""

    def __init__(self, n_chunks: int) -> None:
        self.n_chunks, self.reads = n_chunks, 0

    def drop_backlog(self) -> None:
        pass

    def read(self, index: int, now_s: float) -> Reading:
        self.reads += 1
        if self.reads > self.n_chunks:
            return Reading([], end_s=self.n_chunks * 0.1)
        base = (self.reads - 1) * 10
        pts = rest_points(REQUIRED_NAMES)
        return Reading([LipFrame((base + k) / 100, pts + 0.01 * ((base + k) % 7), REQUIRED_NAMES)
                        for k in range(10)])


class Slow:
    """A sink that takes a while per frame and records what it got and how far ahead the
    loop was when it got it."""

    name = "slow"

    def __init__(self, loop_ticks: list[int]) -> None:
        self.got: list[int] = []
        self.lead: list[int] = []
        self._ticks = loop_ticks

    def send(self, frame) -> None:
        time.sleep(0.002)
        self.got.append(frame.frame.index)
        self.lead.append(self._ticks[0] - frame.frame.index)


def test_fast_clock_ticks_at_once_on_media_time():
    clock = FastClock(FPS)
    ticks = [clock.wait() for _ in range(3)]
    assert [(t.index, t.due_s, t.late_s) for t in ticks] == [(0, 0.0, 0.0), (1, 0.04, 0.0),
                                                            (2, 0.08, 0.0)]


def test_offline_loop_gives_every_frame_in_order_and_stays_within_its_queue(rig):
    ticks = [0]
    slow = Slow(ticks)
    engine = Engine(rig, EngineConfig(fps=FPS))
    with FrameLoop(engine, Lips(30), [slow], queue_size=4) as loop:
        loop.run(FastClock(FPS), on_tick=lambda f: ticks.__setitem__(0, f.index))
        loop.close()
    assert loop.finished
    assert slow.got == list(range(75))  # 3 s at 25 fps, none dropped
    # frames decided ahead of the sink: its queue (4), the one it holds, and one being offered
    assert max(slow.lead) <= 4 + 2


def test_offline_loop_matches_the_engine_fed_directly(rig):
    direct = Engine(rig, EngineConfig(fps=FPS, seed=9))
    src = Lips(20)
    frames = []
    while True:
        r = src.read(0, 0.0)
        frames += direct.push(r.lips)
        if r.end_s is not None:
            frames += direct.finish(r.end_s)
            break
    got = []
    with FrameLoop(Engine(rig, EngineConfig(fps=FPS, seed=9)), Lips(20), [],
                   queue_size=8) as loop:
        loop.run(FastClock(FPS), on_tick=got.append)
    assert [f.choice.image for f in got] == [f.choice.image for f in frames]
    assert np.array_equal([f.angles_deg for f in got], [f.angles_deg for f in frames])


def test_a_failing_sink_stops_an_offline_run_and_never_hangs_it(rig):
    class Broken:
        name = "broken"

        def send(self, frame) -> None:
            if frame.frame.index == 5:
                raise OSError(28, "No space left on device")

    done = threading.Event()
    errors = []

    def run() -> None:
        try:
            with FrameLoop(Engine(rig, EngineConfig(fps=FPS)), Lips(600), [Broken()],
                           queue_size=2) as loop:
                loop.run(FastClock(FPS))
                loop.close()
        except OSError as exc:
            errors.append(exc)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    assert done.wait(30)
    assert errors and errors[0].errno == 28


def test_queue_worker_handles_every_item_and_a_full_queue_waits():
    seen = []
    release = threading.Event()

    def handle(x: int) -> None:
        release.wait()
        seen.append(x)

    worker = SinkWorker(handle, "q", queue_size=2)
    worker.offer(0)  # taken by the worker, which then waits
    time.sleep(0.05)
    worker.offer(1)
    worker.offer(2)  # the queue is full now
    blocked = threading.Thread(target=worker.offer, args=(3,))
    blocked.start()
    blocked.join(0.2)
    assert blocked.is_alive()  # offer waits for room: nothing is dropped
    release.set()
    blocked.join(5)
    worker.close(timeout_s=None)
    assert seen == [0, 1, 2, 3] and worker.n_dropped == 0


def test_fifo_queue_abandoned_releases_a_waiting_put():
    q: FifoQueue[int] = FifoQueue(1)
    q.put(1)
    t = threading.Thread(target=q.put, args=(2,))
    t.start()
    q.abandon()
    t.join(5)
    assert not t.is_alive() and q.take(0) is None


def test_latest_slot_keeps_the_newest_item_and_wakes_a_waiting_take():
    slot: LatestSlot[int] = LatestSlot()
    assert slot.take(0.0) is None and slot.take(0.01) is None  # empty: no wait / timed out
    slot.put(1)
    slot.put(2)  # replaces 1 (dropped)
    assert slot.take(0.0) == 2 and slot.n_dropped == 1
    assert slot.take(0.0) is None  # emptied
    got: list = []
    taker = threading.Thread(target=lambda: got.append(slot.take()))
    taker.start()
    time.sleep(0.05)
    slot.put(3)  # wakes the blocked take
    taker.join(2.0)
    assert got == [3] and not taker.is_alive()
    slot.put(4)
    slot.close()  # an item put before the close is still taken, then None at once
    assert slot.take() == 4 and slot.take() is None and slot.take(5.0) is None
    blocked = LatestSlot()
    waiter = threading.Thread(target=lambda: got.append(blocked.take()))
    waiter.start()
    time.sleep(0.05)
    blocked.close()  # wakes a take waiting on an empty slot
    waiter.join(2.0)
    assert got == [3, None] and not waiter.is_alive()


def test_fifo_queue_take_all_waits_for_a_full_queue_or_a_last_item():
    """take_all: nothing while the queue is neither full nor ends with a last item; then all
    items in order, and room for the producer again; [] once closed and empty."""
    q: FifoQueue[int | None] = FifoQueue(3)
    got: list = []
    taker = threading.Thread(target=lambda: got.append(q.take_all(lambda x: x is None)))
    taker.start()
    q.put(1)
    q.put(2)
    taker.join(0.2)
    assert taker.is_alive() and not got  # two of three, no last item: still waiting
    q.put(3)
    taker.join(5)
    assert got == [[1, 2, 3]]
    q.put(4)
    q.put(None)  # the end: taken without a full queue
    assert q.take_all(lambda x: x is None) == [4, None]
    q.close()
    assert q.take_all(lambda x: x is None) == []


def test_the_head_measurement_is_an_argument_of_each_call(rig):
    """The last frames of a stream get the head handed to ``finish`` (none here), not the
    one a previous ``push`` carried: no measurement outlives its call."""
    head = np.array([0.0, 12.0, 0.0])
    lips = [LipFrame(i / 100, rest_points(REQUIRED_NAMES), REQUIRED_NAMES)
            for i in range(100)]
    config = EngineConfig(fps=FPS, head="tracked", head_fade_s=0.0)
    a, b = Engine(rig, config), Engine(rig, config)
    pushed_a, pushed_b = a.push(lips, head), b.push(lips, head)
    tail_a, tail_b = a.finish(2.0), b.finish(2.0, head)
    assert len(pushed_a) == 25 and len(tail_a) == 25
    assert all(f.angles_deg[1] == pytest.approx(12.0) for f in pushed_a + pushed_b + tail_b)
    # without a measurement the tracked head is the synthesised idle motion, not the old one
    assert all(abs(f.angles_deg[1] - 12.0) > 3.0 for f in tail_a)


def test_ticks_skipped_past_the_end_of_a_timed_run_are_not_counted(rig):
    """A live run of 0.2 s at 25 fps has 5 ticks due; a stall after tick 2 jumps to tick 6,
    which ends it: ticks 3 and 4 were skipped, tick 5 was never due."""
    now = [0.0]
    clock = FrameClock(FPS, now=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))

    served = []

    def on_tick(frame) -> None:
        served.append(frame.index)
        if frame.index == 2:
            now[0] += 0.17  # the machine stalls: ticks 3-5 go by
    loop = LiveLoop(Engine(rig, EngineConfig(fps=FPS)))
    loop.run(clock, duration_s=0.2, on_tick=on_tick)
    assert served == [0, 1, 2]
    assert clock.n_skipped == 2 and len(served) + clock.n_skipped == 5
