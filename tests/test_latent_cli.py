"""``animator rig latent fit|apply`` through their argument parsers (registered into a ``rig``
group the way animator/cli_rig.py does it)."""

from __future__ import annotations

import argparse

import cv2
import numpy as np
import pytest

from animator.authoring.latent.directions import LatentDirections, LatentError
from animator.authoring.latent.synthetic import cosine, leak_data, orthogonal_onnx_pair
from animator.cli import latent


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="animator")
    sub = parser.add_subparsers(dest="command", required=True)
    rig = sub.add_parser("rig")
    latent.register(rig.add_subparsers(dest="rig_command", required=True))
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


def test_tilts_stage_with_the_latent_backend_turns_a_photo(tmp_path):
    """End to end: directions fitted in the FaceMesh landmark space (the reference face
    turned by known yaws), then `rig tilts --backend latent` turns the astronaut's neutral
    face to yaw +10 deg, and FaceMesh reads the turn with the right sign."""
    import json
    import subprocess
    import sys

    import cv2

    from animator.authoring.latent.spaces import LandmarkSpace
    from animator.core.geometry import rotation_matrix
    from keypoints.assets import assets_dir
    from keypoints.face import FaceTracker, load_reference

    rng = np.random.default_rng(0)
    ref = load_reference().points
    yaw = rng.uniform(-15, 15, 600)
    faces = [(ref + 0.01 * rng.standard_normal(ref.shape)) @ rotation_matrix(0, a, 0).T
             * 150 + [256, 256, 0] for a in yaw]
    np.savez(tmp_path / "data.npz", embeddings=LandmarkSpace().encode(np.stack(faces)), yaw=yaw)
    run = [sys.executable, "-m", "animator", "rig"]
    res = subprocess.run([*run, "latent", "fit", tmp_path / "data.npz", "-o",
                          tmp_path / "dirs.npz", "--bin-width", "5"], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr

    cfg = {"poses": ["center", "turn_left_small"],
           "pose_angles": {"turn_left_small": {"yaw": 10}},
           "expressions": {"neutral": {"mouth": "neutral", "eyes": "neutral",
                                       "brows": "neutral"}},
           "base_paths": []}
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    ep = tmp_path / "ep"
    ep.mkdir()
    photo = assets_dir() / "characters/astronaut/endpoints/neutral__center.webp"
    cv2.imwrite(str(ep / "neutral__center.png"), cv2.imread(str(photo)))  # stages: PNG
    res = subprocess.run([*run, "tilts", "--config", tmp_path / "cfg.json", "--endpoints-dir",
                          ep, "--backend", "latent", "--directions", tmp_path / "dirs.npz"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Done. Success: 1, Failed: 0" in res.stdout

    def yaw_of(path):
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        with FaceTracker(static_image_mode=True) as tracker:
            return tracker.process(rgb).head_pose_deg()[1]

    turned = yaw_of(ep / "neutral__turn_left_small.png") - yaw_of(ep / "neutral__center.png")
    assert 5.0 < turned < 15.0


def test_latent_backend_needs_directions(tmp_path):
    import shutil
    import subprocess
    import sys

    from animator.authoring.toon import CONFIG_PATH

    shutil.copy(CONFIG_PATH, tmp_path / "expressions.json")
    res = subprocess.run([sys.executable, "-m", "animator", "rig", "tilts", "--backend",
                          "latent"], capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 2 and "needs --directions" in res.stderr
