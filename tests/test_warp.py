"""The warp rig backend: the mesh warp, expressions and poses measured by FaceMesh, the
shipped astronaut rig."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from animator.authoring.backend import TweenJob
from animator.authoring.warp import WarpBackend, WarpError, warp_image
from animator.rig import RigConfig, load_rig
from keypoints.face import FaceTracker

ROOT = Path(__file__).resolve().parents[1]
RIG = ROOT / "assets" / "characters" / "astronaut"
CONFIG = RigConfig.load(ROOT / "animator" / "authoring" / "default_expressions.json")


def read_rgba(path: Path, size_px: int = 320) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, f"{path} missing"
    rgb = cv2.cvtColor(cv2.resize(bgr, (size_px, size_px), interpolation=cv2.INTER_AREA),
                       cv2.COLOR_BGR2RGB)
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])


@pytest.fixture(scope="module")
def portrait() -> np.ndarray:
    return read_rgba(RIG / "endpoints" / "neutral__center.webp")


@pytest.fixture(scope="module")
def backend():
    b = WarpBackend()
    yield b
    b.close()


@pytest.fixture(scope="module")
def tracker():
    with FaceTracker(static_image_mode=True) as t:
        yield t


def test_warp_image_identity_and_fixed_border(portrait):
    rng = np.random.default_rng(0)
    pts = rng.uniform(10, 310, (300, 2))
    same = warp_image(portrait, pts, pts)
    assert same.shape == portrait.shape and same.dtype == np.uint8
    assert np.abs(same.astype(int) - portrait).max() <= 1
    moved = warp_image(portrait, pts, pts + rng.normal(0, 3, pts.shape))
    assert np.abs(moved.astype(int) - portrait).mean() > 2  # it did move the inside
    diff = np.abs(moved.astype(int) - portrait)
    border = np.concatenate([diff[0], diff[-1], diff[:, 0], diff[:, -1]])
    assert border.max() <= 2


def test_warp_image_moves_what_it_is_told():
    # A ramp image: red = 2 x, green = 2 y, so a pixel's colour says where it came from.
    ys, xs = np.mgrid[0:120, 0:120]
    img = np.dstack([2 * xs, 2 * ys, np.zeros_like(xs)]).astype(np.uint8)
    src = np.array([[45.0, 55.0], [30.0, 30.0], [90.0, 30.0], [30.0, 90.0], [90.0, 90.0]])
    dst = src.copy()
    dst[0] += (12.0, -6.0)
    out = warp_image(img, src, dst)
    assert tuple(out[49, 57, :2]) == (90, 110)  # src (45, 55) now shows at dst (57, 49)
    for x, y in src[1:].astype(int):  # the other control points stay
        assert tuple(out[y, x, :2]) == (2 * x, 2 * y)


def test_no_face_is_a_clear_error(backend):
    with pytest.raises(WarpError, match="no face"):
        backend.source_state(np.full((64, 64, 4), 200, np.uint8))


def test_poses_read_back_with_the_contract_signs(backend, portrait, tracker):
    base = tracker.process(portrait[..., :3]).head_pose_deg()
    neutral = CONFIG.expressions["neutral"]
    checks = {"turn_left_small": (1, +1), "turn_right_small": (1, -1),
              "nod_up_small": (0, +1), "nod_down_small": (0, -1)}
    for pose, (axis, sign) in checks.items():
        img = backend.pose(portrait, neutral, "center", pose, CONFIG)
        assert img.shape == portrait.shape
        delta = tracker.process(np.ascontiguousarray(img[..., :3])).head_pose_deg() - base
        want = CONFIG.pose_angles[pose][axis]
        assert sign * delta[axis] > 5.0, (pose, delta)
        assert delta[axis] == pytest.approx(want, abs=3.0), (pose, delta)
        # The background at the image border does not move.
        assert np.abs(img[0].astype(int) - portrait[0]).max() <= 2


def test_roll_reads_back(backend, portrait, tracker):
    cfg = RigConfig.from_dict({**CONFIG.raw, "poses": [*CONFIG.poses, "tilt_left_small"]},
                              "test")
    base = tracker.process(portrait[..., :3]).head_pose_deg()
    img = backend.pose(portrait, cfg.expressions["neutral"], "center", "tilt_left_small", cfg)
    delta = tracker.process(np.ascontiguousarray(img[..., :3])).head_pose_deg() - base
    assert delta[2] == pytest.approx(8.0, abs=1.5)


def test_mouth_opens_in_order_and_the_gap_is_painted(backend, portrait, tracker):
    opens, images = {}, {}
    for eid in ("neutral", "speaking_ee", "speaking_ah"):
        img = backend.expression(portrait, CONFIG.expressions[eid], "center", CONFIG)
        obs = tracker.process(np.ascontiguousarray(img[..., :3]))
        opens[eid] = obs.lip_frame(0.0).point("upper_lip")[1] - obs.lip_frame(0.0).point(
            "lower_lip")[1]
        images[eid] = (img, obs)
    assert opens["neutral"] < opens["speaking_ee"] < opens["speaking_ah"]
    assert opens["speaking_ah"] - opens["neutral"] > 0.2
    # Between the inner lips of the open mouth it is dark (a cavity, not smeared lip).
    img, obs = images["speaking_ah"]
    up, lo = obs.landmarks_px[13, :2], obs.landmarks_px[14, :2]
    mid = np.round((up + lo) / 2 + (0, 0.15 * (lo[1] - up[1]))).astype(int)
    patch = img[mid[1] - 1:mid[1] + 2, mid[0] - 1:mid[0] + 2, :3].astype(float)
    skin = img[int(up[1]) - 25, int(up[0]) - 3:int(up[0]) + 3, :3].astype(float)
    assert patch.mean() < 0.6 * skin.mean()


def test_renders_chain_from_the_portrait_and_tweens_sit_between(backend, portrait, tracker):
    ah_expr = CONFIG.expressions["speaking_ah"]
    neutral = backend.expression(portrait, CONFIG.expressions["neutral"], "center", CONFIG)
    ah = backend.expression(portrait, ah_expr, "center", CONFIG)
    # The same request twice gives the same pixels (deterministic, rendered from the source).
    again = backend.pose(ah, ah_expr, "center", "center", CONFIG)
    assert np.array_equal(again, ah)
    job = TweenJob("neutral_to_speaking_ah", 0.5, "neutral", "center", "speaking_ah", "center",
                   neutral, ah, (0.0, neutral), (1.0, ah))
    mid = backend.tween(job, CONFIG)

    def gap(img: np.ndarray) -> float:
        return tracker.process(np.ascontiguousarray(img[..., :3])).mouth_open()

    assert gap(neutral) + 0.03 < gap(mid) < gap(ah) - 0.03
    # Unknown neighbours (not this backend's images) fall back to warp + cross-dissolve.
    other = backend.tween(TweenJob("x", 0.5, "neutral", "center", "speaking_ah", "center",
                                   neutral, ah, (0.0, neutral.copy()), (1.0, ah[:, :, :3].copy())),
                          CONFIG)
    assert other.shape == neutral.shape and gap(neutral) < gap(other)


def test_shipped_astronaut_rig_loads():
    rig = load_rig(RIG)
    assert rig.image_size == (512, 512) and rig.config.image_ext == ".webp"
    assert len(rig.config.expressions) == 6 and len(rig.config.poses) == 9
    assert rig.config.blink_expression() == "blink"
    assert len(rig.sequences) == 4 * 9
    assert all(len(s.frames) == 5 for s in rig.sequences.values())  # 0, .25, .5, .75, 1
    assert set(rig.layers) == set(rig.config.poses)
    files = [p for p in RIG.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= 10_000_000
    assert max(p.stat().st_size for p in files) <= 5_000_000
    assert (RIG / "README.md").is_file()
    # Full colour: a photo's thousands of colours, not a palette.
    img = cv2.imread(str(RIG / rig.endpoint("speaking_ah", "center")))
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 20000
