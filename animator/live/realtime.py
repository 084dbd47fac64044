"""Process-wide settings while a live loop runs, restored afterwards.

Three measured causes of slow or late frames (see benchmarks/live.py):

- numpy's OpenBLAS runs even a tiny matrix-vector product (the 80 x 257 mel filterbank of
  every feature frame) on two threads, and its idle worker then busy-waits for more work for
  about 0.1 s. Fed a feature frame every 10 ms it never sleeps: a whole core of a 2-core
  machine spins, and the loop thread queues behind it. One BLAS thread: no worker, no spin
  (keypoints.compute_threads, which every command also runs inside).
- Python's cyclic garbage collector now and then walks every object of the process (about
  50,000 once the model, rig and servers are loaded: 10-12 ms), in whichever thread happens
  to allocate, holding the GIL. What exists when the loop starts lives as long as the loop:
  frozen out of the collector's walks, a full collection costs the objects made since.
- Python hands the GIL to a waiting thread only every ``sys.getswitchinterval()`` (5 ms by
  default, a sixth of a frame); sink, server and capture threads share it with the loop.
- OpenCV runs its small per-frame calls (the camera frame's colour conversion, resizes)
  through a pool whose idle workers spin in ``sched_yield``: in the webcam path one such
  thread was switched out ~130-240 times a tick (1-2 % of a core on a busy machine; idle,
  more). One OpenCV thread while the loop runs, as the offline renderer already does.
"""

from __future__ import annotations

import contextlib
import gc
import sys
from collections.abc import Iterator

#: Python thread switch interval while the loop runs (seconds).
GIL_SWITCH_S = 0.0005


@contextlib.contextmanager
def realtime_settings(switch_interval_s: float = GIL_SWITCH_S) -> Iterator[None]:
    """Inside: one BLAS thread, one OpenCV thread (when OpenCV is loaded), the objects that
    exist now frozen out of the garbage collector's walks, and a GIL switch interval of at
    most ``switch_interval_s``."""
    from keypoints.compute_threads import compute_threads

    cv2 = sys.modules.get("cv2")  # never imported here: an audio-only run may lack it
    cv_threads = cv2.getNumThreads() if cv2 is not None else None
    if cv2 is not None:
        cv2.setNumThreads(1)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(min(switch, switch_interval_s))
    # no gc.collect() first: with FaceMesh loaded it takes ~36 ms, a late start; the little
    # garbage frozen with the rest is freed at unfreeze (the end of the run)
    gc.freeze()
    try:
        with compute_threads():
            yield
    finally:
        gc.unfreeze()
        sys.setswitchinterval(switch)
        if cv2 is not None:
            cv2.setNumThreads(cv_threads)
