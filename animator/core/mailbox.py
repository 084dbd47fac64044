"""Each sink gets a mailbox and a thread, so the loop and the sinks run side by side.

Live (:class:`LatestSlot`): a slow sink never stalls the loop. :meth:`SinkWorker.offer`
never blocks: an item waiting in the slot is replaced by the newer one (counted in
``n_dropped``), so a sink that cannot keep up shows the newest frames it can and memory stays
bounded by one item per sink.

Offline (:class:`FifoQueue`): every item reaches the sink, in order; ``offer`` waits while
the queue is full, so the loop runs at most ``size`` items ahead of its slowest sink (an
encoder on the other core) and memory stays bounded.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """One item, the newest; ``put`` never blocks, ``take`` waits for an item.

    The taker waits on a plain lock used as a one-permit signal, raised when the slot fills
    (or closes): a wake-up is one lock release, where a ``threading.Condition`` allocated a
    lock per wait and ran ~40 lines of Python on each side (a live frame crosses one or two
    slots every tick)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards the fields below, held for a few lines
        self._signal = threading.Lock()  # held (no permit) until the slot fills or closes
        self._signal.acquire()
        self._raised = False  # the signal holds a permit
        self._item: T | None = None
        self._full = False
        self._closed = False
        self.n_dropped = 0

    def _raise(self) -> None:
        """Give the taker its permit (under ``_lock``; at most one at a time)."""
        if not self._raised:
            self._raised = True
            self._signal.release()

    def put(self, item: T) -> None:
        with self._lock:
            if self._full:
                self.n_dropped += 1
            self._item, self._full = item, True
            self._raise()

    def take(self, timeout_s: float | None = None) -> T | None:
        """The newest item (emptying the slot), or None when closed or timed out."""
        if timeout_s is not None and timeout_s <= 0:
            got = self._signal.acquire(False)
        else:
            got = self._signal.acquire(True, -1 if timeout_s is None else timeout_s)
        if not got:
            return None
        with self._lock:
            self._raised = False
            item, full = self._item, self._full
            self._item, self._full = None, False
            if self._closed:  # a closed slot wakes every later take at once
                self._raise()
            return item if full else None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._raise()

    @property
    def pending(self) -> bool:
        """An item waits to be taken (read without the lock: a hint for the producer)."""
        return self._full

    @property
    def closed(self) -> bool:
        return self._closed


class FifoQueue(Generic[T]):
    """Up to ``size`` items in order; ``put`` waits while full, ``take`` while empty."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("size must be >= 1")
        self._cond = threading.Condition()
        self._items: collections.deque[T] = collections.deque()
        self._size = size
        self._closed = False
        self.n_dropped = 0  # always 0: nothing is dropped

    def put(self, item: T) -> None:
        with self._cond:
            self._cond.wait_for(lambda: len(self._items) < self._size or self._closed)
            if self._closed:  # the consumer is gone (it failed or was closed)
                return
            self._items.append(item)
            self._cond.notify_all()

    def take(self, timeout_s: float | None = None) -> T | None:
        """The oldest item, or None when closed and empty, or timed out."""
        with self._cond:
            self._cond.wait_for(lambda: self._items or self._closed, timeout_s)
            if not self._items:
                return None
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def take_all(self, last: Callable[[T], bool]) -> list[T]:
        """Every item, once the queue is full or its newest item is one after which none
        comes (``last(item)``); [] when closed and empty."""
        with self._cond:
            self._cond.wait_for(lambda: len(self._items) >= self._size or self._closed
                                or (self._items and last(self._items[-1])))
            items = list(self._items)
            self._items.clear()
            self._cond.notify_all()
            return items

    @property
    def closed(self) -> bool:
        """True once closed or abandoned (a producer's ``put`` no longer waits)."""
        return self._closed

    def close(self) -> None:
        """No more items: ``take`` returns the ones left, then None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def abandon(self) -> None:
        """The consumer stopped: drop what is left and release a waiting ``put``."""
        with self._cond:
            self._items.clear()
            self._closed = True
            self._cond.notify_all()


class SinkWorker(Generic[T]):
    """Runs ``handle(item)`` in a thread for the newest item offered.

    An exception in ``handle`` stops the worker and is kept in ``error`` (the loop reports
    it); ``close()`` ends the thread after the item it is handling.

    queue_size: None (live) keeps only the newest item; a number (offline) queues up to that
    many, every one handled in order, and ``offer`` waits for room.
    """

    def __init__(self, handle: Callable[[T], None], name: str,
                 queue_size: int | None = None) -> None:
        self._handle = handle
        self._slot: LatestSlot[T] | FifoQueue[T] = (
            LatestSlot() if queue_size is None else FifoQueue(queue_size))
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
                if isinstance(self._slot, FifoQueue):
                    self._slot.abandon()  # a loop waiting for room must not wait forever
                return
            self.n_handled += 1

    def close(self, timeout_s: float | None = 2.0) -> None:
        """End the thread once the items already offered are handled (a queue: all of them;
        ``timeout_s`` None waits as long as that takes)."""
        self._slot.close()
        self._thread.join(timeout_s)

    def abandon(self) -> None:
        """Stop without handling what is still queued (the run failed)."""
        if isinstance(self._slot, FifoQueue):
            self._slot.abandon()
        self._slot.close()
