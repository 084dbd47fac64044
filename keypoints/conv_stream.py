"""A model of valid (unpadded) 1-D convolutions over time, run one input frame at a time.

The shipped models (MappingNet, the viseme model) are stacks of dilated convolutions without
padding over log-mel frames ``[1, n_mels, T]``: output frame j depends on input frames
j .. j + past + future and on nothing else. Run on a sliding window, as the model contract
defines a frame, every new frame recomputes the whole window (65 frames of 8 layers for one
output). Here the same weights are compiled into a step plan: each tensor of the graph keeps
the few rows of its recent past in a buffer, and one new input frame costs one new row per
tensor: a matrix-vector product per convolution (float32, numpy/BLAS), an add per residual.

Compilation reads the ONNX graph (keypoints.onnx_graph) and knows these ops: Conv (1-D,
stride 1, no padding, one group, any kernel and dilation), Relu, Add, Slice on the time axis
(the crop of a residual branch), Transpose between [1, C, T] and [1, T, C], Reshape of the
per-frame vector, Softmax over channels. Anything else raises :class:`UnsupportedGraph`
and the caller keeps the windowed path.

Bookkeeping per tensor: ``lag`` (input frames that must have arrived before its first frame
exists: a convolution adds (kernel - 1) * dilation, a slice its start and end crops) and
``delay`` (a slice is the tensor it crops, read ``end crop`` rows back). At step n (the
n-th input frame, from 0) every tensor with lag <= n gets its frame n - lag.

Buffers: every tensor frame is a row of ``float32[rows, C + 1]``; the last column is 1 in a
convolution's input, so that its bias is one more weight column (one BLAS call per layer, no
add), and set so that element-wise ops can run over whole rows (keypoints.conv_block). Rows
advance with the steps; every ``PHASES`` steps the last rows move back to the start. The
numpy views each step touches are made once (one table per phase), so a step is a fixed list
of ufunc/BLAS calls writing into preallocated rows: no allocation but the output's copy.
``steps`` takes the frames of a call (a live tick's ~4) in blocks: one call per op and block,
the same values bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from keypoints.conv_block import block_plan, extra_columns, step_calls
from keypoints.onnx_graph import Graph

#: Steps between two moves of the buffers' recent rows back to the start (views per phase
#: are tabled: memory grows with it, the move's cost shrinks with it).
PHASES = 64
#: Slice ends at or beyond this are "to the end" (ONNX exporters write INT64_MAX or INT32_MAX).
_TO_END = 2**31 - 1


class UnsupportedGraph(ValueError):
    """The graph has an op or a shape the step plan does not handle (one-line reason)."""


@dataclass
class _Tensor:
    channels: int
    lag: int
    buffer: int  # index into the plan's buffers
    delay: int = 0
    layout: str = "ct"  # "ct": [1, C, T]; "tc": [1, T, C] (after a Transpose)
    frame_shape: tuple[int, ...] = ()


@dataclass
class _Op:
    kind: str  # "conv", "relu", "add", "addc", "softmax"
    lag: int
    out: int  # buffer index
    channels: int
    reads: tuple[tuple[int, int, int, int], ...]  # (buffer, delay, span, step) per input
    weight: np.ndarray | None = None  # conv: float32[C_out, k * (C_in + 1)]; addc: [C]


def _ints(graph: Graph, name: str, what: str) -> list[int]:
    if name not in graph.constants:
        raise UnsupportedGraph(f"{what} {name} is not a constant")
    return [int(v) for v in np.asarray(graph.constants[name]).reshape(-1)]


class StreamProgram:
    """The compiled step plan of one graph (weights and structure; no state). ``start()``
    makes a :class:`ConvStream` (the state of one stream)."""

    def __init__(self, graph: Graph, n_in: int) -> None:
        if len(graph.inputs) != 1 or len(graph.outputs) != 1:
            raise UnsupportedGraph("the plan takes one input and one output")
        if graph.opset < 13:
            raise UnsupportedGraph(f"opset {graph.opset} < 13")
        self.n_in = n_in
        self._channels = [n_in + 1]  # buffer widths (with the ones column)
        self._ops: list[_Op] = []
        tensors = {graph.inputs[0]: _Tensor(n_in, 0, 0)}
        for node in graph.nodes:
            if node.domain not in ("", "ai.onnx"):
                raise UnsupportedGraph(f"op {node.domain}.{node.op_type} is not known")
            handler = getattr(self, f"_op_{node.op_type.lower()}", None)
            if handler is None:
                raise UnsupportedGraph(f"op {node.op_type} is not known")
            if len(node.outputs) != 1:
                raise UnsupportedGraph(f"{node.op_type} with {len(node.outputs)} outputs")
            tensors[node.outputs[0]] = handler(node, tensors, graph)
        out = tensors.get(graph.outputs[0])
        if out is None:
            raise UnsupportedGraph("the output is not computed from the input")
        self.out = out
        self.frame_shape = out.frame_shape or (out.channels,)
        #: input frames in per output frame, minus one (past + future of the contract)
        self.lag = out.lag
        # rows each buffer must keep: the farthest any op (or the output) reads back
        back = max([out.delay] + [d + s for op in self._ops for _, d, s, _ in op.reads])
        self.history = back + 1
        #: each buffer's last column (keypoints.conv_block.extra_columns), or None
        self.extra = extra_columns(self)

    # --- ops: each returns the tensor it makes ------------------------------------------
    def _time(self, tensors: dict, name: str, op: str) -> _Tensor:
        t = tensors.get(name)
        if t is None:
            raise UnsupportedGraph(f"{op} reads {name}, which is not a time series")
        return t

    def _new(self, channels: int, lag: int, layout: str = "ct",
             frame_shape: tuple[int, ...] = ()) -> _Tensor:
        self._channels.append(channels + 1)
        return _Tensor(channels, lag, len(self._channels) - 1, 0, layout, frame_shape)

    def _op_conv(self, node, tensors, graph) -> _Tensor:
        x = self._time(tensors, node.inputs[0], "Conv")
        if x.layout != "ct":
            raise UnsupportedGraph("Conv over a time-major tensor")
        if node.inputs[1] not in graph.constants:
            raise UnsupportedGraph("Conv weights are not constant")
        w = graph.constants[node.inputs[1]]
        if w.dtype != np.float32 or w.ndim != 3 or w.shape[1] != x.channels:
            raise UnsupportedGraph(f"Conv weight {list(w.shape)} {w.dtype} does not fit "
                                   f"{x.channels} channels (1-D float32 only)")
        c_out, c_in, k = w.shape
        a = node.attrs
        dilation = list(a.get("dilations", [1]))
        if (a.get("group", 1) != 1 or list(a.get("strides", [1])) != [1]
                or any(a.get("pads", [0, 0])) or a.get("auto_pad", b"NOTSET") not in
                (b"NOTSET", b"VALID") or len(dilation) != 1
                or list(a.get("kernel_shape", [k])) != [k]):
            raise UnsupportedGraph(f"Conv with attributes {sorted(a)} other than a plain "
                                   "1-D valid convolution")
        d = int(dilation[0])
        bias = np.zeros(c_out, np.float32)
        if len(node.inputs) > 2 and node.inputs[2]:
            if node.inputs[2] not in graph.constants:
                raise UnsupportedGraph("Conv bias is not constant")
            bias = graph.constants[node.inputs[2]].astype(np.float32).reshape(c_out)
        # taps side by side, each with its ones column; the bias rides on the newest tap's
        flat = np.zeros((c_out, k, c_in + 1), np.float32)
        flat[:, :, :c_in] = w.transpose(0, 2, 1)
        flat[:, k - 1, c_in] = bias
        span = (k - 1) * d
        y = self._new(c_out, x.lag + span)
        self._ops.append(_Op("conv", y.lag, y.buffer, c_out,
                             ((x.buffer, x.delay, span, d),), flat.reshape(c_out, -1)))
        return y

    def _op_relu(self, node, tensors, graph) -> _Tensor:
        x = self._time(tensors, node.inputs[0], "Relu")
        y = self._new(x.channels, x.lag, x.layout, x.frame_shape)
        self._ops.append(_Op("relu", y.lag, y.buffer, x.channels, ((x.buffer, x.delay, 0, 1),)))
        return y

    def _op_add(self, node, tensors, graph) -> _Tensor:
        names = node.inputs
        series = [tensors.get(n) for n in names]
        if all(series):
            a, b = series
            if (a.lag, a.channels, a.layout) != (b.lag, b.channels, b.layout):
                raise UnsupportedGraph("Add of time series that are not aligned")
            y = self._new(a.channels, a.lag, a.layout, a.frame_shape)
            self._ops.append(_Op("add", y.lag, y.buffer, a.channels,
                                 ((a.buffer, a.delay, 0, 1), (b.buffer, b.delay, 0, 1))))
            return y
        x = series[0] or series[1]
        const = graph.constants.get(names[1] if series[0] else names[0])
        if x is None or const is None:
            raise UnsupportedGraph("Add of tensors that are neither series nor constants")
        c = np.asarray(const, np.float32)
        # the same value at every time step: a scalar, [.., C, 1] over [1, C, T], [.., C] over
        # [1, T, C] (leading ones only; a [C] over [1, C, T] would broadcast along time)
        lead = c.shape[:-2] if x.layout == "ct" else c.shape[:-1]
        tail = (x.channels, 1) if x.layout == "ct" else (x.channels,)
        shape_ok = c.size == 1 or (c.ndim <= 3 and c.shape[-len(tail):] == tail
                                   and all(d == 1 for d in lead))
        per_frame = c.reshape(-1) if shape_ok else None
        if per_frame is None:
            raise UnsupportedGraph(f"Add of a constant {list(c.shape)} per time frame")
        y = self._new(x.channels, x.lag, x.layout, x.frame_shape)
        self._ops.append(_Op("addc", y.lag, y.buffer, x.channels, ((x.buffer, x.delay, 0, 1),),
                             np.broadcast_to(per_frame, (x.channels,)).copy()))
        return y

    def _op_slice(self, node, tensors, graph) -> _Tensor:
        x = self._time(tensors, node.inputs[0], "Slice")
        starts = _ints(graph, node.inputs[1], "Slice start")
        ends = _ints(graph, node.inputs[2], "Slice end")
        axes = _ints(graph, node.inputs[3], "Slice axes") if len(node.inputs) > 3 else [0]
        steps = _ints(graph, node.inputs[4], "Slice steps") if len(node.inputs) > 4 else [1]
        time_axis = 2 if x.layout == "ct" else 1
        if len(starts) != 1 or [a % 3 for a in axes] != [time_axis] or steps != [1]:
            raise UnsupportedGraph("Slice other than a crop of the time axis")
        start, end = starts[0], ends[0]
        if start < 0 or not (end < 0 or end >= _TO_END):
            raise UnsupportedGraph(f"Slice [{start}:{end}] of a stream (needs its length)")
        crop_end = -end if end < 0 else 0
        return _Tensor(x.channels, x.lag + start + crop_end, x.buffer, x.delay + crop_end,
                       x.layout, x.frame_shape)

    def _op_transpose(self, node, tensors, graph) -> _Tensor:
        x = self._time(tensors, node.inputs[0], "Transpose")
        if list(node.attrs.get("perm", [])) != [0, 2, 1]:
            raise UnsupportedGraph(f"Transpose {node.attrs.get('perm')}")
        layout = "tc" if x.layout == "ct" else "ct"
        return _Tensor(x.channels, x.lag, x.buffer, x.delay, layout, ())

    def _op_reshape(self, node, tensors, graph) -> _Tensor:
        x = self._time(tensors, node.inputs[0], "Reshape")
        shape = _ints(graph, node.inputs[1], "Reshape shape")
        if (x.layout != "tc" or len(shape) < 3 or shape[0] != 1 or shape[1] not in (-1, 0)
                or any(s <= 0 for s in shape[2:]) or int(np.prod(shape[2:])) != x.channels):
            raise UnsupportedGraph(f"Reshape to {shape} is not a reshape of each frame")
        return _Tensor(x.channels, x.lag, x.buffer, x.delay, "tc", tuple(shape[2:]))

    def _op_softmax(self, node, tensors, graph) -> _Tensor:
        x = self._time(tensors, node.inputs[0], "Softmax")
        axis = int(node.attrs.get("axis", -1)) % 3
        if axis != (1 if x.layout == "ct" else 2) or x.frame_shape:
            raise UnsupportedGraph("Softmax over another axis than the channels")
        y = self._new(x.channels, x.lag, x.layout)
        self._ops.append(_Op("softmax", y.lag, y.buffer, x.channels,
                             ((x.buffer, x.delay, 0, 1),)))
        return y

    def start(self) -> ConvStream:
        """A fresh stream (no frame seen yet)."""
        return ConvStream(self)


class ConvStream:
    """The state of one stream through a :class:`StreamProgram`: ``step(frame)`` takes one
    input frame float32[n_in] and returns the output frame it completes (a view, valid until
    the next step: copy it to keep it) or None while the first ``lag`` frames arrive."""

    def __init__(self, program: StreamProgram) -> None:
        self.program = program
        hist = program.history - 1  # rows kept from before the current phase
        self._hist = hist
        n_rows = hist + PHASES
        self._buffers = [np.zeros((n_rows, c), np.float32) for c in program._channels]
        # the last columns: ones (biases), or as extra_columns says for whole-row ops
        self._whole_rows = program.extra is not None
        for b, v in zip(self._buffers, program.extra or [1.0] * len(self._buffers),
                        strict=True):
            b[:, -1] = v
        self._n = 0
        self._phase = 0
        # per convolution, the taps side by side (one scratch row for every phase)
        gathered = [None if op.kind != "conv" else
                    np.empty((op.reads[0][2] // op.reads[0][3] + 1,
                              self._buffers[op.reads[0][0]].shape[1]), np.float32)
                    for op in program._ops]
        self._tables = [step_calls(program, self._buffers, gathered, hist + p,
                                   self._whole_rows) for p in range(PHASES)]
        #: the same without the lags: the steady state's list of calls
        self._fast = [[(fn, args) for _, fn, args in t] for t in self._tables]
        out = program.out
        self._outputs = [self._buffers[out.buffer][hist + p - out.delay, :out.channels]
                         .reshape(program.frame_shape) for p in range(PHASES)]
        self._inputs = [self._buffers[0][hist + p, :program.n_in] for p in range(PHASES)]
        self._block = block_plan(program, self._buffers, PHASES, self._whole_rows)
        self._block_in = self._buffers[0][:, :program.n_in]
        self._block_out = self._buffers[out.buffer][:, :out.channels]

    @property
    def n_steps(self) -> int:
        """Input frames taken so far."""
        return self._n

    def step(self, frame: np.ndarray) -> np.ndarray | None:
        phase = self._phase
        if phase == 0 and self._n:  # the rows still to be read move back to the start
            hist = self._hist
            for b in self._buffers:
                b[:hist] = b[PHASES:PHASES + hist]
        np.copyto(self._inputs[phase], frame)
        n = self._n
        if n >= self.program.lag:
            for fn, args in self._fast[phase]:
                fn(*args)
        else:  # warming up: only the tensors whose first frame has arrived
            for lag, fn, args in self._tables[phase]:
                if n >= lag:
                    fn(*args)
        out = self._outputs[phase] if n >= self.program.lag else None
        self._n = n + 1
        self._phase = 0 if phase + 1 == PHASES else phase + 1
        return out

    def steps(self, frames: np.ndarray) -> np.ndarray:
        """Take input frames float32[n_in, m] (columns, in order); return the output frames
        they complete, float32[j, *frame_shape] (a new array; j < m while the first ``lag``
        frames arrive): bit for bit those of ``step`` on each frame, in blocks of frames
        (keypoints.conv_block: one call per op and block instead of one per op and frame)."""
        m = frames.shape[1]
        out = np.empty((m, *self.program.frame_shape), np.float32)
        i = j = 0
        while i < m:
            phase = self._phase
            b = min(m - i, PHASES - phase)
            if b == 1 or self._n < self.program.lag:  # one step (also while warming up)
                o = self.step(frames[:, i])
                i += 1
                if o is not None:
                    out[j] = o
                    j += 1
                continue
            if phase == 0 and self._n:  # as in step: the rows still read move back
                for buf in self._buffers:
                    buf[:self._hist] = buf[PHASES:PHASES + self._hist]
            row = self._hist + phase
            np.copyto(self._block_in[row:row + b], frames[:, i:i + b].T)
            for run in self._block:
                run(row, b)
            row -= self.program.out.delay
            out[j:j + b] = self._block_out[row:row + b].reshape(b, *self.program.frame_shape)
            i += b
            j += b
            self._n += b
            self._phase = (phase + b) % PHASES
        return out[:j]


#: Largest difference allowed between a streamed output frame and the windowed model's, in
#: the output's units (keypoints: mouth widths; shapes: probability). Both are float32 sums of
#: the same products in another order (measured: 1.2e-7 keypoints, 4e-6 probabilities).
STREAM_TOLERANCE = 1e-5


def probe_features(n_in: int, n_frames: int, silence_value: float) -> np.ndarray:
    """float32[n_in, n_frames]: fixed features between silence and 0 (the load check)."""
    rng = np.random.default_rng(20261202)
    return (silence_value * rng.uniform(0.0, 1.0, (n_in, n_frames))).astype(np.float32)


def checked_program(graph: Graph, n_in: int, lag: int, run, silence_value: float
                    ) -> StreamProgram:
    """The step plan of ``graph``, checked against ``run`` (the windowed model: float32[n_in,
    T] -> float32[T - lag, ...]) on :func:`probe_features` long enough to wrap the buffers.
    Raises UnsupportedGraph (one-line reason) when it cannot be compiled or disagrees."""
    program = StreamProgram(graph, n_in)
    if program.lag != lag:
        raise UnsupportedGraph(f"the graph sees {program.lag + 1} frames, the contract "
                               f"{lag + 1}")
    probe = probe_features(n_in, lag + PHASES + 9, silence_value)
    want = run(probe)
    stream = program.start()
    got = [o.copy() for o in (stream.step(f) for f in probe.T) if o is not None]
    if want.shape != (len(got), *program.frame_shape):
        raise UnsupportedGraph(f"the plan gives {len(got)} x {list(program.frame_shape)}, "
                               f"the model {list(want.shape)}")
    err = float(np.max(np.abs(np.asarray(got) - want)))
    if not err <= STREAM_TOLERANCE:
        raise UnsupportedGraph(f"the plan differs from the model by {err:.2g} > "
                               f"{STREAM_TOLERANCE:g} on the load check")
    return program
