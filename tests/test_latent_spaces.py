"""Encoders/decoders: an ONNX pair (real onnxruntime sessions on models built with
onnx.helper), PCA, and the landmark space with its geometry."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from animator.authoring.latent import geometry
from animator.authoring.latent.directions import DirectionFitter, LatentError
from animator.authoring.latent.spaces import (
    LandmarkSpace,
    OnnxSpace,
    PcaSpace,
    image_to_item,
    item_to_image,
)
from animator.authoring.latent.synthetic import (
    EDGES_30,
    cosine,
    leak_data,
    onnx_proof,
    orthogonal_onnx_pair,
)


def test_directions_through_onnx_equal_the_direct_ones(tmp_path):
    proof = onnx_proof(seed=4, folder=tmp_path)
    assert proof["cos_via_onnx_vs_direct"] > 0.99999
    assert all(v["cos_yaw"] >= 0.97 and v["leak_light"] <= 0.02
               for v in proof["scores"].values())
    assert proof["decoded_max_abs_error"] < 1e-4


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((8 * 8 * 3, 12)))
    enc, dec = orthogonal_onnx_pair(folder, q, (3, 8, 8))
    return folder, q, enc, dec


def test_onnx_space_reads_shapes_and_round_trips(pair):
    _, q, enc, dec = pair
    space = OnnxSpace(enc, dec)
    assert space.dim == 12 and space.item_shape == (3, 8, 8)
    z = np.random.default_rng(1).standard_normal((5, 12))
    items = space.decode(z)
    assert items.shape == (5, 3, 8, 8)
    np.testing.assert_allclose(items.reshape(5, -1), z @ q.T, atol=1e-5)
    np.testing.assert_allclose(space.encode(items), z, atol=1e-5)
    assert space.encode(items[0]).shape == (1, 12)
    with pytest.raises(LatentError, match=r"items of shape \(8, 8, 3\)"):
        space.encode(np.zeros((2, 8, 8, 3)))
    with pytest.raises(LatentError, match="N x 12"):
        space.decode(np.zeros((2, 11)))


def _model(path, nodes, inits, inputs, outputs):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_onnx_pairs_that_do_not_fit_are_refused(pair):
    folder, q, enc, dec = pair
    vi = helper.make_tensor_value_info
    f = TensorProto.FLOAT
    # A decoder taking 10 values where the encoder gives 12.
    w = numpy_helper.from_array(np.zeros((10, 192), np.float32), "w")
    shp = numpy_helper.from_array(np.array([-1, 3, 8, 8], np.int64), "s")
    bad_dim = _model(folder / "bad_dim.onnx",
                     [helper.make_node("MatMul", ["z", "w"], ["y"]),
                      helper.make_node("Reshape", ["y", "s"], ["x"])], [w, shp],
                     [vi("z", f, ["N", 10])], [vi("x", f, ["N", 3, 8, 8])])
    with pytest.raises(LatentError, match=r"takes \(10,\).*gives \(12,\)"):
        OnnxSpace(enc, bad_dim)
    # A decoder whose images are 4 x 4.
    w2 = numpy_helper.from_array(np.zeros((12, 48), np.float32), "w")
    s2 = numpy_helper.from_array(np.array([-1, 3, 4, 4], np.int64), "s")
    small = _model(folder / "small.onnx",
                   [helper.make_node("MatMul", ["z", "w"], ["y"]),
                    helper.make_node("Reshape", ["y", "s"], ["x"])], [w2, s2],
                   [vi("z", f, ["N", 12])], [vi("x", f, ["N", 3, 4, 4])])
    with pytest.raises(LatentError, match=r"outputs items of shape \(3, 4, 4\)"):
        OnnxSpace(enc, small)
    # Two inputs.
    two = _model(folder / "two.onnx", [helper.make_node("Add", ["a", "b"], ["c"])], [],
                 [vi("a", f, ["N", 4]), vi("b", f, ["N", 4])], [vi("c", f, ["N", 4])])
    with pytest.raises(LatentError, match="exactly one input"):
        OnnxSpace(two, dec)
    with pytest.raises(LatentError, match="not found"):
        OnnxSpace(folder / "missing.onnx", dec)
    (folder / "junk.onnx").write_bytes(b"junk")
    with pytest.raises(LatentError, match="not a loadable ONNX model"):
        OnnxSpace(folder / "junk.onnx", dec)


def test_pca_fit_transform_inverse(tmp_path):
    rng = np.random.default_rng(2)
    basis = rng.standard_normal((4, 6 * 5))
    X = (rng.standard_normal((50, 4)) @ basis + 3.0).reshape(50, 6, 5)
    pca = PcaSpace(n_components=4).fit(X)
    Z = pca.transform(X)
    assert Z.shape == (50, 4) and pca.dim == 4
    np.testing.assert_allclose(pca.inverse_transform(Z), X, atol=1e-9)
    np.testing.assert_allclose(pca.components_ @ pca.components_.T, np.eye(4), atol=1e-12)
    assert pca.explained_variance_ratio_.sum() == pytest.approx(1.0)
    assert np.all(np.diff(pca.explained_variance_ratio_) <= 0)
    pca.save(tmp_path / "pca.npz")
    back = PcaSpace.load(tmp_path / "pca.npz")
    np.testing.assert_allclose(back.encode(X), Z)
    two = PcaSpace(2).fit(X)
    assert np.abs(two.inverse_transform(two.transform(X)) - X).max() > 0.1
    with pytest.raises(LatentError, match="not fitted"):
        PcaSpace(3).transform(X)
    with pytest.raises(LatentError, match="n_components"):
        PcaSpace(60).fit(X)
    with pytest.raises(LatentError, match="do not match"):
        pca.transform(np.zeros((2, 5, 6)))
    with pytest.raises(LatentError, match="not a PCA space"):
        np.savez(tmp_path / "x.npz", a=1)
        PcaSpace.load(tmp_path / "x.npz")


def test_pca_space_recovers_a_direction_from_images():
    data = leak_data(np.random.default_rng(5), n=4000, dim=8)
    q, _ = np.linalg.qr(np.random.default_rng(6).standard_normal((10 * 10, 8)))
    images = (data["embeddings"] @ q.T).reshape(-1, 10, 10)
    pca = PcaSpace(8).fit(images)
    dirs = DirectionFitter(bin_edges=EDGES_30).fit(pca.encode(images), data["yaw"],
                                                   data["groups"], match="centre")
    true_in_pca = pca.components_ @ q @ data["d_yaw"]
    assert cosine(dirs.positive.slope, true_in_pca) >= 0.97


def test_image_items_in_both_layouts():
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[:, :15] = (255, 0, 0)
    chw = image_to_item(rgb, (3, 10, 15))
    hwc = image_to_item(rgb, (10, 15, 3))
    assert chw.shape == (3, 10, 15) and hwc.shape == (10, 15, 3)
    np.testing.assert_allclose(chw.transpose(1, 2, 0), hwc)
    assert hwc[0, 0, 0] == 1.0 and hwc[0, -1, 0] == 0.0
    back = item_to_image(chw, (30, 20))
    assert back.shape == (20, 30, 3) and back[5, 2, 0] == 255 and back[5, 28, 0] == 0
    with pytest.raises(LatentError, match="layout"):
        image_to_item(rgb, (5, 5, 5, 5))


def test_landmark_space_geometry():
    rng = np.random.default_rng(7)
    face = geometry.face_template(40, rng)
    px = geometry.denormalise(face, np.array([300.0, 200.0, 5.0]), 80.0)
    space = LandmarkSpace(40)
    z = space.encode(px)
    assert z.shape == (1, 120)
    np.testing.assert_allclose(space.decode(z)[0], face, atol=1e-9)
    np.testing.assert_allclose(space.to_pixels(space.decode(z)[0], px), px, atol=1e-9)
    # Pixel frame: y down; face frame: y up. A point above the centre has a smaller pixel y.
    top = int(np.argmax(face[:, 1]))
    assert px[top, 1] < 200.0
    for yaw in (-25.0, -8.0, 0.0, 12.0, 30.0):
        turned = geometry.denormalise(face @ geometry.yaw_matrix(yaw).T, np.zeros(3), 50.0)
        assert geometry.estimate_yaw_deg(space.decode(space.encode(turned))[0],
                                         face) == pytest.approx(yaw, abs=1e-6)
    # Contract sign: yaw > 0 moves the nose (most forward point) to the viewer's right.
    nose = int(np.argmax(face[:, 2]))
    assert (face @ geometry.yaw_matrix(20.0).T)[nose, 0] > face[nose, 0]
    with pytest.raises(LatentError, match="N x 40 x 3"):
        space.encode(np.zeros((3, 41, 3)))
    with pytest.raises(LatentError, match="one point"):
        space.encode(np.ones((40, 3)))


def test_landmark_image_decode_warps_the_source_to_the_moved_landmarks():
    from keypoints.face import load_reference

    ref = load_reference().points
    px = geometry.denormalise(ref, np.array([128.0, 128.0, 0.0]), 70.0)
    space = LandmarkSpace(len(ref))
    z0 = space.encode(px)[0]
    step = space.encode(geometry.denormalise(ref @ geometry.yaw_matrix(20.0).T, np.zeros(3),
                                             1.0))[0] - z0
    image = np.full((256, 256, 3), 40, np.uint8)
    nose = 1  # FaceMesh nose tip
    x0, y0 = np.rint(px[nose, :2]).astype(int)
    image[y0 - 2:y0 + 3, x0 - 2:x0 + 3] = 255
    out = space.decode_image(z0 + step, (image, px))
    assert out.shape == image.shape
    want = space.to_pixels(space.decode(z0 + step)[0], px)[nose, :2]
    assert want[0] - px[nose, 0] > 5  # yaw > 0: the nose goes to the viewer's right
    ys, xs = np.nonzero(out[..., 0] > 150)
    assert abs(xs.mean() - want[0]) < 1.5 and abs(ys.mean() - want[1]) < 1.5
