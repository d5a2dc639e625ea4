"""Rate-mode TFLite backend: a rate-coded IR graph -> one invoke per input.

The graph lowers node by node (``converters/tflite_lowering.py``) into a TensorFlow function
with a static (batch, *input_shape) input, which the TFLiteConverter turns into a .tflite
(``converters/tflite_backend.py``). Quantization ``int8`` is full-integer: per-channel weights,
activations calibrated on representative samples, builtin int8 kernels only, int8 (or uint8 /
float32) model I/O; ``none`` writes a float32 model for comparison. The metadata's
``tensor_map`` traces converted tensors back to IR nodes for parity checks.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from npukit import ir
from npukit.converters.tflite_backend import Backend, batches_of, check_options, io_metadata, run_converter, tf
from npukit.converters.tflite_lowering import check_lowerable, lower_node, op_name
from npukit.errors import UnsupportedError
from npukit.passes.fold_batchnorm import fold_batchnorm
from npukit.passes.snn_to_rate import snn_to_rate
from npukit.snn.encoders import rates
from npukit.tflite_file import read_tflite, with_metadata

_MARK = re.compile(r"npk_(\d+)_")
#: why rate mode refuses a recurrent graph (an RSNN, an LSTM or GRU network), and what to do
RECURRENT_IN_RATE_MODE = (
    "rate mode runs a model once per input, so it has no previous step for a recurrent connection; "
    "convert a recurrent network in temporal mode (one invoke per step, its recurrent state carried by the host)"
)


class RateBackend(Backend):
    """One invoke per input (module docstring)."""

    mode = "rate"

    def prepare(self, graph: ir.Graph, samples: np.ndarray | None, metadata: dict[str, Any]) -> ir.Graph:
        """A rate-coded graph as is; a spiking one as its rate-coded ANN fitted on ``samples``
        simulated for T steps (``npukit.passes.snn_to_rate``), the fit recorded as ``rate_fit``.
        The ANN's input is the time-mean of a time series (for event frames: the event rate per
        pixel and step), so a network that relies on the timing of its input loses that."""
        if graph.is_recurrent:
            raise UnsupportedError(RECURRENT_IN_RATE_MODE)
        if not graph.is_spiking:
            return graph
        ann = fold_batchnorm(snn_to_rate(graph, samples, self.timesteps, self.encoding))
        metadata["rate_fit"] = ann.meta["rate_fit"]
        return ann

    def lower(self, graph: ir.Graph, batch: int, api_level: int = 30):
        return build_function(graph, batch, api_level)[0]

    def calibrate(self, graph: ir.Graph, samples: np.ndarray, batch: int, api_level: int = 30) -> list[list[np.ndarray]]:
        """Batches of the samples as the model sees them: a time series' mean over T."""
        return batches_of(rates(samples, graph.input_shape), batch)

    def convert(self, graph, samples, quantize="int8", io="int8", batch=1, metadata=None, api_level=30):
        samples = None if samples is None else rates(samples, graph.input_shape)
        return convert_graph(graph, samples, quantize, io, batch, metadata, api_level)


def build_function(graph: ir.Graph, batch: int, api_level: int = 30):
    """A ``tf.function`` computing ``graph`` on a static (batch, *input_shape) float32 input,
    with only ops the NN-API delegate takes at ``api_level`` where a rewrite exists:
    GlobalAveragePool as an AVERAGE_POOL_2D below API 28 (MEAN arrives with 28), a clipped ReLU
    other than ReLU6 as MUL-RELU6-MUL below API 29 (MINIMUM arrives with 29)."""
    tf_ = tf()
    if graph.is_spiking:
        raise UnsupportedError(
            "the rate backend converts rate-coded graphs; convert a spiking graph in temporal mode, or its "
            "fitted rate-coded ANN (npukit.passes.snn_to_rate)"
        )
    check_lowerable(graph)
    order = list(graph)

    @tf_.function(input_signature=[tf_.TensorSpec([batch, *graph.input_shape], tf_.float32, name="input")], autograph=False)
    def model(x):
        values: dict[str, Any] = {}
        for index, node in enumerate(order):
            if isinstance(node, ir.Input):
                values[node.name] = x
                continue
            inputs = [values[i] for i in node.inputs]
            values[node.name] = lower_node(tf_, node, inputs, op_name(index), batch, api_level)
        return tf_.identity(values[graph.output], name="output")

    return model, order


def convert_graph(
    graph: ir.Graph,
    calibration: np.ndarray | None,
    quantize: str = "int8",
    io: str = "int8",
    batch: int = 1,
    metadata: dict[str, Any] | None = None,
    api_level: int = 30,
) -> tuple[bytes, dict[str, Any]]:
    """Convert ``graph`` to .tflite bytes; returns (bytes, the metadata written into them).

    ``calibration`` (N, *input_shape) float samples feed the representative dataset (int8).
    ``api_level`` selects op rewrites for older NN-API levels (see ``build_function``).
    """
    io = check_options(quantize, io, batch)
    fn, order = build_function(graph, batch, api_level)
    representative = None if quantize != "int8" or calibration is None else batches_of(calibration, batch)
    flat = run_converter(fn, representative, quantize, io)
    info = read_tflite(flat)
    meta = dict(metadata or {})
    meta.update(io_metadata(info, graph, quantize, io, batch))
    meta["tensor_map"] = _tensor_map(info, order, graph, batch)
    return with_metadata(flat, meta), meta


def _tensor_map(info, order: list[ir.Node], graph: ir.Graph, batch: int) -> dict[str, int]:
    """IR node name -> index of the TFLite tensor holding that node's output, where one does.

    A fused op's output tensor is named after all the TF ops it absorbed; its value is that of
    the last of them, the one with the highest node index.
    """
    found: dict[str, int] = {}
    for op in info.operators:
        for t in op.outputs:
            tensor = info.tensors[t]
            marks = [int(m) for m in _MARK.findall(tensor.name)]
            if not marks:
                continue
            i = max(marks)
            if i >= len(order):
                continue
            node = order[i]
            if tuple(tensor.shape) == (batch, *graph.shapes[node.name]) and node.name not in found:
                found[node.name] = t
    found[graph.output] = info.outputs[0]
    return found
