"""Safe by construction: no input ever destroyed, nothing written outside its place, bounded
memory on hostile files, one line and exit 2 for every bad case. Each test runs the real CLI
in a subprocess on real files and checks what is on disk afterwards."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from animator.core.outputs import Output, OutputError, check_outputs
from animator.rig import endpoint_relpath
from keypoints.assets import assets_dir
from keypoints.features import FeatureConfig
from tests import hostile
from tests.cli import animator, one_line_error
from tests.conftest import REFERENCE_RIG_CONFIG, make_reference_rig

DEMO = assets_dir() / "audio" / "demo_speech.ogg"
PY = sys.executable


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    """1.5 s of the demo speech, mono 16 kHz wav."""
    from keypoints.audio import load_audio

    path = tmp_path_factory.mktemp("speech") / "in.wav"
    sf.write(path, load_audio(DEMO)[:24000], 16000)
    return path


@pytest.fixture
def rig(tmp_path) -> Path:
    return make_reference_rig(tmp_path / "rig", tweens=(0.5,))


# --- 1. outputs never replace inputs or each other ---------------------------------------

def test_output_named_like_an_input_is_refused_and_the_input_kept(tmp_path, speech, rig):
    mp4_input = tmp_path / "talk.mp4"  # audio in an mp4: the same extension as the output
    ok = animator("render", speech, "-o", mp4_input, "--rig", rig)
    assert ok.returncode == 0, ok.stderr
    cases = [
        (mp4_input, ["-o", mp4_input], "is the input"),
        (speech, ["-o", tmp_path / "o.mp4", "--timeline", rig / "expressions.json"],
         "is the input"),
        (speech, ["-o", tmp_path / "o.mp4",
                  "--plot", rig / endpoint_relpath("neutral", "center")], "is the input"),
        (speech, ["-o", speech], "names no format"),
        (speech, ["-o", tmp_path / "o.mp4", "--timeline", speech], "names no format"),
        (speech, ["-o", tmp_path / "o.mp4", "--timeline", tmp_path / "o.mp4"],
         "names no format"),
    ]
    for audio, args, expect in cases:
        before = {p: digest(p) for p in (mp4_input, speech, rig / "expressions.json")}
        one_line_error(animator("render", audio, *args, "--rig", rig), expect)
        assert {p: digest(p) for p in before} == before
        assert not (tmp_path / "o.mp4").exists()


def test_links_to_an_input_are_the_input(tmp_path, speech, rig):
    soft = tmp_path / "soft.json"
    soft.symlink_to(rig / "expressions.json")
    hard = tmp_path / "hard.json"
    os.link(rig / "expressions.json", hard)
    before = digest(rig / "expressions.json")
    for link in (soft, hard):
        one_line_error(animator("render", speech, "-o", tmp_path / "o.mp4", "--rig", rig,
                                "--timeline", link), "is the input")
    assert digest(rig / "expressions.json") == before and soft.is_symlink()


def test_two_outputs_on_one_file_are_refused(tmp_path):
    a = tmp_path / "a.json"
    link = tmp_path / "link.json"
    link.symlink_to(a)
    with pytest.raises(OutputError, match="named twice"):
        check_outputs([Output(a, "timeline", (".json",)), Output(link, "report", (".json",))])


def test_device_nodes_and_fifos_are_never_replaced(tmp_path, speech, rig):
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    to_null = tmp_path / "null.mp4"
    to_null.symlink_to(os.devnull)
    for target in (fifo, to_null):
        one_line_error(animator("render", speech, "-o", target, "--rig", rig),
                       "not a regular file")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode) and to_null.is_symlink()


# --- 2. rig names stay inside the rig -----------------------------------------------------

@pytest.mark.parametrize("bad", ["../../x", "/tmp/abs", "a/b", "nul\x00byte", "..", "a__b",
                                 "", "x" * 65, "sp ace"])
def test_rig_names_that_could_escape_are_refused_by_every_command(tmp_path, speech, bad):
    cfg = json.loads(json.dumps(REFERENCE_RIG_CONFIG))
    cfg["expressions"][bad] = cfg["expressions"]["happy_soft"]
    rig = tmp_path / "rig"
    make_reference_rig(rig)
    (rig / "expressions.json").write_text(json.dumps(cfg))
    one_line_error(animator("render", speech, "-o", tmp_path / "o.mp4", "--rig", rig),
                   "is not a valid name")
    # rig build refuses before it writes anything: the output folder stays empty
    out = tmp_path / "built"
    portrait = rig / endpoint_relpath("neutral", "center")
    res = animator("rig", "build", portrait, out, "--config", rig / "expressions.json")
    one_line_error(res, "is not a valid name")
    assert not out.exists() or not any(out.rglob("*"))
    assert not list(tmp_path.parent.glob("x__*")) and not Path("/tmp/abs__center.png").exists()


def test_a_manifest_frame_outside_the_rig_is_refused(tmp_path, speech, rig):
    folder = next((rig / "sequences").iterdir())
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["frames"][1]["file"] = "..%2f..%2fsecret.png"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    one_line_error(animator("render", speech, "-o", tmp_path / "o.mp4", "--rig", rig),
                   "bad file name")
    # a symlinked image that leads out of the rig folder
    manifest["frames"][1]["file"] = "050.png"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    outside = tmp_path / "outside.png"
    shutil.copy(folder / "050.png", outside)
    (folder / "050.png").unlink()
    (folder / "050.png").symlink_to(outside)
    one_line_error(animator("render", speech, "-o", tmp_path / "o.mp4", "--rig", rig),
                   "leads outside the rig folder")


def test_rig_build_never_writes_over_its_portrait(tmp_path, rig):
    portrait = rig / endpoint_relpath("neutral", "center")
    before = digest(portrait)
    res = animator("rig", "extremes", "--config", rig / "expressions.json", "--base-image",
                   portrait, "--outdir", rig / "endpoints", "--include-neutral",
                   "--overwrite")
    one_line_error(res, "is the input")
    assert digest(portrait) == before


# --- 5. hostile images: bounded memory, one line ------------------------------------------

def _peak_rss_mb(*args) -> tuple[subprocess.CompletedProcess, float]:
    """Run the CLI in a child that reports its own peak RSS (MB) on its last stderr line."""
    code = ("import resource, sys; from animator.cli.main import main\n"
            "try:\n    code = main(sys.argv[1:])\nfinally:\n"
            "    print('RSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
            "file=sys.stderr)\nsys.exit(code)")
    res = subprocess.run([PY, "-c", code, *map(str, args)], capture_output=True, text=True,
                         timeout=300)
    *lines, last = res.stderr.strip().splitlines()
    assert last.startswith("RSS "), res.stderr
    res.stderr = "\n".join(lines) + "\n"
    return res, int(last.split()[1]) / 1024


@functools.cache
def hostile_png(case: str) -> bytes:
    if case == "huge_chunk":  # a 16 kB-ish file whose chunk length reads 0xFFFFFFF0
        return hostile.png(24, 32, idat_length=0xFFFFFFF0)
    if case == "huge_rgb":  # 1.2 MB declaring 20000 x 20000 (it rendered at 2.5 GB)
        return hostile.huge_png(20000, 20000, 2)
    return hostile.huge_png(12000, 12000, 6)  # RGBA over the cap (was a MemoryError)


@pytest.fixture(scope="module")
def baseline_rss_mb(tmp_path_factory, speech) -> float:
    """Peak RSS of a good render of the small rig (the reference for the bounds below)."""
    folder = tmp_path_factory.mktemp("baseline")
    good, mb = _peak_rss_mb("render", speech, "-o", folder / "ok.mp4", "--rig",
                            make_reference_rig(folder / "rig", tweens=(0.5,)))
    assert good.returncode == 0, good.stderr
    return mb


@pytest.mark.parametrize("case, expect", [
    ("huge_chunk", "claims 4294967280 bytes"),
    ("huge_rgb", "20000x20000"),
    ("huge_rgba", "12000x12000"),
])
def test_tiny_hostile_pngs_cost_little_memory(tmp_path, speech, rig, baseline_rss_mb, case,
                                              expect):
    target = rig / endpoint_relpath("neutral", "center")
    data = hostile_png(case)
    assert len(data) < 2_000_000
    target.write_bytes(data)
    if case != "huge_chunk":  # all images of a rig share one size: make them all huge
        for p in rig.rglob("*.png"):
            p.write_bytes(data)
    res, peak_mb = _peak_rss_mb("render", speech, "-o", tmp_path / "o.mp4", "--rig", rig)
    one_line_error(res, str(target.name) if case == "huge_chunk" else ".png", expect)
    assert peak_mb - baseline_rss_mb < 300, (peak_mb, baseline_rss_mb)
    assert not (tmp_path / "o.mp4").exists()


def test_an_image_at_the_pixel_cap_renders_within_the_memory_bound(tmp_path, speech, rig,
                                                                   baseline_rss_mb):
    from animator.rig.headers import MAX_IMAGE_PIXELS

    data = hostile.huge_png(3840, 2160, 6)
    assert 3840 * 2160 <= MAX_IMAGE_PIXELS
    for p in rig.rglob("*.png"):
        p.write_bytes(data)
    res, peak_mb = _peak_rss_mb("render", speech, "-o", tmp_path / "o.mp4", "--rig", rig)
    assert res.returncode == 0, res.stderr
    assert peak_mb - baseline_rss_mb < 300, (peak_mb, baseline_rss_mb)


# --- 7. a model that emits NaN on speech --------------------------------------------------

def nan_on_speech_model(path: Path) -> Path:
    """A contract-abiding model whose keypoints are NaN wherever a low mel band rises above
    -6 (speech, not the silence the loader probes with): sqrt(threshold - band) * 0."""
    from onnx import TensorProto, helper, numpy_helper

    names = ["upper_lip", "lower_lip", "left_corner", "right_corner"]
    meta = {"contract_version": "1", **FeatureConfig().to_metadata(), "context_past": "0",
            "context_future": "0", "keypoint_names": json.dumps(names)}
    inits = [numpy_helper.from_array(np.array([0], np.int64), "starts"),
             numpy_helper.from_array(np.array([12], np.int64), "ends"),
             numpy_helper.from_array(np.array([2], np.int64), "axes"),
             numpy_helper.from_array(np.array([1, -1, 4, 3], np.int64), "shape"),
             numpy_helper.from_array(np.array(-6.0, np.float32), "threshold"),
             numpy_helper.from_array(np.array(0.0, np.float32), "zero")]
    nodes = [helper.make_node("Transpose", ["log_mel"], ["t"], perm=[0, 2, 1]),
             helper.make_node("Slice", ["t", "starts", "ends", "axes"], ["s"]),
             helper.make_node("Sub", ["threshold", "s"], ["d"]),
             helper.make_node("Sqrt", ["d"], ["r"]),  # NaN where s > threshold
             helper.make_node("Mul", ["r", "zero"], ["z"]),
             helper.make_node("Reshape", ["z", "shape"], ["keypoints"])]
    graph = helper.make_graph(
        nodes, "nan_on_speech",
        [helper.make_tensor_value_info("log_mel", TensorProto.FLOAT, [1, 80, "T"])],
        [helper.make_tensor_value_info("keypoints", TensorProto.FLOAT, [1, "T", 4, 3])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    helper.set_model_props(model, meta)
    path.write_bytes(model.SerializeToString())
    return path


def test_a_model_that_gives_nan_on_speech_is_refused(tmp_path, speech, rig):
    model = nan_on_speech_model(tmp_path / "nan.onnx")
    res = animator("render", speech, "-o", tmp_path / "o.mp4", "--rig", rig, "--model", model,
                   "--timeline", tmp_path / "o.json")
    one_line_error(res, "nan.onnx", "non-finite keypoints")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nan.onnx", "rig"]


def test_live_warns_once_with_the_count_and_goes_on(tmp_path, speech):
    model = nan_on_speech_model(tmp_path / "nan.onnx")
    res = animator("live", "--audio", speech, "--model", model, "--seconds", "1.5",
                   "--fps", "20")
    assert res.returncode == 0, res.stderr
    warnings = [ln for ln in res.stderr.splitlines() if "warning" in ln]
    # this model's graph has no streaming plan: one line says so, the windowed model runs
    plan = [ln for ln in warnings if "no streaming plan" in ln]
    warnings = [ln for ln in warnings if ln not in plan]
    assert len(plan) == 1, res.stderr
    assert len(warnings) == 1 and "non-finite keypoints" in warnings[0], res.stderr
    summary = res.stderr.strip().splitlines()[-1]
    assert "with non-finite keypoints" in summary and "Traceback" not in res.stderr


# --- 8. a full disk -----------------------------------------------------------------------

def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, speech, rig):
    """A real full file system: an 8 kB tmpfs mounted in a private mount namespace (the
    machine's own mounts are untouched; CI runs as root like this machine)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    script = (f"mount -t tmpfs -o size=8k tmpfs {disk} && "
              f"{PY} -m animator render {speech} -o {disk}/o.mp4 --rig {rig} "
              f"--timeline {disk}/o.json; code=$?; ls -A {disk}; exit $code")
    res = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True,
                         text=True, timeout=300)
    one_line_error(res, "o.mp4", "no space left on the device")
    assert res.stdout.strip() == ""  # nothing left on the full disk, not even a .part


# --- 10. the small items --------------------------------------------------------------------

def test_outputs_honour_the_umask(tmp_path, speech, rig):
    res = subprocess.run(
        ["sh", "-c", f"umask 027 && exec {PY} -m animator render {speech} -o {tmp_path}/o.mp4 "
                     f"--rig {rig} --timeline {tmp_path}/o.json"],
        capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    for name in ("o.mp4", "o.json"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o640


def test_symlink_loops_are_named(tmp_path, rig):
    loop = tmp_path / "loop.wav"
    loop.symlink_to(tmp_path / "loop2.wav")
    (tmp_path / "loop2.wav").symlink_to(loop)
    one_line_error(animator("render", loop, "-o", tmp_path / "o.mp4", "--rig", rig),
                   "loop.wav", "symlink loop")
    out_loop = tmp_path / "out.mp4"
    out_loop.symlink_to(out_loop)
    one_line_error(animator("render", DEMO, "-o", out_loop, "--rig", rig), "symlink loop")


def test_an_absurd_sample_rate_is_not_audio(tmp_path, rig):
    wav = tmp_path / "one_hertz.wav"
    sf.write(wav, np.zeros(100, np.float32), 1)  # 250 bytes claiming 100 s at 1 Hz
    assert wav.stat().st_size < 300
    one_line_error(animator("render", wav, "-o", tmp_path / "o.mp4", "--rig", rig),
                   "one_hertz.wav", "sample rate 1 Hz")
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize("fmt", ["mp3", "wav"])
def test_a_truncated_file_renders_with_one_warning(tmp_path, rig, fmt):
    import av

    from keypoints.audio import load_audio

    x = load_audio(DEMO)[:48000]
    full = tmp_path / f"full.{fmt}"
    if fmt == "wav":
        sf.write(full, x, 16000)
    else:
        with av.open(str(full), "w") as out:
            stream = out.add_stream("libmp3lame", rate=16000, layout="mono")
            for i in range(0, len(x), 1152):
                frame = av.AudioFrame.from_ndarray(x[None, i:i + 1152], format="fltp",
                                                   layout="mono")
                frame.sample_rate, frame.pts = 16000, i
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
    cut = tmp_path / f"cut.{fmt}"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    res = animator("render", cut, "-o", tmp_path / "o.mp4", "--rig", rig)
    assert res.returncode == 0, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("animator: warning: ") and \
        "truncated" in lines[0] and str(cut) in lines[0], res.stderr
    assert animator("render", full, "-o", tmp_path / "o2.mp4", "--rig", rig,
                    "-q").stderr == ""
