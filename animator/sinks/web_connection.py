"""One page connected to the web sink (animator.sinks.web): its WebSocket, a one-slot
mailbox for the frames the loop could not write at once, and the order of what was written.

The loop writes a frame itself when that never waits (the connection open, its socket
writable, no write of the page's thread under way, nothing waiting in the mailbox): no
thread is woken for it. Otherwise the frame goes into the mailbox and the page's own thread
writes it, waiting on the socket as long as it must. Frames carry a sequence number, so a
frame taken from the mailbox after a newer one was written is dropped, never sent late.
"""

from __future__ import annotations

import select
import threading
from typing import Any

from animator.core.mailbox import LatestSlot


class PageConnection:
    """One connected page: its connection, a one-slot mailbox for the frames the loop could
    not write at once, and the newest frame written (frames carry a sequence number: the
    loop's writes and the page's thread's never go out of order)."""

    def __init__(self, connection: Any) -> None:
        from websockets.exceptions import ConnectionClosed
        from websockets.protocol import State

        self._open, self._gone = State.OPEN, ConnectionClosed  # (websockets loads lazily)
        self.connection = connection
        self.slot: LatestSlot[tuple[str, float, int]] = LatestSlot()
        self.sending = threading.Lock()  # one writer at a time: the loop or the page's thread
        self.sent = -1  # sequence number of the newest frame written
        self.n_stale = 0  # frames in the mailbox that a newer write overtook (dropped)
        self._poll = select.poll()
        self._poll.register(connection.socket, select.POLLOUT)

    @property
    def n_dropped(self) -> int:
        return self.slot.n_dropped + self.n_stale

    def write_now(self, text: str, seq: int) -> bool:
        """Write the frame in the caller's thread if that never waits: the connection open,
        its socket writable, no write of the page's thread under way and nothing in the
        mailbox (which would then go out after a newer frame). True: written (or the page
        turned out to be gone); False: not written."""
        if not self.sending.acquire(False):
            return False
        try:
            if (self.slot.pending or self.connection.protocol.state is not self._open
                    or not self._poll.poll(0)):
                return False
            self.connection.send(text)
            self.sent = seq
        except self._gone:
            self.slot.close()  # the page is gone: its thread ends
        finally:
            self.sending.release()
        return True

    def write_taken(self, text: str, seq: int) -> bool:
        """Write a frame taken from the mailbox (the page's thread; may wait on the socket);
        False when a newer frame was written meanwhile (this one is dropped)."""
        with self.sending:
            if seq <= self.sent:
                self.n_stale += 1
                return False
            self.connection.send(text)
            self.sent = seq
            return True
