"""Waiting for something another thread or process does: a deadline, never a timing check."""

from __future__ import annotations

import time


def wait_for(cond, timeout_s: float, what: str, poll_s: float = 0.01):
    """Poll ``cond()`` until it returns a truthy value and return it; AssertionError naming
    ``what`` if ``timeout_s`` passes first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"gave up waiting for {what}")
