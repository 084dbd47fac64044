"""The warp's bounds: touching lips open sanely (the root cause), a forced bad warp fails with
its reason (the guard), a human-face check that refuses animals, the head-and-shoulders crop.
Real portraits from ../shared/realdata/portraits, referenced by path."""

from __future__ import annotations

import numpy as np
import pytest

from animator.authoring import warp_face
from animator.authoring.face_params import face_from_names
from animator.authoring.portrait import head_crop_box
from animator.authoring.warp import WarpBackend, WarpError
from animator.authoring.warp_face import edit_points, rest_gap_px
from animator.authoring.warp_guard import (
    MAX_SHIFT_FACE_HEIGHTS,
    WarpGuardError,
    check_warp,
    measure_warp,
)
from animator.rig import RigConfig
from keypoints.face import LOWER_LIP_INNER, UPPER_LIP_INNER, FaceTracker
from tests.conftest import ROOT, portrait_path

CONFIG = RigConfig.load(ROOT / "animator" / "authoring" / "default_expressions.json")


@pytest.fixture(scope="module")
def s8():
    """The shared portrait whose lips FaceMesh crosses (upper inner lip below the lower)."""
    b = WarpBackend(calibrate=False, size_px=256)
    b.prepare(portrait_path("s8"), CONFIG, "center")
    yield b
    b.close()


def _face(expr: str):
    e = CONFIG.expressions[expr]
    return face_from_names(CONFIG.mouth_shape(expr), e.eyes, e.brows)


def test_crossed_lips_open_by_the_asked_gap_not_a_smear(s8):
    layout = s8._sources[0].layout
    # Cross the lips the way FaceMesh does on touching lips (0.1 px the wrong way round).
    pts = layout.points.copy()
    up = np.array([layout.mouth_axis[1], -layout.mouth_axis[0]])
    mid = 0.5 * (pts[UPPER_LIP_INNER, :2] + pts[LOWER_LIP_INNER, :2])
    pts[UPPER_LIP_INNER, :2] = mid - 0.05 * up
    pts[LOWER_LIP_INNER, :2] = mid + 0.05 * up
    crossed = warp_face.FaceLayout(pts, layout.follow, layout.mouth_centre_px,
                                   layout.mouth_axis, layout.mouth_width_px,
                                   layout.face_width_px, layout.face_height_px, layout.pivot_px)
    assert rest_gap_px(crossed) == 0.0
    moved = edit_points(crossed, _face("speaking_ah"))
    shift = np.linalg.norm(moved[:, :2] - pts[:, :2], axis=1)
    assert shift.max() < 0.4 * layout.face_height_px  # was ~1000x the gap: a smear
    gap = (moved[UPPER_LIP_INNER, :2] - moved[LOWER_LIP_INNER, :2]) @ up
    assert gap == pytest.approx(0.55 * layout.mouth_width_px - 0.1, rel=0.05)


def test_touching_lips_portrait_renders_an_open_mouth(s8):
    images = {e: s8.expression(s8.portrait, CONFIG.expressions[e], "center", CONFIG)
              for e in ("neutral", "speaking_ee", "speaking_ah")}
    with FaceTracker(static_image_mode=True) as tracker:
        opens = {e: tracker.process(np.ascontiguousarray(img[..., :3])).mouth_open()
                 for e, img in images.items()}
    assert opens["neutral"] < opens["speaking_ee"] < opens["speaking_ah"]
    assert opens["speaking_ah"] > 0.2
    # Nothing outside the lower face changed (no smear through the image).
    diff = np.abs(images["speaking_ah"].astype(int) - images["neutral"].astype(int)).max(2)
    assert (diff[:40] > 8).mean() == 0.0 and (diff[-20:] > 8).mean() == 0.0


def test_a_forced_bad_displacement_fails_with_its_reason(s8, monkeypatch):
    src = np.random.default_rng(0).uniform(0, 100, (50, 2))
    from animator.authoring.warp_mesh import triangulate

    tris = triangulate(src)
    ok = measure_warp(src, src, src + 1.0, tris, 20, 100.0, 5000.0)
    check_warp(ok)  # a small shift is fine
    with pytest.raises(WarpGuardError, match="face heights"):
        check_warp(measure_warp(src, src, src * 1000.0, tris, 20, 100.0, 5000.0), "x")
    folded = src.copy()
    folded[30:] = folded[30:, ::-1]  # turn part of the mesh inside out, off the face
    with pytest.raises(WarpGuardError, match="folds"):
        check_warp(measure_warp(src, src, folded, tris, 0, 1000.0, 5000.0), "x")
    # Through the backend: an edit gone wrong (the old 1000x gain) fails that image only.
    real = warp_face.edit_points

    def exploded(layout, face):
        pts = real(layout, face)
        pts[:478, 1] += 1000.0 * (pts[:478, 1] - layout.points[:478, 1]) + 3.0
        return pts

    monkeypatch.setattr("animator.authoring.warp_source.edit_points", exploded)
    with pytest.raises(WarpGuardError, match=f"at most {MAX_SHIFT_FACE_HEIGHTS}"):
        s8.expression(s8.portrait, CONFIG.expressions["speaking_ah"], "center", CONFIG)


@pytest.mark.parametrize("name", ["s22", "s31", "s41"])
def test_animals_are_not_human_faces(name):
    b = WarpBackend(calibrate=False, size_px=128)
    with pytest.raises(WarpError, match="no human face"):
        b.prepare(portrait_path(name), CONFIG, "center")
    b.close()


def test_head_crop_box_centres_the_face_and_stays_inside():
    assert head_crop_box((400, 300, 500, 420), (1000, 1200)) == (320, 240, 260)
    x0, y0, side = head_crop_box((10, 5, 110, 125), (600, 400))
    assert (x0, y0) == (0, 0) and side == 260  # clipped to the image, never padded
    assert head_crop_box((0, 0, 500, 600), (300, 200))[2] == 200


def test_a_sideways_phone_photo_is_read_upright(tmp_path):
    """Stored rotated with an EXIF orientation tag (as phones do): built upright."""
    from PIL import Image

    upright = Image.open(portrait_path("s42")).convert("RGB")
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what the sensor wrote
    exif = stored.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = tmp_path / "phone.jpg"
    stored.save(path, exif=exif)
    b = WarpBackend(calibrate=False, size_px=128)
    b.prepare(path, CONFIG, "center")  # no "no human face": the face is upright
    assert b.portrait.shape == (128, 128, 4)
    b.close()
