"""benchmarks.threadcpu: CPU per thread of a run, short-lived threads included."""

from __future__ import annotations

import threading
import time

from benchmarks.threadcpu import cpu_by_thread


def _burn(cpu_s: float) -> None:
    t0 = time.thread_time()
    while time.thread_time() - t0 < cpu_s:
        pass


def test_a_thread_that_ends_between_two_polls_is_counted_by_its_name():
    """Two threads of 30 ms CPU each, started and joined within the run (a poll of /proc
    every 50 ms can miss both): each counts under its name, the caller's own work under its
    own, and the total is the process's."""
    def run() -> None:
        workers = [threading.Thread(target=_burn, args=(0.03,), name=f"short-{k}")
                   for k in range(2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        _burn(0.02)

    out = cpu_by_thread(run)
    assert out["threads"]["short-0"] >= 0.03 and out["threads"]["short-1"] >= 0.03
    assert out["threads"][threading.current_thread().name] >= 0.02
    assert out["cpu_s"] >= 0.08 and out["critical_s"] >= 0.03
    assert threading.Thread._bootstrap_inner.__name__ == "_bootstrap_inner"  # restored
