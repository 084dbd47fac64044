"""Reading the computation graph of an ONNX file without the ``onnx`` package.

An ONNX file is one protobuf message (ModelProto). The streaming plan (keypoints.conv_stream)
needs only its nodes (op type, inputs, outputs, attributes) and its constant tensors, so this
module decodes the protobuf wire format for that subset of the ONNX schema (field numbers from
onnx.proto; tests compare the result with ``onnx.load``). The ``onnx`` package is a dev extra:
~85 MB installed and 0.1-0.2 s to import, for a few hundred lines of schema this reads in
milliseconds. Anything this reader does not understand raises :class:`GraphError`, and the
caller keeps onnxruntime's windowed path.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: TensorProto.data_type -> numpy dtype (the types a constant of these models may have).
_DTYPES = {1: np.float32, 6: np.int32, 7: np.int64, 11: np.float64}
#: AttributeProto.type values used below.
_ATTR_FLOAT, _ATTR_INT, _ATTR_STRING, _ATTR_TENSOR, _ATTR_FLOATS, _ATTR_INTS = 1, 2, 3, 4, 6, 7


class GraphError(ValueError):
    """The file is not an ONNX graph this reader can take (one-line reason)."""


@dataclass
class Node:
    op_type: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, object] = field(default_factory=dict)
    domain: str = ""


@dataclass
class Graph:
    nodes: list[Node]
    #: constant tensors by name (initializers and Constant nodes' values)
    constants: dict[str, np.ndarray]
    inputs: list[str]
    outputs: list[str]
    opset: int


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise GraphError("truncated protobuf varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise GraphError("malformed protobuf varint")


def _fields(buf: bytes) -> list[tuple[int, int, object]]:
    """(field number, wire type, value) of every field of one message: ints for varints
    and fixed-width fields (as raw little-endian bytes for wire types 1 and 5), bytes for
    length-delimited ones."""
    out = []
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + size], pos + size
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise GraphError(f"unsupported protobuf wire type {wire}")
        if pos > end:
            raise GraphError("truncated protobuf message")
        out.append((number, wire, value))
    return out


def _signed(v: int) -> int:
    """A varint read as a two's complement int64 (protobuf int64/int32 fields)."""
    return v - (1 << 64) if v >= 1 << 63 else v


def _ints(wire: int, value) -> list[int]:
    """A repeated int field: packed (wire 2) or one element (wire 0)."""
    if wire == 0:
        return [_signed(value)]
    out, pos = [], 0
    while pos < len(value):
        v, pos = _varint(value, pos)
        out.append(_signed(v))
    return out


def _floats(wire: int, value) -> list[float]:
    """A repeated float field: packed (wire 2) or one element (wire 5)."""
    return list(struct.unpack(f"<{len(value) // 4}f", value))


def _tensor(buf: bytes) -> tuple[str, np.ndarray]:
    dims: list[int] = []
    name, dtype_code, raw = "", 0, None
    floats: list[float] = []
    ints: list[int] = []
    for number, wire, value in _fields(buf):
        if number == 1:
            dims += _ints(wire, value)
        elif number == 2:
            dtype_code = value
        elif number == 4:
            floats += _floats(wire, value)
        elif number in (5, 7):  # int32_data, int64_data
            ints += _ints(wire, value)
        elif number == 8:
            name = value.decode()
        elif number == 9:
            raw = value
        elif number in (13, 14) and value:  # external_data, data_location
            raise GraphError(f"tensor {name or '?'} keeps its data outside the file")
    if dtype_code not in _DTYPES:
        raise GraphError(f"tensor {name} has unsupported data type {dtype_code}")
    dtype = np.dtype(_DTYPES[dtype_code]).newbyteorder("<")
    if raw is not None:
        arr = np.frombuffer(raw, dtype=dtype)
    elif dtype.kind == "f":
        arr = np.asarray(floats, dtype=dtype)
    else:
        arr = np.asarray(ints, dtype=dtype)
    size = int(np.prod(dims)) if dims else 1
    if arr.size != size:
        raise GraphError(f"tensor {name}: {arr.size} values for dims {dims}")
    return name, arr.astype(dtype.newbyteorder("="), copy=True).reshape(dims)


def _attribute(buf: bytes) -> tuple[str, object]:
    name, kind = "", 0
    values: dict[int, object] = {}
    ints: list[int] = []
    floats: list[float] = []
    for number, wire, value in _fields(buf):
        if number == 1:
            name = value.decode()
        elif number == 20:
            kind = value
        elif number == 2:
            values[_ATTR_FLOAT] = struct.unpack("<f", value)[0]
        elif number == 3:
            values[_ATTR_INT] = _signed(value)
        elif number == 4:
            values[_ATTR_STRING] = bytes(value)
        elif number == 5:
            values[_ATTR_TENSOR] = _tensor(value)[1]
        elif number == 7:
            floats += _floats(wire, value)
        elif number == 8:
            ints += _ints(wire, value)
    values[_ATTR_FLOATS], values[_ATTR_INTS] = floats, ints
    if kind not in values:
        raise GraphError(f"attribute {name} has an unsupported type {kind}")
    return name, values[kind]


def _node(buf: bytes) -> Node:
    node = Node("", [], [])
    for number, _, value in _fields(buf):
        if number == 1:
            node.inputs.append(value.decode())
        elif number == 2:
            node.outputs.append(value.decode())
        elif number == 4:
            node.op_type = value.decode()
        elif number == 7:
            node.domain = value.decode()
        elif number == 5:
            key, attr = _attribute(value)
            node.attrs[key] = attr
    return node


def _value_name(buf: bytes) -> str:
    for number, _, value in _fields(buf):
        if number == 1:
            return value.decode()
    raise GraphError("graph input/output without a name")


def read_graph(path: str | Path) -> Graph:
    """The main graph of the ONNX file at ``path`` (GraphError when it cannot be read)."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise GraphError(f"cannot read the model ({err.strerror})") from None
    graph_buf, opset = None, 0
    for number, _, value in _fields(data):
        if number == 7:
            graph_buf = value
        elif number == 8:  # opset_import: (domain 1, version 2)
            entry = dict((n, v) for n, _, v in _fields(value))
            if not entry.get(1):
                opset = entry.get(2, 0)
    if graph_buf is None:
        raise GraphError("no graph in the file")
    nodes, constants, inputs, outputs = [], {}, [], []
    for number, _, value in _fields(graph_buf):
        if number == 1:
            nodes.append(_node(value))
        elif number == 5:
            name, arr = _tensor(value)
            constants[name] = arr
        elif number == 15:
            raise GraphError("sparse initializers are not supported")
        elif number == 11:
            inputs.append(_value_name(value))
        elif number == 12:
            outputs.append(_value_name(value))
    for node in nodes:  # Constant nodes are constants too
        if node.op_type == "Constant" and "value" in node.attrs:
            constants[node.outputs[0]] = node.attrs["value"]
    inputs = [name for name in inputs if name not in constants]
    return Graph([n for n in nodes if n.op_type != "Constant"], constants, inputs, outputs,
                 opset)
