"""``animator rig ...`` end to end: real processes, real files read back; the openai backend
talks to a fake OpenAI server on 127.0.0.1 (tests/fake_openai.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from animator.rig import load_rig
from tests.fake_openai import FakeOpenAI, error_response, image_response, png_of

KEY = "sk-test-do-not-print-4242"
SMALL = {
    "character": "a watercolor portrait of a young boy",
    "poses": ["center", "tilt_left_small", "nod_up_small"],
    "expressions": {
        "neutral": {"mouth": "neutral", "eyes": "neutral", "brows": "neutral"},
        "speaking_ah": {"mouth": "ah", "eyes": "neutral", "brows": "neutral"},
        "happy_soft": {"mouth": "smile_soft", "eyes": "squint", "brows": "neutral"},
    },
    "base_paths": [{"id": "neutral_to_speaking_ah", "start": "neutral", "end": "speaking_ah"}],
}


def animator(*args, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "HTTP_PROXY", "HTTPS_PROXY")}
    full_env["NO_PROXY"] = "127.0.0.1,localhost"
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "animator", "rig", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, env=full_env, timeout=300)


def write_portrait(path: Path, size: int = 40) -> Path:
    Image.new("RGBA", (size, size), (180, 140, 120, 255)).save(path)
    return path


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def test_build_toon_rig_end_to_end_and_resume(tmp_path):
    portrait = write_portrait(tmp_path / "portrait.png")
    res = animator("build", portrait, "rig", "--backend", "toon", "--max-depth", "1",
                   "--max-workers", "2", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    # toon config: 6 expressions (blink too) x 11 poses; (4 base paths x 11 poses + 10 pose
    # sequences) x 1
    assert last_line(res.stdout) == "[i] Done. Success: 120, Failed: 0"
    assert res.stderr == ""  # no progress bar when stderr is not a terminal
    rig = load_rig(tmp_path / "rig")
    assert rig.image_size == (40, 40)
    assert len(rig.sequences) == 44
    head = np.asarray(Image.open(tmp_path / "rig/endpoints/speaking_ah__tilt_left_small.png"))
    assert head.shape == (40, 40, 4) and head[..., 3].max() == 255  # a drawn character
    again = animator("build", portrait, "rig", "--backend", "toon", "--max-depth", "1",
                     cwd=tmp_path)
    assert again.returncode == 0
    assert last_line(again.stdout) == "[i] Done. Success: 0, Failed: 0"


def test_rig_toon_command_still_works(tmp_path):
    res = animator("toon", "t", "--size", "32", "--depth", "0", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert load_rig(tmp_path / "t").image_size == (32, 32)


def test_seed_workflow_with_openai_backend(tmp_path):
    """extremes -> tilts -> sequences as the seed documents them; one image keeps failing."""
    (tmp_path / "expressions.json").write_text(json.dumps(SMALL))
    write_portrait(tmp_path / "boy.png")

    def responder(request, n):
        prompt = request.fields["prompt"]
        if "mouth open vertically" in prompt and "Change the head pose to: head tipped " \
                                                 "slightly back" in prompt:
            return error_response(500, "The server had an error", retry_after="0")
        return image_response(png_of(100 + n % 100))

    with FakeOpenAI(responder) as api:
        env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": api.base_url}
        common = ("--config", "expressions.json", "--backend", "openai", "--max-workers", "3")
        ext = animator("extremes", *common, "--base-image", "boy.png", "--pose", "center",
                       "--output-dir", "frames/endpoints", cwd=tmp_path, env=env)
        tilts = animator("tilts", *common, "--endpoints-dir", "frames/endpoints",
                         "--base-neutral", "boy.png", "--source-pose", "center",
                         "--max-attempts", "2", cwd=tmp_path, env=env)
        seq = animator("sequences", *common, "--endpoints-dir", "frames/endpoints",
                       "--sequences-dir", "frames/sequences", "--max-depth", "1",
                       cwd=tmp_path, env=env)
    for res in (ext, tilts, seq):
        assert KEY not in res.stdout + res.stderr
    assert ext.returncode == 0, ext.stderr
    assert last_line(ext.stdout) == "[i] Done. Success: 2, Failed: 0"

    assert tilts.returncode == 1
    assert "[i] Generating 6 head-tilted endpoints with 3 workers..." in tilts.stdout
    assert "[✓] neutral @ tilt_left_small -> neutral__tilt_left_small.png" in tilts.stdout
    assert ("[✗] speaking_ah @ nod_up_small -> speaking_ah__nod_up_small.png: gave up after 2 "
            "attempts (HTTP 500: The server had an error)") in tilts.stdout
    assert last_line(tilts.stdout) == "[i] Done. Success: 5, Failed: 1"
    endpoints = tmp_path / "frames/endpoints"
    assert not (endpoints / "speaking_ah__nod_up_small.png").exists()
    assert not list(endpoints.glob(".*"))  # no temporary leftovers
    # what the server saw: the portrait as reference, the seed's options
    first = api.requests[0]
    assert first.fields["model"] == "gpt-image-1" and first.fields["size"] == "1024x1536"
    assert first.fields["quality"] == "high" and first.fields["n"] == "1"
    assert "a watercolor portrait of a young boy" in first.fields["prompt"]
    np.testing.assert_array_equal(first.images()[0],
                                  np.asarray(Image.open(tmp_path / "boy.png").convert("RGBA")))

    # sequences: the path at nod_up_small lacks its endpoint and is reported; the rest run
    assert seq.returncode == 0, seq.stderr
    assert ("[!] Missing endpoint for neutral_to_speaking_ah @ nod_up_small: "
            "frames/endpoints/speaking_ah__nod_up_small.png not found; skipped") in seq.stdout
    assert last_line(seq.stdout) == "[i] Done. Success: 4, Failed: 0"
    tween = tmp_path / "frames/sequences/neutral_to_speaking_ah__center"
    manifest = json.loads((tween / "manifest.json").read_text())
    assert [f["file"] for f in manifest["frames"]] == ["000.png", "050.png", "100.png"]
    tween_request = [r for r in api.requests if "in-between" in r.fields["prompt"]][0]
    assert [name for name, _, _ in tween_request.files] == ["image[]", "image[]"]


def test_openai_without_key_is_a_one_line_error(tmp_path):
    (tmp_path / "expressions.json").write_text(json.dumps(SMALL))
    write_portrait(tmp_path / "boy.png")
    res = animator("extremes", "--backend", "openai", "--base-image", "boy.png", cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.startswith("animator: error: OPENAI_API_KEY is not set")
    assert len(res.stderr.splitlines()) == 1
    assert not (tmp_path / "frames/endpoints").exists() or \
        not list((tmp_path / "frames/endpoints").iterdir())


def test_dry_run_counts_calls_and_cost_without_a_key(tmp_path):
    (tmp_path / "expressions.json").write_text(json.dumps(SMALL))
    write_portrait(tmp_path / "boy.png")
    res = animator("build", "boy.png", "rig", "--config", "expressions.json", "--backend",
                   "openai", "--dry-run", "--quality", "medium", "--size", "1024x1024",
                   cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    # 3 extremes + 6 poses + (3 base-path sequences + 2 pose sequences) x 3 tweens
    assert ("[dry-run] 24 API calls to gpt-image-1 (1024x1024, quality medium): about $1.01 "
            "at $0.042 per image") in res.stdout
    assert not (tmp_path / "rig").exists()


def test_seed_error_messages(tmp_path):
    cfg = dict(SMALL)
    del cfg["poses"]
    (tmp_path / "expressions.json").write_text(json.dumps(cfg))
    res = animator("tilts", "--backend", "toon", cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip() == ("animator: error: expressions.json: No 'poses' array found "
                                  "in expressions.json")
    (tmp_path / "expressions.json").write_text(json.dumps(SMALL))
    res = animator("tilts", "--backend", "toon", cwd=tmp_path)
    assert res.returncode == 0
    assert "[!] Missing source pose for expr 'speaking_ah'" in res.stdout
    res = animator("extremes", "--backend", "toon", "--base-image", "nope.png", cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip() == "animator: error: nope.png: base image not found"


def test_rig_check_on_the_shipped_photo_rig(tmp_path):
    """The real check (FaceMesh on every endpoint) through the command line."""
    from keypoints.assets import assets_dir

    report_path, sheet = tmp_path / "check.json", tmp_path / "sheet.png"
    res = animator("check", assets_dir() / "characters" / "astronaut", "--report", report_path,
                   "--sheet", sheet, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "result: PASSED" in res.stdout and "median |pose error|" in res.stdout
    assert res.stderr == ""  # mediapipe's start-up notices are kept off the terminal
    report = json.loads(report_path.read_text())
    assert report["summary"]["passed"] and len(report["endpoints"]) == 54
    assert max(report["summary"]["median_abs_pose_error_deg"].values()) <= 2.0
    assert sheet.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
