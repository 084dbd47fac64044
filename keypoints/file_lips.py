"""Audio -> lip keypoints for a whole file at once (offline): the frames of
keypoints.stream.AudioLipStream, computed in a few large calls instead of a stream's many.

The same alignment and look-ahead as the stream: feature frame k (centred on sample
k * hop_length) gives keypoint frame k at t_s = k * hop / sr; the past context repeats the
first feature frame, the look-ahead after the last one is "silence" frames. The features and
the prosody are the stream's bit for bit (keypoints.features and keypoints.prosody are
chunk-invariant: here they take the whole file in one push). The mouth-shape model runs
once over the whole file (onnxruntime) and is decoded in order as the stream decodes it. The
lip model runs as one matrix product per layer over the frames wanted
(keypoints.conv_batch): a gemm rounds differently from the stream's gemv, so the keypoints
differ from the stream's within :data:`FILE_TOLERANCE` (and the shape probabilities within
as much: the shapes only change where two are equally likely to 1e-5).

``frames``: an offline render shows only some keypoint frames (the one nearest each video
frame, and the one whose mouth shape it shows): only those come out, and only the keypoints
of ``keypoints_at`` are computed (the lip model's dilated layers then skip what no wanted
frame reads). A frame emitted only for its shape carries the keypoints of the last computed
frame before it. When a computed frame is not finite, every frame's keypoints are computed
and emitted, so that each non-finite frame stands for the last finite one before it exactly
as in the stream (``n_nonfinite`` counts them).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from keypoints.conv_batch import BATCH_TOLERANCE, checked_batch_program, run_batch
from keypoints.conv_stream import StreamProgram, UnsupportedGraph
from keypoints.features import StreamingLogMel
from keypoints.lips import LipFrame, rest_points
from keypoints.mappingnet import MappingNet
from keypoints.onnx_graph import GraphError, read_graph
from keypoints.prosody import StreamingProsody
from keypoints.visemenet import ShapeDecoder, ShapeModel
from keypoints.visemes import SHAPES

#: Largest difference (mouth widths) between a keypoint computed here and the streamed one
#: (measured: see tests/test_file_lips.py, on real speech).
FILE_TOLERANCE = BATCH_TOLERANCE
#: Keypoint frames computed per segment (20.48 s at a 10 ms hop): the memory of a segment's
#: layers (~16 MB) stays flat however long the file, and the loop starts on the first
#: segment while the next is computed.
SEGMENT_FRAMES = 2048


@dataclass
class FileLips:
    """The lip frames of one segment of a file: ``frames`` (time order), ``n_frames`` keypoint
    frames of the file up to the segment's end, ``n_nonfinite`` frames of the segment
    computed non-finite."""

    frames: list[LipFrame]
    n_frames: int
    n_nonfinite: int


#: (model file, size, modification time) -> its checked plan, or None (onnxruntime runs)
_PLANS: dict[tuple[str, int, int], StreamProgram | None] = {}


def batch_program(model: MappingNet) -> StreamProgram | None:
    """The lip model's plan for keypoints.conv_batch (the stream's, when it made one), kept
    for the next file of this process; None when the graph has none (the model then runs
    on each segment's windows)."""
    if model._planned and model._program is not None:
        return model._program
    st = model.path.stat()
    key = (str(model.path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _PLANS:
        try:
            _PLANS[key] = checked_batch_program(read_graph(model.path),
                                                model.feature_config.n_mels,
                                                model.window_frames - 1, model.run,
                                                model.feature_config.silence_value)
        except (GraphError, UnsupportedGraph):
            _PLANS[key] = None
    return _PLANS[key]


def _keypoints(model: MappingNet, window: np.ndarray, at: np.ndarray | None) -> np.ndarray:
    """float32[T, K, 3] keypoints of the frames of ``window`` (feature frames with the
    model's context, float32[n_mels, past + T + future]) numbered ``at`` (None: every
    frame; the others are zero)."""
    program = batch_program(model)
    if program is None:  # no plan for this graph: the model itself, over the segment
        return model.run(window)
    return run_batch(program, window, at)


def file_lips(samples: np.ndarray, model: MappingNet, shapes: ShapeModel | None = None,
              frames: np.ndarray | None = None, keypoints_at: np.ndarray | None = None,
              segment_frames: int = SEGMENT_FRAMES) -> Iterator[FileLips]:
    """float32[n] mono samples at the model's rate -> the file's lip frames, a segment of
    ``segment_frames`` keypoint frames at a time (the last one shorter).

    frames: int[m] sorted keypoint frame numbers to emit (None: all); keypoints_at: the
    subset of ``frames`` whose keypoints are wanted (None: all of ``frames``)."""
    if segment_frames < 1:
        raise ValueError("segment_frames must be >= 1")
    cfg = model.feature_config
    samples = np.asarray(samples, np.float32)
    hop = cfg.hop_length
    n = -(-len(samples) // hop)  # keypoint frames: one per feature frame
    emit_all = np.arange(n) if frames is None else np.asarray(frames, np.intp)
    at_all = emit_all if keypoints_at is None else np.asarray(keypoints_at, np.intp)
    features, prosody = StreamingLogMel(cfg), StreamingProsody(cfg, model.context_future)
    decoder = ShapeDecoder()
    past = max(model.context_past, shapes.context_past if shapes is not None else 0)
    future = model.context_future  # the shapes' look-ahead is at most the lips'
    ctx: np.ndarray | None = None  # feature frames from the segment's first one's context on
    pros: list = []  # prosody of the frames from the segment's first one on
    good, names = rest_points(model.keypoint_names), model.keypoint_names
    pushed = 0  # samples pushed
    for start in range(0, n, segment_frames):
        stop = min(n, start + segment_frames)
        if pushed < len(samples):  # features up to frame stop - 1 + future (its look-ahead)
            upto = min(len(samples), (stop + future) * hop + cfg.win_length)
            new = features.push(samples[pushed:upto])
            pushed = upto
            if pushed == len(samples):
                new = np.concatenate([new, features.flush()], axis=1)
            if pushed == len(samples):  # the look-ahead after the last frame: silence
                silence = np.full((cfg.n_mels, future), cfg.silence_value, np.float32)
                new = np.concatenate([new, silence], axis=1)  # (the stream's prosody too)
            pros += prosody.push(new)
            if ctx is None:  # the past context: the first frame repeated
                ctx = np.repeat(new[:, :1], past, axis=1)
            ctx = np.concatenate([ctx, new], axis=1)
        size = stop - start
        seg = ctx[:, :size + past + future]  # frames start .. stop - 1 with their context
        if shapes is not None:
            off, cut = past - shapes.context_past, future - shapes.context_future
            probs = shapes.run(seg[:, off:seg.shape[1] - cut])
            shown: list[str | None] = [SHAPES[i] for i in decoder.steps(probs)]
        else:
            shown = [None] * size
        emit = emit_all[np.searchsorted(emit_all, start):np.searchsorted(emit_all, stop)]
        at = at_all[np.searchsorted(at_all, start):np.searchsorted(at_all, stop)]
        lips = seg[:, past - model.context_past:]
        points = _keypoints(model, lips, None if len(at) == size else at - start)
        finite = np.isfinite(points[at - start]).all(axis=(1, 2))
        if not finite.all() and len(at) < size:  # the stand-ins need every frame
            emit = at = np.arange(start, stop)
            points = _keypoints(model, lips, None)
            finite = np.isfinite(points).all(axis=(1, 2))
        computed = dict(zip(at.tolist(), finite.tolist(), strict=True))
        out, n_bad = [], 0
        for k in emit.tolist():
            ok = computed.get(k)  # None: emitted for its shape only
            if ok:
                good = points[k - start]
            elif ok is not None:
                n_bad += 1
            t_s = k * hop / cfg.sample_rate  # the frame centre, as the stream makes it
            out.append(LipFrame(t_s, good if ok is not False else good.copy(), names,
                                pros[k - start], shown[k - start]))
        ctx, pros = ctx[:, size:], pros[size:]
        yield FileLips(out, stop, n_bad)
