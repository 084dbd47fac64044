"""SIGTERM handled like Ctrl-C: the work unwinds, temporary files are removed, devices are
released, and the command ends with one line and status 143.

A signal handler that raises can have its exception swallowed when the signal lands inside a
weakref callback or a finaliser (Python prints "Exception ignored" and carries on), so the
handler only records the request; the long-running loops (a render's audio chunks, a live
tick, a rig build's jobs) call :func:`check` at their boundaries, which raises
:class:`Terminated` in the main thread. Work with no checkpoint (a long model load, a
blocking device call) is covered by a watchdog: if the process is still running
``GRACE_S`` after the signal, it removes the temporary outputs and exits at once.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable

#: Seconds between SIGTERM and the watchdog's hard exit when no checkpoint was reached.
GRACE_S = 10.0
EXIT_TERMINATED = 128 + signal.SIGTERM

_requested = threading.Event()  # SIGTERM arrived
_finished = threading.Event()  # the command returned: the watchdog stands down
_wake = threading.Event()  # either of the two
#: Called by the watchdog before a hard exit (animator.core.outputs registers its cleanup).
_cleanups: list[Callable[[], None]] = []


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised at a checkpoint of the main thread so that it unwinds like Ctrl-C."""


def requested() -> bool:
    """True once SIGTERM has arrived."""
    return _requested.is_set()


def check() -> None:
    """Raise :class:`Terminated` if SIGTERM has arrived (call from the main thread)."""
    if _requested.is_set() and threading.current_thread() is threading.main_thread():
        raise Terminated()


def on_hard_exit(cleanup: Callable[[], None]) -> None:
    """Run ``cleanup`` before the watchdog ends the process (never on a normal exit)."""
    _cleanups.append(cleanup)


def _watchdog() -> None:
    _wake.wait()
    if not _finished.is_set() and not _finished.wait(GRACE_S):
        for cleanup in _cleanups:
            try:
                cleanup()
            except Exception:  # noqa: BLE001 - best effort: the process ends anyway
                pass
        print("animator: terminated", file=sys.stderr, flush=True)
        os._exit(EXIT_TERMINATED)


def _on_sigterm(signum: int, frame: object) -> None:
    _requested.set()
    _wake.set()


def install() -> Callable[[], None]:
    """Handle SIGTERM as described above until the returned function is called."""
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    for event in (_requested, _finished, _wake):
        event.clear()
    threading.Thread(target=_watchdog, name="sigterm-watchdog", daemon=True).start()

    def uninstall() -> None:
        _finished.set()
        _wake.set()
        signal.signal(signal.SIGTERM, previous)

    return uninstall
