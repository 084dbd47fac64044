"""A desktop window showing the avatar (OpenCV HighGUI), guarded: without a display it is a
clear error, never the Qt abort of ``cv2.imshow``.

Composition runs in the sink's thread (``send``); the window itself is created, updated and
polled in the loop's thread (``poll``), as GUI toolkits require. Closing the window or
pressing Esc/q ends the loop; the keys given as ``keys`` ({key: expression}, 0-9 in live
mode) cue expressions through ``on_cue``.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable

import cv2
import numpy as np

from animator.core.errors import LiveError
from animator.core.types import LiveFrame
from animator.sinks.compose import FrameCompositor

TITLE = "animator live"


def display_available() -> bool:
    """True when a GUI window can be opened (always on Windows/macOS; X11 or Wayland here)."""
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class WindowSink:
    name = "window"

    def __init__(self, compositor: FrameCompositor, title: str = TITLE,
                 on_cue: Callable[[str], None] | None = None,
                 keys: dict[str, str] | None = None) -> None:
        if not display_available():
            raise LiveError("--window needs a display (DISPLAY/WAYLAND_DISPLAY is not set); "
                            "use --web PORT and open the page in a browser instead")
        self._compositor = compositor
        self._title = title
        self._lock = threading.Lock()
        self._image: np.ndarray | None = None  # newest composed BGR image not yet shown
        self._opened = False
        self._on_cue = on_cue
        self._keys = {ord(k): name for k, name in (keys or {}).items() if len(k) == 1}
        self.n_cues = 0

    def send(self, live: LiveFrame) -> None:
        bgr = cv2.cvtColor(self._compositor.compose(live.frame.choice), cv2.COLOR_RGB2BGR)
        with self._lock:
            self._image = bgr

    def poll(self) -> bool:
        """Show the newest image and handle events; False when the user closed the window."""
        with self._lock:
            image, self._image = self._image, None
        if image is not None:
            if not self._opened:
                cv2.namedWindow(self._title, cv2.WINDOW_AUTOSIZE)
                self._opened = True
            cv2.imshow(self._title, image)
        if not self._opened:
            return True
        key = cv2.waitKey(1) & 0xFF
        if key in (27, ord("q")):
            return False
        if key in self._keys and self._on_cue is not None:
            self._on_cue(self._keys[key])
            self.n_cues += 1
        return cv2.getWindowProperty(self._title, cv2.WND_PROP_VISIBLE) >= 1

    def close(self) -> None:
        if self._opened:
            cv2.destroyWindow(self._title)
            cv2.waitKey(1)
            self._opened = False

    def __enter__(self) -> WindowSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
