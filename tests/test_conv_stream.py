"""The streaming MappingNet: the ONNX graph read without the onnx package, the step plan
against onnxruntime's windows (minutes of real speech), chunk invariance down to one sample,
the load check and the fallback to the windowed model."""

from __future__ import annotations

import json
import warnings

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from animator.core.errors import InputWarning
from benchmarks.realdata import realdata_dir
from keypoints.assets import assets_dir
from keypoints.audio import load_audio
from keypoints.conv_stream import (
    PHASES,
    STREAM_TOLERANCE,
    StreamProgram,
    UnsupportedGraph,
    checked_program,
    probe_features,
)
from keypoints.features import FeatureConfig, log_mel
from keypoints.mappingnet import MappingNet
from keypoints.onnx_graph import read_graph
from keypoints.stream import AudioLipStream
from keypoints.visemenet import ShapeModel
from keypoints.visemes import SHAPES

MODELS = assets_dir() / "models"
CLIPS = realdata_dir() / "talking_faces"


@pytest.fixture(scope="module")
def model() -> MappingNet:
    return MappingNet.load()


@pytest.fixture(scope="module")
def shapes() -> ShapeModel:
    return ShapeModel.load()


@pytest.fixture(scope="module")
def long_speech() -> np.ndarray:
    """~2.8 minutes of real speech at 16 kHz: every talking-face clip and the demo, then all
    of it again 6 dB quieter (other features, the same words)."""
    parts = [load_audio(p) for p in sorted(CLIPS.iterdir()) if p.suffix in (".mpg", ".mp4")]
    once = np.concatenate(parts + [load_audio(assets_dir() / "audio" / "demo_speech.ogg")])
    return np.concatenate([once, 0.5 * once]).astype(np.float32)


@pytest.mark.parametrize("name", ["mappingnet.onnx", "visemes.onnx", "baseline.onnx"])
def test_graph_reader_agrees_with_the_onnx_package(name):
    graph = read_graph(MODELS / name)
    ref = onnx.load(MODELS / name)
    assert graph.opset == 17 and graph.inputs == ["log_mel"]
    assert graph.outputs == [o.name for o in ref.graph.output]
    assert [(n.op_type, n.inputs, n.outputs) for n in graph.nodes] == [
        (n.op_type, list(n.input), list(n.output)) for n in ref.graph.node]
    for node, want in zip(graph.nodes, ref.graph.node, strict=True):
        for attr in want.attribute:
            value = helper.get_attribute_value(attr)
            if isinstance(value, onnx.TensorProto):
                assert np.array_equal(node.attrs[attr.name], numpy_helper.to_array(value))
            else:
                assert node.attrs[attr.name] == (list(value) if isinstance(value, list)
                                                 else value)
    assert sorted(graph.constants) == sorted(t.name for t in ref.graph.initializer)
    for t in ref.graph.initializer:
        want = numpy_helper.to_array(t)
        got = graph.constants[t.name]
        assert got.dtype == want.dtype and np.array_equal(got, want)


def _stream_all(program: StreamProgram, features: np.ndarray) -> np.ndarray:
    stream = program.start()
    out = [o.copy() for o in (stream.step(f) for f in features.T) if o is not None]
    return np.asarray(out)


def test_the_plan_matches_the_windowed_model_over_minutes_of_speech(model, shapes,
                                                                     long_speech):
    """Every 5th window of onnxruntime against the stream, over ~2.8 min of real speech
    (the buffers wrap ~260 times): lips and shape probabilities within STREAM_TOLERANCE."""
    features = log_mel(long_speech, model.feature_config)
    assert features.shape[1] > 16000
    window = model.window_frames
    for net in (model, shapes):
        streamed = _stream_all(net.stream_program, features)
        assert len(streamed) == features.shape[1] - window + 1
        picks = range(0, len(streamed), 5)
        windowed = np.stack([net.run(features[:, k:k + window])[0] for k in picks])
        err = float(np.abs(streamed[list(picks)] - windowed).max())
        assert err <= STREAM_TOLERANCE, (net.path.name, err)
        assert np.abs(windowed).max() > 0.1  # real output, not a silent model


@pytest.mark.parametrize("frames_per_call", [1, 3, 4, 7, PHASES + 9])
def test_blocks_of_steps_equal_single_steps_over_minutes_of_speech(model, shapes, long_speech,
                                                                   frames_per_call):
    """``ConvStream.steps`` (one call per op for the frames of a call, as a live tick's ~4)
    over ~2.8 min of speech: bit for bit the frames of one ``step`` each, so within
    STREAM_TOLERANCE of the windowed model (the test above) at every chunking."""
    features = log_mel(long_speech, model.feature_config)
    for net in (model, shapes):
        want = _stream_all(net.stream_program, features)
        stream = net.stream_program.start()
        got = np.concatenate([stream.steps(features[:, i:i + frames_per_call])
                              for i in range(0, features.shape[1], frames_per_call)])
        assert got.shape == want.shape and np.array_equal(got, want), net.path.name
        assert stream.n_steps == features.shape[1]


def test_every_chunking_gives_the_same_frames(model, shapes, long_speech):
    """1 sample at a time, odd sizes and the whole file: bit-identical lips and shapes (each
    feature frame is one step, whatever a push brings); push_newest equals push's last."""
    x = long_speech[:16000 * 4]

    def run(chunks: list[int]) -> list:
        stream = AudioLipStream(model, None, shapes)
        out, start = [], 0
        for size in chunks:
            out += stream.push(x[start:start + size])
            start += size
        return out + stream.push(x[start:]) + stream.flush()

    whole = run([])
    assert len(whole) == -(-len(x) // 160)
    for chunks in ([1] * 16000, [7, 159, 161, 1601, 3] * 300, [480, 640, 1120] * 100,
                   [len(x) - 1, 1]):
        got = run(chunks)
        assert [f.t_s for f in got] == [f.t_s for f in whole]
        assert all(np.array_equal(a.points, b.points) for a, b in zip(got, whole, strict=True))
        assert [f.viseme for f in got] == [f.viseme for f in whole]
    assert len({f.viseme for f in whole}) > 3
    newest = AudioLipStream(model, None, shapes)
    n_shown = 0
    for start in range(0, len(x), 533):
        out = newest.push_newest(x[start:start + 533])
        if out is not None:
            ref = whole[newest.n_frames - 1]
            assert np.array_equal(out.points, ref.points) and out.t_s == ref.t_s
            assert out.viseme == ref.viseme
            n_shown += 1
    assert n_shown > 100


def test_nonfinite_audio_holds_the_last_good_frame_and_the_stream_recovers(model):
    x = load_audio(CLIPS / "news_4.mp4")[:16000 * 3].copy()
    x[16000:16100] = np.nan
    stream = AudioLipStream(model)
    frames = stream.push(x) + stream.flush()
    assert stream.n_nonfinite > 0
    assert all(np.all(np.isfinite(f.points)) for f in frames)
    clean = AudioLipStream(model)
    ref = clean.push(x[:16000]) + clean.flush()
    # before the NaN reaches the look-ahead, the same frames; after its window, moving again
    n_same = 90
    assert all(np.array_equal(a.points, b.points)
               for a, b in zip(frames[:n_same], ref[:n_same], strict=True))
    late = np.stack([f.points for f in frames[-100:]])
    assert np.ptp(late, axis=0).max() > 0.01


def _tcn(path, rng, n_in=5, c=4, start=2, end=-2, extra=()):
    """A small model of the kind the plan takes: conv k3 (d 1), a residual conv k3 d2 with
    its crop (end: the crop's end index), a k1 conv, + constant, softmax, [1, T, C]."""
    def f(*shape):
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32) * 0.5)

    inits = [f(c, n_in, 3), f(c), f(c, c, 3), f(c), f(c, c, 1), f(c)]
    for t, name in zip(inits, ["w0", "b0", "w1", "b1", "w2", "b2"], strict=True):
        t.name = name
    inits += [numpy_helper.from_array(np.array([v], np.int64), n)
              for v, n in ((start, "s"), (end, "e"), (2, "ax"))]
    inits.append(numpy_helper.from_array(np.full((1, c, 1), 0.25, np.float32), "k"))
    nodes = [helper.make_node("Conv", ["x", "w0", "b0"], ["h0l"]),
             helper.make_node("Relu", ["h0l"], ["h0"]),
             helper.make_node("Conv", ["h0", "w1", "b1"], ["c1"], dilations=[2]),
             helper.make_node("Slice", ["h0", "s", "e", "ax"], ["skip"]),
             helper.make_node("Add", ["skip", "c1"], ["h1"]),
             helper.make_node("Conv", ["h1", "w2"], ["m"], kernel_shape=[1]),
             helper.make_node("Add", ["m", "k"], ["mk"]),
             helper.make_node("Softmax", ["mk"], ["p"], axis=1),
             helper.make_node("Transpose", ["p"], ["y"], perm=[0, 2, 1]), *extra]
    out = nodes[-1].output[0]
    graph = helper.make_graph(
        nodes, "tcn", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, n_in, "T"])],
        [helper.make_tensor_value_info(out, onnx.TensorProto.FLOAT, None)], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, path)
    return path


def _ort(path):
    import onnxruntime

    sess = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: sess.run(None, {"x": np.ascontiguousarray(x[None])})[0][0]


@pytest.mark.parametrize(("start", "end"), [(2, -2), (4, 2**63 - 1)])
def test_a_small_graph_streams_like_onnxruntime(tmp_path, start, end):
    """Conv k3/k1 with and without bias, dilation, crops (a centred one, and the newest
    frames "to the end"), a constant add and a softmax, across several buffer wraps."""
    rng = np.random.default_rng(3)
    path = _tcn(tmp_path / "m.onnx", rng, start=start, end=end)
    program = StreamProgram(read_graph(path), 5)
    assert program.lag == 2 + 4 and program.frame_shape == (4,)
    x = rng.standard_normal((5, 3 * PHASES + 17)).astype(np.float32)
    run = _ort(path)
    got = _stream_all(program, x)
    want = np.stack([run(x[:, k:k + 7])[0] for k in range(x.shape[1] - 6)])
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= STREAM_TOLERANCE
    # blocks of steps (whole-row element-wise ops, and without: channels only) as single steps
    assert program.extra is not None
    for whole_rows in (True, False):
        if not whole_rows:
            program.extra = None
            got = _stream_all(program, x)
        for size in (3, 4, 7, PHASES + 9):
            stream = program.start()
            blocks = [stream.steps(x[:, i:i + size]) for i in range(0, x.shape[1], size)]
            assert np.array_equal(np.concatenate(blocks), got), (whole_rows, size)


def test_unknown_ops_and_a_failed_check_refuse_the_plan(tmp_path):
    rng = np.random.default_rng(4)
    extra = [helper.make_node("Sigmoid", ["y"], ["z"])]
    path = _tcn(tmp_path / "sig.onnx", rng, extra=extra)
    with pytest.raises(UnsupportedGraph, match="op Sigmoid is not known"):
        StreamProgram(read_graph(path), 5)
    along_time = _tcn(tmp_path / "k.onnx", rng)  # the constant [1, C, 1] made [C]: per time
    m = onnx.load(along_time)
    k = next(t for t in m.graph.initializer if t.name == "k")
    k.CopyFrom(numpy_helper.from_array(np.full(4, 0.25, np.float32), "k"))
    onnx.save(m, along_time)
    with pytest.raises(UnsupportedGraph, match=r"Add of a constant \[4\] per time frame"):
        StreamProgram(read_graph(along_time), 5)
    good = _tcn(tmp_path / "good.onnx", rng)
    run = _ort(good)
    checked_program(read_graph(good), 5, 6, run, -10.0)  # passes as is

    def off(x):
        return run(x) + 1e-3
    with pytest.raises(UnsupportedGraph, match="differs from the model by 0.001"):
        checked_program(read_graph(good), 5, 6, off, -10.0)
    with pytest.raises(UnsupportedGraph, match="sees 7 frames, the contract 8"):
        checked_program(read_graph(good), 5, 7, run, -10.0)
    assert probe_features(5, 9, -10.0).shape == (5, 9)


def test_a_model_without_a_plan_warns_once_and_runs_windowed(tmp_path, model):
    """The baseline model (Mul, Exp, MatMul...) keeps onnxruntime per window: one warning
    line naming the file (when a stream first asks for the plan), and the same frames as
    the windowed path."""
    baseline = MODELS / "baseline.onnx"
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        net = MappingNet.load(baseline)
        assert not seen  # the plan is made on first use
        for _ in range(3):
            AudioLipStream(net)
    lines = [str(w.message) for w in seen if issubclass(w.category, InputWarning)]
    assert len(lines) == 1 and lines[0].startswith(f"{baseline}: no streaming plan (op Mul")
    assert net.stream_program is None
    x = load_audio(CLIPS / "bbaf2n.mpg")
    a, b = AudioLipStream(net), AudioLipStream(net, windowed=True)
    fa, fb = a.push(x) + a.flush(), b.push(x) + b.flush()
    assert all(np.array_equal(p.points, q.points) for p, q in zip(fa, fb, strict=True))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert MappingNet.load(streaming=False).stream_program is None  # asked: no warning
        assert model.stream_program is not None


def test_the_shipped_models_report_their_contract_through_the_plan(model, shapes):
    for net, shape in ((model, (len(model.keypoint_names), 3)), (shapes, (len(SHAPES),))):
        assert net.stream_program.lag == net.window_frames - 1
        assert net.stream_program.frame_shape == shape
    cfg = FeatureConfig()
    assert json.loads(json.dumps(cfg.to_metadata()))["n_mels"] == str(model.stream_program.n_in)
