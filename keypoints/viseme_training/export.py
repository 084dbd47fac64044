"""ShapeNet (torch) -> ONNX under the viseme contract (keypoints.visemenet), built node by node
(Conv/Relu/Slice/Add, a softmax over the shapes), the input normalisation folded into the
first convolution; checked against torch through the runner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from keypoints.features import FeatureConfig
from keypoints.training.export import f32, folded_input_conv
from keypoints.viseme_training.model import ShapeNet
from keypoints.visemenet import CONTRACT_KEY, CONTRACT_VERSION, INPUT_NAME, ShapeModel
from keypoints.visemes import SHAPES

OPSET = 17
IR_VERSION = 8


def metadata(model: ShapeNet, features: FeatureConfig, description: str) -> dict[str, str]:
    return {CONTRACT_KEY: CONTRACT_VERSION, **features.to_metadata(),
            "context_past": str(model.config.context_past),
            "context_future": str(model.config.context_future),
            "shape_names": json.dumps(list(SHAPES)), "description": description}


def build_onnx(model: ShapeNet, meta: dict[str, str]):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    cfg = model.config
    inits: list = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    w0f, b0f = folded_input_conv(model)
    node = helper.make_node
    nodes = [node("Conv", [INPUT_NAME, const("w_in", w0f), const("b_in", b0f)], ["h0_lin"]),
             node("Relu", ["h0_lin"], ["h0"])]
    axes = const("time_axis", np.array([2], np.int64))
    x = "h0"
    for i, (conv, d) in enumerate(zip(model.blocks, cfg.dilations, strict=True)):
        nodes += [
            node("Conv", [x, const(f"w_{i}", f32(conv.weight)), const(f"b_{i}", f32(conv.bias))],
                 [f"c{i}_lin"], dilations=[d]),
            node("Relu", [f"c{i}_lin"], [f"c{i}"]),
            node("Slice", [x, const(f"start_{i}", np.array([d], np.int64)),
                           const(f"end_{i}", np.array([-d], np.int64)), axes], [f"skip{i}"]),
            node("Add", [f"skip{i}", f"c{i}"], [f"h{i + 1}"]),
        ]
        x = f"h{i + 1}"
    nodes += [
        node("Conv", [x, const("w_mix", f32(model.mix.weight)),
                      const("b_mix", f32(model.mix.bias))], ["mix_lin"]),
        node("Relu", ["mix_lin"], ["mix"]),
        node("Conv", ["mix", const("w_head", f32(model.head.weight)),
                      const("b_head", f32(model.head.bias))], ["logits"]),
        node("Softmax", ["logits"], ["probs_t"], axis=1),
        node("Transpose", ["probs_t"], ["probs"], perm=[0, 2, 1]),
    ]
    graph = helper.make_graph(
        nodes, "viseme_shapenet",
        inputs=[helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT,
                                              [1, cfg.n_mels, "T"])],
        outputs=[helper.make_tensor_value_info("probs", TensorProto.FLOAT,
                                               [1, "T_out", len(SHAPES)])],
        initializer=inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="talking-head-animator keypoints.viseme_training",
                              producer_version="1", ir_version=IR_VERSION)
    proto.doc_string = meta.get("description", "")
    helper.set_model_props(proto, meta)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def write_onnx(model: ShapeNet, meta: dict[str, str], path: str | Path) -> Path:
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(build_onnx(model, meta).SerializeToString())
    tmp.replace(path)
    return path


def check_against_torch(model: ShapeNet, path: str | Path, features: np.ndarray) -> float:
    """Max |onnxruntime - torch| of the probabilities on float32[n_mels, T] features."""
    got = ShapeModel.load(path).run(features)
    with torch.no_grad():
        logits = model.eval()(torch.from_numpy(features[None].astype(np.float32)))
        want = torch.softmax(logits, dim=1)[0].T.numpy()
    return float(np.max(np.abs(got - want)))
