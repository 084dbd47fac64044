"""The ``animator`` command end to end: real files written and read back."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from animator.rig import endpoint_relpath
from keypoints.assets import assets_dir
from tests import hostile
from tests.cli import animator

DEMO = assets_dir() / "audio" / "demo_speech.ogg"



@pytest.fixture(scope="module")
def stereo_wav(tmp_path_factory) -> Path:
    """3.3 s of the demo speech as 44.1 kHz stereo 16-bit wav."""
    from keypoints.audio import load_audio, resample

    mono = load_audio(DEMO)[: int(16000 * 3.3)]
    x = resample(mono, 16000, 44100)
    path = tmp_path_factory.mktemp("audio") / "speech.wav"
    sf.write(path, np.stack([x, 0.5 * x], axis=1), 44100, subtype="PCM_16")
    return path


@pytest.mark.parametrize("command", ["render", "batch"])
def test_mode_names_old_and_new(command):
    """The modes' names today, and the ones they had (``seed``, ``stream``, ``--silence``)."""
    from animator.cli.main import build_parser

    parser = build_parser()
    head = [command, "a.wav"] + (["-o", "out"] if command == "batch" else [])
    for words, motion, speaking in (
            ([], "natural", "lookahead"),
            (["--speaking", "causal"], "natural", "causal"),
            (["--motion", "reference", "--speaking", "reference"], "reference", "reference"),
            (["--motion", "seed", "--silence", "seed"], "reference", "reference"),
            (["--silence", "stream"], "natural", "causal")):
        args = parser.parse_args(head + words)
        assert (args.motion, args.speaking) == (motion, speaking)
    with pytest.raises(SystemExit):
        parser.parse_args(head + ["--speaking", "loud"])


def test_help_and_version():
    out = animator("--help")
    assert out.returncode == 0 and "render" in out.stdout
    out = animator("render", "--help")
    for opt in ("--rig", "--fps", "--seed", "--motion", "--motion-gain", "--mouth-gain",
                "--speaking", "--timeline", "--plot"):
        assert opt in out.stdout
    assert "--motion-gain" in animator("live", "--help").stdout
    assert "--mouth-gain" in animator("live", "--help").stdout
    assert "--mouth-gain" in animator("batch", "--help").stdout
    out = animator("--version")
    assert out.returncode == 0 and out.stdout.startswith("animator 0.")


def test_render_end_to_end(tmp_path, stereo_wav, reference_rig):
    out, timeline, plot = tmp_path / "out.mp4", tmp_path / "t.json", tmp_path / "p.png"
    res = animator("render", stereo_wav, "-o", out, "--rig", reference_rig, "--fps", "25",
                   "--timeline", timeline, "--plot", plot)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""  # no progress bar when stderr is not a terminal

    with av.open(str(out)) as c:
        v = c.streams.video[0]
        a = c.streams.audio[0]
        assert v.codec_context.name == "h264" and a.codec_context.name == "aac"
        assert v.average_rate == 25
        assert (v.width, v.height) == (512, 682)  # the 24x32 rig scaled to 512 wide, even
        assert a.sample_rate == 44100 and a.channels == 2
        n_video = sum(1 for _ in c.decode(video=0))
    assert abs(n_video / 25 - 3.3) <= 0.5 / 25 + 1e-9  # as long as the audio, to half a frame

    tl = json.loads(timeline.read_text())
    assert tl["fps"] == 25 and tl["seed"] == 0 and tl["duration"] == pytest.approx(3.3)
    assert len(tl["frames"]) == n_video
    f0 = tl["frames"][0]
    assert set(f0) == {"i", "t", "pitch", "yaw", "roll", "speaking", "open", "expression",
                       "pose", "image", "eyes", "viseme"}
    assert all((reference_rig / f["image"]).is_file() for f in tl["frames"])
    assert 0 < tl["latency_ms"] < 100
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Only the outputs: no temporary files left beside them.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4", "p.png", "rig", "t.json"]


def test_default_rig_and_mp3_input(tmp_path):
    """`animator render speech.mp3 -o out.mp4` alone: the built-in character."""
    from keypoints.audio import load_audio

    x = load_audio(DEMO)[:16000 * 2]
    mp3 = tmp_path / "speech.mp3"
    with av.open(str(mp3), "w") as c:
        s = c.add_stream("mp3", rate=16000, layout="mono")
        frame = av.AudioFrame.from_ndarray(x[None].astype(np.float32), format="fltp",
                                           layout="mono")
        frame.sample_rate = 16000
        for p in s.encode(frame):
            c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    res = animator("render", mp3, "-o", tmp_path / "o.mp4", "--timeline", tmp_path / "t.json")
    assert res.returncode == 0, res.stderr
    tl = json.loads((tmp_path / "t.json").read_text())
    assert Path(tl["rig"]).name == "toon"
    assert len(tl["frames"]) == round(tl["duration"] * 25)


def _bad_png_rig(reference_rig: Path) -> Path:
    # Sound chunks (lengths and CRCs) around image data that is not zlib: passes the loader
    # and the structure check, fails in the decoder.
    p = reference_rig / endpoint_relpath("neutral", "center")  # the rest face: always shown
    p.write_bytes(hostile.png(24, 32, idat=b"garbage" * 10))
    return reference_rig


@pytest.mark.parametrize("case, expect", [
    ("missing_audio", "nope.wav: file not found"),
    ("empty_audio", "empty.wav"),
    ("corrupt_audio", "corrupt.wav"),
    ("text_audio", "notes.txt"),
    ("missing_endpoint", "neutral__nod_up_small.png: missing"),
    ("bad_json", "expressions.json: malformed JSON"),
    ("bad_model", "model.onnx"),
    ("no_out_dir", "no/such/dir"),
    ("undecodable_image", "neutral__center.png: cannot decode image"),
])
def test_bad_input_one_line_exit_2_nothing_left(tmp_path, reference_rig, stereo_wav, case, expect):
    audio, rig, extra = stereo_wav, reference_rig, []
    out = tmp_path / "out" / "o.mp4"
    out.parent.mkdir()
    if case == "missing_audio":
        audio = tmp_path / "nope.wav"
    elif case == "empty_audio":
        audio = tmp_path / "empty.wav"
        audio.write_bytes(b"")
    elif case == "corrupt_audio":
        audio = tmp_path / "corrupt.wav"
        audio.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk" * 10)
    elif case == "text_audio":
        audio = tmp_path / "notes.txt"
        audio.write_text("this is not audio\n")
    elif case == "missing_endpoint":
        (reference_rig / endpoint_relpath("neutral", "nod_up_small")).unlink()
    elif case == "bad_json":
        (reference_rig / "expressions.json").write_text("{\"poses\": [")
    elif case == "bad_model":
        model = tmp_path / "model.onnx"
        model.write_bytes(b"\x08\x07garbage")
        extra = ["--model", model]
    elif case == "no_out_dir":
        out = tmp_path / "no" / "such" / "dir" / "o.mp4"
    elif case == "undecodable_image":
        rig = _bad_png_rig(reference_rig)
    res = animator("render", audio, "-o", out, "--rig", rig, *extra,
                   "--timeline", out.with_suffix(".json"))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert lines[0].startswith("animator: error: ") and expect in lines[0]
    if out.parent.exists():
        assert list(out.parent.iterdir()) == []  # no partial or temporary file left


def test_bad_option_values_are_rejected_by_the_parser(stereo_wav, tmp_path):
    for args in (["--fps", "0"], ["--motion", "wild"], ["--background", "blue"],
                 ["--motion-gain", "-1"], ["--motion-gain", "4"], ["--mouth-gain", "0"],
                 ["--mouth-gain", "5"],
                 ["--motion", "seed", "--motion-gain", "2"]):
        res = animator("render", stereo_wav, "-o", tmp_path / "o.mp4", *args)
        assert res.returncode == 2 and "Traceback" not in res.stderr
        assert not (tmp_path / "o.mp4").exists()


def test_motion_gain_zero_renders_a_still_head(tmp_path, stereo_wav, reference_rig):
    timeline = tmp_path / "t.json"
    res = animator("render", stereo_wav, "-o", tmp_path / "o.mp4", "--rig", reference_rig,
                   "--motion-gain", "0", "--timeline", timeline, "-q")
    assert res.returncode == 0, res.stderr
    frames = json.loads(timeline.read_text())["frames"]
    assert all(f["pitch"] == f["yaw"] == f["roll"] == 0 for f in frames)
    assert {f["pose"] for f in frames} == {"center"}


def test_mouth_gain_sets_how_far_speech_opens_the_mouth(tmp_path, stereo_wav):
    """--mouth-gain 1: the lip model's own opening; the default expands it above the closed
    level by AUDIO_OPEN_GAIN; 3 opens further; head, speaking state and closures unchanged."""
    from animator.stages.mouth import AUDIO_OPEN_GAIN, expanded_open

    runs = {}
    for gain in (None, "1", "3"):
        timeline = tmp_path / f"t{gain}.json"
        extra = [] if gain is None else ["--mouth-gain", gain]
        res = animator("render", stereo_wav, "--timeline", timeline, "-q", *extra)
        assert res.returncode == 0, res.stderr
        runs[gain] = json.loads(timeline.read_text())["frames"]
    for a, own, wide in zip(runs[None], runs["1"], runs["3"], strict=True):
        assert (a["pitch"], a["speaking"]) == (own["pitch"], own["speaking"])
        assert a["open"] == pytest.approx(expanded_open(own["open"], AUDIO_OPEN_GAIN), abs=2e-4)
        assert wide["open"] == pytest.approx(expanded_open(own["open"], 3.0), abs=3e-4)
    assert max(f["open"] for f in runs["3"]) > max(f["open"] for f in runs[None]) > max(
        f["open"] for f in runs["1"]) > 0.05


def test_rig_toon_builds_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "toon"
    res = animator("rig", "toon", out, "--size", "64", "--depth", "1")
    assert res.returncode == 0, res.stderr
    from animator.rig import load_rig

    rig = load_rig(out)
    assert rig.image_size == (64, 64) and len(rig.sequences) == 4 * len(rig.config.poses)
    res = animator("rig", "toon", out, "--size", "64", "--depth", "1")
    assert res.returncode == 2 and "already holds a rig" in res.stderr
    assert "Traceback" not in res.stderr
