"""A rig image with alpha over the background colour: the fast path (opaque pixels copied,
clear ones the colour, only the partly clear blended) gives the blend formula's bytes."""

from __future__ import annotations

import numpy as np
from PIL import Image

from animator.rig.images import read_rgb_over


def test_rgba_over_the_background_is_the_integer_blend_byte_for_byte(tmp_path):
    rng = np.random.default_rng(3)
    for k, levels in enumerate(([0, 255], [0, 1, 17, 128, 200, 254, 255], [255], [0])):
        rgba = rng.integers(0, 256, (37, 53, 4), np.uint8)
        rgba[..., 3] = rng.choice(levels, size=(37, 53))
        path = tmp_path / f"im{k}.png"
        Image.fromarray(rgba, "RGBA").save(path)
        bg = tuple(int(x) for x in rng.integers(0, 256, 3))
        a = rgba[:, :, 3:4].astype(np.uint16)
        want = ((rgba[:, :, :3] * a + np.array(bg, np.uint16) * (255 - a) + 127) // 255)
        got = read_rgb_over(path, bg)
        assert got.dtype == np.uint8 and got.shape == (37, 53, 3)
        assert np.array_equal(got, want.astype(np.uint8)), levels


def test_palette_images_over_the_background_are_the_converted_blend_byte_for_byte(tmp_path):
    """A palette image is blended per palette entry and looked up: the bytes of converting
    and blending every pixel, with transparency per entry, one clear entry, or none, and
    images narrower than the palette."""
    from animator.rig.images import _over, _pixels

    rng = np.random.default_rng(5)
    for k, (size, transparency) in enumerate((((53, 37), "bytes"), ((300, 20), "index"),
                                              ((7, 9), None), ((256, 3), "bytes"))):
        n_colours = int(rng.integers(2, 257))
        img = Image.fromarray(rng.integers(0, n_colours, size[::-1], np.uint8), "P")
        img.putpalette(rng.integers(0, 256, 3 * n_colours, np.uint8).tobytes())
        if transparency == "bytes":
            img.info["transparency"] = bytes(rng.choice([0, 1, 90, 254, 255], n_colours))
        elif transparency == "index":
            img.info["transparency"] = int(rng.integers(0, n_colours))
        path = tmp_path / f"p{k}.png"
        img.save(path)
        bg = tuple(int(x) for x in rng.integers(0, 256, 3))
        with Image.open(path) as back:
            assert back.mode == "P"
            raw = _pixels(back)
        want = _over(np.ascontiguousarray(raw), bg) if raw.shape[2] == 4 else raw
        got = read_rgb_over(path, bg)
        assert got.shape == size[::-1] + (3,) and got.dtype == np.uint8
        assert np.array_equal(got, want), (size, transparency)
