"""LipNet (torch) -> ONNX under the MappingNet contract, built node by node with onnx.helper.

Hand-built rather than through torch.onnx (whose default exporter needs onnxscript): the graph
is a handful of Conv/Relu/Slice/Add nodes, the bytes depend only on the weights, and
``check_against_torch`` runs the file with onnxruntime and compares it with the torch model.
The input normalisation is folded into the first convolution.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from keypoints.features import FeatureConfig
from keypoints.training.model import LipNet

OPSET = 17
IR_VERSION = 8  # opset 17's IR: loadable by every onnxruntime >= 1.11


def contract_metadata(model: LipNet, features: FeatureConfig, keypoint_names: tuple[str, ...],
                      description: str) -> dict[str, str]:
    """metadata_props as keypoints.mappingnet validates them."""
    cfg = model.config
    meta = {"contract_version": "1", **features.to_metadata()}
    meta["context_past"] = str(cfg.context_past)
    meta["context_future"] = str(cfg.context_future)
    meta["keypoint_names"] = json.dumps(list(keypoint_names))
    meta["description"] = description
    return meta


def f32(t: torch.Tensor) -> np.ndarray:
    """A tensor's values as a float32 numpy array (detached, on the CPU)."""
    return t.detach().cpu().numpy().astype(np.float32)


def folded_input_conv(model) -> tuple[np.ndarray, np.ndarray]:
    """float32 weight and bias of ``model.inp`` with the input normalisation folded in:
    (x - mean) * inv_std through W, b is x through W' = W * inv_std, b' = b - sum(W' * mean)."""
    w0, b0 = f32(model.inp.weight), f32(model.inp.bias)
    inv_std, mean = f32(model.mel_inv_std)[:, 0], f32(model.mel_mean)[:, 0]
    w0f = (w0 * inv_std[None, :, None]).astype(np.float32)
    b0f = (b0 - np.einsum("oik,i->o", w0f.astype(np.float64), mean)).astype(np.float32)
    return w0f, b0f


def build_onnx(model: LipNet, metadata: dict[str, str]):
    """An onnx.ModelProto computing ``model`` (deterministic for given weights)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    cfg = model.config
    n_out = cfg.n_keypoints * 3
    inits: list = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    w0f, b0f = folded_input_conv(model)
    node = helper.make_node
    nodes = [
        node("Conv", ["log_mel", const("w_in", w0f), const("b_in", b0f)], ["h0_lin"]),
        node("Relu", ["h0_lin"], ["h0"]),
    ]
    axes = const("time_axis", np.array([2], np.int64))
    x = "h0"
    for i, (conv, d) in enumerate(zip(model.blocks, cfg.dilations, strict=True)):
        w, b = const(f"w_{i}", f32(conv.weight)), const(f"b_{i}", f32(conv.bias))
        nodes += [
            node("Conv", [x, w, b], [f"c{i}_lin"], dilations=[d]),
            node("Relu", [f"c{i}_lin"], [f"c{i}"]),
            node("Slice", [x, const(f"start_{i}", np.array([d], np.int64)),
                           const(f"end_{i}", np.array([-d], np.int64)), axes], [f"skip{i}"]),
            node("Add", [f"skip{i}", f"c{i}"], [f"h{i + 1}"]),
        ]
        x = f"h{i + 1}"
    head_b = f32(model.head.bias) + f32(model.rest)  # the rest pose folded into the bias
    nodes += [
        node("Conv", [x, const("w_mix", f32(model.mix.weight)),
                      const("b_mix", f32(model.mix.bias))], ["mix_lin"]),
        node("Relu", ["mix_lin"], ["mix"]),
        node("Conv", ["mix", const("w_head", f32(model.head.weight)), const("b_head", head_b)],
             ["flat_t"]),  # [1, K*3, T']
        node("Transpose", ["flat_t"], ["flat"], perm=[0, 2, 1]),
        node("Reshape", ["flat", const("out_shape", np.array([1, -1, cfg.n_keypoints, 3],
                                                             np.int64))], ["keypoints"]),
    ]
    graph = helper.make_graph(
        nodes, "mappingnet_lipnet",
        inputs=[helper.make_tensor_value_info("log_mel", TensorProto.FLOAT,
                                              [1, cfg.n_mels, "T"])],
        outputs=[helper.make_tensor_value_info("keypoints", TensorProto.FLOAT,
                                               [1, "T_out", cfg.n_keypoints, 3])],
        initializer=inits,
    )
    assert n_out == head_b.size
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="talking-head-animator keypoints.training",
                              producer_version="1", ir_version=IR_VERSION)
    proto.doc_string = metadata.get("description", "")
    helper.set_model_props(proto, metadata)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def write_onnx(model: LipNet, metadata: dict[str, str], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(build_onnx(model, metadata).SerializeToString())
    tmp.replace(path)
    return path


def check_against_torch(model: LipNet, path: str | Path, features: np.ndarray) -> float:
    """Max |onnxruntime - torch| on float32[n_mels, T] features, after MappingNet.load
    validated the file (ModelContractError if it breaks the contract)."""
    from keypoints.mappingnet import MappingNet

    runner = MappingNet.load(path)
    got = runner.run(features)
    with torch.no_grad():
        want = model.eval()(torch.from_numpy(features[None].astype(np.float32)))[0].numpy()
    return float(np.max(np.abs(got - want)))
