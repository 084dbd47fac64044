"""Carrying rig-building plans out: images read and written (atomically, in the rig's format),
jobs run level by level in a thread pool with one line each and a progress bar, a tally of
successes and failures, Ctrl-C/SIGTERM at job boundaries, and no job writing over an input.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from animator.authoring.backend import RigBackend
from animator.authoring.plans import Job, Plan, read_image, write_image
from animator.authoring.verify import Verifier
from animator.core import shutdown
from animator.core.outputs import refuse_inputs

# --- running -----------------------------------------------------------------------------

@dataclass
class Tally:
    success: int = 0
    failed: int = 0
    check_failed: bool = False  # the finished rig failed its check (a verifying build)

    def __iadd__(self, other: Tally) -> Tally:
        self.success += other.success
        self.failed += other.failed
        self.check_failed = self.check_failed or other.check_failed
        return self

    def done_line(self) -> str:
        return f"[i] Done. Success: {self.success}, Failed: {self.failed}"

    @property
    def ok(self) -> bool:
        return self.failed == 0 and not self.check_failed


def _stdout_log(line: str) -> None:
    from tqdm import tqdm

    tqdm.write(line, file=sys.stdout)  # keeps a progress bar on stderr intact
    sys.stdout.flush()


def _reason(exc: BaseException) -> str:
    """One line for a failed job: the message of our errors, type + message otherwise."""
    text = " ".join(str(exc).split())
    if type(exc).__module__ == "builtins" or not text:
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text


@dataclass
class Runner:
    """Carries plans out: ``max_workers`` threads (1 for a backend that is not thread
    safe), one line per job, a progress bar on a terminal. With a ``verifier`` every image is
    measured before it is written (a bad one fails with the reason and is not written), and
    images a plan leaves alone because they exist are measured too."""

    backend: RigBackend
    max_workers: int = 4
    progress: bool = True
    log: Callable[[str], None] = _stdout_log
    #: files the run reads (portrait, config, ...): no job may write over one of them
    inputs: tuple[Path, ...] = ()
    verifier: Verifier | None = None

    def _execute(self, job: Job) -> None:
        image = job.make()
        if self.verifier is not None and job.expect is not None:
            self.verifier.check(job.shown, np.asarray(image), job.expect)
        job.dest.parent.mkdir(parents=True, exist_ok=True)
        write_image(job.dest, image)

    def _verify_existing(self, job: Job) -> None:
        self.verifier.check(job.shown, read_image(job.dest), job.expect)

    def run(self, plan: Plan) -> Tally:
        from tqdm import tqdm

        refuse_inputs([job.dest for level in plan.levels for job in level], self.inputs)

        for note in plan.notes:
            self.log(note)
        if plan.skipped:
            self.log(f"[i] Skipping {plan.skipped} existing images (--overwrite redoes them)")
        for step in plan.before:
            step()
        workers = max(1, self.max_workers if getattr(self.backend, "thread_safe", False)
                      else 1)
        if plan.n_jobs:
            self.log(f"[i] Generating {plan.n_jobs} {plan.what} with {workers} workers...")
        else:
            self.log(f"[i] No {plan.what} to make")
        tally = Tally()
        existing = [j for j in plan.existing if j.expect is not None] if self.verifier else []
        bar = tqdm(total=plan.n_jobs + len(existing), unit="img",
                   disable=not (self.progress and sys.stderr.isatty()))
        pool = ThreadPoolExecutor(workers)
        try:
            if existing:
                futures = {pool.submit(self._verify_existing, job): job for job in existing}
                for fut in as_completed(futures):
                    job, exc = futures[fut], fut.exception()
                    if exc is not None:
                        tally.failed += 1
                        self.log(f"[✗] {job.label} -> {job.shown} (existing): {_reason(exc)}")
                    bar.update(1)
            for level in plan.levels:
                futures = {pool.submit(self._execute, job): job for job in level}
                for fut in as_completed(futures):
                    shutdown.check()  # SIGTERM: stop like Ctrl-C (finished images are kept)
                    job, exc = futures[fut], fut.exception()
                    if exc is None:
                        tally.success += 1
                        self.log(f"[✓] {job.label} -> {job.shown}")
                    else:
                        tally.failed += 1
                        self.log(f"[✗] {job.label} -> {job.shown}: {_reason(exc)}")
                    bar.update(1)
        finally:
            bar.close()
            pool.shutdown(wait=True, cancel_futures=True)
        for step in plan.after:
            step()
        return tally
