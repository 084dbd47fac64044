"""The ``latent`` rig backend on images whose yaw is known (a linear image model)."""

from __future__ import annotations

import numpy as np
import pytest

from animator.authoring.latent.directions import DirectionFitter, LatentError
from animator.authoring.latent.spaces import PcaSpace, item_to_image
from animator.authoring.latent.synthetic import EDGES_30, leak_data
from animator.authoring.latent_backend import LatentBackend
from animator.rig import RigConfig

SHAPE = (12, 12, 3)
CONFIG = RigConfig.from_dict({
    "poses": ["center", "turn_20", "turn_m15", "nod_up_small"],
    "expressions": {"neutral": {"mouth": "neutral", "eyes": "neutral", "brows": "neutral"}},
    "pose_angles": {"turn_20": {"yaw": 20}, "turn_m15": {"yaw": -15}},
}, "test")


@pytest.fixture(scope="module")
def world():
    data = leak_data(np.random.default_rng(11), n=4000, dim=8)
    q, _ = np.linalg.qr(np.random.default_rng(12).standard_normal((int(np.prod(SHAPE)), 8)))

    def item(z):
        return (0.5 + np.asarray(z) @ q.T).reshape(*np.shape(z)[:-1], *SHAPE)

    pca = PcaSpace(8).fit(item(data["embeddings"]))
    dirs = DirectionFitter(bin_edges=EDGES_30).fit(pca.encode(item(data["embeddings"])),
                                                   data["yaw"], data["groups"], match="centre")

    def read_yaw(rgb):  # ground-truth yaw of an image of the linear model
        x = rgb[..., :3].astype(np.float64) / 255.0 - 0.5
        return float(x.ravel() @ q @ data["d_yaw"] / data["s"])

    source = item_to_image(item(np.zeros(8)), (SHAPE[1], SHAPE[0]))
    rgba = np.dstack([source, np.full(SHAPE[:2], 200, np.uint8)])
    return {"pca": pca, "dirs": dirs, "read_yaw": read_yaw, "source": rgba, "item": item,
            "data": data}


EXPR = CONFIG.expressions["neutral"]


def test_pose_turns_the_image_to_the_target_yaw(world):
    backend = LatentBackend(world["dirs"], world["pca"])
    assert backend.name == "latent" and backend.thread_safe
    assert abs(world["read_yaw"](world["source"])) < 0.5
    for pose, yaw in (("turn_20", 20.0), ("turn_m15", -15.0)):
        out = backend.pose(world["source"], EXPR, "center", pose, CONFIG)
        assert out.shape == world["source"].shape and out.dtype == np.uint8
        np.testing.assert_array_equal(out[..., 3], 200)  # the source's alpha is kept
        assert world["read_yaw"](out) == pytest.approx(yaw, abs=1.5)
    back = backend.pose(backend.pose(world["source"], EXPR, "center", "turn_20", CONFIG),
                        EXPR, "turn_20", "center", CONFIG)
    assert abs(world["read_yaw"](back)) < 1.5


def test_pose_with_calibration_hits_the_target(world):
    def under_reading(rgb):
        return 0.7 * world["read_yaw"](rgb)

    backend = LatentBackend(world["dirs"], world["pca"], measure_yaw=under_reading,
                            tol_deg=0.5)
    assert not backend.thread_safe
    out = backend.pose(world["source"], EXPR, "center", "turn_20", CONFIG)
    res = backend.last_calibration
    assert res.converged and abs(under_reading(out) - 20.0) <= 0.5
    assert res.step_deg > 25.0


def test_backend_refuses_what_it_cannot_do(world, tmp_path):
    backend = LatentBackend(world["dirs"], world["pca"])
    with pytest.raises(LatentError, match="yaw only"):
        backend.pose(world["source"], EXPR, "center", "nod_up_small", CONFIG)
    with pytest.raises(LatentError, match="delegate"):
        backend.expression(world["source"], EXPR, "center", CONFIG)
    with pytest.raises(LatentError, match="no angles"):
        backend.pose(world["source"], EXPR, "center", "unknown", CONFIG)
    with pytest.raises(LatentError, match="D = 8 but the space"):
        LatentBackend(world["dirs"], PcaSpace(4).fit(world["item"](world["data"]
                                                                   ["embeddings"][:50])))
    path = tmp_path / "d.npz"
    world["dirs"].save(path)
    assert LatentBackend(path, world["pca"]).directions.dim == 8
    world["pca"].save(tmp_path / "pca.npz")
    from_files = LatentBackend.from_files(path, pca=tmp_path / "pca.npz")
    np.testing.assert_array_equal(
        from_files.pose(world["source"], EXPR, "center", "turn_20", CONFIG),
        backend.pose(world["source"], EXPR, "center", "turn_20", CONFIG))
    with pytest.raises(LatentError, match="needs a space"):
        LatentBackend.from_files(path)
    with pytest.raises(LatentError, match="D = 8, the landmark|D = 8 but the space"):
        LatentBackend.from_files(path, landmarks=True)


def test_backend_delegates_expressions(world):
    class Stub:
        def expression(self, base, expr, pose, config):
            return base[::-1]

    backend = LatentBackend(world["dirs"], world["pca"], delegate=Stub())
    out = backend.expression(world["source"], EXPR, "center", CONFIG)
    np.testing.assert_array_equal(out, world["source"][::-1])
