"""Interrupted runs: Ctrl-C and SIGTERM end a render with one line and leave nothing behind, a
killed run's temporary output is removed by the next run, a live writer's is not, and the
watchdog ends work that never reaches a checkpoint. Real CLI runs, real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from animator.core.outputs import atomic_outputs
from keypoints.assets import assets_dir
from tests.cli import animator

DEMO = assets_dir() / "audio" / "demo_speech.ogg"
PY = sys.executable


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    """1.5 s of the demo speech, mono 16 kHz wav."""
    from keypoints.audio import load_audio

    path = tmp_path_factory.mktemp("speech") / "in.wav"
    sf.write(path, load_audio(DEMO)[:24000], 16000)
    return path


@pytest.fixture(scope="module")
def long_speech(tmp_path_factory) -> Path:
    from keypoints.audio import load_audio

    path = tmp_path_factory.mktemp("long") / "long.wav"
    x = load_audio(DEMO)
    sf.write(path, np.tile(x, 3), 16000)  # ~69 s: long enough to be stopped mid-way
    return path


def _start_render(audio: Path, out: Path) -> subprocess.Popen:
    proc = subprocess.Popen([PY, "-m", "animator", "render", audio, "-o", out],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(out.parent.glob(f".{out.name}.*.part.mp4")):  # it has started writing
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.05)
    return proc


@pytest.mark.parametrize("signum, word", [(signal.SIGTERM, "terminated"),
                                          (signal.SIGINT, "interrupted")])
def test_sigterm_cleans_up_like_ctrl_c(tmp_path, long_speech, signum, word):
    out = tmp_path / "o.mp4"
    proc = _start_render(long_speech, out)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum and "Traceback" not in err, err
    assert err.strip() == f"animator: {word}"
    assert list(tmp_path.iterdir()) == []


def test_a_killed_run_leaves_a_part_that_the_next_run_removes(tmp_path, long_speech, speech):
    out = tmp_path / "o.mp4"
    proc = _start_render(long_speech, out)
    proc.kill()
    proc.wait(timeout=30)
    leftovers = list(tmp_path.glob(".o.mp4.*.part.mp4"))
    assert len(leftovers) == 1
    res = animator("render", speech, "-o", out)
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.mp4"]


def test_a_live_writers_part_is_kept(tmp_path):
    """Only a dead writer's temporary file is stale: one of a running process stays."""
    live = tmp_path / f".o.json.{os.getpid()}-abc.part.json"
    live.write_text("{}")
    with atomic_outputs([tmp_path / "o.json"]) as (tmp,):
        tmp.write_text("[]")
    assert live.exists() and (tmp_path / "o.json").read_text() == "[]"


def test_sigterm_during_work_without_a_checkpoint_still_ends_and_cleans_up(tmp_path):
    """The watchdog: work that never reaches a checkpoint (here a long sleep) is ended after
    the grace period, its temporary outputs removed."""
    script = f"""
import os, signal, time
from animator.core import shutdown
from animator.core.outputs import atomic_outputs
shutdown.GRACE_S = 0.5
shutdown.install()
with atomic_outputs([{str(tmp_path / 'o.mp4')!r}]) as (tmp,):
    tmp.write_bytes(b"half a video")
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(60)
"""
    res = subprocess.run([PY, "-c", script], capture_output=True, text=True, timeout=60)
    assert res.returncode == 128 + signal.SIGTERM, res.stderr
    assert res.stderr.strip() == "animator: terminated"
    assert list(tmp_path.iterdir()) == []
