"""A/V sync: the latency model against the live loop's real timing, the measured parts,
/sync.json (same-origin rules as the other endpoints) and the page that shows it."""

from __future__ import annotations

import json
import shutil
import urllib.request

import numpy as np
import pytest
from websockets.sync.client import connect

from animator.core.types import LiveFrame
from animator.engine import Engine, EngineConfig
from animator.live.loop import LiveLoop
from animator.live.sync import AudioTiming, SyncMonitor, estimate
from animator.sinks.web import WebSink
from animator.sources.audio_input import BLOCK_SAMPLES
from keypoints.assets import assets_dir
from keypoints.audio import load_audio
from keypoints.mappingnet import MappingNet
from keypoints.stream import AudioLipStream
from tests.chromium import CHROMIUM, Chromium
from tests.waiting import wait_for
from tests.web_client import http_status, live_frame

FPS = 30.0
DEMO = assets_dir() / "audio" / "demo_speech.ogg"


def test_the_shipped_models_latency_parts():
    t = AudioTiming.of(MappingNet.load(), BLOCK_SAMPLES, FPS)
    assert (t.lookahead_ms, t.block_ms, t.tick_wait_ms) == (42.5, 7.5, 5.0)
    e = estimate(t, processing_ms=0.8, sink_ms=0.4, measured_ticks=300)
    assert e.page_draw_ms == pytest.approx(1e3 / 120)
    assert e.total_ms == pytest.approx(42.5 + 7.5 + 5.0 + 0.8 + 0.4 + 1e3 / 120)
    assert e.audio_delay_ms == 65  # 64.53
    d = e.as_dict()
    assert d["audio_delay_ms"] == 65 and d["processing_ms"] == 0.8 and d["measured_ticks"] == 300
    line = e.line()
    assert "audio -> mouth 65 ms" in line and "delay the microphone by 65 ms in OBS" in line
    assert "Sync Offset" in line
    unmeasured = estimate(t).line()
    assert "processing (not measured yet)" in unmeasured and "sink (not measured yet)" in unmeasured


def test_other_blocks_hops_and_frame_rates():
    # a hop that is not a multiple of the block: the mean over the frames' phases
    t = AudioTiming(16000, 100, 400, 2, 160, 30.0)
    assert t.lookahead_ms == 25.0
    assert t.block_ms == pytest.approx(1e3 * (400 + 79.5) / 16000 - 25.0)
    # blocks of 5 ms, a loop faster than the blocks: the tick waits half a frame
    assert AudioTiming(16000, 160, 400, 3, 80, 30.0).block_ms == 2.5
    assert AudioTiming(16000, 160, 400, 3, 160, 400.0).tick_wait_ms == 1.25


class _Shown:
    """An inline sink: what the loop handed over, with the tick's clock time."""

    name, inline = "shown", True

    def __init__(self, clock: list[float]) -> None:
        self.clock, self.got = clock, []

    def send(self, live: LiveFrame) -> None:
        self.got.append((self.clock[0], live.audio_sample))


class _Microphone:
    """Blocks of 160 samples, each delivered when its last sample has been captured
    (sample s is captured at s / 16000 s)."""

    sample_rate = 16000

    def __init__(self, samples: np.ndarray, clock: list[float]) -> None:
        self.samples, self.clock, self.pos = samples, clock, 0

    def read(self) -> np.ndarray:
        due = int(self.clock[0] * self.sample_rate + 1e-9) // 160 * 160
        out = self.samples[self.pos:due]
        self.pos = max(self.pos, due)
        return out


def test_the_model_is_what_the_live_loop_does(rig, model):
    """Ticks at 30 fps with a random phase against the device's blocks (as a real microphone
    and the loop's clock have): the sample whose lips a tick shows was captured
    look-ahead + audio block + [0, one block) before the tick, half a block on average."""
    clock = [0.0]
    speech = load_audio(DEMO)
    shown = _Shown(clock)
    loop = LiveLoop(Engine(rig, EngineConfig(fps=FPS)), [shown],
                    audio=_Microphone(speech, clock), lip_stream=AudioLipStream(model))
    timing = AudioTiming.of(model, BLOCK_SAMPLES, FPS)
    rng = np.random.default_rng(7)
    for i in range(400):
        clock[0] = i / FPS + rng.uniform(0.0, 0.010)
        loop.step(i, clock[0])
    ages_ms = np.array([1e3 * (t - s / 16000) for t, s in shown.got if s is not None])
    assert len(ages_ms) > 380
    fixed = timing.lookahead_ms + timing.block_ms
    wait = ages_ms - fixed
    assert wait.min() >= -1e-6 and wait.max() < 10.0
    assert wait.mean() == pytest.approx(timing.tick_wait_ms, abs=0.8)


def test_the_monitor_keeps_the_last_measurements():
    m = SyncMonitor(AudioTiming(16000, 160, 400, 3, 160, 30.0), window=5)
    assert m.estimate().processing_ms is None and m.report()["audio"]["sink_ms"] is None
    for s in (0.010, 0.001, 0.001, 0.002, 0.003, 0.004):  # the first falls out
        m.record_step(s)
    m.record_delivery(0.0005)
    e = m.estimate()
    assert e.processing_ms == pytest.approx(2.0) and e.sink_ms == pytest.approx(0.5)
    assert e.measured_ticks == 6
    assert m.report() == {"audio": e.as_dict(), "fps": 30.0}


def test_sync_json_follows_the_pages_rules_and_records_deliveries(rig):
    monitor = SyncMonitor(AudioTiming(16000, 160, 400, 3, 160, 30.0))
    with WebSink(rig, 0, sync=monitor) as web, WebSink(rig, 0) as plain:
        url = f"{web.url}sync.json"
        assert http_status(url, {"Host": "evil.example"}) == 403
        assert http_status(f"{plain.url}sync.json", {}) == 404  # no audio, no figures
        with connect(f"ws://127.0.0.1:{web.port}/ws", origin=f"http://127.0.0.1:{web.port}",
                     compression=None) as ws:
            wait_for(lambda: web.n_clients == 1, 10, "the client")
            image = rig.endpoint("neutral", "center")
            for i in range(5):
                web.send(live_frame(i, image))
                assert json.loads(ws.recv(timeout=10))["i"] == i
        wait_for(lambda: monitor.estimate().sink_ms is not None, 10, "a delivery")
        got = json.loads(urllib.request.urlopen(url, timeout=10).read())
    assert got["audio"]["sink_ms"] is not None and got["audio"]["lookahead_ms"] == 42.5
    assert got["audio"]["audio_delay_ms"] == monitor.estimate().audio_delay_ms


def test_the_page_states_the_delay_in_a_browser_and_hides_it_with_sync_0(rig, tmp_path):
    assert shutil.which(CHROMIUM), "needs Debian's chromium (the Makefile's apt step installs it)"
    monitor = SyncMonitor(AudioTiming(16000, 160, 400, 3, 160, 30.0))
    monitor.record_step(0.001)
    monitor.record_delivery(0.001)
    want = monitor.estimate().audio_delay_ms
    with WebSink(rig, 0, sync=monitor) as web:
        for query, shown in (("", True), ("?sync=0", False)):
            browser = Chromium(web.url + query, tmp_path / f"profile{len(query)}")
            try:
                wait_for(lambda b=browser: b.eval("document.body.dataset.ready") == "1", 30,
                         "the page")
                if shown:
                    text = wait_for(lambda b=browser: b.eval(
                        "document.getElementById('sync').textContent"), 30, "the sync box")
                    assert f"delay the microphone by {want} ms" in text
                    assert "Sync Offset" in text and "voice \u2192 mouth" in text
                    assert browser.eval("getComputedStyle(document.getElementById('sync'))"
                                        ".display") == "block"
                else:
                    assert browser.eval("document.getElementById('sync').textContent") == ""
                    assert browser.eval("getComputedStyle(document.getElementById('sync'))"
                                        ".display") == "none"
            finally:
                browser.close()
