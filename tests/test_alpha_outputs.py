"""Video for editors: alpha video (.webm VP9 with alpha, .mov ProRes 4444) and PNG sequences
decoded back and checked for transparency, the --size canvas with the character placed, and
the outputs' safety (a folder output never fills a folder that has files)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import soundfile as sf

from animator.sinks.alpha_video import read_alpha_frames
from animator.sinks.compose import PLACEMENTS, Canvas, CanvasError
from keypoints.assets import assets_dir
from keypoints.audio import load_audio

DEMO = assets_dir() / "audio" / "demo_speech.ogg"


def _animator(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "animator", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """The first 2 s of the demo speech (a short render)."""
    path = tmp_path_factory.mktemp("clip") / "speech.wav"
    sf.write(path, load_audio(DEMO, 16000)[:32000], 16000)
    return path


@pytest.mark.parametrize("suffix,codec", [(".webm", "vp9"), (".mov", "prores")])
def test_alpha_video_is_transparent_around_the_character(tmp_path, clip, suffix, codec):
    out = tmp_path / f"a{suffix}"
    r = _animator("render", clip, "-o", out, "--width", "128", "--size", "320x192",
                  "--place", "bottom-left", "-q")
    assert r.returncode == 0, r.stderr
    with av.open(str(out)) as c:
        assert codec in c.streams.video[0].codec_context.name
        assert len(c.streams.audio) == 1  # the speech travels with it
    frames = read_alpha_frames(out)
    assert len(frames) == 50 and frames[0].shape == (192, 320, 4)
    alpha = np.stack([f[:, :, 3] for f in frames])
    assert alpha[:, :, 160:].max() <= 2  # right of the 128 px character: nothing at all
    assert alpha[:, :64, 128:].max() <= 2  # above it too
    body = alpha[:, 64:, :128]
    assert (body >= 250).mean() > 0.2 and (body <= 5).mean() > 0.1  # opaque toon, clear sky


def test_png_sequence_without_video_and_its_safety(tmp_path, clip):
    seq = tmp_path / "frames"
    r = _animator("render", clip, "--export", f"png={seq}", "--width", "96", "-q")
    assert r.returncode == 0, r.stderr
    files = sorted(seq.iterdir())
    assert [f.name for f in files[:2]] == ["000000.png", "000001.png"] and len(files) == 50
    assert not list(tmp_path.glob("*.mp4")) and not list(tmp_path.glob(".*"))
    img = cv2.imread(str(files[10]), cv2.IMREAD_UNCHANGED)
    assert img.shape == (96, 96, 4) and img[0, 0, 3] == 0 and img[60, 48, 3] == 255
    # a folder with files in it is never written into, nor is a file replaced by a folder
    r = _animator("render", clip, "--export", f"png={seq}", "--width", "96")
    assert r.returncode == 2 and "not an empty folder" in r.stderr
    assert len(r.stderr.splitlines()) == 1
    assert sorted(seq.iterdir()) == files
    r = _animator("render", clip, "--export", f"png={clip}")
    assert r.returncode == 2 and clip.is_file()


def test_mp4_on_a_canvas_places_the_character(tmp_path, clip):
    out = tmp_path / "c.mp4"
    r = _animator("render", clip, "-o", out, "--width", "128", "--size", "640x360",
                  "--margin", "16", "--background", "#204060", "-q")
    assert r.returncode == 0, r.stderr
    with av.open(str(out)) as c:
        frame = next(c.decode(video=0)).to_ndarray(format="rgb24")
    assert frame.shape == (360, 640, 3)
    assert np.abs(frame[:200, :400].astype(int) - (32, 64, 96)).max() < 12  # background
    corner = frame[360 - 16 - 128:360 - 16, 640 - 16 - 128:640 - 16]
    assert np.abs(corner.astype(int) - (32, 64, 96)).max() > 60  # the toon is there
    r = _animator("render", clip, "-o", tmp_path / "d.mp4", "--width", "512", "--size",
                  "320x240")
    assert r.returncode == 2 and "does not fit" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "d.mp4").exists()


def test_canvas_placements():
    from animator.cli.render import PLACEMENTS as CLI_PLACEMENTS

    assert tuple(PLACEMENTS) == CLI_PLACEMENTS  # --help lists the compositor's placements
    assert Canvas((1920, 1080)).offset((512, 512)) == (1408, 568)
    assert Canvas((1920, 1080), "center").offset((512, 512)) == (704, 284)
    assert Canvas((1920, 1080), "top-left", 20).offset((512, 512)) == (20, 20)
    with pytest.raises(CanvasError):
        Canvas((400, 400)).offset((512, 512))
