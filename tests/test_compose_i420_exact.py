"""The I420 compositor's shortcuts give the bytes of the plain way: every plane warped on its
own over the box its pixels can reach, the boxes computed with numpy arrays (what it did
before U and V were moved in one 4-channel warp, a layered rig's head with its matte, and
the boxes in scalar arithmetic)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from animator.rig import default_rig_dir, load_rig
from animator.sinks.compose import FrameCompositor, _moved_box, residual_matrix
from animator.sinks.compose_i420 import (
    I420Compositor,
    _LayerPlanes,
    chroma_box,
    chroma_matrix,
    planes,
    reach,
)
from tests.compose_choices import ASTRONAUT, choices


def reach_by_arrays(box, m, size, edge_size):
    """:func:`reach` as small numpy arrays compute it (the reference)."""
    x0, y0, x1, y1 = box
    w, h = size
    inv = cv2.invertAffineTransform(m)
    back = np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float64) @ inv[:, :2].T + inv[:, 2]
    (lx, ly), (hx, hy) = np.floor(back.min(0)) - 1, np.ceil(back.max(0)) + 1
    ew, eh = edge_size
    x0, y0 = (min(lx, x0) if x0 <= 0 else x0), (min(ly, y0) if y0 <= 0 else y0)
    x1, y1 = (max(hx, x1) if x1 >= ew else x1), (max(hy, y1) if y1 >= eh else y1)
    corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]], np.float64)
    moved = corners @ m[:, :2].T + m[:, 2]
    lo = np.floor(moved.min(0)).astype(int) - 2
    hi = np.ceil(moved.max(0)).astype(int) + 2
    return max(0, lo[0]), max(0, lo[1]), min(w, hi[0]), min(h, hi[1])


def test_reach_in_scalars_is_the_array_reach():
    rng = np.random.default_rng(7)
    for _ in range(3000):
        side = int(rng.integers(8, 1100)) * 2
        size = (side, side + 2 * int(rng.integers(-3, 4)))
        m = residual_matrix(rng.uniform(-9, 9, 3), size)
        xs, ys = np.sort(rng.integers(0, size[0] + 1, 2)), np.sort(rng.integers(0, size[1] + 1, 2))
        box = (0 if rng.random() < 0.3 else int(xs[0]), int(ys[0]), int(xs[1]),
               size[1] if rng.random() < 0.3 else int(ys[1]))
        want = tuple(int(v) for v in reach_by_arrays(box, m, size, size))
        assert reach(box, m, size, size) == want, (box, m, size)


def moved_plane_by_plane(comp: I420Compositor, choice) -> np.ndarray:
    """The frame of a moved ``choice`` of a rig without layers, the plain way."""
    img = comp.image(choice)
    m = residual_matrix(choice.residual_deg, comp.char_size)
    out = np.empty((comp.size[1] * 3 // 2, comp.size[0]), np.uint8)
    for k, (dst, src, value) in enumerate(zip(planes(out, comp.size), img.planes,
                                              comp._bg_yuv, strict=True)):
        mk, box = (m, img.box) if k == 0 else (chroma_matrix(m), chroma_box(img.box))
        size = (dst.shape[1], dst.shape[0])
        x0, y0, x1, y1 = reach_by_arrays(box, mk, size, size)
        dst[:] = value
        local = mk.copy()
        local[:, 2] -= (x0, y0)
        dst[y0:y1, x0:x1] = cv2.warpAffine(src, local, (x1 - x0, y1 - y0),
                                           flags=cv2.INTER_LINEAR,
                                           borderMode=cv2.BORDER_REPLICATE)
    return out


@pytest.mark.parametrize("width", [512, 130, 98])
def test_a_moved_frame_is_each_plane_warped_alone_byte_for_byte(width):
    rig = load_rig(default_rig_dir())
    comp = I420Compositor(FrameCompositor(rig, width))
    moved = [c for c in choices(rig, 16, seed=4, max_deg=9.0) if np.any(c.residual_deg)]
    assert len(moved) == 15
    for choice in moved:
        assert np.array_equal(comp.compose(choice), moved_plane_by_plane(comp, choice))


def warped(src, m, box, border):
    x0, y0, x1, y1 = box
    local = m.copy()
    local[:, 2] -= (x0, y0)
    return cv2.warpAffine(src, local, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                          borderMode=border, borderValue=0)


def layered_plane_by_plane(comp: I420Compositor, choice) -> np.ndarray:
    """The frame of a moved ``choice`` of a layered rig, the plain way: each plane and the
    matte (at luma and chroma size) warped alone, then blended over the plate."""
    img, layer = comp.image(choice), comp.layer(choice.pose)
    m = residual_matrix(choice.residual_deg, comp.char_size)
    out = np.empty((comp.size[1] * 3 // 2, comp.size[0]), np.uint8)
    targets = planes(out, comp.size)
    for dst, plate in zip(targets, layer.plate.planes, strict=True):
        dst[:] = plate
    for k, mk in ((0, m), (1, chroma_matrix(m))):
        size = (targets[k].shape[1], targets[k].shape[0])
        x0, y0, x1, y1 = box = _moved_box(layer.boxes[k], mk, size)
        alpha = warped(layer.mattes[k], mk, box, cv2.BORDER_CONSTANT).astype(np.float32)
        for p in (0,) if k == 0 else (1, 2):
            cv2.blendLinear(warped(img.planes[p], mk, box, cv2.BORDER_REPLICATE),
                            np.ascontiguousarray(layer.plate.planes[p][y0:y1, x0:x1]),
                            alpha, 255.0 - alpha, dst=targets[p][y0:y1, x0:x1])
    return out


@pytest.mark.parametrize("width", [512, 202])
def test_a_moved_head_is_each_plane_and_matte_warped_alone_byte_for_byte(width):
    rig = load_rig(ASTRONAUT)
    comp = I420Compositor(FrameCompositor(rig, width))
    moved = [c for c in choices(rig, 12, seed=6, max_deg=9.0) if np.any(c.residual_deg)]
    for choice in moved:
        assert comp.layer(choice.pose).crops[0] is not None  # the packed head
        assert np.array_equal(comp.compose(choice), layered_plane_by_plane(comp, choice))
    assert all(comp.image(c).heads for c in moved)


def test_a_matte_on_the_image_edge_is_moved_apart_byte_for_byte():
    """A head matte reaching the image's edge (where the image's replicated border is not the
    matte's clear one) is warped apart from the image: the same bytes still."""
    rig = load_rig(ASTRONAUT)
    comp = I420Compositor(FrameCompositor(rig, 256))
    moved = [c for c in choices(rig, 8, seed=8, max_deg=9.0) if np.any(c.residual_deg)]
    for choice in moved:
        layer = comp.layer(choice.pose)
        matte = layer.mattes[0].astype(np.float32) / 255.0
        matte[:, :3] = 1.0  # the head reaches the left edge
        comp._layers[choice.pose] = edged = _LayerPlanes(layer.plate, matte)
        assert edged.crops == (None, None)
        assert np.array_equal(comp.compose(choice), layered_plane_by_plane(comp, choice))
