"""Live expression cues end to end: OSC in (decoded from what an independent OSC library,
python-osc, sends), a live session whose page's frames show the cued face within the tween,
and the window's keys on a real X display (Xvfb, keys typed by xdotool)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.udp_client import SimpleUDPClient
from websockets.sync.client import connect

from animator.core.errors import InputWarning
from animator.live.session import LiveOptions, run_live
from animator.rig import default_rig_dir, load_rig
from animator.sources.osc_input import OscCueInput, OscDecodeError, cue_of, decode_packet
from animator.stages.selection import SelectParams
from tests.waiting import wait_for

NAMES = list(load_rig(default_rig_dir()).config.expressions)


def _msg(address: str, *args) -> bytes:
    b = OscMessageBuilder(address=address)
    for a in args:
        b.add_arg(a)
    return b.build().dgram


def test_decodes_what_python_osc_sends():
    assert decode_packet(_msg("/avatar/expression", "happy_soft")) == [
        ("/avatar/expression", ["happy_soft"])]
    assert decode_packet(_msg("/x", 3, 1.5, True, b"\x01\x02\x03", "s")) == [
        ("/x", [3, 1.5, True, b"\x01\x02\x03", "s"])]
    bundle = OscBundleBuilder(IMMEDIATELY)
    bundle.add_content(OscMessageBuilder(address="/a").build())
    inner = OscBundleBuilder(IMMEDIATELY)
    inner.add_content(_message_obj("/avatar/expression/blink", 1.0))
    bundle.add_content(inner.build())
    assert decode_packet(bundle.build().dgram) == [("/a", []),
                                                   ("/avatar/expression/blink", [1.0])]
    for bad in (b"", b"nothing", b"/a\0\0,q\0\0", _msg("/a", "x")[:-4] + b"abc",
                b"#bundle\0" + b"\0" * 8 + b"\0\0\0\x05abcde"):
        with pytest.raises(OscDecodeError):
            decode_packet(bad)


def _message_obj(address: str, *args):
    b = OscMessageBuilder(address=address)
    for a in args:
        b.add_arg(a)
    return b.build()


def test_cue_addresses_for_string_senders_and_button_pads():
    assert cue_of("/avatar/expression", ["happy_soft"]) == "happy_soft"
    assert cue_of("/avatar/expression/happy_soft", []) == "happy_soft"
    assert cue_of("/avatar/expression/happy_soft", [1.0]) == "happy_soft"  # button pressed
    assert cue_of("/avatar/expression/happy_soft", [0.0]) is None  # ... released
    assert cue_of("/avatar/expression", []) is None
    assert cue_of("/avatar/expressions", ["x"]) is None
    assert cue_of("/avatar/expression/a/b", []) is None


def test_osc_input_cues_known_names_over_udp_and_reports_unknown_ones_once():
    got: list[str] = []
    with OscCueInput("127.0.0.1", 0, got.append, NAMES) as osc:
        client = SimpleUDPClient("127.0.0.1", osc.port)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            client.send_message("/avatar/expression", "happy_soft")
            client.send_message("/avatar/expression/speaking_ah", 1.0)
            client.send_message("/avatar/expression/speaking_ah", 0.0)  # release: nothing
            client.send_message("/avatar/expression", "grin")
            client.send_message("/avatar/expression", "grin")
            client._sock.sendto(b"garbage", ("127.0.0.1", osc.port))
            client.send_message("/avatar/expression", "neutral")
            wait_for(lambda: osc.n_packets == 7, 10, "every packet")
    assert got == ["happy_soft", "speaking_ah", "neutral"]
    assert osc.n_cues == 3 and osc.n_ignored == 4
    lines = [str(w.message) for w in caught if issubclass(w.category, InputWarning)]
    assert lines == [f"OSC /avatar/expression: unknown expression 'grin' (the rig has: "
                     f"{', '.join(sorted(NAMES))})"]


def _silence(path: Path, seconds: float) -> Path:
    sf.write(path, np.zeros(int(16000 * seconds), np.float32), 16000)
    return path


def test_live_osc_cue_shows_on_the_page_within_its_tween(tmp_path):
    """A live session fed silence: an OSC cue (python-osc) reaches the engine and the page's
    frames walk the tween to the cued face, which then holds."""
    stop = threading.Event()
    ready: dict[str, str] = {}
    done = threading.Event()
    opts = LiveOptions(audio=str(_silence(tmp_path / "quiet.wav", 30)), web_port=0,
                       osc_in=("127.0.0.1", 0), fps=30, seconds=25, idle_blinks=False)

    def run():
        try:
            run_live(opts, stop=stop, on_ready=ready.update)
        finally:
            done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: "web" in ready, 60, "the live session")
        port = int(re.search(r":(\d+) ", ready["osc-in"])[1])
        ws_url = ready["web"].replace("http://", "ws://") + "ws"
        with connect(ws_url, origin=ready["web"].rstrip("/")) as ws:
            for _ in range(15):  # half a second of the silent face first
                assert "happy_soft__" not in json.loads(ws.recv(timeout=10))["image"]
            SimpleUDPClient("127.0.0.1", port).send_message("/avatar/expression", "happy_soft")
            seen = []
            while not seen or not seen[-1]["image"].startswith("endpoints/happy_soft__"):
                seen.append(json.loads(ws.recv(timeout=10)))
                assert len(seen) < 300
            held = [json.loads(ws.recv(timeout=10)) for _ in range(10)]
    finally:
        stop.set()
        done.wait(30)
    # from the first frame that moves towards the face: the tween frames in order, then the
    # face, within the tween's frames (a frame or two may be dropped on a busy machine)
    start = next(k for k, m in enumerate(seen) if "neutral_to_happy_soft" in m["image"]
                 and m["expression"] == "neutral" and m["i"] > seen[0]["i"])
    moving = seen[start:-1]
    assert all("neutral_to_happy_soft" in m["image"] for m in moving)
    assert [m["image"][-7:] for m in moving] == sorted(m["image"][-7:] for m in moving)
    assert seen[-1]["i"] - seen[start]["i"] <= round(SelectParams().cue_tween_s * 30) - 1
    assert all(m["image"].startswith("endpoints/happy_soft__") for m in held)


def test_window_keys_cue_expressions_on_a_virtual_display(tmp_path):
    """A real OpenCV window on Xvfb; xdotool types 4 into it; the same process's page shows
    the 4th cue key's expression (happy_soft in the built-in rig)."""
    assert shutil.which("Xvfb"), "needs Debian's xvfb (the Makefile's apt step installs it)"
    assert shutil.which("xdotool"), "needs Debian's xdotool (the Makefile's apt step)"
    read_fd, write_fd = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "640x640x24",
                             "-nolisten", "tcp"], pass_fds=(write_fd,),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    proc = None
    try:
        with os.fdopen(read_fd) as ready:
            display = ":" + ready.readline().strip()
        env = {**os.environ, "DISPLAY": display}
        quiet = _silence(tmp_path / "quiet.wav", 40)
        proc = subprocess.Popen([sys.executable, "-m", "animator", "live", "--audio",
                                 str(quiet), "--window", "--web", "0", "--no-blink",
                                 "--seconds", "30"], env=env, stderr=subprocess.PIPE,
                                text=True)
        lines = []
        while not any(line.startswith("web: ") for line in lines):
            lines.append(proc.stderr.readline())
            assert lines[-1], "".join(lines)
        keys = next(line for line in lines if line.startswith("keys: "))
        assert "4 happy_soft" in keys
        url = next(line for line in lines if line.startswith("web: "))[5:].strip()
        with connect(url.replace("http://", "ws://") + "ws", origin=url.rstrip("/")) as ws:
            # (no window manager on Xvfb: focus the window directly, then type)
            subprocess.run(["xdotool", "search", "--sync", "--name", "animator live",
                            "windowfocus", "key", "4"], env=env, check=True, timeout=60,
                           capture_output=True)
            wait_for(lambda: json.loads(ws.recv(timeout=10))["image"]
                     == "endpoints/happy_soft__center.png", 30, "the cued face on the page")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        xvfb.terminate()
        xvfb.wait(timeout=10)


def test_live_options_for_cues_and_blinks_parse():
    from animator.cli import main as cli

    parser = cli.build_parser()
    args = parser.parse_args(["live", "--audio", "mic", "--osc-in", "9000",
                              "--expression", "happy_soft", "--no-blink"])
    assert (args.osc_in, args.expression, args.blink) == (("127.0.0.1", 9000), "happy_soft",
                                                          False)
    args = parser.parse_args(["live", "--audio", "mic", "--osc-in", "0.0.0.0:9001"])
    assert (args.osc_in, args.expression, args.blink) == (("0.0.0.0", 9001), "neutral", True)
    res = subprocess.run([sys.executable, "-m", "animator", "live", "--audio", "mic",
                          "--osc-in", "nine"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "--osc-in" in res.stderr and "Traceback" not in res.stderr
    res = subprocess.run([sys.executable, "-m", "animator", "live", "--audio", "nothing.wav",
                          "--expression", "grin"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "--expression: unknown expression 'grin'" in res.stderr
