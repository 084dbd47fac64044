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

from keypoints.conv_stream import StreamProgram, UnsupportedGraph, probe_features
from keypoints.onnx_graph import Graph

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


def _as_slice(rows: np.ndarray) -> slice | np.ndarray:
    """A slice (basic indexing: views, no gather) when ``rows`` step evenly, else the rows."""
    if rows.size == 1:
        return slice(int(rows[0]), int(rows[0]) + 1, 1)
    step = int(rows[1] - rows[0])
    if rows.size and step > 0 and np.all(np.diff(rows) == step):
        return slice(int(rows[0]), int(rows[-1]) + 1, step)
    return rows


def _shift(index: slice | np.ndarray, by: int) -> slice | np.ndarray:
    if isinstance(index, slice):
        return slice(index.start - by, index.stop - by, index.step)
    return index - by


def _taps(src: np.ndarray, index: slice | np.ndarray, first: int, step: int, k: int
          ) -> np.ndarray:
    """float32[m, k * width]: for each row of ``index``, the ``k`` rows of ``src`` from
    ``row + first`` every ``step``, side by side (one copy)."""
    width = src.shape[1]
    if isinstance(index, slice):
        m = len(range(index.start, index.stop, index.step))
        rows, cols = src.strides
        view = np.ndarray((m, k, width), src.dtype, src, (index.start + first) * rows,
                          (index.step * rows, step * rows, cols))
        taps = np.empty((m, k, width), src.dtype)  # (a reshape of the view could be a
        np.copyto(taps, view)  # view with overlapping rows, which BLAS cannot take)
        return taps.reshape(m, k * width)
    offsets = first + step * np.arange(k)
    return src[index[:, None] + offsets[None, :]].reshape(len(index), k * width)


def _fused_relus(program: StreamProgram) -> dict[int, int]:
    """conv op index -> the index of the Relu that alone reads its output (computed in place
    on the product: the convolution's own rows are never stored)."""
    ops = program._ops
    readers: dict[int, list[int]] = {}
    for i, op in enumerate(ops):
        for buf, *_ in op.reads:
            readers.setdefault(buf, []).append(i)
    if program.out.buffer in readers:
        readers[program.out.buffer].append(-1)
    fused = {}
    for i, op in enumerate(ops):
        r = readers.get(op.out, [])
        if (op.kind == "conv" and op.out != program.out.buffer and len(r) == 1
                and ops[r[0]].kind == "relu" and ops[r[0]].reads[0][1] == 0):
            fused[i] = r[0]
    return fused


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
    fused = _fused_relus(program)
    skip = set(fused.values())
    buffers: list[np.ndarray | None] = [None] * len(program._channels)
    first = np.empty((n_steps, n_in + 1), np.float32)
    first[:, :n_in] = features.T
    first[:, n_in] = 1.0
    buffers[0] = first
    for i, op in enumerate(program._ops):
        if i in skip:
            continue
        target = program._ops[fused[i]].out if i in fused else op.out
        rows = need[target]
        if rows is None:
            continue
        c = op.channels
        if buffers[target] is None:
            buffers[target] = np.empty((n_steps, c + 1), np.float32)
            buffers[target][:, c] = 1.0  # a convolution's ones column (its bias)
        dst = buffers[target]
        index = _as_slice(rows)
        if op.kind == "conv":
            buf, delay, span, step = op.reads[0]
            product = _taps(buffers[buf], index, -span - delay, step, span // step + 1
                            ) @ op.weight.T
            if i in fused:
                np.maximum(product, 0.0, out=product)
            dst[index, :c] = product
            continue
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


def checked_batch_program(graph: Graph, n_in: int, lag: int, run, silence_value: float
                          ) -> StreamProgram:
    """The step plan of ``graph`` for :func:`run_batch`, checked against ``run`` (the
    windowed model) on :func:`~keypoints.conv_stream.probe_features`: the stream's check
    without stepping the probe through a stream (a few ms instead of ~25). Raises
    UnsupportedGraph (one-line reason) when it cannot be compiled or disagrees."""
    program = StreamProgram(graph, n_in)
    if program.lag != lag:
        raise UnsupportedGraph(f"the graph sees {program.lag + 1} frames, the contract "
                               f"{lag + 1}")
    probe = probe_features(n_in, lag + 73, silence_value)
    want, got = run(probe), run_batch(program, probe)
    if want.shape != got.shape:
        raise UnsupportedGraph(f"the plan gives {list(got.shape)}, the model "
                               f"{list(want.shape)}")
    err = float(np.max(np.abs(got - want)))
    if not err <= BATCH_TOLERANCE:
        raise UnsupportedGraph(f"the plan differs from the model by {err:.2g} > "
                               f"{BATCH_TOLERANCE:g} on the load check")
    return program
