"""Where a batch's jobs run: this process, a pool of local processes, or a Ray cluster. Each
runner calls :func:`animator.render.batch.run_job` for every job (the same code path) and
yields the results as they complete; Ctrl-C / SIGTERM stop the workers (their temporary
outputs are removed) and propagate.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import signal
from collections.abc import Iterator, Sequence

from animator.core import shutdown
from animator.core.errors import AnimatorError, one_line
from animator.render.batch import Job, JobResult, run_job

#: Seconds between checks for Ctrl-C / SIGTERM while waiting for workers.
POLL_S = 0.2


class RayUnavailable(AnimatorError):
    """--ray without Ray installed, or a cluster that cannot be reached."""


def in_process(jobs: Sequence[Job]) -> Iterator[JobResult]:
    """One job after the other in this process (``--jobs 1``: no worker start-up)."""
    for job in jobs:
        yield run_job(job)


#: Thread pools of the libraries a render uses, one thread each in a worker: N workers on N
#: cores then never oversubscribe them (onnxruntime and x264 already run on one thread, the
#: loop limits BLAS to one; OpenCV would start one worker per core in every process).
SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                     "MKL_NUM_THREADS": "1"}


def single_threaded_libraries() -> None:
    """One thread for OpenCV and the BLAS/OpenMP pools of this worker process."""
    os.environ.update(SINGLE_THREAD_ENV)
    import cv2

    cv2.setNumThreads(1)


def _worker_init() -> None:
    # Ctrl-C and SIGTERM unwind the worker's render at its next checkpoint (temporary outputs
    # removed), as in the ``animator`` command itself
    shutdown.install()
    single_threaded_libraries()


def _ray_job(job: Job) -> JobResult:
    """A Ray task: :func:`run_job` in a worker with one thread per library (Ray itself sets
    OMP_NUM_THREADS=1 for a task of one CPU)."""
    single_threaded_libraries()
    return run_job(job, lip_thread=False)


def worker_pool(n_workers: int) -> cf.ProcessPoolExecutor:
    """``n_workers`` fresh processes (spawned), each with one thread per library."""
    return cf.ProcessPoolExecutor(max_workers=n_workers,
                                  mp_context=multiprocessing.get_context("spawn"),
                                  initializer=_worker_init)


def local_pool(jobs: Sequence[Job], n_workers: int) -> Iterator[JobResult]:
    """``n_workers`` fresh processes (spawned: nothing of this process is shared), each
    rendering one job at a time."""
    pool = worker_pool(n_workers)
    futures = {pool.submit(run_job, job, False): job for job in jobs}  # a core each
    try:
        not_done = set(futures)
        while not_done:
            done, not_done = cf.wait(not_done, timeout=POLL_S, return_when=cf.FIRST_COMPLETED)
            shutdown.check()
            for fut in done:
                yield _result_of(futures[fut], fut)
    except BaseException:
        for fut in futures:
            fut.cancel()
        for pid in list(getattr(pool, "_processes", {}) or {}):
            try:
                os.kill(pid, signal.SIGTERM)  # each unwinds its render and removes its temps
            except OSError:
                pass
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _result_of(job: Job, fut: cf.Future) -> JobResult:
    try:
        return fut.result()
    except cf.process.BrokenProcessPool:
        return JobResult(job.audio, job.output, "failed",
                         error=f"{job.audio}: the worker process died (out of memory?)")
    except BaseException as exc:  # noqa: BLE001 - a worker's interruption, reported per file
        return JobResult(job.audio, job.output, "failed",
                         error=one_line(f"{job.audio}: {type(exc).__name__}: {exc}"))


def ray_cluster(jobs: Sequence[Job], address: str | None, n_cpus: int | None
                ) -> Iterator[JobResult]:
    """One Ray task per job on the cluster at ``address`` (``ray://HOST:10001`` through the
    Ray client, or a head's ``HOST:6379`` / ``auto``), or, with None, on a local Ray started
    for this run with ``n_cpus`` CPUs (default: all). Inputs and outputs must be at the same
    paths on every node (shared storage)."""
    try:
        import ray
    except ImportError:
        raise RayUnavailable("--ray needs Ray: pip install 'talking-head-animator[ray]'") \
            from None
    started = not ray.is_initialized()
    if started:
        try:
            if address:
                ray.init(address=address, logging_level="ERROR", log_to_driver=False)
            else:
                ray.init(num_cpus=n_cpus, include_dashboard=False, logging_level="ERROR",
                         log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise RayUnavailable(f"ray {address or 'local'}: cannot start or reach the "
                                 f"cluster ({one_line(exc)})") from None
    task = ray.remote(num_cpus=1, max_retries=0)(_ray_job)
    refs = {task.remote(job): job for job in jobs}
    try:
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1, timeout=POLL_S)
            shutdown.check()
            for ref in ready:
                job = refs.pop(ref)
                try:
                    yield ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - a lost node or worker: per file
                    yield JobResult(job.audio, job.output, "failed",
                                    error=one_line(f"{job.audio}: Ray: {exc}"))
    finally:
        for ref in refs:
            ray.cancel(ref)  # KeyboardInterrupt raised inside: temporary outputs removed
        if started:
            ray.shutdown()
