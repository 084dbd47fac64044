"""Mouth-chart rigs: the folder contract (mouths/<shape>, the 'mouth_chart' placement), its
validation (names and paths stay inside the rig), the selection and compositing of the
frame's shape live and offline, and `rig build --mouth-chart` on a real portrait."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from animator.engine import Engine, EngineConfig
from animator.rig import CHART_SHAPES, RigError, load_rig, mouth_relpath
from animator.sinks.compose import FrameCompositor
from keypoints.assets import assets_dir
from keypoints.lips import LipFrame
from tests.conftest import portrait_path

DEMO = assets_dir() / "audio" / "demo_speech.ogg"
#: a distinct colour per shape (BGR for cv2.imwrite, read back as RGB)
COLOURS = {s: ((37 * i + 40) % 256, (91 * i + 20) % 256, (53 * i + 200) % 256)
           for i, s in enumerate(CHART_SHAPES)}


def make_chart(root: Path, shapes=CHART_SHAPES, mouth_size=(40, 20)) -> Path:
    """A one-pose chart (grey base 160x160, a blink) with solid mouths centred at (80, 110)."""
    (root / "endpoints").mkdir(parents=True)
    (root / "mouths").mkdir()
    cfg = {"poses": ["center", "tilt_left_small"],
           "expressions": {"neutral": {"mouth": "neutral", "eyes": "neutral", "brows": "n"},
                           "blink": {"mouth": "neutral", "eyes": "blink_closed",
                                     "brows": "n"}},
           "base_paths": [],
           "mouth_chart": {"x": 80, "y": 110, "poses": {"tilt_left_small": {"angle": 8}}}}
    (root / "expressions.json").write_text(json.dumps(cfg))
    for e, v in (("neutral", 120), ("blink", 90)):
        for p in cfg["poses"]:
            cv2.imwrite(str(root / f"endpoints/{e}__{p}.png"), np.full((160, 160, 3), v,
                                                                        np.uint8))
    for s in shapes:
        img = np.zeros((mouth_size[1], mouth_size[0], 4), np.uint8)
        img[..., :3] = COLOURS[s][::-1]
        img[..., 3] = 255
        cv2.imwrite(str(root / mouth_relpath(s)), img)
    return root


def test_chart_contract_and_fallbacks(tmp_path):
    rig = load_rig(make_chart(tmp_path / "r", shapes=("A", "B", "C", "D", "E", "F")))
    assert rig.mouths["G"] == "mouths/A.png" and rig.mouths["H"] == "mouths/C.png"
    assert rig.mouths["X"] == "mouths/A.png"  # Rhubarb's basic shape for a missing one
    assert rig.config.mouth_chart["tilt_left_small"].angle_deg == 8
    assert rig.config.mouth_chart["tilt_left_small"].x == 80  # inherited
    assert all(rig.root / rel in rig.files() for rel in rig.mouths.values())


@pytest.mark.parametrize("breakage,message", [
    ("missing", "missing"), ("outside", "outside the rig"), ("size", "one size"),
    ("placement", "numeric x and y"), ("pose", "unknown pose")])
def test_broken_charts_are_refused_with_one_line(tmp_path, breakage, message):
    root = make_chart(tmp_path / "r")
    if breakage == "missing":
        (root / "mouths/D.png").unlink()
    elif breakage == "outside":
        (root / "mouths/E.png").unlink()
        outside = tmp_path / "E.png"
        cv2.imwrite(str(outside), np.zeros((20, 40, 3), np.uint8))
        os.symlink(outside, root / "mouths/E.png")
    elif breakage == "size":
        cv2.imwrite(str(root / "mouths/F.png"), np.zeros((21, 40, 3), np.uint8))
    else:
        cfg = json.loads((root / "expressions.json").read_text())
        cfg["mouth_chart"] = ({"x": "left", "y": 3} if breakage == "placement"
                              else {"x": 1, "y": 2, "poses": {"nope": {"x": 3}}})
        (root / "expressions.json").write_text(json.dumps(cfg))
    with pytest.raises(RigError, match=message) as err:
        load_rig(root)
    assert "\n" not in str(err.value)


def test_the_frames_shape_is_drawn_at_the_mouth_and_blinks_keep_it(tmp_path):
    rig = load_rig(make_chart(tmp_path / "r"))
    engine = Engine(rig, EngineConfig(fps=25, motion_gain=0.0))
    comp = FrameCompositor(rig, 160)
    names = ("upper_lip", "lower_lip", "left_corner", "right_corner")
    pts = np.array([[0, 0.3, 0], [0, -0.3, 0], [0.5, 0, 0], [-0.5, 0, 0]], np.float32)
    frames = []
    for k, shape in enumerate("XXDDDDGGGGHHFFAA"):  # opening lips: speaking
        frames += engine.push([LipFrame(k * 0.04, pts * (1 + 0.05 * k), names, None,
                                        shape)])
    assert [f.viseme for f in frames] == list("XXDDDDGGGGHHFFAA")[:len(frames)]
    for f in frames:
        out = comp.compose(f.choice)
        assert f.choice.overlay == rig.mouths[f.viseme]
        assert out[110, 80].tolist() == list(COLOURS[f.viseme])  # the mouth, at (80, 110)
        assert out[20, 20].tolist() in ([120] * 3, [90] * 3)  # the base face around it
    closed = engine._selector.step(np.zeros(3), np.array([0.0, 1.0]), True, shape="B")
    assert closed.image.startswith("endpoints/blink__") and closed.overlay == "mouths/B.png"


def test_render_with_a_chart_rig_and_its_safety(tmp_path):
    root = make_chart(tmp_path / "r")
    out = tmp_path / "v.mp4"
    r = subprocess.run([sys.executable, "-m", "animator", "render", DEMO, "--rig", root,
                        "-o", out, "--timeline", tmp_path / "t.json", "--width", "160", "-q"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    frames = json.loads((tmp_path / "t.json").read_text())["frames"]
    with av.open(str(out)) as c:
        video = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(video) == len(frames)
    hits = sum(np.abs(v[110, 80].astype(int) - COLOURS[f["viseme"]]).max() < 40
               for v, f in zip(video, frames, strict=True) if f["pose"] == "center")
    assert hits >= 0.9 * sum(f["pose"] == "center" for f in frames)
    # an output onto a mouth image is refused before any work
    r = subprocess.run([sys.executable, "-m", "animator", "render", DEMO, "--rig", root,
                        "--export", f"png={root / 'mouths'}"], capture_output=True, text=True)
    assert r.returncode == 2 and (root / "mouths/A.png").is_file()


def test_rig_build_makes_a_verified_mouth_chart_from_a_real_portrait(tmp_path):
    out = tmp_path / "chart"
    r = subprocess.run([sys.executable, "-m", "animator", "rig", "build",
                        portrait_path("s1"), out, "--mouth-chart", "--image-size", "256"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    rig = load_rig(out)
    assert set(rig.mouths) == set(CHART_SHAPES) and rig.mouths["G"] == rig.mouths["A"]
    check = json.loads((out / "check.json").read_text())
    opens = {m["shape"]: m["open"] for m in check["mouth_chart"]}
    assert opens["X"] < 0.12 and opens["A"] < 0.12 and opens["B"] < opens["C"] < opens["D"]
    comp = FrameCompositor(rig, 256)
    from animator.core.types import FrameChoice

    def face(shape: str) -> np.ndarray:
        return comp.compose(FrameChoice("center", "neutral", rig.endpoint("neutral", "center"),
                                        0.0, np.zeros(3), rig.mouths[shape])).astype(int)

    place = rig.config.mouth_chart["center"]
    x, y = round(place.x), round(place.y)
    box = (slice(y - 12, y + 12), slice(x - 20, x + 20))
    # an open mouth is dark inside where the closed one shows lips; the face is unchanged
    assert face("D")[box].mean() < face("X")[box].mean() - 15
    assert np.abs(face("D")[:40] - face("X")[:40]).max() == 0


def test_live_page_draws_the_charts_mouth_as_the_compositor_does(tmp_path):
    from animator.core.types import Frame, FrameChoice, LiveFrame
    from animator.sinks.web import WebSink
    from tests.chromium import Chromium
    from tests.waiting import wait_for

    rig = load_rig(make_chart(tmp_path / "r"))
    comp = FrameCompositor(rig, 160, (0, 0, 0))
    with WebSink(rig, 0) as sink:
        browser = Chromium(sink.url, tmp_path / "profile", size=(160, 160))
        try:
            wait_for(lambda: browser.eval("document.body.dataset.ready") == "1", 60,
                     "the page to preload the rig")
            wait_for(lambda: sink.n_clients >= 1, 30, "the page's WebSocket")
            for i, (shape, pose) in enumerate((("D", "center"), ("F", "tilt_left_small")), 1):
                choice = FrameChoice(pose, "neutral", rig.endpoint("neutral", pose), 0.0,
                                     np.zeros(3), rig.mouths[shape])
                frame = Frame(i, i / 30, np.zeros(3), 1.0, np.array([0.3, 1.0]), choice,
                              viseme=shape)
                sink.send(LiveFrame(frame, 0.0, None, None, 0.0))
                wait_for(lambda i=i: browser.eval("document.body.dataset.frame") == str(i), 30,
                         f"the page to draw frame {i}")
                _, shot = browser.screenshot(160, 160)
                expected = comp.compose(choice)
                diff = np.abs(shot.astype(int) - expected.astype(int))
                assert shot[110, 80].tolist() == list(COLOURS[shape])
                assert diff.mean() < 2.0 and np.percentile(diff.max(axis=2), 99) < 60
        finally:
            browser.close()
