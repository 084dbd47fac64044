"""``animator rig latent fit|apply`` through their argument parsers (registered into a ``rig``
group the way animator/cli_rig.py does it)."""

from __future__ import annotations

import argparse

import cv2
import numpy as np
import pytest

from animator import cli_latent
from animator.latent.directions import LatentDirections, LatentError
from benchmarks.latent import cosine, leak_data, orthogonal_onnx_pair


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="animator")
    sub = parser.add_subparsers(dest="command", required=True)
    rig = sub.add_parser("rig")
    cli_latent.register(rig.add_subparsers(dest="rig_command", required=True))
    args = parser.parse_args(["rig", "latent", *argv])
    return args.run(args)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("latent_cli")
    data = leak_data(np.random.default_rng(21), n=4000, dim=16)
    np.savez(folder / "data.npz", embeddings=data["embeddings"], yaw=data["yaw"],
             groups=data["groups"])
    out = folder / "dirs.npz"
    assert run(["fit", str(folder / "data.npz"), "-o", str(out), "--match", "centre",
                "--bin-edges=-30,-20,-10,0,10,20,30"]) == 0
    return folder, data, out


def test_fit_writes_matched_directions(fitted, capsys):
    _, data, out = fitted
    dirs = LatentDirections.load(out)
    assert dirs.match == "centre" and len(dirs.positive.bin_angles) == 3
    assert cosine(dirs.positive.slope, data["d_yaw"]) >= 0.97


def test_fit_one_line_and_errors(fitted, capsys):
    folder, _, _ = fitted
    assert run(["fit", str(folder / "data.npz"), "-o", str(folder / "one.npz"),
                "--one-line", "--bin-width", "6"]) == 0
    one = LatentDirections.load(folder / "one.npz")
    np.testing.assert_array_equal(one.positive.slope, one.negative.slope)
    assert "R^2" in capsys.readouterr().out
    with pytest.raises(LatentError, match=r"data.npz: .*at least 3 needed"):
        run(["fit", str(folder / "data.npz"), "-o", str(folder / "x.npz"), "--bin-width", "20"])
    np.savez(folder / "bad.npz", embeddings=np.zeros((3, 2)))
    with pytest.raises(LatentError, match=r"bad.npz: missing array\(s\) yaw"):
        run(["fit", str(folder / "bad.npz"), "-o", str(folder / "x.npz")])
    with pytest.raises(LatentError, match="needs a 'groups' array"):
        np.savez(folder / "nogroups.npz", embeddings=np.zeros((3, 2)), yaw=np.zeros(3))
        run(["fit", str(folder / "nogroups.npz"), "-o", str(folder / "x.npz"), "--match", "a"])
    assert not (folder / "x.npz").exists()


def test_apply_to_latents(fitted):
    folder, _, out = fitted
    dirs = LatentDirections.load(out)
    z = np.random.default_rng(0).standard_normal((4, 16))
    np.save(folder / "z.npy", z)
    assert run(["apply", str(out), str(folder / "z.npy"), "-o", str(folder / "moved.npy"),
                "--yaw=-12", "--source-yaw", "3"]) == 0
    moved = np.load(folder / "moved.npy")
    np.testing.assert_allclose(moved, z - 3 * dirs.positive.slope - 12 * dirs.negative.slope)
    np.save(folder / "wrong.npy", np.zeros(5))
    with pytest.raises(LatentError, match="wrong.npy: .*D = 16"):
        run(["apply", str(out), str(folder / "wrong.npy"), "-o", str(folder / "w.npy"),
             "--yaw", "5"])


def test_apply_to_an_image_through_onnx(fitted):
    folder, data, out = fitted
    shape = (8, 8, 3)
    q, _ = np.linalg.qr(np.random.default_rng(3).standard_normal((192, 16)))
    enc, dec = orthogonal_onnx_pair(folder, q, shape, offset=0.5)
    # The image of latent 0 (a face at yaw 0 lit from the centre): 0.5 grey.
    item = np.full(shape, 0.5)
    cv2.imwrite(str(folder / "face.png"), np.rint(item[..., ::-1] * 255).astype(np.uint8))
    assert run(["apply", str(out), str(folder / "face.png"), "-o", str(folder / "turned.png"),
                "--yaw", "20", "--encoder", str(enc), "--decoder", str(dec)]) == 0
    turned = cv2.imread(str(folder / "turned.png"))[..., ::-1].astype(np.float64) / 255.0
    read = ((turned - item).ravel() @ q @ data["d_yaw"]) / data["s"]
    assert read == pytest.approx(20.0, abs=1.0)
    with pytest.raises(LatentError, match="needs a space"):
        run(["apply", str(out), str(folder / "face.png"), "-o", str(folder / "t2.png"),
             "--yaw", "20"])
    with pytest.raises(LatentError, match="go together"):
        run(["apply", str(out), str(folder / "face.png"), "-o", str(folder / "t2.png"),
             "--yaw", "20", "--encoder", str(enc)])
