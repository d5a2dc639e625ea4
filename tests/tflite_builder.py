"""Hand-made .tflite flatbuffers for tests: any op, tensor types, shapes, quantization, options.

Built with the flatbuffer schema's object API (``schema_py_generated``: ModelT, SubGraphT,
OperatorT, TensorT, BufferT, options classes) and packed with ``flatbuffers.Builder`` under the
file identifier TFL3, so a test can write the one operator a rule is about, with exactly the
tensor a condition tests, which TensorFlow's converter would never emit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import flatbuffers
import numpy as np

from npukit.tflite_file import IDENTIFIER, schema

_NUMPY = {"FLOAT32": np.float32, "FLOAT16": np.float16, "INT32": np.int32, "INT64": np.int64, "INT8": np.int8,
          "UINT8": np.uint8, "INT16": np.int16, "BOOL": np.bool_}


@dataclass
class T:
    """A tensor: its shape, type, optional constant values and quantization."""

    shape: tuple[int, ...]
    dtype: str = "FLOAT32"
    data: np.ndarray | list | None = None  # a constant: the values go into a model buffer
    scale: list[float] | None = None
    zero_point: list[int] | None = None
    signature: tuple[int, ...] | None = None  # shape signature (-1: a dynamic dimension)
    quantized_dimension: int = 0


@dataclass
class Op:
    """An operator: builtin name, tensor names (None: an omitted optional input), options."""

    op: str
    inputs: list[str | None]
    outputs: list[str]
    options: dict = field(default_factory=dict)
    options_type: str | None = None  # the schema's options class, e.g. "Conv2DOptions"
    version: int = 1


def build(tensors: dict[str, T], ops: list[Op], inputs: list[str], outputs: list[str]) -> bytes:
    """A one-subgraph model: tensors by name, operators in execution order, graph inputs/outputs."""
    s = schema()
    names = list(tensors)
    model = s.ModelT()
    model.version = 3
    model.buffers = [s.BufferT()]  # buffer 0 is the empty sentinel
    graph = s.SubGraphT()
    graph.tensors = []
    for name in names:
        spec = tensors[name]
        t = s.TensorT()
        t.name = name
        t.shape = list(spec.shape)
        t.type = getattr(s.TensorType, spec.dtype)
        if spec.signature is not None:
            t.shapeSignature = list(spec.signature)
        if spec.scale is not None:
            q = s.QuantizationParametersT()
            q.scale = list(spec.scale)
            q.zeroPoint = list(spec.zero_point or [0] * len(spec.scale))
            q.quantizedDimension = spec.quantized_dimension
            t.quantization = q
        t.buffer = 0
        if spec.data is not None:
            values = np.asarray(spec.data, dtype=_NUMPY[spec.dtype]).reshape(spec.shape)
            buffer = s.BufferT()
            buffer.data = np.frombuffer(values.tobytes(), dtype=np.uint8)
            model.buffers.append(buffer)
            t.buffer = len(model.buffers) - 1
        graph.tensors.append(t)
    codes: list[tuple[str, int]] = []
    graph.operators = []
    for spec in ops:
        if (spec.op, spec.version) not in codes:
            codes.append((spec.op, spec.version))
        o = s.OperatorT()
        o.opcodeIndex = codes.index((spec.op, spec.version))
        o.inputs = [-1 if name is None else names.index(name) for name in spec.inputs]
        o.outputs = [names.index(name) for name in spec.outputs]
        if spec.options_type:
            options = getattr(s, spec.options_type + "T")()
            for key, value in spec.options.items():
                if not hasattr(options, key):
                    raise AttributeError(f"{spec.options_type} has no field {key}")
                setattr(options, key, value)
            o.builtinOptionsType = getattr(s.BuiltinOptions, spec.options_type)
            o.builtinOptions = options
        graph.operators.append(o)
    model.operatorCodes = []
    for op, version in codes:
        code = s.OperatorCodeT()
        code.builtinCode = getattr(s.BuiltinOperator, op)
        code.deprecatedBuiltinCode = min(code.builtinCode, 127)  # 127: "see builtinCode"
        code.version = version
        model.operatorCodes.append(code)
    graph.inputs = [names.index(n) for n in inputs]
    graph.outputs = [names.index(n) for n in outputs]
    model.subgraphs = [graph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=IDENTIFIER)
    return bytes(builder.Output())


def one_op(op: str, inputs: list[T | None], outputs: list[T], options_type: str | None = None,
           version: int = 1, **options) -> bytes:
    """A model of one operator; non-constant inputs become graph inputs."""
    tensors: dict[str, T] = {}
    in_names: list[str | None] = []
    for k, spec in enumerate(inputs):
        if spec is None:
            in_names.append(None)
            continue
        tensors[f"in{k}"] = spec
        in_names.append(f"in{k}")
    for k, spec in enumerate(outputs):
        tensors[f"out{k}"] = spec
    graph_inputs = [n for n in in_names if n is not None and tensors[n].data is None]
    out_names = [f"out{k}" for k in range(len(outputs))]
    return build(tensors, [Op(op, in_names, out_names, options, options_type, version)], graph_inputs, out_names)
