"""A slow sink never stalls the loop: each sink gets a one-slot mailbox and a thread.

:meth:`SinkWorker.offer` never blocks: an item waiting in the slot is replaced by the newer
one (counted in ``n_dropped``), so a sink that cannot keep up shows the newest frames it can
and memory stays bounded by one item per sink.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """One item, the newest; ``put`` never blocks, ``take`` waits for an item."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._full = False
        self._closed = False
        self.n_dropped = 0

    def put(self, item: T) -> None:
        with self._cond:
            if self._full:
                self.n_dropped += 1
            self._item, self._full = item, True
            self._cond.notify()

    def take(self, timeout_s: float | None = None) -> T | None:
        """The newest item (emptying the slot), or None when closed or timed out."""
        with self._cond:
            self._cond.wait_for(lambda: self._full or self._closed, timeout_s)
            if not self._full:
                return None
            item, self._item, self._full = self._item, None, False
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class SinkWorker(Generic[T]):
    """Runs ``handle(item)`` in a thread for the newest item offered.

    An exception in ``handle`` stops the worker and is kept in ``error`` (the loop reports
    it); ``close()`` ends the thread after the item it is handling.
    """

    def __init__(self, handle: Callable[[T], None], name: str) -> None:
        self._handle = handle
        self._slot: LatestSlot[T] = LatestSlot()
        self.n_handled = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def n_dropped(self) -> int:
        return self._slot.n_dropped

    def offer(self, item: T) -> None:
        self._slot.put(item)

    def _run(self) -> None:
        while True:
            item = self._slot.take()
            if item is None:
                return
            try:
                self._handle(item)
            except BaseException as exc:  # reported by the loop, never swallowed
                self.error = exc
                return
            self.n_handled += 1

    def close(self, timeout_s: float = 2.0) -> None:
        self._slot.close()
        self._thread.join(timeout_s)
