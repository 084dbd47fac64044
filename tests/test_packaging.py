"""The wheel: every runtime package and the shipped assets, no corpus or training code, and
an install of it renders from another folder."""

import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Tooling run from a checkout (the `train` extra): never in the wheel.
TOOLING = ("keypoints.corpus", "keypoints.training", "keypoints.viseme_training")


def _is_tooling(package: str) -> bool:
    return any(package == t or package.startswith(t + ".") for t in TOOLING)


def _git_files(*paths: str) -> list[str]:
    out = subprocess.run(["git", "ls-files", *paths], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    return out.stdout.split()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out), str(ROOT)], check=True, capture_output=True,
                   timeout=300)
    (path,) = out.glob("*.whl")
    return path


def test_every_runtime_package_is_listed_and_no_tooling():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for top in ("animator", "keypoints") for p in (ROOT / top).rglob("__init__.py")}
    runtime = {p for p in found if not _is_tooling(p)}
    assert runtime <= listed, f"add to [tool.setuptools] packages: {sorted(runtime - listed)}"
    assert not [p for p in listed if _is_tooling(p)]
    assert cfg["package-dir"]["animator_assets"] == "assets"


def test_wheel_holds_the_runtime_and_assets_but_no_training(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {n for n in names if n.endswith(".py")}
    tooling = [n for n in modules if _is_tooling(n.removesuffix(".py").replace("/", "."))]
    assert not tooling, f"training code in the wheel: {sorted(tooling)[:5]}"
    runtime = [f for f in _git_files("animator", "keypoints")
               if not _is_tooling(os.path.dirname(f).replace("/", "."))]
    missing = sorted(set(runtime) - names)
    assert not missing, f"runtime files missing from the wheel: {missing[:5]}"
    assets = {"animator_assets/" + f.removeprefix("assets/")
              for f in _git_files("assets") if not f.endswith(".sh")}
    assert not sorted(assets - names), sorted(assets - names)[:5]


def test_installed_wheel_renders_from_another_folder(wheel, tmp_path):
    """Unpacked as pip installs it (a pure wheel is its own site folder) and put first on the
    path, so the checkout's editable install is not what runs."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    work = tmp_path / "elsewhere"
    work.mkdir()
    demo = ROOT / "assets" / "audio" / "demo_speech.ogg"
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("ANIMATOR_ASSETS", None)
    where = subprocess.run(
        [sys.executable, "-c", "import animator, keypoints.assets as a; "
         "print(animator.__file__); print(a.assets_dir())"],
        cwd=work, env=env, capture_output=True, text=True, check=True).stdout.split()
    assert all(Path(p).is_relative_to(site) for p in where), where
    out = subprocess.run([sys.executable, "-m", "animator", "render", str(demo),
                          "--timeline", "t.json", "--quiet"],
                         cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    timeline = json.loads((work / "t.json").read_text())
    assert len(timeline["frames"]) == round(timeline["duration"] * timeline["fps"])
    assert {f["image"].split("/")[0] for f in timeline["frames"]} <= {"endpoints", "sequences"}
