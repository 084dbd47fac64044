"""The web sink: HTTP + WebSocket on 127.0.0.1, and the page in real headless Chromium drawing
exactly what the compositor draws for the same frame choice."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request

import cv2
import numpy as np
import pytest
from websockets.sync.client import connect

from animator.core.types import FrameChoice
from animator.rig import load_rig
from animator.sinks.compose import FrameCompositor
from animator.sinks.web import WebSink, rig_images
from tests.chromium import CHROMIUM, Chromium
from tests.waiting import wait_for
from tests.web_client import http_status, live_frame

BACKGROUND = (236, 240, 244)


class NeverWritable:
    """Stands for the poll of a page's socket that is full."""

    def poll(self, timeout_ms: int) -> list:
        return []


@pytest.fixture
def web(rig):
    with WebSink(rig, 0) as sink:
        yield sink


def test_serves_page_manifest_and_only_rig_images(web, rig):
    page = urllib.request.urlopen(web.url).read().decode()
    assert "<canvas" in page and "/ws" in page
    manifest = json.loads(urllib.request.urlopen(web.url + "rig.json").read())
    assert manifest["images"] == rig_images(rig)
    assert (manifest["width"], manifest["height"]) == rig.image_size
    assert "endpoints/neutral__center.png" in manifest["images"]
    png = urllib.request.urlopen(web.url + "rig/endpoints/neutral__center.png").read()
    assert png == (rig.root / "endpoints/neutral__center.png").read_bytes()
    for bad in ("rig/../expressions.json", "rig/expressions.json", "nothing"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(web.url + bad)
        assert err.value.code == 404


def test_websocket_sends_choices_and_a_slow_client_gets_the_newest(web):
    url = f"ws://127.0.0.1:{web.port}/ws"
    origin = f"http://127.0.0.1:{web.port}"
    with connect(url, origin=origin) as ws:
        wait_for(lambda: web.n_clients == 1, 5, "the client to register")
        web.send(live_frame(1, "endpoints/neutral__center.png", (1.5, -2.0, 3.25)))
        msg = json.loads(ws.recv(timeout=5))
        assert msg["i"] == 1 and msg["image"] == "endpoints/neutral__center.png"
        assert msg["residual"] == [1.5, -2.0, 3.25] and msg["audio_sample"] == 1600
        # A page whose socket takes each frame at once: written by ``send`` itself (no
        # thread woken), every frame in order.
        for i in range(2, 50):
            web.send(live_frame(i, "endpoints/neutral__center.png"))
        assert [json.loads(ws.recv(timeout=5))["i"] for _ in range(2, 50)] == list(range(2, 50))
        assert web.n_written_inline == 49 and web.n_dropped == 0
        # A page that stopped reading, its socket full (made so here: filling a loopback
        # socket takes megabytes): the sink keeps one pending message, the newest, which
        # the page's thread writes when it can; nothing queues.
        (page,) = web._clients
        page._poll = NeverWritable()
        for i in range(50, 200):
            web.send(live_frame(i, "endpoints/neutral__center.png"))
        got = [json.loads(ws.recv(timeout=5))["i"]]
        while got[-1] != 199:
            got.append(json.loads(ws.recv(timeout=5))["i"])
        assert len(got) < 50 and got == sorted(got)  # dropped, not queued
        assert web.n_written_inline == 49 and web.n_dropped == 150 - len(got)
    # A page that connects late first gets the newest choice.
    with connect(url, origin=origin) as ws:
        assert json.loads(ws.recv(timeout=5))["i"] == 199


def test_no_json_is_made_while_no_page_reads_and_a_late_page_gets_the_newest(web, monkeypatch):
    import animator.sinks.web as web_module

    made = []
    encode = web_module.choice_message
    monkeypatch.setattr(web_module, "choice_message", lambda live: made.append(1) or encode(live))
    for i in range(1, 50):  # no page: the loop hands frames over, none is encoded
        web.send(live_frame(i, "endpoints/neutral__center.png"))
    assert not made and web.n_sent == 49
    page = urllib.request.urlopen(web.url).read().decode()  # the page inlines the newest
    assert '"i": 49' in page and len(made) == 1
    url = f"ws://127.0.0.1:{web.port}/ws"
    with connect(url, origin=f"http://127.0.0.1:{web.port}") as ws:
        assert json.loads(ws.recv(timeout=5))["i"] == 49  # made once, sent to the late page
        wait_for(lambda: web.n_clients == 1, 5, "the client to register")
        web.send(live_frame(50, "endpoints/neutral__center.png"))  # a reader: encoded
        assert json.loads(ws.recv(timeout=5))["i"] == 50 and len(made) == 2


def test_the_loop_runs_the_sink_in_its_own_thread_and_a_stalled_page_never_stalls_it(rig):
    """The web sink is inline (no thread of its own between the loop and the clients: one
    wake-up less per frame); its send writes to a page's socket only when that never waits,
    else fills the page's one-slot mailbox, so a page that does not read costs the loop
    nothing, and its dropped frames are counted."""
    import time

    from animator.engine import Engine, EngineConfig
    from animator.live.loop import LiveLoop

    with WebSink(rig, 0) as web:
        loop = LiveLoop(Engine(rig, EngineConfig(fps=30)), [web])
        assert not loop._workers  # no sink thread
        url = f"ws://127.0.0.1:{web.port}/ws"
        with loop, connect(url, origin=f"http://127.0.0.1:{web.port}") as ws:
            wait_for(lambda: web.n_clients == 1, 5, "the client to register")
            t0 = time.perf_counter()
            for i in range(300):  # the client reads nothing meanwhile
                loop.step(i, i / 30)
            assert time.perf_counter() - t0 < 10
            got = [json.loads(ws.recv(timeout=5))["i"]]
            while got[-1] != 299:
                got.append(json.loads(ws.recv(timeout=5))["i"])
        stats = loop.sink_stats()["web"]
        assert stats["handled"] == web.n_sent == 300
        assert got == sorted(got) and stats["dropped"] == 300 - len(got)


@pytest.mark.parametrize("origin", ["https://evil.example", "null", None,
                                    "http://127.0.0.1:1", "http://localhost.evil.example"])
def test_websocket_refuses_other_origins(web, origin):
    """Cross-site WebSocket hijacking: any page the user has open could read the live mouth
    and head pose if the socket accepted its origin."""
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus) as err:
        connect(f"ws://127.0.0.1:{web.port}/ws", origin=origin, open_timeout=5)
    assert err.value.response.status_code == 403
    assert web.n_clients == 0


def test_websocket_accepts_its_own_page_by_either_name(web):
    for i, name in enumerate(("127.0.0.1", "localhost")):
        with connect(f"ws://{name}:{web.port}/ws", origin=f"http://{name}:{web.port}") as ws:
            web.send(live_frame(10 + i, "endpoints/neutral__center.png"))
            # (a page connecting late first gets the previous newest choice)
            wait_for(lambda ws=ws, i=i: json.loads(ws.recv(timeout=5))["i"] == 10 + i, 10,
                     f"frame {10 + i} over {name}")


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "127.0.0.1:1", ""])
def test_http_refuses_other_hosts(web, host):
    """DNS rebinding: a name the attacker controls that resolves to 127.0.0.1 reaches the
    port, but its Host header names the attacker's site."""
    assert http_status(web.url + "rig.json", {"Host": host}) == 403
    assert http_status(web.url + "rig.json", {"Host": f"localhost:{web.port}"}) == 200


def test_allow_origin_admits_an_embedding_site(rig):
    with WebSink(rig, 0, allow_origins=("https://studio.example/",)) as sink:
        with connect(f"ws://127.0.0.1:{sink.port}/ws", origin="https://studio.example"):
            wait_for(lambda: sink.n_clients == 1, 5, "the embedding page's socket")
        from websockets.exceptions import InvalidStatus

        with pytest.raises(InvalidStatus):
            connect(f"ws://127.0.0.1:{sink.port}/ws", origin="https://other.example")


SILENT_CLIENT = """
import base64, logging, os, socket, sys, threading, time
import numpy as np
from animator.core.types import Frame
from animator.core.types import LiveFrame
from animator.sinks.web import WebSink
from animator.rig import load_rig
from animator.core.types import FrameChoice
from animator.rig import default_rig_dir

choice = FrameChoice("center", "neutral", "endpoints/neutral__center.png", 0.0, np.zeros(3))
frame = LiveFrame(Frame(0, 0.0, np.zeros(3), 0.0, np.array([0.0, 1.0]), choice), 0.0, 0,
                  None, 0.0)
reported = threading.Event()


class Seen(logging.Handler):
    def emit(self, record):
        reported.set()


with WebSink(load_rig(default_rig_dir()), 0, ping_interval_s=0.3) as sink:
    logging.getLogger("animator.sinks.web").addHandler(Seen())
    sock = socket.create_connection(("127.0.0.1", sink.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(("GET /ws HTTP/1.1\\r\\nHost: 127.0.0.1:%d\\r\\nOrigin: http://127.0.0.1:%d"
                  "\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n"
                  "Sec-WebSocket-Key: %s\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n"
                  % (sink.port, sink.port, key)).encode())
    while sink.n_clients == 0:
        time.sleep(0.01)
    sent = 0
    while sink.n_clients and sent < 20000:  # frames until the server gives up on it
        sink.send(frame)
        sent += 1
        time.sleep(0.002)
    print("dropped" if sink.n_clients == 0 else "still connected", flush=True)
    # the keepalive thread usually reports it once its close timeout has passed (not when the
    # drop came from a blocked send instead)
    reported.wait(10)
"""


def test_a_client_that_never_reads_is_dropped_with_one_line():
    """A page that stops reading: dropped after the ping timeout, reported in one line on
    stderr (the library's default would print a traceback). In a process of its own, so
    that stderr is the real one."""
    import sys

    res = subprocess.run([sys.executable, "-c", SILENT_CLIENT], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "dropped", res.stderr
    assert "Traceback" not in res.stderr, res.stderr
    lines = res.stderr.strip().splitlines()
    assert all(ln.startswith("animator: web page: ") for ln in lines), res.stderr


def test_the_servers_log_lines_are_one_line_without_traceback(capsys):
    """What the server logs when a connection fails (the library logs the exception with its
    traceback): one line on stderr, the exception's text folded into it."""
    import logging

    from animator.sinks.web import _one_line_logger

    try:
        raise ConnectionError("keepalive ping timeout;\nno close frame received")
    except ConnectionError:
        _one_line_logger().error("keepalive ping failed", exc_info=True)
    err = capsys.readouterr().err
    assert err == ("animator: web page: keepalive ping failed (keepalive ping timeout; no close "
                   "frame received)\n")
    assert logging.getLogger("animator.sinks.web").propagate is False


def test_page_in_chromium_draws_what_the_compositor_draws(web, rig, tmp_path):
    assert shutil.which(CHROMIUM), "needs Debian's chromium (the Makefile's apt step installs it)"
    w, h = rig.image_size
    browser = Chromium(web.url + "?background=%23ecf0f4", tmp_path / "profile", size=(w, h))
    try:
        wait_for(lambda: browser.eval("document.body.dataset.ready") == "1", 60,
                 "the page to preload the rig")
        wait_for(lambda: web.n_clients >= 1, 30, "the page's WebSocket")
        compositor = FrameCompositor(rig, w, BACKGROUND)
        cases = [(1, "endpoints/speaking_ah__tilt_left_small.png", (0.0, 0.0, 0.0)),
                 (2, "endpoints/speaking_ee__turn_right_small.png", (2.0, -3.0, 6.0))]
        for i, image, residual in cases:
            live = live_frame(i, image, residual)
            web.send(live)
            wait_for(lambda i=i: browser.eval("document.body.dataset.frame") == str(i), 30,
                     f"the page to draw frame {i}")
            png, shot = browser.screenshot(w, h)
            (tmp_path / f"live_page_{i}.png").write_bytes(png)  # to look at when it fails
            expected = compositor.compose(live.frame.choice)
            diff = np.abs(shot.astype(int) - expected.astype(int))
            assert diff.mean() < 2.0, (image, diff.mean())
            assert np.percentile(diff.max(axis=2), 99) < 40, image
            # and it is this frame, not just any picture of the character:
            other = compositor.compose(FrameChoice("center", "neutral",
                                                   "endpoints/neutral__center.png", 0.0,
                                                   np.zeros(3)))
            assert np.abs(shot.astype(int) - other.astype(int)).mean() > 4 * diff.mean() + 1
    finally:
        browser.close()


def test_page_moves_only_the_head_of_a_layered_photo_rig(tmp_path):
    """The shipped photo rig (WebP images, a head layer per pose): the page draws the plate
    and the moved head as the compositor does, and the shoulders stay where they were."""
    from keypoints.assets import assets_dir

    photo = load_rig(assets_dir() / "characters" / "astronaut")
    assert photo.layers and photo.config.image_ext == ".webp"
    w, h = photo.image_size
    with WebSink(photo, 0) as sink:
        browser = Chromium(sink.url, tmp_path / "profile", size=(w, h))
        try:
            wait_for(lambda: browser.eval("document.body.dataset.ready") == "1", 60,
                     "the page to preload the rig")
            wait_for(lambda: sink.n_clients >= 1, 30, "the page's WebSocket")
            compositor = FrameCompositor(photo, w, (0, 0, 0))
            image = photo.endpoint("speaking_ah", "nod_up_small")
            matte = cv2.imread(str(photo.image_path(photo.layers["nod_up_small"][0])), 0)
            shots = {}
            for i, residual in ((1, (0.0, 0.0, 0.0)), (2, (2.0, -3.0, 6.0))):
                live = live_frame(i, image, residual, pose="nod_up_small")
                sink.send(live)
                wait_for(lambda i=i: browser.eval("document.body.dataset.frame") == str(i), 30,
                         f"the page to draw frame {i}")
                png, shot = browser.screenshot(w, h)
                (tmp_path / f"layered_{i}.png").write_bytes(png)
                expected = compositor.compose(live.frame.choice)
                diff = np.abs(shot.astype(int) - expected.astype(int))
                assert diff.mean() < 2.0, (residual, diff.mean())
                shots[i] = shot
            # Far from the head (outside its matte by a margin) nothing moved.
            far = cv2.dilate((matte > 0).astype(np.uint8), np.ones((61, 61), np.uint8)) == 0
            assert far.mean() > 0.2
            moved = np.abs(shots[1].astype(int) - shots[2].astype(int)).max(axis=2)
            assert np.percentile(moved[far], 99) <= 3
            assert moved[matte == 255].mean() > 5  # while the head did move
        finally:
            browser.close()
