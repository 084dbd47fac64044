"""A step plan (keypoints.conv_stream) run over a whole sequence at once: each convolution
one matrix-matrix product over all the frames it must compute (offline, the whole file is
there).

The plan numbers every tensor's frames by the input step that completes them (tensor row n
exists once input frame n has arrived), so here each tensor is one array of rows indexed by
input step, and an op computes a set of rows: a convolution gathers each row's taps side by
side (im2col, the bias as the ones column of its input, as the plan lays them out) and makes
them all in one float32 gemm; the element-wise ops run over the same rows.

``frames``: only some output frames are wanted (an offline render shows one keypoint frame
in four at 100 Hz and 25 fps). The rows each tensor must have are found backwards from the
wanted outputs through the taps and crops; a dilated stack then computes only what the
wanted frames read (for the shipped models at 25 fps: ~2.5x fewer products).

A gemm sums its terms in another order than the streaming gemv, so the outputs differ from
the stream's in rounding: :data:`BATCH_TOLERANCE` bounds it (tests compare on real speech).
"""

from __future__ import annotations

import numpy as np

from keypoints.conv_stream import StreamProgram

#: Largest difference between an output frame computed here and the same frame streamed
#: (keypoints: mouth widths; shapes: probability); measured on real speech: see the tests.
BATCH_TOLERANCE = 1e-5


def _rows_of(n: int, start: int) -> np.ndarray:
    return np.arange(start, n, dtype=np.intp)


def _needed(program: StreamProgram, out_rows: np.ndarray) -> list[np.ndarray | None]:
    """The rows each buffer must have (sorted, unique) for ``out_rows`` of the output's."""
    needed: list[list[np.ndarray]] = [[] for _ in program._channels]
    needed[program.out.buffer].append(out_rows)
    rows: list[np.ndarray | None] = [None] * len(program._channels)
    for op in reversed(program._ops):
        mine = needed[op.out]
        if not mine:
            continue
        r = np.unique(np.concatenate(mine)) if len(mine) > 1 else mine[0]
        rows[op.out] = r
        for buf, delay, span, step in op.reads:
            if op.kind == "conv":
                taps = np.arange(-span, 1, step)
                needed[buf].append(np.unique((r[:, None] + taps[None, :] - delay).ravel()))
            else:
                needed[buf].append(r - delay)
    return rows


def _contiguous(rows: np.ndarray) -> slice | np.ndarray:
    """A slice when ``rows`` are consecutive (views, no gather), else the rows."""
    if rows.size and rows[-1] - rows[0] + 1 == rows.size:
        return slice(int(rows[0]), int(rows[-1]) + 1)
    return rows


def _shift(index: slice | np.ndarray, by: int) -> slice | np.ndarray:
    if isinstance(index, slice):
        return slice(index.start - by, index.stop - by)
    return index - by


def run_batch(program: StreamProgram, features: np.ndarray,
              frames: np.ndarray | None = None) -> np.ndarray:
    """float32[n_in, T] input frames (the past context included, as a stream is fed) ->
    float32[T - lag, *frame_shape], the output frames the stream would give for them (within
    BATCH_TOLERANCE). ``frames``: int[m] sorted output frame numbers to compute (the others
    are left zero); None: all."""
    n_in, n_steps = features.shape
    lag, out = program.lag, program.out
    n_frames = n_steps - lag
    if n_frames < 1:
        raise ValueError(f"need at least {lag + 1} input frames, got {n_steps}")
    wanted = _rows_of(n_frames, 0) if frames is None else np.asarray(frames, np.intp)
    need = _needed(program, wanted + lag - out.delay)
    buffers: list[np.ndarray | None] = [None] * len(program._channels)
    first = np.empty((n_steps, n_in + 1), np.float32)
    first[:, :n_in] = features.T
    first[:, n_in] = 1.0
    buffers[0] = first
    for op in program._ops:
        rows = need[op.out]
        if rows is None:
            continue
        if buffers[op.out] is None:
            buffers[op.out] = np.empty((n_steps, op.channels + 1), np.float32)
            buffers[op.out][:, op.channels] = 1.0  # a convolution's ones column (its bias)
        dst = buffers[op.out]
        index = _contiguous(rows)
        c = op.channels
        if op.kind == "conv":
            buf, delay, span, step = op.reads[0]
            src = buffers[buf]
            taps = np.arange(-span - delay, 1 - delay, step)
            gathered = src[rows[:, None] + taps[None, :]]  # [m, k, C_in + 1]
            dst[index, :c] = gathered.reshape(len(rows), -1) @ op.weight.T
        else:
            srcs = [buffers[buf][_shift(index, delay), :c] for buf, delay, _, _ in op.reads]
            if op.kind == "relu":
                dst[index, :c] = np.maximum(srcs[0], 0.0)
            elif op.kind == "add":
                dst[index, :c] = srcs[0] + srcs[1]
            elif op.kind == "addc":
                dst[index, :c] = srcs[0] + op.weight
            else:  # softmax over the channels of each row
                x = srcs[0] - srcs[0].max(axis=1, keepdims=True)
                np.exp(x, x)
                x /= x.sum(axis=1, keepdims=True)
                dst[index, :c] = x
    result = np.zeros((n_frames, out.channels), np.float32)
    result[wanted] = buffers[out.buffer][wanted + lag - out.delay, :out.channels]
    return result.reshape(n_frames, *program.frame_shape)
