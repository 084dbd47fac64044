"""How many threads the per-frame numeric work may use: the one place that sets it, for
every command (render, batch, live, rig: ``animator.cli.main`` runs each inside
:func:`compute_threads`; the live loop's realtime settings use it too).

Measured reasons (2-core machine): numpy's OpenBLAS splits even a 96 x 291 matrix-vector
product of the streaming MappingNet, or the 80 x 257 mel filterbank of one feature frame,
over two threads, and its idle worker then spins for ~0.1 s waiting for more: fed work every
10 ms it never sleeps, so a whole core spins for nothing. One BLAS thread: no worker, no
spin. onnxruntime gets one intra-op and one inter-op thread for the same reason (its pool
would spin likewise between the small per-frame calls).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import TypeVar

_F = TypeVar("_F", bound=Callable)

#: BLAS threads (numpy's OpenBLAS) while a command runs.
BLAS_THREADS = 1
#: onnxruntime session threads (keypoints.onnx_session): within one op, and across ops.
ORT_INTRA_OP_THREADS = 1
ORT_INTER_OP_THREADS = 1


@contextlib.contextmanager
def compute_threads(blas_threads: int = BLAS_THREADS) -> Iterator[None]:
    """Inside: numpy's BLAS on ``blas_threads`` threads; the setting before is restored."""
    import numpy  # noqa: F401  (loads the BLAS library threadpoolctl limits)
    from threadpoolctl import threadpool_limits  # after numpy: it finds the loaded BLAS

    with threadpool_limits(limits=blas_threads, user_api="blas"):
        yield


def on_compute_threads(fn: _F) -> _F:
    """``fn`` run inside :func:`compute_threads`, also when called as a library function (not
    only from a command): e.g. the offline render, whose whole-file lips run their gemms in
    two threads at once, where a multi-threaded BLAS may split a product differently from call
    to call (and so round it differently)."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        with compute_threads():
            return fn(*args, **kwargs)
    return run  # type: ignore[return-value]
