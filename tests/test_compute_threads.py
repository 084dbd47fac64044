"""One BLAS thread in every command (keypoints.compute_threads): the CLI runs each command
inside it, a batch job (also in a spawned or Ray worker) too, and the setting before comes
back afterwards."""

from __future__ import annotations

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import animator.cli.live
import animator.render.offline
from animator.cli.main import main
from animator.render.batch import Job, run_job
from keypoints.compute_threads import BLAS_THREADS, compute_threads


def blas_threads() -> set[int]:
    """numpy's own BLAS (opencv may bring an older one of its own)."""
    return {i["num_threads"] for i in threadpool_info()
            if i["user_api"] == "blas" and "numpy" in i["filepath"]}


def test_the_setting_holds_inside_and_is_restored():
    with threadpool_limits(limits=2, user_api="blas"):
        assert blas_threads() == {2}
        with compute_threads():
            assert blas_threads() == {BLAS_THREADS} == {1}
        assert blas_threads() == {2}


@pytest.mark.parametrize("command", [["devices"]])
def test_every_command_runs_on_one_blas_thread(monkeypatch, command):
    seen = []
    monkeypatch.setattr(animator.cli.live, "run_devices", lambda args: seen.append(
        blas_threads()) or 0)
    with threadpool_limits(limits=2, user_api="blas"):
        assert main(command) == 0
        assert blas_threads() == {2}
    assert seen == [{1}]


def test_a_batch_job_runs_on_one_blas_thread(monkeypatch, tmp_path):
    seen = []

    def fake_render(*args, **kwargs):
        seen.append(blas_threads())
        raise animator.render.offline.NothingToWrite("nothing")

    monkeypatch.setattr(animator.render.offline, "render", fake_render)
    with threadpool_limits(limits=2, user_api="blas"):
        result = run_job(Job(str(tmp_path / "a.wav"), str(tmp_path / "a.mp4"), None, None, 0))
    assert seen == [{1}] and result.status == "failed"
