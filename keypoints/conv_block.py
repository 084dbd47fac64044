"""The numpy calls of a step plan (keypoints.conv_stream): of one step (:func:`step_calls`),
and of a block of ``b`` consecutive input frames through every layer at once
(:func:`block_plan`), bit for bit the values of ``b`` single steps.

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

A block's views are sliced per call from views made once per stream (a block is a slice of
them): a table of views per (buffer row, block size), as the single steps have per row,
would cost ~40 kB each and keep growing for minutes as live pushes of new sizes land on new
rows (the live loop's flat-memory test caught that); the slicing costs ~10 us a block.
"""

from __future__ import annotations

import numpy as np

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


def _elementwise(op, buffers: list[np.ndarray], whole_rows: bool):
    """The block function of an element-wise op: over whole rows, flat (a constant Add keeps
    to the channels: its constant would have to be tiled for each block size). The ``b``
    rows from ``row`` of each operand are basic slices made per call (no view kept per row),
    inside the one function (a live tick runs ~25 of these: no nested call per operand)."""
    if whole_rows and op.kind != "addc":  # flat views of whole rows: rows -> elements
        width = buffers[op.out].shape[1]
        dst = buffers[op.out].reshape(-1)
        (a, da), *rest = [(buffers[buf].reshape(-1), delay * width)
                          for buf, delay, _, _ in op.reads]
        if op.kind == "relu":
            return lambda row, b: np.maximum(a[row * width - da:(row + b) * width - da], ZERO,
                                             dst[row * width:(row + b) * width])
        ((c, dc),) = rest
        return lambda row, b: np.add(a[row * width - da:(row + b) * width - da],
                                     c[row * width - dc:(row + b) * width - dc],
                                     dst[row * width:(row + b) * width])
    channels = op.channels
    dst = buffers[op.out][:, :channels]
    (a, da), *rest = [(buffers[buf][:, :channels], delay) for buf, delay, _, _ in op.reads]
    if op.kind == "relu":
        return lambda row, b: np.maximum(a[row - da:row - da + b], ZERO, dst[row:row + b])
    if op.kind == "add":
        ((c, dc),) = rest
        return lambda row, b: np.add(a[row - da:row - da + b], c[row - dc:row - dc + b],
                                     dst[row:row + b])
    weight = op.weight  # float32[C] over the channels of each row
    return lambda row, b: np.add(a[row - da:row - da + b], weight, dst[row:row + b])


def _conv(op, buffers: list[np.ndarray], max_rows: int):
    """The block function of a convolution: the taps of each row as one view over every row
    of its input (made once: a block is a slice of it), gathered into a scratch when dilated,
    then the stacked gemv."""
    buf, delay, span, step = op.reads[0]
    src = buffers[buf]
    n_rows, width = src.shape
    k = span // step + 1
    rows, cols = src.strides
    # taps[j] = the k rows ending at row j + span (overlapping views of the one buffer)
    taps = np.ndarray((n_rows - span, k, width), np.float32, src, 0, (rows, step * rows, cols))
    dst = buffers[op.out][:, :op.channels, None]
    weight = op.weight
    first = -delay - span  # taps row of buffer row ``row``
    if k == 1 or step == 1:  # neighbouring rows: the taps are already side by side
        flat = np.ndarray((n_rows - span, k * width, 1), np.float32, src, 0, (rows, cols, cols))
        return lambda row, b: np.matmul(weight, flat[row + first:row + first + b],
                                        dst[row:row + b])
    scratch = np.empty((max_rows, k, width), np.float32)
    scratch_flat = scratch.reshape(max_rows, k * width, 1)

    def run(row: int, b: int) -> None:
        np.copyto(scratch[:b], taps[row + first:row + first + b])
        np.matmul(weight, scratch_flat[:b], dst[row:row + b])
    return run


def _softmax_block(op, buffers: list[np.ndarray], max_rows: int):
    buf, delay, _, _ = op.reads[0]
    src, dst = buffers[buf][:, :op.channels], buffers[op.out][:, :op.channels]
    peak, total = np.empty((max_rows, 1), np.float32), np.empty((max_rows, 1), np.float32)
    return lambda row, b: _softmax_rows(src[row - delay:row - delay + b], dst[row:row + b],
                                        peak[:b], total[:b])


def block_plan(program, buffers: list[np.ndarray], max_rows: int, whole_rows: bool) -> list:
    """The functions (row, b) -> None of every op, in order, running the ``b`` <= ``max_rows``
    steps whose frames land at buffer rows ``row`` .. ``row + b - 1`` (every op past its lag:
    the steady state). Each makes its few views per call by basic slicing of views made here
    once, so nothing is kept per row or block size (the memory of a stream stays flat,
    whatever sizes its pushes have). ``whole_rows``: element-wise ops over whole rows, last
    column included (:func:`extra_columns`), as one flat run of memory."""
    plan = []
    for op in program._ops:
        if op.kind in _ELEMENTWISE:
            plan.append(_elementwise(op, buffers, whole_rows))
        elif op.kind == "conv":
            plan.append(_conv(op, buffers, max_rows))
        else:
            plan.append(_softmax_block(op, buffers, max_rows))
    return plan
