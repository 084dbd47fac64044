"""Ctrl-C and SIGTERM end a command the same deterministic way: the work unwinds, temporary
files are removed, devices are released, and the command ends with one line (status 130 or
143).

A signal handler that raises can have its exception swallowed when the signal lands inside a
weakref callback or a finaliser (Python prints "Exception ignored" and carries on), so the
handler only records the request; the long-running loops (a render's audio chunks, a live
tick, a rig build's jobs) call :func:`check` at their boundaries, which raises
:class:`Interrupted` or :class:`Terminated` in the main thread. Work with no checkpoint (a long
model load, a blocking device call) is covered by a watchdog: if the process is still running
``GRACE_S`` after the signal, or a second signal comes, the temporary outputs are removed and
the process exits at once.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable

#: Seconds between the signal and the watchdog's hard exit when no checkpoint was reached.
GRACE_S = 5.0
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT), raised at a checkpoint of the main thread."""


class Terminated(Interrupted):
    """SIGTERM, raised at a checkpoint of the main thread so that it unwinds like Ctrl-C."""


_signal: int | None = None  # the signal that arrived, if any
_finished = threading.Event()  # the command returned: the watchdog stands down
_wake = threading.Event()  # a signal arrived, or the command returned
#: Called before a hard exit (animator.core.outputs registers its cleanup).
_cleanups: list[Callable[[], None]] = []


def requested() -> bool:
    """True once Ctrl-C or SIGTERM has arrived."""
    return _signal is not None


def check() -> None:
    """Raise :class:`Interrupted` / :class:`Terminated` if the signal has arrived (acts in the
    main thread only)."""
    if _signal is not None and threading.current_thread() is threading.main_thread():
        raise Terminated() if _signal == signal.SIGTERM else Interrupted()


def on_hard_exit(cleanup: Callable[[], None]) -> None:
    """Run ``cleanup`` before the watchdog ends the process (never on a normal exit)."""
    _cleanups.append(cleanup)


def _hard_exit() -> None:
    for cleanup in _cleanups:
        try:
            cleanup()
        except Exception:  # noqa: BLE001 - best effort: the process ends anyway
            pass
    terminated = _signal == signal.SIGTERM
    print(f"animator: {'terminated' if terminated else 'interrupted'}", file=sys.stderr,
          flush=True)
    os._exit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED)


def _watchdog() -> None:
    _wake.wait()
    if not _finished.is_set() and not _finished.wait(GRACE_S):
        _hard_exit()


def _on_signal(signum: int, frame: object) -> None:
    global _signal
    if _signal is not None:  # the second Ctrl-C: no more waiting
        _hard_exit()
    _signal = signum
    _wake.set()


def install() -> Callable[[], None]:
    """Handle SIGINT and SIGTERM as described above until the returned function is called."""
    global _signal
    _signal = None
    _finished.clear()
    _wake.clear()
    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    threading.Thread(target=_watchdog, name="signal-watchdog", daemon=True).start()

    def uninstall() -> None:
        _finished.set()
        _wake.set()
        for s, handler in previous.items():
            signal.signal(s, handler)

    return uninstall
