"""The page's expressions on cue (POST, WebSocket control messages, its keys in Chromium), its
first frame at the load event and its scaling: a headless screenshot shows the character."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from websockets.sync.client import connect

from animator.core.types import FrameChoice
from animator.rig import load_rig
from animator.sinks.compose import FrameCompositor
from animator.sinks.web import WebSink
from tests.chromium import Chromium, screenshot_at_load
from tests.waiting import wait_for
from tests.web_client import post


@pytest.fixture
def cued(rig):
    got: list[str] = []
    with WebSink(rig, 0, on_cue=got.append, keys={"0": "neutral", "4": "happy_soft"}) as sink:
        yield sink, got


def test_post_cues_an_expression_from_a_tool_or_its_own_page_only(cued):
    sink, got = cued
    own = f"http://127.0.0.1:{sink.port}"
    assert post(sink.url + "expression/happy_soft") == 204  # curl, a Stream Deck plugin
    assert post(sink.url + "expression/speaking_ah", {"Origin": own}) == 204  # its page
    assert got == ["happy_soft", "speaking_ah"]
    # another web page the user has open (a cross-site form or fetch names its Origin), a
    # sandboxed or file page ("null"), a rebound host name: refused, nothing cued
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"},
                    {"Origin": "http://127.0.0.1:1"}, {"Host": "evil.example"}):
        assert post(sink.url + "expression/speaking_ee", headers) == 403
    assert post(sink.url + "expression/no_such_face") == 404
    assert post(sink.url + "expression/happy_soft", method="GET") == 405  # POST only
    assert post(sink.url + "rig.json") == 405
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


@pytest.mark.parametrize("name, window", [("toon", (1280, 720)), ("astronaut", (360, 640))])
def test_a_headless_screenshot_shows_the_character_fitted_and_centred(tmp_path, name, window):
    """The screenshot a headless browser takes at the load event shows the character (not
    "loading..."), scaled to fit the window with its aspect kept, centred, on the
    greenscreen the page was asked for."""
    from keypoints.assets import assets_dir

    rig = load_rig(assets_dir() / "characters" / name)
    green = (0, 255, 0)
    with WebSink(rig, 0) as sink:
        shot = screenshot_at_load(sink.url + "?background=00ff00", window,
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
