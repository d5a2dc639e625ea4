"""ONNX frontend: .onnx models (opsets 13 to 21) -> npukit IR.

Reading: the protobuf is parsed with ``onnx`` (no code runs). Weights stored as external data
must lie in files inside the model's folder (no absolute paths, no '..' leaving it); their
declared sizes are checked against the files before anything is read.

Layout: ONNX image tensors are NCHW; the IR is NHWC. Every tensor is tracked with its ONNX
shape and how the IR holds it: ``nchw`` (a (C, H, W) tensor held as (H, W, C)), or ``plain``
(held in ONNX order; a flat vector made by flattening a (C, H, W) map remembers it, so the
Gemm / MatMul reading it gets its weight rows permuted). A Reshape that needs ONNX's order
gets explicit Transposes; a Transpose that only changes layout (NHWC input data, NHWC outputs)
costs nothing. Graph inputs of rank 4 are NCHW unless the graph starts with a Transpose from
NHWC; the graph output is returned in ONNX's order.

Ops and the versions npukit implements are in ``converters/onnx_ops.py``
(``supported_ops()``); the opset of the model's default domain must be 13..21.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from npukit import ir
from npukit.converters.onnx_graph import OnnxBuilder, T, onnx_order
from npukit.converters.onnx_ops import OPS
from npukit.converters import onnx_ops_tensor  # noqa: F401  (registers the opset-18 era ops in OPS)
from npukit.errors import BadInputError, UnsupportedError

OPSETS = range(13, 22)
MAX_ELEMENTS = 1 << 28  # the largest tensor a model may declare (256 M elements)


# -- reading ---------------------------------------------------------------------------------------


def _tensor_to_array(tensor, folder: Path, source: str) -> np.ndarray:
    """An initializer as numpy, external data read from a file confined to ``folder``."""
    import onnx
    from onnx import numpy_helper
    from onnx.external_data_helper import ExternalDataInfo, uses_external_data

    elements = math.prod(tensor.dims) if tensor.dims else 1
    if elements > MAX_ELEMENTS:
        raise BadInputError(f"{source}: tensor {tensor.name!r} declares {elements} elements (limit {MAX_ELEMENTS})")
    if not uses_external_data(tensor):
        try:
            return numpy_helper.to_array(tensor)
        except Exception as exc:  # a malformed raw_data size, an unknown dtype
            raise BadInputError(f"{source}: tensor {tensor.name!r} is malformed ({exc})")
    info = ExternalDataInfo(tensor)
    location = Path(info.location)
    target = (folder / location).resolve()
    if location.is_absolute() or folder.resolve() not in target.parents:
        raise BadInputError(
            f"{source}: tensor {tensor.name!r} points to external data {info.location!r} outside the model's folder; refused"
        )
    if not target.is_file():
        raise BadInputError(f"{source}: external data file {info.location!r} of tensor {tensor.name!r} is missing")
    dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type)
    length = elements * np.dtype(dtype).itemsize
    offset = int(info.offset or 0)
    if info.length is not None and int(info.length) != length:
        raise BadInputError(f"{source}: tensor {tensor.name!r} declares {info.length} bytes of external data, needs {length}")
    if offset + length > target.stat().st_size:
        raise BadInputError(f"{source}: external data {info.location!r} is shorter than tensor {tensor.name!r} needs")
    with open(target, "rb") as handle:
        handle.seek(offset)
        data = handle.read(length)
    return np.frombuffer(data, dtype=dtype).reshape(tuple(tensor.dims)).copy()


def read_onnx(path: str | Path):
    """Parse an .onnx file; external data is NOT loaded here (see ``_tensor_to_array``)."""
    import onnx

    path = Path(path)
    if not path.exists():
        raise BadInputError(f"model file {path} does not exist")
    if path.is_dir():
        raise BadInputError(f"{path} is a folder, not an .onnx file")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError and friends
        raise BadInputError(f"{path}: not a readable ONNX model (truncated or corrupt protobuf: {type(exc).__name__})")
    if not model.graph.node:
        raise BadInputError(f"{path}: the ONNX graph has no nodes")
    return model


def load_onnx(path: str | Path, input_shape: tuple[int, ...] | None = None) -> ir.Graph:
    """Load an .onnx model into the IR; ``input_shape`` (ONNX layout, batch first) fixes
    symbolic input dimensions."""
    path = Path(path)
    graph = from_onnx_model(read_onnx(path), input_shape, str(path), path.resolve().parent)
    graph.meta.update({"source_format": "onnx"})
    return graph


def _opset(model, source: str) -> int:
    versions = {imp.domain or "ai.onnx": imp.version for imp in model.opset_import}
    version = versions.get("ai.onnx")
    if version is None:
        raise UnsupportedError(f"{source}: the model imports no default ONNX opset")
    if version not in OPSETS:
        raise UnsupportedError(f"{source}: opset {version} is not supported (npukit reads opsets 13 to 21; re-export the model)")
    return version


def _input_shape(value_info, given: tuple[int, ...] | None, source: str) -> tuple[int, ...]:
    dims = value_info.type.tensor_type.shape.dim
    declared = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or "?") for d in dims]
    if given is not None:
        given = tuple(int(v) for v in given)
        if len(given) != len(declared) or any(g <= 0 for g in given):
            raise BadInputError(f"{source}: --input-shape {given} does not fit the input's rank {len(declared)} ({declared})")
        for g, d in zip(given[1:], declared[1:]):
            if isinstance(d, int) and d != g:
                raise BadInputError(f"{source}: --input-shape {given} contradicts the declared input shape {declared}")
        return given
    symbolic = [d for d in declared[1:] if not isinstance(d, int)]
    if not declared or symbolic:
        raise BadInputError(
            f"{source}: input {value_info.name!r} has symbolic dimensions {declared}; give --input-shape, e.g. 1,3,224,224"
        )
    return tuple(1 if not isinstance(d, int) else d for d in declared)


def from_onnx_model(model, input_shape=None, source: str = "<onnx>", folder: Path | None = None) -> ir.Graph:
    """Convert a parsed ``onnx.ModelProto``; external data is resolved against ``folder``."""
    folder = folder or Path.cwd()
    opset = _opset(model, source)
    g = model.graph
    consts: dict[str, np.ndarray] = {t.name: _tensor_to_array(t, folder, source) for t in g.initializer}
    inputs = [v for v in g.input if v.name not in consts]
    if len(inputs) != 1 or len(g.output) != 1:
        raise UnsupportedError(f"{source}: models with {len(inputs)} inputs and {len(g.output)} outputs are not supported (one each)")
    b = OnnxBuilder(source, opset)
    shape = _input_shape(inputs[0], input_shape, source)
    b.batch = shape[0]
    values: dict[str, T] = {name: T(const=value) for name, value in consts.items()}
    per_sample = shape[1:]
    if not per_sample:
        raise UnsupportedError(f"{source}: input {inputs[0].name!r} has rank 1; npukit's first axis is the batch, so samples need at least one more axis")
    nhwc_input = _starts_with_nhwc_transpose(g, inputs[0].name)
    if len(per_sample) == 3 and not nhwc_input:
        c, h, w = per_sample
        values[inputs[0].name] = T(b.add(ir.Input(b.unique(inputs[0].name), (), shape=(h, w, c))), (c, h, w), "nchw")
    else:
        values[inputs[0].name] = T(b.add(ir.Input(b.unique(inputs[0].name), (), shape=per_sample)), per_sample)
    for node in g.node:
        if node.domain not in ("", "ai.onnx"):
            b.fail(node, f"domain {node.domain!r} is not supported (standard ONNX ops only)")
        if node.op_type not in OPS:
            raise OPS.refusal(node.op_type, f"{source}: node {node.name or node.output[0]!r} (opset {opset})")
        handler = OPS[node.op_type]
        args = [values.get(name) if name else None for name in node.input]
        missing = [name for name, value in zip(node.input, args) if name and value is None]
        if missing:
            raise BadInputError(f"{source}: node {node.name or node.op_type!r} reads {missing}, which nothing produces")
        results = handler(b, node, args, _attributes(node))
        results = results if isinstance(results, list) else [results]
        for name, value in zip(node.output, results):
            if name:
                values[name] = value
    out = values.get(g.output[0].name)
    if out is None or out.name is None:
        raise UnsupportedError(f"{source}: the graph output is a constant or is not produced")
    if out.layout == "nchw" or out.flat_from is not None:  # hand back ONNX's element order
        out = onnx_order(b, out, out.name)
    meta = {
        "onnx": {"opset": opset, "producer": f"{model.producer_name} {model.producer_version}".strip(),
                 "input_shape": list(shape)},
        "input_layout": "CHW" if values[inputs[0].name].layout == "nchw" else "plain",
    }
    return b.finish(out.name, meta)


def _starts_with_nhwc_transpose(g, input_name: str) -> bool:
    """True when the input feeds only a Transpose(0, 3, 1, 2): the model takes NHWC data."""
    readers = [n for n in g.node if input_name in n.input]
    if len(readers) != 1 or readers[0].op_type != "Transpose":
        return False
    perm = _attributes(readers[0]).get("perm")
    return perm is not None and list(perm) == [0, 3, 1, 2]


def _attributes(node) -> dict[str, Any]:
    import onnx

    out = {}
    for attr in node.attribute:
        value = onnx.helper.get_attribute_value(attr)
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, onnx.TensorProto):
            from onnx import numpy_helper

            value = numpy_helper.to_array(value)
        out[attr.name] = value
    return out
