"""What the page's tests send to the web sink: frames to show, HTTP requests with chosen
headers (status codes back, errors included)."""

from __future__ import annotations

import urllib.error
import urllib.request

import numpy as np

from animator.core.types import Frame, FrameChoice, LiveFrame


def live_frame(i: int, image: str, residual=(0.0, 0.0, 0.0), pose="center") -> LiveFrame:
    choice = FrameChoice(pose, "neutral", image, 0.0, np.array(residual, dtype=float))
    frame = Frame(i, i / 30, np.zeros(3), 0.0, np.array([0.0, 1.0]), choice)
    return LiveFrame(frame, 0.0, 1600 * i, None, 0.0)


def http_status(url: str, headers: dict[str, str]) -> int:
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers)).status
    except urllib.error.HTTPError as err:
        return err.code


def post(url: str, headers: dict[str, str] | None = None, method: str = "POST") -> int:
    req = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        return urllib.request.urlopen(req, timeout=10).status
    except urllib.error.HTTPError as err:
        return err.code
