"""Rig image formats (PNG, WebP, JPEG headers and files), the head layer in the rig contract,
and the compositor moving only the head: pixels outside the matte stay the plate's."""

from __future__ import annotations

import io
import json
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from animator.authoring.imagefile import encode_image, write_image
from animator.core.types import FrameChoice
from animator.rig import RigError, layer_relpaths, load_rig, rig_image_size
from animator.sinks.compose import FrameCompositor, compose_layered, residual_matrix
from animator.sinks.web import WebSink, rig_manifest

SIZE = (48, 40)  # width, height
POSES = ["center", "nod_up_small"]
CONFIG = {
    "image_format": "webp",
    "poses": POSES,
    "expressions": {"neutral": {"mouth": "neutral", "eyes": "neutral", "brows": "neutral"},
                    "speaking_ah": {"mouth": "ah", "eyes": "neutral", "brows": "neutral"}},
    "base_paths": [],
}


def noise(seed: int, alpha: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (SIZE[1], SIZE[0], 4), dtype=np.uint8)
    img[..., 3] = 255 if not alpha else rng.integers(0, 256, (SIZE[1], SIZE[0]))
    return img


def matte_of() -> np.ndarray:
    yy, xx = np.mgrid[0:SIZE[1], 0:SIZE[0]]
    r = np.hypot(xx - 24, yy - 14)
    return np.clip((12.0 - r) * 80, 0, 255).astype(np.uint8)  # a soft disc: the "head"


def make_rig(root: Path, layers: bool = True) -> Path:
    (root / "endpoints").mkdir(parents=True)
    (root / "expressions.json").write_text(json.dumps(CONFIG))
    for k, (e, p) in enumerate((e, p) for e in CONFIG["expressions"] for p in POSES):
        write_image(root / "endpoints" / f"{e}__{p}.webp", noise(k))
    if layers:
        for k, pose in enumerate(POSES):
            matte, plate = layer_relpaths(pose, ".webp")
            (root / "layers").mkdir(exist_ok=True)
            write_image(root / matte, matte_of()[..., None])
            write_image(root / plate, noise(100 + k))
    return root


@pytest.mark.parametrize("ext, alpha", [(".png", False), (".png", True), (".webp", False),
                                        (".webp", True), (".jpg", False)])
def test_formats_round_trip_and_headers_give_the_size(tmp_path, ext, alpha):
    img = noise(1, alpha)
    path = tmp_path / f"x{ext}"
    write_image(path, img)
    assert rig_image_size(path, ext) == SIZE
    back = np.asarray(Image.open(path).convert("RGBA"))
    if ext == ".png":
        assert np.array_equal(back, img)
    else:  # lossy colour, full colour (no palette); alpha kept exactly by WebP
        assert len(np.unique(back[..., :3].reshape(-1, 3), axis=0)) > 1000
        assert alpha is False or np.array_equal(back[..., 3], img[..., 3])


def test_lossless_webp_header_and_wrong_formats(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(noise(2)[..., :3]).save(buf, "WEBP", lossless=True)
    (tmp_path / "l.webp").write_bytes(buf.getvalue())
    assert rig_image_size(tmp_path / "l.webp", ".webp") == SIZE
    write_image(tmp_path / "p.png", noise(3))
    with pytest.raises(RigError, match="p.png: not a WebP image"):
        rig_image_size(tmp_path / "p.png", ".webp")
    (tmp_path / "junk.webp").write_bytes(b"RIFF\0\0\0\0WEBPVP8 junk")
    with pytest.raises(RigError, match="junk.webp"):
        rig_image_size(tmp_path / "junk.webp", ".webp")
    with pytest.raises(ValueError, match="transparency"):
        encode_image(noise(4, alpha=True), ".jpg")


def test_rig_in_webp_with_layers_loads(tmp_path):
    rig = load_rig(make_rig(tmp_path / "rig"))
    assert rig.image_size == SIZE and rig.config.image_ext == ".webp"
    assert rig.endpoint("speaking_ah", "center") == "endpoints/speaking_ah__center.webp"
    assert rig.layers["nod_up_small"] == ("layers/matte__nod_up_small.png",
                                          "layers/plate__nod_up_small.webp")
    assert rig_manifest(rig)["layers"]["center"] == list(rig.layers["center"])
    assert load_rig(make_rig(tmp_path / "old", layers=False)).layers == {}


@pytest.mark.parametrize("mutate, expect", [
    (lambda r: (r / "layers" / "plate__center.webp").unlink(), "plate__center.webp: missing"),
    (lambda r: (r / "endpoints" / "neutral__center.webp").write_bytes(b"\x89PNG\r\n\x1a\n"),
     "neutral__center.webp: not a WebP image"),
    (lambda r: (r / "expressions.json").write_text(json.dumps({**CONFIG,
                                                               "image_format": "gif"})),
     "'image_format' must be one of png, webp, jpg"),
])
def test_broken_format_or_layers_name_the_file(tmp_path, mutate, expect):
    root = make_rig(tmp_path / "rig")
    mutate(root)
    with pytest.raises(RigError) as info:
        load_rig(root)
    assert expect in str(info.value)


def test_only_the_head_moves_pixels_outside_the_matte_are_the_plate():
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:120, 0:160]
    image = np.dstack([1.5 * xx, 2 * yy, np.full_like(xx, 128)]).astype(np.uint8)  # smooth
    plate = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    matte = np.clip((25.0 - np.hypot(xx - 80, yy - 40)) / 3.0, 0.0, 1.0).astype(np.float32)
    reach = np.hypot(xx - 80, yy - 40) > 25.0 + 20.0  # beyond any residual's shift here
    for res in ((0.0, 0.0, 0.0), (0.0, 0.0, 6.0), (3.0, -4.0, -5.0), (-2.0, 2.0, 1.0)):
        m = residual_matrix(np.array(res), (160, 120))
        out = compose_layered(image, matte, plate, m)
        assert np.array_equal(out[reach], plate[reach]), res
        if m is not None:  # the head did move: its centre shows the moved image
            cx, cy = m @ np.array([80.0, 40.0, 1.0])
            assert np.abs(out[int(round(cy)), int(round(cx))].astype(int)
                          - image[40, 80].astype(int)).max() <= 3
    core = matte >= 1.0
    still = compose_layered(image, matte, plate, None)
    assert np.array_equal(still[core], image[core])


def test_over_a_render_pixels_outside_the_matte_change_only_at_pose_switches(tmp_path):
    rig = load_rig(make_rig(tmp_path / "rig"))
    comp = FrameCompositor(rig, SIZE[0], (0, 0, 0))
    matte = np.asarray(Image.open(tmp_path / "rig" / rig.layers["center"][0]))
    outside = matte == 0
    rng = np.random.default_rng(0)
    frames, poses = [], []
    for i in range(40):
        pose = POSES[(i // 10) % 2]
        expr = ("neutral", "speaking_ah")[i % 2]
        res = rng.uniform(-2.0, 2.0, 3)
        frames.append(comp.compose(FrameChoice(pose, expr, rig.endpoint(expr, pose), 0.0, res)))
        poses.append(pose)
    # the residual shifts the layer by up to ~1 px at this size: stay clear of the edge
    clear = outside & ~np.pad(~outside, 2, mode="edge")[4:, 4:][:SIZE[1], :SIZE[0]]
    clear &= np.roll(clear, 2, 0) & np.roll(clear, -2, 0) & np.roll(clear, 2, 1)
    clear &= np.roll(clear, -2, 1)
    assert clear.mean() > 0.3
    for a, b, pa, pb in zip(frames, frames[1:], poses, poses[1:], strict=False):
        if pa == pb:
            assert np.array_equal(a[clear], b[clear])
    assert any(not np.array_equal(a[clear], b[clear])
               for a, b, pa, pb in zip(frames, frames[1:], poses, poses[1:], strict=False)
               if pa != pb)


def test_web_serves_webp_and_layers(tmp_path):
    rig = load_rig(make_rig(tmp_path / "rig"))
    with WebSink(rig, 0) as sink:
        with urllib.request.urlopen(sink.url + "rig/endpoints/neutral__center.webp") as r:
            assert r.headers["Content-Type"] == "image/webp"
            assert r.read()[:4] == b"RIFF"
        with urllib.request.urlopen(sink.url + "rig/layers/matte__center.png") as r:
            assert r.headers["Content-Type"] == "image/png"
        manifest = json.loads(urllib.request.urlopen(sink.url + "rig.json").read())
        assert set(manifest["layers"]) == set(POSES)
