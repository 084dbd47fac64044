"""Frames composed straight into I420 (animator/sinks/compose_i420.py) against the RGB
compose converted to I420, the reference: the same pictures within a PSNR bound for a rig
without layers (the demo), a layered real-portrait rig, a mouth chart, odd widths and a
canvas; the frames a render encodes; and a render's decoded video against the RGB compose of
its own choices."""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from animator.core.types import FrameChoice
from animator.render import render
from animator.rig import CHART_SHAPES, default_rig_dir, load_rig, mouth_relpath
from animator.sinks.compose import Canvas, FrameCompositor
from animator.sinks.compose_i420 import I420Compositor, chroma_matrix, planes, to_i420
from keypoints.assets import assets_dir
from tests.compose_choices import ASTRONAUT, choices

DEMO = assets_dir() / "audio" / "demo_speech.ogg"


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0.0 else 10.0 * np.log10(255.0 ** 2 / mse)


def plane_psnr(a: np.ndarray, b: np.ndarray, size: tuple[int, int]) -> list[float]:
    return [psnr(pa, pb) for pa, pb in zip(planes(a, size), planes(b, size), strict=True)]


def assert_close(rig, width: int, picks, canvas=None, luma_db=50.0, chroma_db=40.0) -> None:
    ref = FrameCompositor(rig, width, canvas=canvas)
    new = I420Compositor(FrameCompositor(rig, width, canvas=canvas))
    for choice in picks:
        want, got = to_i420(ref.compose(choice)), new.compose(choice)
        assert got.shape == want.shape
        y, u, v = plane_psnr(want, got, ref.size)
        assert y > luma_db and min(u, v) > chroma_db, (choice, y, u, v)
        if not rig.layers and not np.any(choice.residual_deg):  # not moved: exactly
            assert np.array_equal(got, want)


@pytest.mark.parametrize("width", [512, 130, 98])
def test_the_demo_rig_in_i420_is_the_rgb_frame_converted(width):
    assert_close(load_rig(default_rig_dir()), width, choices(load_rig(default_rig_dir()), 12))


@pytest.mark.parametrize("width", [512, 202])
def test_a_layered_real_portrait_rig_in_i420_is_the_rgb_frame_converted(width):
    rig = load_rig(ASTRONAUT)
    assert rig.layers
    assert_close(rig, width, choices(rig, 10, seed=1))


def make_chart(root: Path) -> Path:
    """A two-pose mouth chart: a shaded 160 px base, solid mouths (soft-edged alpha)."""
    (root / "endpoints").mkdir(parents=True)
    (root / "mouths").mkdir()
    cfg = {"poses": ["center", "tilt_left_small"],
           "expressions": {"neutral": {"mouth": "neutral", "eyes": "neutral", "brows": "n"}},
           "base_paths": [],
           "mouth_chart": {"x": 80, "y": 110, "poses": {"tilt_left_small": {"angle": 8}}}}
    (root / "expressions.json").write_text(json.dumps(cfg))
    yy, xx = np.mgrid[0:160, 0:160]
    base = np.dstack([xx, yy, np.full_like(xx, 120)]).astype(np.uint8)
    for pose in cfg["poses"]:
        cv2.imwrite(str(root / f"endpoints/neutral__{pose}.png"), base)
    for i, shape in enumerate(CHART_SHAPES):
        img = np.zeros((20, 40, 4), np.uint8)
        img[..., :3] = ((37 * i + 40) % 256, (91 * i + 20) % 256, (53 * i + 200) % 256)
        img[2:-2, 2:-2, 3] = 255
        img[1:-1, 1:-1, 3] = np.maximum(img[1:-1, 1:-1, 3], 128)
        cv2.imwrite(str(root / mouth_relpath(shape)), img)
    return root


def test_a_mouth_chart_in_i420_is_the_rgb_frame_converted(tmp_path):
    rig = load_rig(make_chart(tmp_path / "chart"))
    picks = [FrameChoice(pose, "neutral", rig.endpoint("neutral", pose), 0.0,
                         np.array(res), rig.mouths[shape])
             for pose, res, shape in (("center", (0, 0, 0), "A"),
                                      ("tilt_left_small", (0, 0, 0), "D"),
                                      ("center", (1.0, -2.0, 3.0), "E"),
                                      ("tilt_left_small", (-2.0, 1.0, -4.0), "B"))]
    assert_close(rig, 160, picks)
    assert_close(rig, 90, picks, luma_db=45.0)


@pytest.mark.parametrize("placement,margin", [("bottom-right", 0), ("center", 0),
                                              ("top-left", 3), ("bottom-center", 10)])
def test_a_canvas_in_i420_at_even_and_odd_offsets(placement, margin):
    rig = load_rig(default_rig_dir())
    canvas = Canvas((318, 200), placement, margin)
    assert_close(rig, 130, choices(rig, 6, seed=2), canvas=canvas)


def test_the_chroma_map_moves_chroma_with_luma():
    """A small bright square moved by a residual map lands at the same place in luma and
    (at half the coordinates) in chroma."""
    m = np.array([[np.cos(0.1), -np.sin(0.1), 7.3], [np.sin(0.1), np.cos(0.1), -4.6]])
    mc = chroma_matrix(m)
    for x, y in ((10.0, 20.0), (100.5, 3.25)):
        luma = m @ np.array([2 * x + 0.5, 2 * y + 0.5, 1.0])
        assert np.allclose(mc @ np.array([x, y, 1.0]), (luma - 0.5) / 2)


def test_a_render_decodes_to_the_rgb_compose_of_its_choices(tmp_path):
    """The mp4 of a moving head against the RGB compose of the same choices: what the
    encoder was given is the RGB frame's picture within the encoder's own error."""
    out = tmp_path / "demo.mp4"
    result = render(DEMO, out, width_px=130, progress=False)
    comp = FrameCompositor(load_rig(default_rig_dir()), 130)
    moved = [i for i, f in enumerate(result.frames) if np.any(f.choice.residual_deg)]
    assert len(moved) > len(result.frames) / 2
    with av.open(str(out)) as container:
        decoded = [f.to_ndarray(format="yuv420p") for f in container.decode(video=0)]
    assert len(decoded) == result.n_frames
    for i in moved[::7]:
        y, u, v = plane_psnr(to_i420(comp.compose(result.frames[i].choice)), decoded[i],
                             comp.size)
        assert y > 38.0 and min(u, v) > 36.0, (i, y, u, v)
