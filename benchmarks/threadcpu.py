"""CPU seconds per thread of this process while a function runs (Linux /proc), named by
Python thread name (threads started by native libraries, e.g. x264's or OpenCV's workers,
are grouped as "native"). On a shared machine wall times follow the neighbours' load, but
CPU per thread does not: the longest thread is the critical path, and
max(longest thread, total / cores) is the wall time an idle machine could reach."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
POLL_S = 0.05


def _task_cpu() -> dict[str, float]:
    out = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/stat", encoding="ascii") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        out[tid] = (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime
    return out


def cpu_by_thread(fn: Callable[[], object], cores: int | None = None) -> dict:
    """Run ``fn``; {"wall_s", "cpu_s", "threads": {name: cpu_s}, "critical_s",
    "idle_bound_s"} with threads named as in Python (natives summed as "native"); the
    critical path is the longest single thread.

    The calling thread and the Python threads that end within ``fn`` are timed exactly
    (each by its own CPU clock as it ends: a render's lip threads live ~0.1 s and may end
    between two polls of /proc); the others by /proc, to 1/SC_CLK_TCK. ``cpu_s`` is the
    process's CPU time; what no thread accounts for (native threads that ended between
    polls) counts as "native"."""
    cores = cores or os.cpu_count() or 1
    names: dict[str, str] = {}
    last: dict[str, float] = {}
    ended: dict[str, tuple[str, float]] = {}  # tid -> (name, CPU seconds at its end)
    before = _task_cpu()
    stop = threading.Event()

    def watch() -> None:
        while True:
            py = {str(t.native_id): t.name for t in threading.enumerate()}
            for tid, cpu in _task_cpu().items():
                if tid in py:
                    names[tid] = py[tid]
                else:
                    names.setdefault(tid, "native")
                last[tid] = cpu
            if stop.wait(POLL_S):
                return

    bootstrap = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]

    def timed_bootstrap(thread: threading.Thread) -> None:
        try:
            bootstrap(thread)
        finally:
            ended[str(threading.get_native_id())] = (thread.name, time.thread_time())

    watcher = threading.Thread(target=watch, name="benchmark-watch", daemon=True)
    watcher.start()
    me = str(threading.get_native_id())
    threading.Thread._bootstrap_inner = timed_bootstrap  # type: ignore[attr-defined]
    cpu0, mine0, t0 = time.process_time(), time.thread_time(), time.perf_counter()
    try:
        fn()
    finally:
        wall = time.perf_counter() - t0
        cpu, mine = time.process_time() - cpu0, time.thread_time() - mine0
        threading.Thread._bootstrap_inner = bootstrap  # type: ignore[attr-defined]
        stop.set()
        watcher.join()
    per: Counter = Counter({threading.current_thread().name: mine})
    longest = mine
    for name, used in ended.values():
        per[name] += used
        longest = max(longest, used)
    for tid, cpu_now in last.items():
        if tid != me and tid not in ended and names.get(tid) != "benchmark-watch":
            used = cpu_now - before.get(tid, 0.0)
            per[names.get(tid, "native")] += used
            longest = max(longest, used)  # one thread: natives are not summed here
    unseen = cpu - sum(per.values())
    if unseen > 1.0 / _TICK:  # more than the /proc polls' resolution
        per["native"] += unseen
    per = Counter({k: round(v, 4) for k, v in per.items() if v >= 0.0005})
    return {"wall_s": round(wall, 4), "cpu_s": round(cpu, 4),
            "threads": dict(per.most_common()), "critical_s": round(longest, 4),
            "idle_bound_s": round(max(longest, cpu / cores), 4)}


def task_snapshot() -> dict[str, tuple[str, float, int, int]]:
    """{thread id: (Python thread name or "native", CPU seconds, voluntary and involuntary
    context switches so far)} of this process's threads now (Linux /proc; {} elsewhere).
    No watcher thread: take one before and one after, see :func:`threads_between`."""
    py = {str(t.native_id): t.name for t in threading.enumerate()}
    out = {}
    for tid, cpu in _task_cpu().items():
        try:
            with open(f"/proc/self/task/{tid}/status", encoding="ascii") as fh:
                status = dict(line.split(":", 1) for line in fh if ":" in line)
            vol = int(status["voluntary_ctxt_switches"])
            nonvol = int(status["nonvoluntary_ctxt_switches"])
        except (OSError, KeyError, ValueError):
            continue
        out[tid] = (py.get(tid, "native"), cpu, vol, nonvol)
    return out


def threads_between(before: dict, after: dict, wall_s: float, ticks: int) -> dict:
    """Per thread name (threads of one name summed), between two :func:`task_snapshot`:
    CPU share of one core over ``wall_s``, and the context switches per tick (voluntary:
    the thread waited (sleep, a lock, a mailbox, the GIL); involuntary: it was preempted)."""
    per: dict[str, list[float]] = {}
    for tid, (name, cpu, vol, nonvol) in after.items():
        _, cpu0, vol0, nonvol0 = before.get(tid, (name, 0.0, 0, 0))
        acc = per.setdefault(name, [0.0, 0, 0])
        acc[0] += cpu - cpu0
        acc[1] += vol - vol0
        acc[2] += nonvol - nonvol0
    ticks = max(1, ticks)
    return {name: {"cpu_share_of_one_core": round(cpu / wall_s, 4),
                   "switches_per_tick": {"voluntary": round(vol / ticks, 2),
                                         "involuntary": round(nonvol / ticks, 2)}}
            for name, (cpu, vol, nonvol) in sorted(per.items(), key=lambda kv: -kv[1][0])
            if cpu > 0 or vol or nonvol}
