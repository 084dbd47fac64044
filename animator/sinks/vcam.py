"""A virtual camera (pyvirtualcam: v4l2loopback on Linux, OBS Virtual Camera elsewhere)
showing the avatar, for video-call and streaming apps.

pyvirtualcam is imported only when this sink is used; a missing package or a missing
loopback device is a one-line error that says what to do.
"""

from __future__ import annotations

from animator.core.errors import LiveError
from animator.core.types import LiveFrame
from animator.sinks.compose import FrameCompositor

NO_DEVICE_HINT = ("no virtual camera device: on Linux load v4l2loopback "
                  "('apt-get install v4l2loopback-dkms' then "
                  "'modprobe v4l2loopback exclusive_caps=1'); elsewhere install OBS Studio")


class VirtualCamSink:
    name = "virtual-cam"

    def __init__(self, compositor: FrameCompositor, fps: float, device: str | None = None,
                 camera_factory=None) -> None:
        """camera_factory(width, height, fps, device) -> an object with ``send(rgb)`` and
        ``close()``; default: ``pyvirtualcam.Camera`` (in RGB)."""
        self._compositor = compositor
        w, h = compositor.size
        if camera_factory is None:
            camera_factory = _pyvirtualcam_camera
        try:
            self._cam = camera_factory(w, h, fps, device)
        except LiveError:
            raise
        except Exception as exc:  # pyvirtualcam raises RuntimeError for a missing device
            raise LiveError(f"{NO_DEVICE_HINT} ({' '.join(str(exc).split())})") from None

    def send(self, live: LiveFrame) -> None:
        self._cam.send(self._compositor.compose(live.frame.choice))

    def close(self) -> None:
        cam, self._cam = self._cam, None
        if cam is not None:
            cam.close()

    def __enter__(self) -> VirtualCamSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _pyvirtualcam_camera(width: int, height: int, fps: float, device: str | None):
    try:
        import pyvirtualcam
    except ImportError:
        raise LiveError("--virtual-cam needs pyvirtualcam: pip install pyvirtualcam") from None
    return pyvirtualcam.Camera(width, height, fps, fmt=pyvirtualcam.PixelFormat.RGB,
                               device=device)
