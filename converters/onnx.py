"""ONNX frontend: .onnx models (opsets 13 to 21) -> npukit IR.

Reading: the protobuf is parsed with ``onnx`` (no code runs). Weights stored as external data
must lie in regular files directly beside the model (a plain file name: no path, no
subfolder, no symbolic link), or in the folder given as ``external_data``; their declared sizes
are checked against the files and charged to the load budget (``npukit.budget``) before
anything is read, and only the initializers a node reads are read.

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
import os
from pathlib import Path
from typing import Any

import numpy as np

from npukit import ir
from npukit.converters.onnx_graph import OnnxBuilder, T, onnx_order
from npukit.converters.onnx_ops import OPS
from npukit.converters import onnx_ops_tensor  # noqa: F401  (registers the opset-18 era ops in OPS)
from npukit.converters import onnx_recurrent  # registers LSTM and GRU in OPS
from npukit.errors import BadInputError, UnsupportedError

OPSETS = range(13, 22)
MAX_ELEMENTS = 1 << 28  # the largest tensor a model may declare (256 M elements)
#: what numpy or Python arithmetic raises on a file's values that a converter did not check
#: (an index out of range, an axis past the rank, a division by zero, a bad attribute type):
#: a BadInputError naming the node, never a traceback. MemoryError is not one of them: every
#: array the converters allocate is charged to the load budget first.
MALFORMED = (ValueError, IndexError, TypeError, KeyError, ArithmeticError)
#: bytes counted per value of a list attribute (value_floats, pads...): each becomes a Python
#: object (about 32 bytes) where the file holds 4 or 8
ATTRIBUTE_VALUE_BYTES = 32


# -- reading ---------------------------------------------------------------------------------------


EXTERNAL_KEYS = ("location", "offset", "length", "checksum", "basepath")


def _tensor_to_array(tensor, folder: Path, source: str, budget=None, what: str | None = None) -> np.ndarray:
    """An initializer (or a node's tensor attribute, named by ``what``) as numpy; its declared
    size is charged to ``budget`` (a ``npukit.budget.LoadBudget``) first, external data is read
    from a regular file directly in ``folder`` (no subfolder, no link)."""
    import onnx
    from onnx import numpy_helper
    from onnx.external_data_helper import uses_external_data

    from npukit.budget import LoadBudget

    budget = budget or LoadBudget(source)
    what = what or f"tensor {tensor.name[:80]!r}"
    if any(d < 0 for d in tensor.dims):
        raise BadInputError(f"{source}: {what} has negative dimensions {list(tensor.dims)}")
    elements = math.prod(tensor.dims)
    if elements > MAX_ELEMENTS:
        raise BadInputError(f"{source}: {what} declares {elements} elements (limit {MAX_ELEMENTS})")
    try:
        dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type))
    except (KeyError, ValueError, TypeError):
        raise BadInputError(f"{source}: {what} has an unknown data type {tensor.data_type}")
    if dtype.hasobject:
        raise BadInputError(f"{source}: {what} holds strings; npukit reads numeric tensors only")
    budget.charge(elements * dtype.itemsize, what)
    if not uses_external_data(tensor):
        try:
            return numpy_helper.to_array(tensor)
        except Exception as exc:  # a malformed raw_data size, an unknown dtype
            raise BadInputError(f"{source}: {what} is malformed ({' '.join(str(exc).split())[:200]})")
    location, offset, length = _external_fields(tensor, what, source)
    if length is not None and length != elements * dtype.itemsize:
        raise BadInputError(f"{source}: {what} declares {length} bytes of external data, needs {elements * dtype.itemsize}")
    array = np.empty(tuple(tensor.dims), dtype=dtype)
    _read_beside(folder, location, offset, memoryview(array.reshape(-1)).cast("B"), what, source)
    return array


def _external_fields(tensor, what: str, source: str) -> tuple[str, int, int | None]:
    """(location, offset, length or None) of a tensor's external data; malformed fields refused."""
    fields: dict[str, str] = {}
    for entry in tensor.external_data:
        if entry.key not in EXTERNAL_KEYS or entry.key in fields:
            raise BadInputError(f"{source}: {what} has an unknown or repeated external-data field {entry.key[:40]!r}")
        fields[entry.key] = entry.value
    numbers = {}
    for key in ("offset", "length"):
        text = fields.get(key)
        if text is None:
            continue
        if not text.isdigit() or len(text) > 19:
            raise BadInputError(f"{source}: {what}: external-data {key} {text[:40]!r} is not a byte count")
        numbers[key] = int(text)
    location = fields.get("location", "")
    if not location:
        raise BadInputError(f"{source}: {what} is marked external but names no location")
    return location, numbers.get("offset", 0), numbers.get("length")


def _read_beside(folder: Path, location: str, offset: int, out: memoryview, what: str, source: str) -> None:
    """Fill ``out`` with the bytes at ``offset`` of the regular file ``folder/location``; the
    location must be a plain file name and the file not a link."""
    import stat

    plain = location not in (".", "..") and "/" not in location and "\\" not in location and "\0" not in location
    if not plain:
        raise BadInputError(
            f"{source}: {what} points to external data {location[:120]!r}, not a file beside the model; "
            f"npukit reads external data only from files in {folder}"
        )
    target = folder / location
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(target, flags)
    except FileNotFoundError:
        raise BadInputError(f"{source}: external data file {location!r} of {what} is missing from {folder}")
    except OSError as exc:  # ELOOP: a symbolic link
        raise BadInputError(f"{source}: external data file {location!r} of {what} cannot be read ({exc.strerror or exc}; links are refused)")
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise BadInputError(f"{source}: external data {location!r} of {what} is not a regular file")
        if offset + len(out) > info.st_size:
            raise BadInputError(f"{source}: external data {location!r} is shorter than {what} needs")
        handle.seek(offset)
        done = 0
        while done < len(out):
            count = handle.readinto(out[done:])
            if not count:
                raise BadInputError(f"{source}: external data {location!r} is shorter than {what} needs")
            done += count


def read_onnx(path: str | Path, budget=None):
    """Parse an .onnx file (its size charged to ``budget``); external data is NOT loaded here
    (see ``_tensor_to_array``)."""
    import onnx

    from npukit.budget import LoadBudget
    from npukit.files import check_regular_file

    path = Path(path)
    if path.is_dir():
        raise BadInputError(f"{path} is a folder, not an .onnx file")
    check_regular_file(path, "model file")
    (budget or LoadBudget(str(path))).charge(path.stat().st_size, "the ONNX protobuf")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError and friends
        raise BadInputError(f"{path}: not a readable ONNX model (truncated or corrupt protobuf: {type(exc).__name__})")
    if not model.graph.node:
        raise BadInputError(f"{path}: the ONNX graph has no nodes")
    return model


def load_onnx(path: str | Path, input_shape: tuple[int, ...] | None = None, budget=None,
              external_data: str | Path | None = None) -> ir.Graph:
    """Load an .onnx model into the IR; ``input_shape`` (ONNX layout, batch first) fixes
    symbolic input dimensions. External data is read from files directly in ``external_data``
    (default: the model's folder); what the load reads is charged to ``budget``."""
    from npukit.budget import LoadBudget

    path = Path(path)
    budget = budget or LoadBudget(str(path))
    folder = Path(external_data) if external_data is not None else path.resolve().parent
    if not folder.is_dir():
        raise BadInputError(f"the external data folder {folder} is not a folder")
    graph = from_onnx_model(read_onnx(path, budget), input_shape, str(path), folder, budget)
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
        if len(given) != len(declared):
            raise BadInputError(f"{source}: the input shape {given} does not fit the input's rank {len(declared)} ({declared})")
        if any(g <= 0 for g in given):
            raise BadInputError(f"{source}: the input shape {given} has a dimension of size 0 or less; every size must be positive")
        for g, d in zip(given[1:], declared[1:]):
            if isinstance(d, int) and d != g:
                raise BadInputError(f"{source}: the input shape {given} contradicts the declared input shape {declared}")
        return given
    symbolic = [d for d in declared[1:] if not isinstance(d, int)]
    if not declared or symbolic:
        raise BadInputError(
            f"{source}: input {value_info.name!r} has symbolic dimensions {declared}; give the input shape, e.g. input_shape=(1, 3, 224, 224)"
        )
    return tuple(1 if not isinstance(d, int) else d for d in declared)


def from_onnx_model(model, input_shape=None, source: str = "<onnx>", folder: Path | None = None, budget=None) -> ir.Graph:
    """Convert a parsed ``onnx.ModelProto``; external data is read from files directly in
    ``folder``; only the initializers a node reads are read (sizes charged to ``budget``)."""
    from npukit.budget import LoadBudget

    folder = folder or Path.cwd()
    budget = budget if budget is not None else LoadBudget(source)
    opset = _opset(model, source)
    g = model.graph
    used = {name for node in g.node for name in node.input} | {v.name for v in g.output}
    consts: dict[str, np.ndarray] = {t.name: _tensor_to_array(t, folder, source, budget) for t in g.initializer if t.name in used}
    initializers = {t.name for t in g.initializer}
    inputs = [v for v in g.input if v.name not in initializers]
    if len(inputs) != 1 or len(g.output) != 1:
        raise UnsupportedError(f"{source}: models with {len(inputs)} inputs and {len(g.output)} outputs are not supported (one each)")
    _check_float_input(inputs[0], source)
    b = OnnxBuilder(source, opset, budget)
    values: dict[str, T] = {name: T(const=value) for name, value in consts.items()}
    if onnx_recurrent.is_recurrent(g):  # the IR holds one step (converters/onnx_recurrent.py)
        values[inputs[0].name], roles, shape = onnx_recurrent.sequence_input(b, g, inputs[0], input_shape)
        b.roles[inputs[0].name] = roles
    else:
        shape = _input_shape(inputs[0], input_shape, source)
        b.batch = shape[0]
        values[inputs[0].name] = _plain_input(b, g, inputs[0], shape, source)
    OPS.check_all([(node.op_type, f"node {node.name or node.output[0]!r}") for node in g.node
                   if node.domain in ("", "ai.onnx")], source=f"{source} (opset {opset})")
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
        try:
            attrs = _attributes(node, source, budget)
            if any(name in b.roles for name in node.input):  # a sequence or a recurrent state
                results = onnx_recurrent.step_op(b, node, args, attrs, handler)
            else:
                results = handler(b, node, args, attrs)
        except MALFORMED as exc:  # arithmetic on a value of the file that no converter guards
            b.refuse(node, f"malformed ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})")
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
    if b.roles:
        meta["readout"] = onnx_recurrent.readout_of(b.roles.get(g.output[0].name), source)
    return b.finish(out.name, meta)


def _plain_input(b: OnnxBuilder, g, value_info, shape: tuple[int, ...], source: str) -> T:
    """The IR input of a feed-forward model (rank-4 inputs NCHW unless the graph starts from NHWC)."""
    per_sample = shape[1:]
    if not per_sample:
        raise UnsupportedError(f"{source}: input {value_info.name!r} has rank 1; npukit's first axis is the batch, so samples need at least one more axis")
    if len(per_sample) == 3 and not _starts_with_nhwc_transpose(g, value_info.name):
        c, h, w = per_sample
        return T(b.add(ir.Input(b.unique(value_info.name), (), shape=(h, w, c))), (c, h, w), "nchw")
    return T(b.add(ir.Input(b.unique(value_info.name), (), shape=per_sample)), per_sample)


def _check_float_input(value_info, source: str) -> None:
    """Refuse integer and bool model inputs: the IR computes in float, so an integer graph's
    wrap-around and truncation would silently change (int8 appears only after quantization)."""
    import onnx

    elem_type = value_info.type.tensor_type.elem_type
    try:
        kind = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type)).kind
    except Exception:  # UNDEFINED or a type numpy lacks: left to the ops that read it
        return
    if kind in "iub":
        type_name = onnx.TensorProto.DataType.Name(elem_type)
        raise UnsupportedError(
            f"{source}: input {value_info.name!r} holds {type_name} values; integer and bool tensors are not supported "
            f"(npukit's IR computes in float; int8 appears only after quantization)"
        )


def _starts_with_nhwc_transpose(g, input_name: str) -> bool:
    """True when the input feeds only a Transpose(0, 3, 1, 2): the model takes NHWC data."""
    readers = [n for n in g.node if input_name in n.input]
    if len(readers) != 1 or readers[0].op_type != "Transpose":
        return False
    perm = next((attr.ints for attr in readers[0].attribute if attr.name == "perm"), None)
    return perm is not None and len(perm) == 4 and list(perm) == [0, 3, 1, 2]


def _attributes(node, source: str = "<onnx>", budget=None) -> dict[str, Any]:
    """A node's attributes as Python values; a tensor attribute (a Constant's ``value``) and
    the values of a list attribute are charged to ``budget`` before they are built."""
    import onnx
    from onnx.external_data_helper import uses_external_data

    from npukit.budget import LoadBudget

    budget = budget if budget is not None else LoadBudget(source)
    node_name = node.name or node.op_type
    out = {}
    for attr in node.attribute:
        count = len(attr.floats) + len(attr.ints) + len(attr.strings) + len(attr.tensors) + len(attr.graphs)
        if count:
            budget.charge(count * ATTRIBUTE_VALUE_BYTES, f"attribute {attr.name[:40]!r} of node {node_name[:80]!r} "
                          f"({count:,} values, counted {ATTRIBUTE_VALUE_BYTES} bytes each for the Python objects they become)")
        if attr.type == onnx.AttributeProto.TENSOR:
            if uses_external_data(attr.t):  # numpy_helper would read it relative to the working folder
                raise BadInputError(f"{source}: node {node_name!r}: attribute {attr.name!r} keeps its tensor in external data; not supported")
            what = f"the tensor of attribute {attr.name[:40]!r} of node {node_name[:80]!r}"
            out[attr.name] = _tensor_to_array(attr.t, Path.cwd(), source, budget, what)
            continue
        value = onnx.helper.get_attribute_value(attr)
        if isinstance(value, bytes):
            value = value.decode()
        out[attr.name] = value
    return out
