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

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from keypoints.conv_batch import BATCH_TOLERANCE, checked_batch_program, run_batch
from keypoints.conv_stream import StreamProgram, UnsupportedGraph
from keypoints.features import StreamingLogMel
from keypoints.lips import LipFrame, rest_points
from keypoints.mappingnet import MappingNet
from keypoints.onnx_graph import GraphError, read_graph
from keypoints.prosody import Prosody, StreamingProsody
from keypoints.visemenet import ShapeDecoder, ShapeModel
from keypoints.visemes import SHAPES

#: Largest difference (mouth widths) between a keypoint computed here and the streamed one
#: (measured: see tests/test_file_lips.py, on real speech).
FILE_TOLERANCE = BATCH_TOLERANCE
#: Keypoint frames computed per segment at most (20.48 s at a 10 ms hop): the memory of a
#: segment's layers (~16 MB) stays flat however long the file.
SEGMENT_FRAMES = 2048
#: The first (and last) segment's frames, at most: the sizes double from it and halve back.
FIRST_SEGMENT_FRAMES = 256


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


@dataclass
class Segment:
    """The features of keypoint frames ``start`` .. ``stop - 1`` of a file: ``window``
    float32[n_mels, past + (stop - start) + future] with their context (past and future:
    the most any of the models reads), the feature ``columns`` float32[n_mels, m] first
    made for it (in stream order: the prosody's input), and the mouth ``shapes`` heard
    (None each without a shape model)."""

    start: int
    stop: int
    window: np.ndarray
    columns: np.ndarray
    shapes: list[str | None]


def segment_bounds(n_frames: int, segment_frames: int = SEGMENT_FRAMES) -> list[int]:
    """The first frame of each segment of a file of ``n_frames``, and ``n_frames``: sizes
    that double from a short first segment (the models' thread soon has work while the
    features' thread goes on), segments of at most ``segment_frames`` (as many as needed, of
    equal sizes), and a tail that halves back to the first's size (the last lips come soon
    after the features end)."""
    if not n_frames:
        return [0]
    left, ramp, size = n_frames, [], min(segment_frames, FIRST_SEGMENT_FRAMES, n_frames)
    while size < segment_frames and left >= 2 * size:  # a segment of this size at each end
        ramp.append(size)
        left, size = left - 2 * size, 2 * size
    n_middle = -(-left // segment_frames)
    middle = [left * (k + 1) // n_middle - left * k // n_middle for k in range(n_middle)]
    return [0, *np.cumsum([*ramp, *middle, *reversed(ramp)]).tolist()]


def segment_features(samples: np.ndarray, model: MappingNet, shapes: ShapeModel | None = None,
                     segment_frames: int = SEGMENT_FRAMES) -> Iterator[Segment]:
    """float32[n] mono samples at the model's rate -> the features of each segment
    (:func:`segment_bounds`), as a stream makes them (bit for bit), and its mouth shapes
    (the shape model once per segment, decoded in order as the stream decodes them). The
    shapes here and the prosody in :func:`segment_lips`: the two lip threads of a render
    then carry about the same work."""
    if segment_frames < 1:
        raise ValueError("segment_frames must be >= 1")
    cfg = model.feature_config
    samples = np.asarray(samples, np.float32)
    hop = cfg.hop_length
    n = -(-len(samples) // hop)  # keypoint frames: one per feature frame
    features = StreamingLogMel(cfg)
    past = max(model.context_past, shapes.context_past if shapes is not None else 0)
    future = model.context_future  # the shapes' look-ahead is at most the lips'
    ctx: np.ndarray | None = None  # feature frames from the segment's first one's context on
    pushed = 0  # samples pushed
    bounds = segment_bounds(n, segment_frames)
    decoder = ShapeDecoder()
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        new = np.empty((cfg.n_mels, 0), np.float32)
        if pushed < len(samples):  # features up to frame stop - 1 + future (its look-ahead)
            upto = min(len(samples), (stop + future) * hop + cfg.win_length)
            new = features.push(samples[pushed:upto])
            pushed = upto
            if pushed == len(samples):  # the end, and the look-ahead after it: silence
                silence = np.full((cfg.n_mels, future), cfg.silence_value, np.float32)
                new = np.concatenate([new, features.flush(), silence], axis=1)
            if ctx is None:  # the past context: the first frame repeated
                ctx = np.repeat(new[:, :1], past, axis=1)
            ctx = np.concatenate([ctx, new], axis=1)
        size = stop - start
        window = ctx[:, :size + past + future]
        heard: list[str | None] = [None] * size
        if shapes is not None:
            off, cut = past - shapes.context_past, future - shapes.context_future
            heard = [SHAPES[i] for i in decoder.steps(
                shapes.run(window[:, off:window.shape[1] - cut]))]
        yield Segment(start, stop, window, new, heard)
        ctx = ctx[:, size:]


def segment_lips(segments: Iterable[Segment], model: MappingNet,
                 shapes: ShapeModel | None = None, frames: np.ndarray | None = None,
                 keypoints_at: np.ndarray | None = None) -> Iterator[FileLips]:
    """Each segment's lip frames: the lip model on its features, the prosody of its feature
    columns (as a stream makes it, bit for bit: the look-ahead's silence at the end
    included), its shapes.

    frames: int[m] sorted keypoint frame numbers to emit (None: all); keypoints_at: the
    subset of ``frames`` whose keypoints are wanted (None: all of ``frames``)."""
    past = max(model.context_past, shapes.context_past if shapes is not None else 0)
    prosody = StreamingProsody(model.feature_config, model.context_future)
    pros: list = []  # prosody (Prosody's fields) of the frames from the segment's first on
    good, names = rest_points(model.keypoint_names), model.keypoint_names
    hop, rate = model.feature_config.hop_length, model.feature_config.sample_rate
    for segment in segments:
        start, stop, seg = segment.start, segment.stop, segment.window
        size, shown = stop - start, segment.shapes
        if segment.columns.shape[1]:
            pros += prosody.push_values(segment.columns)
        prosodies, pros = pros[:size], pros[size:]
        emit = np.arange(start, stop) if frames is None else _within(frames, start, stop)
        at = emit if keypoints_at is None else _within(keypoints_at, start, stop)
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
            t_s = k * hop / rate  # the frame centre, as the stream makes it
            out.append(LipFrame(t_s, good if ok is not False else good.copy(), names,
                                Prosody(*prosodies[k - start]), shown[k - start]))
        yield FileLips(out, stop, n_bad)


def _within(sorted_frames: np.ndarray, start: int, stop: int) -> np.ndarray:
    """The numbers of ``sorted_frames`` in [start, stop)."""
    a = np.asarray(sorted_frames, np.intp)
    return a[np.searchsorted(a, start):np.searchsorted(a, stop)]


def file_lips(samples: np.ndarray, model: MappingNet, shapes: ShapeModel | None = None,
              frames: np.ndarray | None = None, keypoints_at: np.ndarray | None = None,
              segment_frames: int = SEGMENT_FRAMES) -> Iterator[FileLips]:
    """float32[n] mono samples at the model's rate -> the file's lip frames, a segment at a
    time (:func:`segment_bounds`): :func:`segment_lips` of :func:`segment_features`.

    frames: int[m] sorted keypoint frame numbers to emit (None: all); keypoints_at: the
    subset of ``frames`` whose keypoints are wanted (None: all of ``frames``)."""
    return segment_lips(segment_features(samples, model, shapes, segment_frames), model,
                        shapes, frames, keypoints_at)
