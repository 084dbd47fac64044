"""Process-wide thread settings while a live loop runs, restored afterwards.

Two measured causes of late, slow frames (see benchmarks/live.py):

- numpy's OpenBLAS runs even a tiny matrix-vector product (the 80 x 257 mel filterbank of
  every feature frame) on two threads, and its idle worker then busy-waits for more work for
  about 0.1 s. Fed a feature frame every 10 ms it never sleeps: a whole core of a 2-core
  machine spins, and the loop thread queues behind it. One BLAS thread: no worker, no spin.
- Python hands the GIL to a waiting thread only every ``sys.getswitchinterval()`` (5 ms by
  default, a sixth of a frame); sink, server and capture threads share it with the loop.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

#: Python thread switch interval while the loop runs (seconds).
GIL_SWITCH_S = 0.0005


@contextlib.contextmanager
def live_threads(switch_interval_s: float = GIL_SWITCH_S) -> Iterator[None]:
    """One BLAS thread and a GIL switch interval of at most ``switch_interval_s`` inside."""
    # threadpoolctl comes with librosa (through scikit-learn); imported here, not at start-up
    from threadpoolctl import threadpool_limits

    switch = sys.getswitchinterval()
    sys.setswitchinterval(min(switch, switch_interval_s))
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        sys.setswitchinterval(switch)
