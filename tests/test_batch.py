"""``animator batch`` end to end on real clips: local workers, resuming, the manifest, bad files
skipped, CSV lists, outputs identical to ``animator render``, the same run on a real local Ray
head; and the timeline-only / export options of ``animator render``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf

from animator.render.batch import BatchError, RenderSettings, plan_jobs
from benchmarks.realdata import realdata_dir
from keypoints.audio import decode_audio
from tests.cli import animator, one_line_error

CLIPS = realdata_dir() / "talking_faces"



@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """A folder of three real clips (GRID speakers, 3 s each, as wav) and a text file."""
    folder = tmp_path_factory.mktemp("clips")
    for name in ("bbaf2n", "lbax4n", "sbwe5n"):
        samples, rate = decode_audio(CLIPS / f"{name}.mpg")
        sf.write(folder / f"{name}.wav", samples.T, rate)
    (folder / "notes.txt").write_text("not audio")
    return folder


def _manifest(outdir: Path) -> dict:
    return json.loads((outdir / "manifest.json").read_text())


def test_batch_renders_skips_what_is_done_and_reports_a_bad_file(tmp_path, clips):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF....WAVEfmt garbage")
    out = tmp_path / "out"
    res = animator("batch", clips, bad, "-o", out, "--jobs", "2", "--width", "128")
    assert res.returncode == 1, res.stderr
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("animator: error: ")]
    assert len(errors) == 1 and str(bad) in errors[0] and "Traceback" not in res.stderr
    manifest = _manifest(out)
    status = {Path(f["input"]).name: f for f in manifest["files"]}
    assert [status[n]["status"] for n in ("bbaf2n.wav", "lbax4n.wav", "sbwe5n.wav")] == \
        ["done"] * 3
    assert status["broken.wav"]["status"] == "failed" and status["broken.wav"]["error"]
    for f in manifest["files"][:3]:
        assert f["duration_s"] == pytest.approx(2.98, abs=0.01) and f["wall_s"] > 0
        assert f["frames"] == 75
    assert manifest["summary"]["done"] == 3 and manifest["summary"]["failed"] == 1
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["manifest.json"] + [f"{s}.{e}" for s in ("bbaf2n", "lbax4n", "sbwe5n")
                             for e in ("mp4", "json")])
    # a worker (one thread per library) makes the bytes of a render in this process
    one = animator("render", clips / "lbax4n.wav", "-o", tmp_path / "one.mp4", "--width", "128")
    assert one.returncode == 0, one.stderr
    assert (out / "lbax4n.mp4").read_bytes() == (tmp_path / "one.mp4").read_bytes()
    # run again without the bad file: nothing is rendered twice, nothing fails
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.mp4")}
    again = animator("batch", clips, "-o", out, "--jobs", "2", "--width", "128")
    assert again.returncode == 0, again.stderr
    assert "0 rendered, 3 already there" in again.stdout
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.mp4")} == stamps
    assert [f["status"] for f in _manifest(out)["files"]] == ["skipped"] * 3
    assert _manifest(out)["files"][0]["frames"] == 75  # the numbers of the run that made it


def test_batch_outputs_equal_a_single_render_and_a_csv_sets_rig_seed_and_output(tmp_path):
    listing = tmp_path / "list.csv"
    listing.write_text("audio,seed,output\n"
                       f"{CLIPS / 'news_3.mp4'},7,sub_news.mp4\n"
                       f"{CLIPS / 'pwij3p.mpg'},,\n")
    res = animator("batch", listing, "-o", tmp_path / "out", "--jobs", "1", "--seed", "2")
    assert res.returncode == 0, res.stderr
    one = animator("render", CLIPS / "news_3.mp4", "-o", tmp_path / "one.mp4", "--seed", "7",
                   "--timeline", tmp_path / "one.json")
    assert one.returncode == 0, one.stderr
    assert (tmp_path / "out" / "sub_news.mp4").read_bytes() == (tmp_path / "one.mp4").read_bytes()
    a = json.loads((tmp_path / "out" / "sub_news.json").read_text())
    b = json.loads((tmp_path / "one.json").read_text())
    assert a["frames"] == b["frames"] and a["seed"] == 7
    assert json.loads((tmp_path / "out" / "pwij3p.json").read_text())["seed"] == 2


def _library_threads() -> tuple[int, str]:
    import cv2

    return cv2.getNumThreads(), os.environ.get("OPENBLAS_NUM_THREADS", "")


def test_batch_workers_run_one_thread_per_library():
    """Two workers on two cores must not start two OpenCV / BLAS threads each."""
    from animator.render.runners import worker_pool

    with worker_pool(1) as pool:
        assert pool.submit(_library_threads).result(timeout=120) == (1, "1")


def test_batch_plans_refuse_collisions_and_outputs_that_are_inputs(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    for folder in (a, b):
        shutil.copy(CLIPS / "bbaf2n.mpg", folder / "x.mp3")
    with pytest.raises(BatchError, match="written by two inputs"):
        plan_jobs([a, b], tmp_path / "out", RenderSettings())
    (tmp_path / "empty").mkdir()
    with pytest.raises(BatchError, match="no audio files"):
        plan_jobs([tmp_path / "empty"], tmp_path / "o", RenderSettings())
    listing = tmp_path / "l.csv"
    listing.write_text(f"audio,output\n{a / 'x.mp3'},{a / 'x.mp3'}\n")
    with pytest.raises(BatchError, match=r"\.mp4"):
        plan_jobs([listing], tmp_path / "out", RenderSettings())
    listing.write_text(f"audio,output\n{a / 'x.mp3'},x.mp4\n{b / 'x.mp3'},y.mp4\n")
    jobs = plan_jobs([listing], tmp_path / "out", RenderSettings(seed=4))
    assert [Path(j.output).name for j in jobs] == ["x.mp4", "y.mp4"]
    assert [j.seed for j in jobs] == [4, 4] and jobs[0].timeline.endswith("x.json")
    listing.write_text("audio,speed\nx.wav,2\n")
    with pytest.raises(BatchError, match="unknown column"):
        plan_jobs([listing], tmp_path / "out", RenderSettings())
    video_in = tmp_path / "in.mp4"
    shutil.copy(CLIPS / "news_1.mp4", video_in)
    listing.write_text(f"{video_in},,,{video_in}\n")  # no header: audio,rig,seed,output
    with pytest.raises(Exception, match="never replaces an input"):
        plan_jobs([listing], tmp_path, RenderSettings())


def test_batch_setup_errors_are_one_line_exit_2(tmp_path):
    one_line_error(animator("batch", tmp_path / "missing.wav", "-o", tmp_path / "o"),
                   "missing.wav", "no such file")
    (tmp_path / "file").write_text("")
    one_line_error(animator("batch", CLIPS / "bbaf2n.mpg", "-o", tmp_path / "file"),
                   "is not a folder")


def test_batch_on_a_real_local_ray_head_gives_the_local_outputs(tmp_path):
    """A Ray head started here (2 CPUs); the command connects to its address, renders each
    file as a Ray task with the same code, and writes what a local run writes."""
    import ray  # the dev extra installs it
    inputs = [CLIPS / "lrwp9a.mpg", CLIPS / "news_5.mp4"]
    local = animator("batch", *inputs, "-o", tmp_path / "local", "--jobs", "1")
    assert local.returncode == 0, local.stderr
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        address = ray.get_runtime_context().gcs_address
        res = animator("batch", *inputs, "-o", tmp_path / "ray", "--ray", address)
    finally:
        ray.shutdown()
    assert res.returncode == 0, res.stderr
    assert f"on Ray {address}" in res.stdout
    for name in ("lrwp9a.mp4", "lrwp9a.json", "news_5.mp4", "news_5.json"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
    workers = {f["worker"] for f in _manifest(tmp_path / "ray")["files"]}
    assert all(w and int(w.rsplit(":", 1)[1]) != os.getpid() for w in workers)


def test_render_timeline_only_makes_no_video_and_exports_by_format(tmp_path):
    res = animator("render", CLIPS / "sbia1a.mpg", "--timeline", tmp_path / "t.json",
                   "--export", f"plot={tmp_path / 'p.png'}")
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.png", "t.json"]
    assert len(json.loads((tmp_path / "t.json").read_text())["frames"]) == 75
    one_line_error(animator("render", CLIPS / "sbia1a.mpg"), "nothing to write")
    one_line_error(animator("render", CLIPS / "sbia1a.mpg", "--export", "cues=x.txt"),
                   "unknown format 'cues'")
    one_line_error(animator("render", CLIPS / "sbia1a.mpg", "--export", "timeline"),
                   "FORMAT=PATH")
    one_line_error(animator("render", CLIPS / "sbia1a.mpg", "--export",
                            f"timeline={tmp_path / 't.txt'}"), "t.txt", ".json")


def test_sigterm_stops_the_workers_and_leaves_no_partial_file(tmp_path):
    """SIGTERM while two workers render: exit 143, each worker's temporary outputs removed,
    the manifest written (a rerun resumes from it)."""
    from benchmarks.latency import speech_of_length

    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        sf.write(folder / f"long{i}.wav", speech_of_length(120), 16000)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "animator", "batch", folder, "-o", out,
                             "--jobs", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    while not (out.is_dir() and any(".part" in p.name for p in out.iterdir())):
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.terminate()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    assert [p.name for p in out.iterdir()] == ["manifest.json"]
