"""The contract both TFLite backends implement, and the conversion step they share.

A backend is made with the spiking settings of the conversion (``timesteps``, ``encoding``,
``percentile``) and turns a model's IR graph into .tflite bytes in steps, each its own method:

* ``prepare(graph, samples, metadata)``: the graph this mode converts (rate mode: a spiking
  graph becomes its fitted rate-coded ANN; temporal mode: an ANN becomes its IF network), with
  what that changed recorded in the metadata;
* ``lower(graph, batch, api_level)``: a ``tf.function`` with a static input signature (rate
  mode: one invoke per input; temporal mode: one invoke per timestep, states as extra inputs
  and outputs);
* ``calibrate(graph, samples, batch, api_level)``: the representative inputs of int8
  quantization, lists with one array per model input (the backend owns its calibration: rate
  mode feeds calibration samples, temporal mode records the states a float32 model goes through);
* ``convert(graph, samples, quantize, io, batch, metadata, api_level)``: lower, calibrate when
  int8, run the TFLiteConverter (``run_converter``) and attach npukit's metadata.

``npukit.conversion.BACKENDS`` maps a mode name to its backend.
"""

from __future__ import annotations

import abc
from typing import Any, Iterable

import numpy as np

from npukit import ir
from npukit.errors import BadInputError, InternalError
from npukit.quiet import import_tensorflow, native_output_captured
from npukit.tflite_file import TFLiteModel
from npukit.validation import int_in_range, one_of

QUANTIZE = ("int8", "fp16", "none")
IO_TYPES = ("int8", "uint8", "float32")
MAX_BATCH = 4096


class Backend(abc.ABC):
    """One way of running an IR graph as a .tflite (module docstring)."""

    mode: str

    def __init__(self, timesteps: int = 32, encoding: str = "current", percentile: float = 99.9):
        self.timesteps = timesteps
        self.encoding = encoding
        self.percentile = percentile

    @abc.abstractmethod
    def prepare(self, graph: ir.Graph, samples: np.ndarray | None, metadata: dict[str, Any]) -> ir.Graph:
        """The graph this mode converts, given calibration ``samples`` (channels-last)."""

    @abc.abstractmethod
    def lower(self, graph: ir.Graph, batch: int, api_level: int):
        """The ``tf.function`` of one invoke."""

    @abc.abstractmethod
    def calibrate(self, graph: ir.Graph, samples: np.ndarray, batch: int, api_level: int) -> list[list[np.ndarray]]:
        """Representative inputs for int8 quantization, one list of model inputs per invoke."""

    @abc.abstractmethod
    def convert(self, graph: ir.Graph, samples: np.ndarray | None, quantize: str = "int8", io: str = "int8",
                batch: int = 1, metadata: dict[str, Any] | None = None, api_level: int = 30) -> tuple[bytes, dict[str, Any]]:
        """The .tflite bytes and the metadata written into them."""


def check_options(quantize: str, io: str, batch: int) -> str:
    """Validate the shared options; returns the I/O type in effect (float32 for float models)."""
    one_of("quantize", quantize, QUANTIZE)
    one_of("io", io, IO_TYPES)
    int_in_range("batch", batch, 1, MAX_BATCH)
    return "float32" if quantize != "int8" else io


def tf():
    return import_tensorflow()


def run_converter(fn, representative: Iterable[list[np.ndarray]] | None, quantize: str, io: str) -> bytes:
    """TFLiteConverter on a ``tf.function``: float32; float32 with float16 weights ("fp16":
    ``with_fp16_weights``); or full-integer int8 (builtin int8 kernels only, per-channel weights,
    activations calibrated on ``representative``, ``io`` model I/O)."""
    tf_ = tf()
    converter = tf_.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
    if quantize == "int8":
        if representative is None:
            raise BadInputError("int8 quantization needs calibration data")
        inputs = list(representative)
        if not inputs:
            raise BadInputError("int8 quantization needs calibration data")

        def dataset():
            yield from inputs

        converter.optimizations = [tf_.lite.Optimize.DEFAULT]
        converter.representative_dataset = dataset
        converter.target_spec.supported_ops = [tf_.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = {"int8": tf_.int8, "uint8": tf_.uint8, "float32": tf_.float32}[io]
        converter.inference_output_type = converter.inference_input_type
    try:
        with native_output_captured():
            flat = converter.convert()
    except Exception as exc:
        raise InternalError(f"TFLite conversion failed: {' '.join(str(exc).split())[:400]}")
    return with_fp16_weights(flat) if quantize == "fp16" else flat


#: operators whose input 1 is a weight tensor ``with_fp16_weights`` stores as float16
WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def with_fp16_weights(model: bytes) -> bytes:
    """A float32 ``model`` whose convolution and fully connected kernels are stored as float16,
    each read through a DEQUANTIZE to float32 (TFLite's float16 weights; NN-API's delegate
    converts them back to float32 constants on the host, npukit.nnapi.check.fp16_weights). Only
    kernels change: biases, thresholds, decays and every other constant stay float32 (TensorFlow's
    float16 mode would also round those, and a spike function's steepness 2**64 overflows float16).
    Values round to the nearest float16 (ties to even), as ``npukit.passes.round_weights`` does."""
    import flatbuffers

    from npukit.tflite_file import IDENTIFIER, schema

    s = schema()
    obj = s.ModelT.InitFromObj(s.Model.GetRootAs(model, 0))
    graph = obj.subgraphs[0]
    names = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
    dequantize = s.BuiltinOperator.DEQUANTIZE
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in obj.operatorCodes]
    code = s.OperatorCodeT()
    code.builtinCode, code.deprecatedBuiltinCode, code.version = dequantize, dequantize, 3  # version 3: float16 input
    obj.operatorCodes.append(code)
    code_index = len(obj.operatorCodes) - 1
    added, done = [], {}
    for op in graph.operators:
        if names.get(codes[op.opcodeIndex]) not in WEIGHTED_OPS or len(op.inputs) < 2:
            continue
        index = int(op.inputs[1])
        tensor = graph.tensors[index]
        data = obj.buffers[tensor.buffer].data if tensor.buffer else None
        if tensor.type != s.TensorType.FLOAT32 or data is None or not len(data) or index in done:
            continue
        values = np.frombuffer(np.asarray(data, np.uint8).tobytes(), np.float32).astype(np.float16)
        buffer = s.BufferT()
        buffer.data = np.frombuffer(values.tobytes(), np.uint8)
        obj.buffers.append(buffer)
        half = s.TensorT()
        half.shape, half.type, half.buffer = tensor.shape, s.TensorType.FLOAT16, len(obj.buffers) - 1
        half.name = (tensor.name or b"") + (b"_fp16" if isinstance(tensor.name, bytes) else "_fp16")
        graph.tensors.append(half)
        obj.buffers[tensor.buffer].data = None  # the float32 kernel is now computed, not stored
        tensor.buffer = 0
        convert = s.OperatorT()
        convert.opcodeIndex, convert.inputs, convert.outputs = code_index, [len(graph.tensors) - 1], [index]
        added.append(convert)
        done[index] = True
    graph.operators = added + list(graph.operators)
    builder = flatbuffers.Builder(len(model) + 1024)
    builder.Finish(obj.Pack(builder), file_identifier=IDENTIFIER)
    return bytes(builder.Output())


def tensor_info(info: TFLiteModel, index: int) -> dict[str, Any]:
    """A tensor as the metadata describes it: name, shape (batch first), dtype, scale, zero point."""
    t = info.tensors[index]
    return {
        "name": t.name,
        "shape": list(t.shape),
        "dtype": t.dtype.lower(),
        "scale": t.scale[0] if t.scale else None,
        "zero_point": t.zero_point[0] if t.zero_point else None,
    }


def io_metadata(info: TFLiteModel, graph: ir.Graph, quantize: str, io: str, batch: int) -> dict[str, Any]:
    """The metadata keys both modes write (docs/metadata.md)."""
    return {
        "quantization": quantize,
        "io_dtype": io,
        "batch": batch,
        "input": tensor_info(info, info.inputs[0]),
        "output": tensor_info(info, info.outputs[0]),
        "graph_output": graph.output,
    }


def batches_of(samples: np.ndarray, batch: int) -> list[list[np.ndarray]]:
    """Calibration samples cut into model inputs of ``batch`` samples (the last one topped up
    with the first samples, repeated if there are fewer than ``batch``)."""
    samples = np.asarray(samples, dtype=np.float32)
    out = []
    for start in range(0, len(samples), batch):
        chunk = samples[start : start + batch]
        if len(chunk) < batch:
            chunk = np.resize(np.concatenate([chunk, samples[: batch - len(chunk)]]), (batch,) + chunk.shape[1:])
        out.append([chunk])
    return out
