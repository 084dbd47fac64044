"""The numpy calls of a step plan (keypoints.conv_stream): of one step (:func:`step_calls`),
and of a block of ``b`` consecutive input frames through every layer at once
(:func:`block_calls`), bit for bit the values of ``b`` single steps.

A live tick brings ~4 feature frames (offline, more): one step each is ~25 numpy calls per
frame, mostly call overhead on these small layers. A block makes each op one call over its
``b`` rows: the element-wise ops (Relu, Add, Softmax per row) over ``b`` rows of the buffers,
and each convolution one stacked matrix-vector product (``np.matmul(W, taps[b, K, 1])``:
numpy loops over the ``b`` products in C, each the same BLAS gemv, on the same operands, as
a single step's ``np.dot(W, taps)``). Not a matrix-matrix product: BLAS sums a gemm's terms
in another order than a gemv's, and differently for different ``b`` (measured with this
machine's OpenBLAS: a gemm's rows change with the number of columns), so the frames would
depend on how the audio was chunked; on these shapes a gemm is also slower than ``b``
gemvs for ``b`` < 8. Tests check block steps against single steps bit for bit.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

#: relu's other operand (a one-element array: ~0.5 us less per call than a scalar)
ZERO = np.zeros(1, np.float32)
#: Convolutions beyond this many keep the element-wise ops on the channels only (the search
#: below tries every assignment).
_MAX_SEARCH = 12


def extra_columns(program) -> list[float] | None:
    """The value of each buffer's last column such that the element-wise ops (Relu, Add, a
    constant Add) can run over whole rows (one contiguous run of memory per block, ~2x faster
    than the channels alone) while every convolution's input keeps its ones column (its
    bias): the input's is 1, a convolution never writes its own (0 or 1, searched), and an
    element-wise op writes the op of its inputs' (Relu(1) = 1, 1 + 0 = 1). None when no
    assignment works (then they run on the channels alone)."""
    ops = program._ops
    convs = [op.out for op in ops if op.kind == "conv"]
    if len(convs) > _MAX_SEARCH:
        return None
    for bits in range(2 ** len(convs)):
        extra = [1.0] + [0.0] * (len(program._channels) - 1)
        for i, buf in enumerate(convs):
            extra[buf] = float(bits >> i & 1)
        ok = True
        for op in ops:
            a = extra[op.reads[0][0]]
            if op.kind == "conv":
                ok = ok and a == 1.0
            elif op.kind == "relu":
                extra[op.out] = max(a, 0.0)
            elif op.kind == "add":
                extra[op.out] = a + extra[op.reads[1][0]]
            elif op.kind == "addc":
                extra[op.out] = a
            else:  # softmax: on the channels; its last column stays as made (1)
                extra[op.out] = 1.0
        if ok:
            return extra
    return None


def elementwise_call(op, dst: np.ndarray, srcs: list[np.ndarray]) -> tuple[object, tuple]:
    """The call of an element-wise op (relu, add, addc) writing ``dst`` from ``srcs`` (the
    same rows of each: channels only, or whole rows with :func:`extra_columns`)."""
    if op.kind == "relu":
        return np.maximum, (srcs[0], ZERO, dst)
    if op.kind == "add":
        return np.add, (srcs[0], srcs[1], dst)
    weight = op.weight  # float32[C]: per channel
    if dst.shape[-1] != op.channels:  # whole rows, flat: the last column's term is 0
        weight = np.tile(np.append(weight, np.float32(0.0)), dst.size // (op.channels + 1))
    return np.add, (srcs[0], weight, dst)


_ELEMENTWISE = ("relu", "add", "addc")


def _softmax(x: np.ndarray, y: np.ndarray) -> None:
    np.subtract(x, x.max(), y)
    np.exp(y, y)
    np.divide(y, y.sum(), y)


def _softmax_rows(x: np.ndarray, y: np.ndarray, peak: np.ndarray, total: np.ndarray) -> None:
    """Softmax of each row of ``x`` into ``y`` (per row the same operations as a single
    step's softmax of one frame)."""
    np.maximum.reduce(x, axis=1, keepdims=True, out=peak)  # (np.max: +3 us of Python)
    np.subtract(x, peak, y)
    np.exp(y, y)
    np.add.reduce(y, axis=1, keepdims=True, out=total)
    np.divide(y, total, y)


def step_calls(program, buffers: list[np.ndarray], gathered: list, row: int,
               whole_rows: bool) -> list[tuple[int, object, tuple]]:
    """(lag, function, arguments) of every op of one step at buffer row ``row``
    (``gathered``: per convolution, a scratch float32[k, C_in + 1] for dilated taps)."""
    table = []
    for op, scratch in zip(program._ops, gathered, strict=True):
        width = None if whole_rows and op.kind in _ELEMENTWISE else op.channels
        dst = buffers[op.out][row, :width]
        src = []
        for buf, delay, span, step in op.reads:
            r = row - delay
            if op.kind == "conv":
                src.append(buffers[buf][r - span:r + 1:step])  # [k, C_in + 1] taps
            else:
                src.append(buffers[buf][r, :width])
        if op.kind in _ELEMENTWISE:
            table.append((op.lag, *elementwise_call(op, dst, src)))
        elif op.kind == "conv":
            if scratch.shape[0] == 1:  # kernel 1: the row itself, no copy
                table.append((op.lag, np.dot, (op.weight, src[0][0], dst)))
                continue
            if src[0].flags.c_contiguous:  # dilation 1: the taps are neighbouring rows
                table.append((op.lag, np.dot, (op.weight, src[0].reshape(-1), dst)))
                continue
            table.append((op.lag, np.copyto, (scratch, src[0])))
            table.append((op.lag, np.dot, (op.weight, scratch.reshape(-1), dst)))
        else:
            table.append((op.lag, _softmax, (src[0], dst)))
    return table


def block_calls(program, buffers: list[np.ndarray], row: int, b: int, whole_rows: bool
                ) -> tuple[np.ndarray, list[tuple[object, tuple]], np.ndarray]:
    """(input rows float32[b, n_in] to fill, the calls, output rows float32[b, *frame_shape])
    of the ``b`` steps whose frames land at buffer rows ``row`` .. ``row + b - 1``, every op
    past its lag (the steady state). ``whole_rows``: element-wise ops over whole rows, last
    column included (:func:`extra_columns`), as one flat run of memory."""
    calls: list[tuple[object, tuple]] = []
    for op in program._ops:
        if op.kind in _ELEMENTWISE:
            if whole_rows:
                dst = buffers[op.out][row:row + b].reshape(-1)
                srcs = [buffers[buf][row - d:row - d + b].reshape(-1) for buf, d, _, _ in op.reads]
            else:
                dst = buffers[op.out][row:row + b, :op.channels]
                srcs = [buffers[buf][row - d:row - d + b, :op.channels]
                        for buf, d, _, _ in op.reads]
            calls.append(elementwise_call(op, dst, srcs))
            continue
        dst = buffers[op.out][row:row + b, :op.channels]
        buf, delay, span, step = op.reads[0]
        src = buffers[buf]
        r = row - delay
        if op.kind == "softmax":
            calls.append((_softmax_rows, (src[r:r + b, :op.channels], dst,
                                          np.empty((b, 1), np.float32),
                                          np.empty((b, 1), np.float32))))
            continue
        k = span // step + 1
        rows, cols = src.strides
        # [b, k, C_in + 1]: the taps of each of the b frames (a view, rows may overlap)
        taps = as_strided(src[r - span:], (b, k, src.shape[1]), (rows, step * rows, cols),
                          writeable=False)
        if k > 1 and step > 1:  # dilated: the taps gathered side by side
            gathered = np.empty(taps.shape, np.float32)
            calls.append((np.copyto, (gathered, taps)))
            taps = gathered
        flat = as_strided(taps, (b, k * src.shape[1], 1),
                          (taps.strides[0], cols, cols), writeable=False)
        calls.append((np.matmul, (op.weight, flat, dst[:, :, None])))
    out = program.out
    outputs = buffers[out.buffer][row - out.delay:row - out.delay + b, :out.channels]
    return (buffers[0][row:row + b, :program.n_in], calls,
            outputs.reshape((b, *program.frame_shape)))
