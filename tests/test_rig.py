import json
import shutil

import numpy as np
import pytest

from animator.rig import (
    DEFAULT_MOUTH_SHAPES,
    REFERENCE_POSE_ANGLES,
    RigError,
    endpoint_relpath,
    load_rig,
)
from tests.conftest import REFERENCE_POSES, REFERENCE_RIG_CONFIG, write_png


def test_seed_layout_loads_unchanged_with_default_angles_and_shapes(reference_rig):
    rig = load_rig(reference_rig)
    assert rig.config.poses == REFERENCE_POSES
    assert rig.image_size == (24, 32)
    assert rig.config.pose_angles["tilt_left_small"].tolist() == [0.0, 0.0, 8.0]
    assert rig.config.pose_angles["nod_down_small"].tolist() == [-8.0, 0.0, 0.0]
    assert rig.config.mouth_shape("speaking_ah").open == DEFAULT_MOUTH_SHAPES["ah"]["open"]
    assert set(REFERENCE_POSE_ANGLES) == set(REFERENCE_POSES)
    seq = rig.sequences[("neutral_to_speaking_ah", "center")]
    assert [t for t, _ in seq.frames] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert seq.frames[2][1] == "sequences/neutral_to_speaking_ah__center/050.png"
    assert seq.frames[0][1] == endpoint_relpath("neutral", "center")  # not the 000 copy
    assert len(rig.sequences) == len(REFERENCE_RIG_CONFIG["base_paths"]) * len(REFERENCE_POSES)


def test_sequences_without_endpoint_copies_use_the_endpoints(reference_rig):
    folder = reference_rig / "sequences" / "neutral_to_speaking_ah__center"
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["frames"] = [f for f in manifest["frames"] if 0 < f["t"] < 1]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    seq = load_rig(reference_rig).sequences[("neutral_to_speaking_ah", "center")]
    assert seq.frames[0] == (0.0, endpoint_relpath("neutral", "center"))
    assert seq.frames[-1] == (1.0, endpoint_relpath("speaking_ah", "center"))


def test_missing_sequence_folder_is_allowed(reference_rig):
    shutil.rmtree(reference_rig / "sequences")
    assert load_rig(reference_rig).sequences == {}


def test_custom_pose_angles_and_mouth_shapes(tmp_path):
    cfg = json.loads(json.dumps(REFERENCE_RIG_CONFIG))
    cfg["poses"] = ["center", "look_left"]
    cfg["pose_angles"] = {"look_left": {"yaw": 15}}
    cfg["mouth_shapes"] = {"ah": {"open": 0.7, "wide": 0.9}}
    from tests.conftest import make_reference_rig

    rig = load_rig(make_reference_rig(tmp_path / "r", config=cfg))
    assert rig.config.pose_angles["look_left"].tolist() == [0.0, 15.0, 0.0]
    assert rig.config.mouth_shape("speaking_ah").open == 0.7


@pytest.mark.parametrize("mutate, expect", [
    (lambda r: (r / endpoint_relpath("speaking_ee", "nod_up_small")).unlink(),
     "speaking_ee__nod_up_small.png: missing"),
    (lambda r: (r / "expressions.json").write_text("{\"poses\": [\"center\",]}"),
     "expressions.json: malformed JSON (line 1"),
    (lambda r: (r / "expressions.json").write_text(json.dumps(
        {k: v for k, v in REFERENCE_RIG_CONFIG.items() if k != "poses"})),
     "No 'poses' array found in expressions.json"),
    (lambda r: (r / "expressions.json").write_text(json.dumps(
        {**REFERENCE_RIG_CONFIG, "poses": ["center", "somewhere"]})),
     "pose 'somewhere' has no angles"),
    (lambda r: (r / "expressions.json").write_text(json.dumps(
        {**REFERENCE_RIG_CONFIG, "base_paths": [{"id": "x", "start": "neutral", "end": "nope"}]})),
     "base path 'x' names unknown expression 'nope'"),
    (lambda r: write_png(r / endpoint_relpath("neutral", "center"), 5, size=(30, 32)),
     "all rig images must have one size"),
    (lambda r: (r / endpoint_relpath("neutral", "center")).write_bytes(b"not a png at all, no"),
     "neutral__center.png: not a PNG image"),
    (lambda r: (r / "sequences/neutral_to_speaking_ah__center/manifest.json").write_text(
        json.dumps({"path_id": "other", "expr_start": "neutral", "expr_end": "speaking_ah",
                    "pose": "center", "frames": []})),
     "path_id is 'other', expected 'neutral_to_speaking_ah'"),
    (lambda r: (r / "sequences/neutral_to_speaking_ah__center/050.png").unlink(),
     "050.png: missing"),
    (lambda r: (r / "expressions.json").unlink(), "expressions.json: file not found"),
    (lambda r: (r / "expressions.json").write_text(json.dumps(
        {**REFERENCE_RIG_CONFIG, "axes": {**REFERENCE_RIG_CONFIG["axes"], "mouth": ["neutral"]}})),
     "expression 'happy_soft' has mouth 'smile_soft', not one of axes.mouth"),
])
def test_broken_rigs_name_the_file_and_the_problem(reference_rig, mutate, expect):
    mutate(reference_rig)
    with pytest.raises(RigError, match=None) as info:
        load_rig(reference_rig)
    assert expect in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_folder(tmp_path):
    with pytest.raises(RigError, match="rig folder not found"):
        load_rig(tmp_path / "nope")


def test_angle_vectors_are_float_triples(reference_rig):
    for vec in load_rig(reference_rig).config.pose_angles.values():
        assert vec.shape == (3,) and np.all(np.isfinite(vec))


def test_a_symlinked_folder_or_image_leading_outside_is_refused(tmp_path):
    """Each folder is resolved once and an image that is no symlink taken as its folder's
    real path plus its name: a sequence folder linked out of the rig is still caught, as is
    an image linked out of it, and a folder linked inside the rig still loads."""
    from tests.conftest import make_reference_rig

    rig = make_reference_rig(tmp_path / "r")
    folder = next(p for p in sorted((rig / "sequences").iterdir()) if p.is_dir())
    moved = tmp_path / "outside_folder"
    shutil.move(folder, moved)
    folder.symlink_to(moved, target_is_directory=True)
    with pytest.raises(RigError, match="leads outside the rig folder"):
        load_rig(rig)
    inside = rig / "kept_inside"
    shutil.move(moved, inside)
    folder.unlink()
    folder.symlink_to(inside, target_is_directory=True)
    assert load_rig(rig).image_size
    image = next(inside.glob("*.png"))
    outside = tmp_path / "outside.png"
    shutil.move(image, outside)
    image.symlink_to(outside)
    with pytest.raises(RigError, match="leads outside the rig folder"):
        load_rig(rig)


@pytest.mark.parametrize("name", ["endpoints", "sequences"])
def test_a_top_folder_linked_outside_is_refused_and_inside_loads(tmp_path, name):
    """Folders are resolved from their parent's listing (one per folder): a top folder of
    the rig linked outside it is caught for every image below it; linked inside, it loads."""
    from tests.conftest import make_reference_rig

    rig = make_reference_rig(tmp_path / "r")
    size = load_rig(rig).image_size
    moved = tmp_path / "away"
    shutil.move(rig / name, moved)
    (rig / name).symlink_to(moved, target_is_directory=True)
    with pytest.raises(RigError, match="leads outside the rig folder"):
        load_rig(rig)
    (rig / name).unlink()
    shutil.move(moved, rig / "kept")
    (rig / name).symlink_to(rig / "kept", target_is_directory=True)
    assert load_rig(rig).image_size == size
