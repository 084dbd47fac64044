"""The web sink: HTTP + WebSocket on 127.0.0.1, and the page in real headless Chromium drawing
exactly what the compositor draws for the same frame choice."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from websockets.sync.client import connect

from animator.core.types import Frame, FrameChoice, LiveFrame
from animator.rig import default_rig_dir, load_rig
from animator.sinks.compose import FrameCompositor
from animator.sinks.web import WebSink, rig_images
from tests.waiting import wait_for

CHROMIUM = "/usr/bin/chromium"
BACKGROUND = (236, 240, 244)


def live_frame(i: int, image: str, residual=(0.0, 0.0, 0.0), pose="center") -> LiveFrame:
    choice = FrameChoice(pose, "neutral", image, 0.0, np.array(residual, dtype=float))
    frame = Frame(i, i / 30, np.zeros(3), 0.0, np.array([0.0, 1.0]), choice)
    return LiveFrame(frame, 0.0, 1600 * i, None, 0.0)


@pytest.fixture(scope="module")
def rig():
    return load_rig(default_rig_dir())


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
        # A client that does not read: the sink keeps one pending message, the newest.
        for i in range(2, 200):
            web.send(live_frame(i, "endpoints/neutral__center.png"))
        got = [json.loads(ws.recv(timeout=5))["i"]]
        while got[-1] != 199:
            got.append(json.loads(ws.recv(timeout=5))["i"])
        assert len(got) < 50  # dropped, not queued
    # A page that connects late first gets the newest choice.
    with connect(url, origin=origin) as ws:
        assert json.loads(ws.recv(timeout=5))["i"] == 199


def _http_status(url: str, headers: dict[str, str]) -> int:
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers)).status
    except urllib.error.HTTPError as err:
        return err.code


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
    assert _http_status(web.url + "rig.json", {"Host": host}) == 403
    assert _http_status(web.url + "rig.json", {"Host": f"localhost:{web.port}"}) == 200


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


class Chromium:
    """Headless Chromium on a fresh profile, driven by the DevTools protocol."""

    def __init__(self, url: str, profile: Path, size=(640, 640)) -> None:
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", f"--user-data-dir={profile}", "--remote-debugging-port=0",
             "--hide-scrollbars", "--force-device-scale-factor=1",
             f"--window-size={size[0]},{size[1]}", url],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        port = wait_for(lambda: port_file.exists() and port_file.read_text().split("\n")[0],
                        30, "Chromium's DevTools port")
        targets = wait_for(lambda: [t for t in json.loads(urllib.request.urlopen(
            f"http://127.0.0.1:{port}/json/list").read()) if t["type"] == "page"], 30,
            "a page target")
        self.ws = connect(targets[0]["webSocketDebuggerUrl"], max_size=2**26).__enter__()
        self._id = 0
        # The viewport, exactly (a headless window's size includes no chrome, but be sure).
        self.call("Emulation.setDeviceMetricsOverride", width=size[0], height=size[1],
                  deviceScaleFactor=1, mobile=False)

    def call(self, method: str, **params):
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.recv(timeout=30))
            if reply.get("id") == self._id:
                assert "error" not in reply, reply
                return reply["result"]

    def eval(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression,
                         returnByValue=True)["result"].get("value")

    def screenshot(self, w: int, h: int) -> tuple[bytes, np.ndarray]:
        import base64

        data = base64.b64decode(self.call(
            "Page.captureScreenshot", format="png",
            clip={"x": 0, "y": 0, "width": w, "height": h, "scale": 1})["data"])
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        return data, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        self.ws.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


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


# --- expressions on cue, the page's first frame and its scaling ---------------------------

def _post(url: str, headers: dict[str, str] | None = None, method: str = "POST") -> int:
    req = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        return urllib.request.urlopen(req, timeout=10).status
    except urllib.error.HTTPError as err:
        return err.code


@pytest.fixture
def cued(rig):
    got: list[str] = []
    with WebSink(rig, 0, on_cue=got.append, keys={"0": "neutral", "4": "happy_soft"}) as sink:
        yield sink, got


def test_post_cues_an_expression_from_a_tool_or_its_own_page_only(cued):
    sink, got = cued
    own = f"http://127.0.0.1:{sink.port}"
    assert _post(sink.url + "expression/happy_soft") == 204  # curl, a Stream Deck plugin
    assert _post(sink.url + "expression/speaking_ah", {"Origin": own}) == 204  # its page
    assert got == ["happy_soft", "speaking_ah"]
    # another web page the user has open (a cross-site form or fetch names its Origin), a
    # sandboxed or file page ("null"), a rebound host name: refused, nothing cued
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"},
                    {"Origin": "http://127.0.0.1:1"}, {"Host": "evil.example"}):
        assert _post(sink.url + "expression/speaking_ee", headers) == 403
    assert _post(sink.url + "expression/no_such_face") == 404
    assert _post(sink.url + "expression/happy_soft", method="GET") == 405  # POST only
    assert _post(sink.url + "rig.json") == 405
    assert got == ["happy_soft", "speaking_ah"] and sink.n_cues == 2


def test_a_cross_origin_page_in_chromium_cannot_cue(cued, tmp_path):
    """A real browser page from another origin (a second local server) tries the endpoint
    with fetch and a form: the browser names its origin and the server refuses both."""
    import http.server

    sink, got = cued
    target = f"{sink.url}expression/happy_soft"
    page = (f"<form id=f method=post action='{target}'></form><script>"
            f"fetch('{target}', {{method: 'POST', mode: 'no-cors'}})"
            f".then(() => {{document.title = 'sent'}}, () => {{document.title = 'sent'}});"
            f"</script>").encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    import threading

    threading.Thread(target=server.serve_forever, daemon=True).start()
    browser = Chromium(f"http://127.0.0.1:{server.server_address[1]}/", tmp_path / "profile")
    try:
        wait_for(lambda: browser.eval("document.title") == "sent", 30, "the page's fetch")
        browser.eval("document.getElementById('f').submit()")
        wait_for(lambda: "forbidden" in (browser.eval("document.body.innerText") or ""), 30,
                 "the form's answer")
    finally:
        browser.close()
        server.shutdown()
    assert got == [] and sink.n_cues == 0


def test_websocket_control_messages_cue_and_bad_ones_are_answered(cued):
    sink, got = cued
    with connect(f"ws://127.0.0.1:{sink.port}/ws", origin=f"http://127.0.0.1:{sink.port}") as ws:
        ws.send(json.dumps({"expression": "happy_soft"}))
        wait_for(lambda: got == ["happy_soft"], 10, "the cue")
        for bad in (json.dumps({"expression": "nope"}), "not json", json.dumps([1])):
            ws.send(bad)
            assert "error" in json.loads(ws.recv(timeout=10))
    assert got == ["happy_soft"]


def _screenshot_at_load(url: str, size: tuple[int, int], profile: Path) -> np.ndarray:
    """What ``chromium --headless --screenshot`` sees: the page once its load event fired."""
    out = profile.parent / "shot.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                    "--hide-scrollbars", "--force-device-scale-factor=1",
                    f"--window-size={size[0]},{size[1]}", f"--screenshot={out}", url],
                   check=True, capture_output=True, timeout=120)
    return cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize("name, window", [("toon", (1280, 720)), ("astronaut", (360, 640))])
def test_a_headless_screenshot_shows_the_character_fitted_and_centred(tmp_path, name, window):
    """The screenshot a headless browser takes at the load event shows the character (not
    "loading..."), scaled to fit the window with its aspect kept, centred, on the
    greenscreen the page was asked for."""
    from keypoints.assets import assets_dir

    rig = load_rig(assets_dir() / "characters" / name)
    green = (0, 255, 0)
    with WebSink(rig, 0) as sink:
        shot = _screenshot_at_load(sink.url + "?background=00ff00", window,
                                   tmp_path / "profile")
    w, h = rig.image_size
    scale = min(window[0] / w, window[1] / h)
    fw, fh = round(w * scale), round(h * scale)
    x0, y0 = (window[0] - fw) // 2, (window[1] - fh) // 2
    rest = FrameChoice("center", "neutral", rig.endpoint("neutral", "center"), 0.0,
                       np.zeros(3))
    expected = np.zeros((window[1], window[0], 3), np.uint8)
    expected[:] = green
    expected[y0:y0 + fh, x0:x0 + fw] = cv2.resize(
        FrameCompositor(rig, w, green).compose(rest), (fw, fh), interpolation=cv2.INTER_AREA)
    diff = np.abs(shot.astype(int) - expected.astype(int)).max(axis=2)
    cv2.imwrite(str(tmp_path / "diff.png"), np.minimum(diff * 4, 255).astype(np.uint8))
    assert shot.shape == expected.shape
    assert np.median(diff) <= 2 and np.mean(diff > 40) < 0.02, (np.median(diff),
                                                                np.mean(diff > 40))
    # and it is the character: far from a plain greenscreen
    assert np.mean(np.all(shot == green, axis=2)) < np.mean(np.all(expected == green, axis=2)) \
        + 0.02


def test_the_pages_keys_cue_expressions_in_chromium(cued, rig, tmp_path):
    sink, got = cued
    w, h = rig.image_size
    browser = Chromium(sink.url, tmp_path / "profile", size=(w, h))
    try:
        wait_for(lambda: browser.eval("document.body.dataset.ready") == "1", 60,
                 "the page to preload the rig")
        wait_for(lambda: browser.eval("socket !== null && socket.readyState === 1"), 30,
                 "the page's WebSocket to open")
        for key in ("4", "9", "0"):  # 9 is no key of this rig
            browser.call("Input.dispatchKeyEvent", type="keyDown", key=key, text=key)
            browser.call("Input.dispatchKeyEvent", type="keyUp", key=key)
        wait_for(lambda: got == ["happy_soft", "neutral"], 30, "the keys' cues")
    finally:
        browser.close()
