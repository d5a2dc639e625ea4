"""Reading and annotating .tflite flatbuffers without an interpreter.

Uses the flatbuffer schema module shipped with ai_edge_litert (or TensorFlow). npukit stores its
own metadata as a TFLite ``Metadata`` entry named ``npukit`` whose buffer holds UTF-8 JSON
(keys documented in docs/metadata.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from npukit.errors import BadInputError

METADATA_NAME = "npukit"
_NUMPY_TYPES = {
    "FLOAT32": np.float32, "FLOAT16": np.float16, "INT32": np.int32, "INT64": np.int64, "INT8": np.int8,
    "UINT8": np.uint8, "INT16": np.int16, "BOOL": np.bool_,
}
IDENTIFIER = b"TFL3"


@lru_cache(maxsize=1)
def schema():
    try:
        from ai_edge_litert import schema_py_generated as module
    except ImportError:
        from tensorflow.lite.python import schema_py_generated as module  # type: ignore[no-redef]
    return module


@lru_cache(maxsize=1)
def _enum_names(kind: str) -> dict[int, str]:
    cls = getattr(schema(), kind)
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...]  # -1 marks a dynamic dimension
    dtype: str  # FLOAT32, INT8, UINT8, INT32, BOOL, ...
    scale: list[float]
    zero_point: list[int]
    quantized_dimension: int
    constant: bool  # backed by a non-empty buffer (weights)
    buffer: int = 0

    @property
    def per_channel(self) -> bool:
        return len(self.scale) > 1


@dataclass
class Operator:
    index: int
    op: str  # builtin name, e.g. CONV_2D, or the custom code
    version: int
    inputs: list[int]
    outputs: list[int]
    options: dict[str, Any] = field(default_factory=dict)  # builtin options, schema field names


@dataclass
class TFLiteModel:
    """The parts of a .tflite file npukit reads: the main subgraph's ops and tensors, metadata."""

    size_bytes: int
    operators: list[Operator]
    tensors: list[Tensor]
    inputs: list[int]
    outputs: list[int]
    subgraphs: int
    metadata: dict[str, bytes] = field(default_factory=dict)
    raw: bytes = b""

    def constant_values(self, index: int) -> np.ndarray | None:
        """The values of a constant tensor (None for activations and unknown types)."""
        t = self.tensors[index]
        dtype = _NUMPY_TYPES.get(t.dtype)
        if not t.constant or dtype is None:
            return None
        root = schema().Model.GetRootAs(self.raw, 0)
        values = np.frombuffer(root.Buffers(t.buffer).DataAsNumpy().tobytes(), dtype=dtype)
        return values.reshape(t.shape) if values.size == int(np.prod(t.shape)) else values

    def op_names(self) -> list[str]:
        return [o.op for o in self.operators]

    def npukit_metadata(self) -> dict[str, Any] | None:
        """npukit's metadata JSON, or None for a model npukit did not write; metadata that does
        not follow ``npukit/schemas/tflite_metadata.schema.json`` is a BadInputError."""
        raw = self.metadata.get(METADATA_NAME)
        if raw is None:
            return None
        from npukit.files import parse_json

        meta = parse_json(raw, "the npukit metadata entry of this .tflite")
        if not isinstance(meta, dict):
            raise BadInputError("the npukit metadata entry of this .tflite is not a JSON object")
        from npukit.schemas import validate

        validate(meta, "tflite_metadata", "the npukit metadata entry of this .tflite")
        return meta


def _load_bytes(model: bytes | str | Path) -> tuple[bytes, str]:
    if isinstance(model, (bytes, bytearray)):
        return bytes(model), "<bytes>"
    from npukit.budget import LoadBudget
    from npukit.files import check_regular_file

    path = Path(model)
    if not path.exists():
        raise BadInputError(f"{path} does not exist")
    if path.is_dir():
        raise BadInputError(f"{path} is a folder, not a .tflite file")
    check_regular_file(path, ".tflite file")
    LoadBudget(str(path)).charge(path.stat().st_size, "the .tflite file")
    return path.read_bytes(), str(path)


MAX_TIMESTEPS = 100_000


def metadata_timesteps(meta: dict[str, Any], default: int = 32) -> int:
    """The T recorded in npukit metadata (``default`` when there is none); anything but an
    integer in 1..100000 is a BadInputError."""
    value = meta.get("timesteps", default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TIMESTEPS:
        raise BadInputError(f"the model's metadata records timesteps {str(value)[:40]!r}; expected an integer in 1..{MAX_TIMESTEPS}")
    return value


def read_tflite(model: bytes | str | Path) -> TFLiteModel:
    """Parse a .tflite file (or its bytes); a corrupt or foreign file raises BadInputError."""
    data, source = _load_bytes(model)
    if len(data) < 8 or data[4:8] != IDENTIFIER:
        raise BadInputError(f"{source}: not a TFLite model (no TFL3 identifier: truncated or another format?)")
    try:
        return _parse(data)
    except BadInputError as exc:
        raise BadInputError(f"{source}: {exc}") from None
    except Exception as exc:  # a damaged flatbuffer fails in many ways inside the generated code
        raise BadInputError(f"{source}: corrupt TFLite flatbuffer ({type(exc).__name__}: {exc})")


def _parse(data: bytes) -> TFLiteModel:
    s = schema()
    root = s.Model.GetRootAs(data, 0)
    if root.SubgraphsLength() < 1:
        raise BadInputError("the TFLite model has no subgraph")
    op_names = _enum_names("BuiltinOperator")
    type_names = _enum_names("TensorType")
    codes = []
    for i in range(root.OperatorCodesLength()):
        oc = root.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        name = op_names.get(code, f"BUILTIN_{code}")
        if name == "CUSTOM":
            name = f"CUSTOM:{(oc.CustomCode() or b'').decode(errors='replace')}"
        codes.append((name, oc.Version()))
    buffer_sizes = [root.Buffers(i).DataLength() if root.Buffers(i) else 0 for i in range(root.BuffersLength())]
    g = root.Subgraphs(0)
    tensors = []
    for i in range(g.TensorsLength()):
        t = g.Tensors(i)
        q = t.Quantization()
        scale = [float(v) for v in q.ScaleAsNumpy()] if q is not None and q.ScaleLength() else []
        zero = [int(v) for v in q.ZeroPointAsNumpy()] if q is not None and q.ZeroPointLength() else []
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        sig = tuple(int(d) for d in t.ShapeSignatureAsNumpy()) if t.ShapeSignatureLength() else shape
        buf = t.Buffer()
        tensors.append(
            Tensor(
                i, (t.Name() or b"").decode(errors="replace"), shape, sig, type_names.get(t.Type(), str(t.Type())),
                scale, zero, int(q.QuantizedDimension()) if q is not None else 0,
                0 < buf < len(buffer_sizes) and buffer_sizes[buf] > 0,
                buf,
            )
        )
    operators = []
    for i in range(g.OperatorsLength()):
        o = g.Operators(i)
        name, version = codes[o.OpcodeIndex()]
        ins = [int(v) for v in o.InputsAsNumpy()] if o.InputsLength() else []
        outs = [int(v) for v in o.OutputsAsNumpy()] if o.OutputsLength() else []
        if any(not -1 <= v < len(tensors) for v in ins + outs):
            raise BadInputError(f"operator {i} ({name}) names a tensor outside the {len(tensors)} tensors of the model")
        operators.append(Operator(i, name, version, ins, outs, _options(s, o)))
    metadata = {}
    for i in range(root.MetadataLength()):
        m = root.Metadata(i)
        index = m.Buffer()
        if 0 <= index < root.BuffersLength():
            buf = root.Buffers(index)
            if buf.DataLength():
                metadata[(m.Name() or b"").decode(errors="replace")] = buf.DataAsNumpy().tobytes()
            elif buf.Offset() > 1:  # large models keep buffers after the flatbuffer
                metadata[(m.Name() or b"").decode(errors="replace")] = data[buf.Offset() : buf.Offset() + buf.Size()]
    ins = [int(v) for v in g.InputsAsNumpy()] if g.InputsLength() else []
    outs = [int(v) for v in g.OutputsAsNumpy()] if g.OutputsLength() else []
    if any(not 0 <= v < len(tensors) for v in ins + outs):
        raise BadInputError(f"the model's inputs or outputs name a tensor outside its {len(tensors)} tensors")
    return TFLiteModel(len(data), operators, tensors, ins, outs, root.SubgraphsLength(), metadata, data)


def _options(s, op) -> dict[str, Any]:
    """An operator's builtin options as a dict of plain values (e.g. Conv2D strideH, padding)."""
    if not op.BuiltinOptionsType():
        return {}
    obj = s.OperatorT.InitFromObj(op).builtinOptions
    if obj is None:
        return {}
    out = {}
    for key, value in vars(obj).items():
        if isinstance(value, np.ndarray):
            value = value.tolist()
        if value is None or isinstance(value, (int, float, bool, str, list)):
            out[key] = value
    return out


def with_metadata(model: bytes, payload: dict[str, Any], name: str = METADATA_NAME) -> bytes:
    """Return ``model`` with a Metadata entry ``name`` holding ``payload`` as sorted JSON.

    An existing entry of that name is replaced. Deterministic: same inputs, same bytes.
    """
    s = schema()
    obj = s.ModelT.InitFromObj(s.Model.GetRootAs(model, 0))
    text = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    buffer = s.BufferT()
    buffer.data = np.frombuffer(text, dtype=np.uint8)
    obj.buffers = list(obj.buffers or [])
    entries = [m for m in (obj.metadata or []) if (m.name or b"") not in (name, name.encode())]
    obj.buffers.append(buffer)
    entry = s.MetadataT()
    entry.name = name
    entry.buffer = len(obj.buffers) - 1
    obj.metadata = entries + [entry]
    import flatbuffers

    builder = flatbuffers.Builder(len(model) + len(text) + 1024)
    builder.Finish(obj.Pack(builder), file_identifier=IDENTIFIER)
    return bytes(builder.Output())
