"""Property-based fuzzing of what users hand us: ``expressions.json`` and audio files, random and
truncated. The only acceptable outcomes are a result or the one-line error of the contract
(RigError / AudioError); never another exception, never a path outside the rig folder.

The default profile is derandomized (CI runs the same examples every time);
``HYPOTHESIS_PROFILE=explore pytest tests/test_fuzz.py`` searches new ones, ten times as many.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from animator.core.errors import InputWarning
from animator.rig import RigConfig, RigError, endpoint_relpath, sequence_dirname
from keypoints.assets import assets_dir
from keypoints.audio import AudioError, decode_audio
from tests.conftest import REFERENCE_RIG_CONFIG

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=150,
                          suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.register_profile("explore", deadline=None, max_examples=1500,
                          suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Names as an attacker would write them: separators, dots, NUL, unicode, the double underscore.
hostile_names = st.one_of(
    st.text(min_size=0, max_size=80),
    st.sampled_from(["../../x", "/abs", "a/b", "a\\b", "..", ".", "a__b", "nul\x00", "c:x",
                     "~", "neutral", "center", "x" * 65, "ok_name", "ok-name"]),
    st.from_regex(r"[A-Za-z0-9_./\\-]{1,70}", fullmatch=True),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=5),
    max_leaves=30)


@st.composite
def near_valid_configs(draw) -> dict:
    """The seed config with parts replaced by hostile names or arbitrary JSON."""
    cfg = json.loads(json.dumps(REFERENCE_RIG_CONFIG))
    for _ in range(draw(st.integers(1, 4))):
        if not all(isinstance(cfg.get(k), t) for k, t in (("poses", list), ("expressions", dict),
                                                         ("base_paths", list))):
            break  # a top-level part was replaced by arbitrary JSON: mutate no further
        where = draw(st.sampled_from(["pose", "expr", "path_id", "path_end", "value",
                                      "angles", "shapes"]))
        poses, exprs, paths = cfg["poses"], cfg["expressions"], cfg["base_paths"]
        if where == "pose" and isinstance(poses, list) and poses:
            poses[draw(st.integers(0, len(poses) - 1))] = draw(hostile_names)
        elif where == "expr" and isinstance(exprs, dict) and exprs:
            exprs[draw(hostile_names)] = draw(st.sampled_from(list(exprs.values()))
                                              | json_values)
        elif where == "path_id" and isinstance(paths, list) and paths \
                and isinstance(paths[0], dict):
            paths[0]["id"] = draw(hostile_names | json_values)
        elif where == "path_end" and isinstance(paths, list) and paths \
                and isinstance(paths[0], dict):
            paths[0]["end"] = draw(hostile_names)
        elif where == "value" and draw(st.booleans()):
            key = draw(st.sampled_from(list(cfg)))
            cfg[key] = draw(json_values)
        elif where == "angles":
            cfg["pose_angles"] = draw(json_values)
        else:
            cfg["mouth_shapes"] = draw(json_values)
    return cfg


def _paths_stay_inside(cfg: RigConfig, root: Path) -> None:
    inside = root.resolve()
    for expr in cfg.expressions:
        for pose in cfg.poses:
            assert (root / endpoint_relpath(expr, pose)).resolve().is_relative_to(inside)
    for bp in cfg.base_paths:
        for pose in cfg.poses:
            folder = root / "sequences" / sequence_dirname(bp.id, pose)
            assert folder.resolve().parent == (inside / "sequences")


@given(near_valid_configs())
def test_config_loading_never_escapes_and_never_crashes(tmp_path, raw):
    try:
        cfg = RigConfig.from_dict(raw, "expressions.json")
    except RigError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("expressions.json: ")
        return
    _paths_stay_inside(cfg, tmp_path / "rig")


@given(json_values)
def test_any_json_is_a_config_or_one_line(raw):
    try:
        RigConfig.from_dict(raw, "x.json")
    except RigError as exc:
        assert "\n" not in str(exc)


@given(st.binary(max_size=400))
def test_any_bytes_as_expressions_json_is_a_config_or_one_line(tmp_path, data):
    path = tmp_path / "expressions.json"
    path.write_bytes(data)
    try:
        RigConfig.load(path)
    except RigError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(str(path))


@given(near_valid_configs())
def test_rig_build_plans_only_write_inside_the_output_folder(tmp_path, raw):
    """Whatever a config that loads names, every image a build would write lies in OUTDIR."""
    from animator.authoring.build import plan_build

    try:
        RigConfig.from_dict(raw, "cfg")
    except RigError:
        return
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps(raw))
    portrait = tmp_path / "portrait.png"
    portrait.write_bytes(b"")
    out = tmp_path / "out"
    for plan in plan_build(config, portrait, out, max_depth=1):
        for level in plan.levels:
            for job in level:
                assert job.dest.resolve().is_relative_to(out.resolve()), job.dest


# --- audio ---------------------------------------------------------------------------------

SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".webm")


@pytest.fixture(scope="module")
def real_audio(tmp_path_factory) -> dict[str, bytes]:
    """The demo speech (0.5 s) in the formats users hand in, as bytes to cut and corrupt."""
    import av

    from keypoints.audio import load_audio

    x = load_audio(assets_dir() / "audio" / "demo_speech.ogg")[:8000]
    folder = tmp_path_factory.mktemp("real")
    files = {}
    for suffix, fmt in ((".wav", "WAV"), (".flac", "FLAC"), (".ogg", "OGG")):
        sf.write(folder / f"a{suffix}", x, 16000, format=fmt)
        files[suffix] = (folder / f"a{suffix}").read_bytes()
    path = folder / "a.mp3"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libmp3lame", rate=16000, layout="mono")
        frame = av.AudioFrame.from_ndarray(x[None, :], format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 16000, 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    files[".mp3"] = path.read_bytes()
    return files


def _decode_or_one_line(path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputWarning)  # a truncation notice is a result
        try:
            samples, rate = decode_audio(path)
        except AudioError as exc:
            assert "\n" not in str(exc) and str(exc).startswith(f"{path}: "), str(exc)
            return
    assert samples.ndim == 2 and samples.shape[1] > 0 and rate >= 4000
    assert np.all(np.isfinite(samples)) and np.abs(samples).max() <= 1.0


@given(data=st.binary(min_size=1, max_size=2000), suffix=st.sampled_from(SUFFIXES))
def test_random_bytes_are_audio_or_one_line(tmp_path, data, suffix):
    path = tmp_path / f"x{suffix}"
    path.write_bytes(data)
    _decode_or_one_line(path)


@given(fmt=st.sampled_from([".wav", ".flac", ".ogg", ".mp3"]), cut=st.floats(0, 1),
       flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=8),
       name_as=st.sampled_from(SUFFIXES))
def test_cut_and_corrupted_real_files_are_audio_or_one_line(tmp_path, real_audio, fmt, cut,
                                                            flips, name_as):
    data = bytearray(real_audio[fmt][: max(1, int(len(real_audio[fmt]) * cut))])
    for where, value in flips:
        data[min(len(data) - 1, int(where * len(data)))] = value
    path = tmp_path / f"x{name_as}"
    path.write_bytes(bytes(data))
    _decode_or_one_line(path)
