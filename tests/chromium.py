"""Real headless Chromium for the page's tests: driven over the DevTools protocol, or one
screenshot at the load event (what ``chromium --headless --screenshot`` sees)."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

import cv2
import numpy as np
from websockets.sync.client import connect

from tests.waiting import wait_for

CHROMIUM = "/usr/bin/chromium"


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


def screenshot_at_load(url: str, size: tuple[int, int], profile: Path) -> np.ndarray:
    """What ``chromium --headless --screenshot`` sees: the page once its load event fired."""
    out = profile.parent / "shot.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                    "--hide-scrollbars", "--force-device-scale-factor=1",
                    f"--window-size={size[0]},{size[1]}", f"--screenshot={out}", url],
                   check=True, capture_output=True, timeout=120)
    return cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB)
