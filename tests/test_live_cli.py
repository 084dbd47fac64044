"""`animator live` / `animator devices` end to end, and the sinks' one-line errors."""

from __future__ import annotations

import glob
import re
import socket
import subprocess
import sys

import numpy as np
import pytest

from animator.cli import main as cli
from animator.core.errors import LiveError
from animator.core.types import Frame, FrameChoice, LiveFrame
from animator.live.session import LiveOptions, run_live
from animator.rig import default_rig_dir, load_rig
from animator.sinks.compose import FrameCompositor
from animator.sinks.vcam import VirtualCamSink
from animator.sinks.window import WindowSink
from keypoints.assets import assets_dir
from tests.cli import animator

DEMO = assets_dir() / "audio" / "demo_speech.ogg"

def test_live_from_a_file_to_web_and_vmc_then_exits_cleanly():
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(30)
    port = receiver.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "animator", "live", "--audio", str(DEMO),
                             "--web", "0", "--vmc", f"127.0.0.1:{port}", "--seconds", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        packets = [receiver.recv(65536) for _ in range(10)]
        out, err = proc.communicate(timeout=60)
    finally:
        receiver.close()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert all(p.startswith(b"#bundle\0") and b"/VMC/Ext/Bone/Pos" in p for p in packets)
    assert "web: http://127.0.0.1:" in err
    # the audio -> mouth latency and the delay to set in OBS, at start and at the end
    assert re.search(r"sync: audio -> mouth \d+ ms \(look-ahead 42.5 \+ audio block 7.5", err)
    assert re.search(r"live: sync: .*processing \d+\.\d .*delay the microphone by \d+ ms", err)
    # 2 s at 30 fps: every tick of the schedule was either shown or (on a busy machine)
    # skipped, as the run reports
    frames, skipped = summary_counts(err)
    assert frames + skipped == 60 and frames > 0, err


def summary_counts(stderr: str) -> tuple[int, int]:
    """(frames shown, ticks skipped) from live mode's summary line."""
    m = re.search(r"live: (\d+) frames, \d+ late, (\d+) skipped", stderr)
    assert m, stderr
    return int(m[1]), int(m[2])


def test_live_needs_an_input_and_a_camera_for_tracking():
    with pytest.raises(LiveError, match="needs an input"):
        run_live(LiveOptions())
    with pytest.raises(LiveError, match="needs --camera"):
        run_live(LiveOptions(audio=str(DEMO), head="tracked"))


def test_missing_audio_file_is_a_one_line_error():
    res = animator("live", "--audio", "/nonexistent.wav", "--seconds", "1")
    assert res.returncode == 2 and res.stderr.count("\n") == 1
    assert "/nonexistent.wav" in res.stderr


def test_bad_vmc_address_is_an_argument_error():
    res = animator("live", "--audio", "mic", "--vmc", "nowhere")
    assert res.returncode == 2 and "HOST:PORT" in res.stderr


def test_devices_lists_inputs_or_says_there_are_none():
    res = animator("devices")
    assert res.returncode == 0
    lines = (res.stdout + res.stderr).strip().splitlines()
    assert lines == ["no audio input devices found"] or all(
        "ch," in line for line in res.stdout.strip().splitlines())


def test_parser_lists_live_options():
    parser = cli.build_parser()
    args = parser.parse_args(["live", "--audio", "mic", "--camera", "0", "--head", "mix",
                              "--web", "8080", "--vmc", "127.0.0.1:39539", "--virtual-cam",
                              "--window", "--fps", "30"])
    assert (args.audio, args.camera, args.head, args.web, args.vmc) == \
        ("mic", "0", "mix", 8080, ("127.0.0.1", 39539))


def _frame() -> LiveFrame:
    choice = FrameChoice("center", "neutral", "endpoints/neutral__center.png", 0.0,
                         np.array([0.0, 0.0, 4.0]))
    return LiveFrame(Frame(0, 0.0, np.zeros(3), 0.0, np.array([0.0, 1.0]), choice),
                     0.0, None, None, 0.0)


def test_window_without_a_display_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    comp = FrameCompositor(load_rig(default_rig_dir()), 128)
    with pytest.raises(LiveError, match="needs a display"):
        WindowSink(comp)


def test_virtual_cam_sends_composed_frames_and_explains_a_missing_device():
    comp = FrameCompositor(load_rig(default_rig_dir()), 128)
    sent = []

    class Cam:
        def __init__(self, w, h, fps, device):
            self.size = (w, h)

        def send(self, rgb):
            sent.append(rgb)

        def close(self):
            sent.append("closed")

    with VirtualCamSink(comp, 30, camera_factory=Cam) as sink:
        sink.send(_frame())
    assert np.array_equal(sent[0], comp.compose(_frame().frame.choice)) and sent[1] == "closed"
    if not glob.glob("/dev/video*"):  # this machine and CI: no loopback device
        with pytest.raises(LiveError, match="v4l2loopback"):
            VirtualCamSink(comp, 30)


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_ctrl_c_and_sigterm_end_live_cleanly_and_release_the_port(signum):
    import signal
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-m", "animator", "live", "--audio", str(DEMO),
                             "--loop", "--web", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = None
        for line in proc.stderr:
            if line.startswith("web: "):
                url = line.split()[1]
            if line.startswith("live: running"):
                break
        assert url and b"<canvas" in urllib.request.urlopen(url, timeout=10).read()
        proc.send_signal(getattr(signal, signum))
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "frames" in err and "Traceback" not in err
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=5)


def test_window_on_a_virtual_display(tmp_path):
    """A real OpenCV window on Xvfb (Debian's xvfb, installed by the Makefile): the window
    sink shows every frame and the run ends cleanly."""
    import os
    import shutil

    assert shutil.which("Xvfb"), "needs Debian's xvfb (the Makefile's apt step installs it)"
    # -displayfd: Xvfb picks a free display and writes its number once it accepts clients
    read_fd, write_fd = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "640x640x24",
                             "-nolisten", "tcp"], pass_fds=(write_fd,),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as ready:
            display = ":" + ready.readline().strip()
        assert display != ":", "Xvfb did not start"
        env = {**os.environ, "DISPLAY": display}
        res = subprocess.run([sys.executable, "-m", "animator", "live", "--audio", str(DEMO),
                              "--window", "--seconds", "3"], capture_output=True, text=True,
                             env=env, timeout=60)
    finally:
        xvfb.terminate()
        xvfb.wait(timeout=10)
    assert res.returncode == 0, res.stderr
    frames, skipped = summary_counts(res.stderr)
    assert frames + skipped == 90  # 3 s at 30 fps
    window = re.search(r"'window': \{'handled': (\d+), 'dropped': (\d+)\}", res.stderr)
    assert window, res.stderr
    handled, dropped = int(window[1]), int(window[2])
    # every frame reached the window: shown, or replaced by a newer one while it drew
    assert handled > 0 and handled + dropped == frames
