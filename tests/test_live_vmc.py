"""VMC/OSC out: a real UDP receiver on 127.0.0.1 decodes what the sink sends (with the tests'
own OSC parser, tests/osc_reader.py)."""

from __future__ import annotations

import math
import socket

import numpy as np
import pytest

from animator.core.types import EyeState, Frame, FrameChoice, LiveFrame
from animator.sinks import osc
from animator.sinks.vmc import VmcSink, parse_host_port, vmc_bundle, vmc_messages, vowel_weights
from tests.osc_reader import parse_osc


def frame(angles, mouth, t=1.5, eyes=(0.0, 0.0)) -> LiveFrame:
    choice = FrameChoice("center", "neutral", "endpoints/neutral__center.png", 0.0, np.zeros(3))
    state = EyeState(np.array(eyes, float), min(eyes) > 0.5)
    f = Frame(45, t, np.array(angles, float), 1.0, np.array(mouth, float), choice, state)
    return LiveFrame(f, t, None, None, t)


@pytest.fixture
def receiver():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    yield sock
    sock.close()


def test_receiver_gets_head_bone_and_vowel_blendshapes(receiver):
    port = receiver.getsockname()[1]
    with VmcSink("127.0.0.1", port) as sink:
        sink.send(frame((10.0, 0.0, 0.0), (0.55, 0.95)))  # nod up, mouth "ah"
        msgs = parse_osc(receiver.recv(65536))
        sink.send(frame((0.0, 20.0, -6.0), (0.0, 1.0)))  # turn left, tilt right, mouth shut
        msgs2 = parse_osc(receiver.recv(65536))
    addresses = [m[0] for m in msgs]
    assert addresses == ["/VMC/Ext/OK", "/VMC/Ext/T", "/VMC/Ext/Root/Pos",
                         "/VMC/Ext/Bone/Pos"] + ["/VMC/Ext/Blend/Val"] * 8 + \
        ["/VMC/Ext/Blend/Apply"]
    by = {(m[0], m[2][0] if m[2] and isinstance(m[2][0], str) else None): m for m in msgs}
    assert by[("/VMC/Ext/OK", None)][1:] == (",i", [1])
    assert by[("/VMC/Ext/T", None)][1] == ",f" and by[("/VMC/Ext/T", None)][2][0] == 1.5
    # the root stays put (VMC: name "root", position, rotation quaternion): the identity
    assert by[("/VMC/Ext/Root/Pos", "root")][1:] == (",sfffffff",
                                                      ["root", 0, 0, 0, 0, 0, 0, 1.0])
    _, tags, args = by[("/VMC/Ext/Bone/Pos", "Head")]
    assert tags == ",sfffffff"
    q = np.array(args[4:])
    assert abs(np.linalg.norm(q) - 1) < 1e-6
    # chin up 10 deg = -10 deg about Unity's x axis
    assert np.allclose(q, [math.sin(math.radians(-5)), 0, 0, math.cos(math.radians(5))],
                       atol=1e-6)
    blends = {m[2][0]: m[2][1] for m in msgs if m[0] == "/VMC/Ext/Blend/Val"}
    assert list(blends) == ["A", "I", "U", "E", "O", "Blink", "Blink_L", "Blink_R"]
    assert blends["Blink"] == blends["Blink_L"] == blends["Blink_R"] == 0.0  # eyes open
    assert all(m[1] == ",sf" for m in msgs if m[0] == "/VMC/Ext/Blend/Val")
    assert blends["A"] > 0.8 and max(v for k, v in blends.items() if k != "A") < 0.15
    assert [m for m in msgs if m[0] == "/VMC/Ext/Blend/Apply"][0][1] == ","

    _, _, args2 = [m for m in msgs2 if m[0] == "/VMC/Ext/Bone/Pos"][0]
    q2 = np.array(args2[4:])
    # y = -20 (turn to the avatar's left), then z = -6: rotating the forward axis +z
    fwd = _rotate(q2, np.array([0.0, 0.0, 1.0]))
    up = _rotate(q2, np.array([0.0, 1.0, 0.0]))
    assert fwd[0] < -0.3  # faces towards -x, the avatar's left
    assert up[0] > 0.05  # top of the head towards +x, the avatar's right shoulder
    blends2 = [m[2][1] for m in msgs2 if m[0] == "/VMC/Ext/Blend/Val"][:5]
    assert max(blends2) < 0.05  # closed mouth: no vowel


def test_blink_blendshapes_carry_each_eyes_closure(receiver):
    """Both eyes shut: Blink 1; the left one half shut: Blink_L carries it alone; a receiver
    adding Blink and Blink_X gets each eye's closure."""
    port = receiver.getsockname()[1]
    got = []
    with VmcSink("127.0.0.1", port) as sink:
        for eyes in ((1.0, 1.0), (0.5, 0.0), (1.0, 0.75)):
            sink.send(frame((0, 0, 0), (0, 1), eyes=eyes))
            msgs = parse_osc(receiver.recv(65536))
            got.append({m[2][0]: m[2][1] for m in msgs if m[0] == "/VMC/Ext/Blend/Val"})
    assert (got[0]["Blink"], got[0]["Blink_L"], got[0]["Blink_R"]) == (1.0, 0.0, 0.0)
    assert (got[1]["Blink"], got[1]["Blink_L"], got[1]["Blink_R"]) == (0.0, 0.5, 0.0)
    assert got[2]["Blink"] == 0.75 and got[2]["Blink"] + got[2]["Blink_L"] == 1.0
    assert got[2]["Blink_R"] == 0.0


def _rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    x, y, z, w = q
    u = np.array([x, y, z])
    return 2 * np.dot(u, v) * u + (w * w - np.dot(u, u)) * v + 2 * w * np.cross(u, v)


def test_vowel_weights_pick_the_nearest_vowel():
    for k, shape in enumerate([(0.55, 0.95), (0.15, 1.2), (0.15, 0.72), (0.3, 1.12),
                               (0.4, 0.75)]):
        w = vowel_weights(np.array(shape))
        assert int(np.argmax(w)) == k and w.sum() <= 1 + 1e-9 and np.all(w >= 0)


def test_the_bundle_with_its_fixed_parts_encoded_once_is_the_messages_bundled():
    """vmc_bundle encodes what never changes once (~2x less CPU a frame): the same bytes as
    bundling each message encoded on its own."""
    rng = np.random.default_rng(3)
    for i in range(500):
        eyes = EyeState(rng.uniform(0, 1, 2), bool(i % 3 == 0))
        args = (rng.normal(0, 10, 3), rng.uniform(-0.2, 1.5, 2), float(rng.uniform(0, 1e4)),
                eyes)
        assert vmc_bundle(*args) == osc.bundle(vmc_messages(*args))
    assert vmc_bundle([0, 0, 0], np.array([0.0, 1.0]), 2) == \
        osc.bundle(vmc_messages([0, 0, 0], np.array([0.0, 1.0]), 2))


def test_host_port_parsing():
    assert parse_host_port("127.0.0.1:39539") == ("127.0.0.1", 39539)
    for bad in ("127.0.0.1", "host:", ":39539", "h:99999", "h:x"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            parse_host_port(bad)


def test_sending_with_nobody_listening_does_not_fail(receiver):
    port = receiver.getsockname()[1]
    receiver.close()
    with VmcSink("127.0.0.1", port) as sink:
        for _ in range(3):
            sink.send(frame((0, 0, 0), (0, 1)))


def test_an_independent_osc_reader_parses_every_message_of_a_frame(receiver):
    """python-osc (a separate implementation of OSC 1.0) reads the bundle: root, head bone and
    blendshapes with their types and values."""
    from pythonosc.osc_bundle import OscBundle

    port = receiver.getsockname()[1]
    with VmcSink("127.0.0.1", port) as sink:
        sink.send(frame((0.0, 0.0, 8.0), (0.0, 1.0), eyes=(1.0, 1.0)))
        data = receiver.recv(65536)
    assert OscBundle.dgram_is_bundle(data)
    msgs = [m for m in OscBundle(data)]
    got = {(m.address, m.params[0] if m.params and isinstance(m.params[0], str) else None):
           m.params for m in msgs}
    assert got[("/VMC/Ext/Root/Pos", "root")] == ["root", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    head = got[("/VMC/Ext/Bone/Pos", "Head")]
    assert head[3] == 0.0 and head[6] == pytest.approx(math.sin(math.radians(4)), abs=1e-6)
    assert got[("/VMC/Ext/Blend/Val", "Blink")] == ["Blink", 1.0]
    assert msgs[-1].address == "/VMC/Ext/Blend/Apply"


def test_idle_blinks_reach_vmc_as_blink(receiver):
    """No face: the engine's idle blinks close the eyes now and then, and VMC carries them."""
    from animator.engine import Engine, EngineConfig
    from animator.rig import default_rig_dir, load_rig
    from keypoints.lips import REQUIRED_NAMES, LipFrame, rest_points

    engine = Engine(load_rig(default_rig_dir()), EngineConfig(fps=25))
    rest = rest_points(REQUIRED_NAMES)
    frames = engine.push([LipFrame(i / 25, rest, REQUIRED_NAMES) for i in range(25 * 20)])
    port = receiver.getsockname()[1]
    blinks = []
    with VmcSink("127.0.0.1", port) as sink:
        for f in frames:
            sink.send(LiveFrame(f, f.t_s, None, None, f.t_s))
            msgs = parse_osc(receiver.recv(65536))
            blinks.append([m[2][1] for m in msgs if m[2][:1] == ["Blink"]][0])
    shut = np.array(blinks) == 1.0
    assert shut.sum() >= 3 * 3  # 20 s of rest: several blinks of a few frames each
    assert np.array_equal(shut, [f.eyes.closed for f in frames])
    assert 0 < np.mean(np.array(blinks) > 0) < 0.2  # eyes open most of the time
