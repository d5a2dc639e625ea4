"""Operation counts per layer: MACs, synaptic operations (SOPs), neuron updates, memory traffic.

Conventions (the MAC counts of ``npukit inspect``):

* MACs per sample: Dense in x out; Conv2D output elements x kh x kw x Cin; DepthwiseConv2D output
  elements x kh x kw; pooling one accumulate per window element; GlobalAveragePool one per
  input element; BatchNorm/Scale one per element; everything else 0.
* SOPs (spiking networks, from a simulation on data): the synaptic operations the simulator
  counted (``npukit.snn.synapses``): for each weighted layer that reads spikes, every spike it
  receives times the synapses leaving that input element (its exact fan-out, borders and
  strides included), summed over T, per sample, in the weighted layer's row. Without those
  figures (``sops`` not given), an estimate from spike counts, in the spiking layer's row: each
  spike is delivered to the weighted layers it reaches (through pooling, flatten, padding, add or
  concatenation), each counting its MACs divided by its input size.
* Neuron updates: neurons of a layer x T, per sample.
* Bytes: weights (parameters x bytes per value) read once per inference; activations, every
  layer's output written once and read by each reader.

From a .tflite alone (no source model): CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, pools and
MEAN by the same rules from their tensors' shapes, MUL one per element, per sample (the batch
divided out).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from npukit import ir
from npukit.tflite_file import TFLiteModel

_ROUTING = (ir.AveragePool2D, ir.SumPool2D, ir.MaxPool2D, ir.GlobalAveragePool, ir.Flatten, ir.Reshape,
            ir.Identity, ir.Pad2D, ir.Add, ir.Concatenate, ir.Scale, ir.BatchNorm)


def fan_out(graph: ir.Graph, name: str, macs: dict[str, int] | None = None) -> float:
    """Synapses leaving one element of ``name``: for each weighted layer reached through routing
    nodes, its MACs per input element."""
    macs = macs if macs is not None else graph.macs()
    total = 0.0
    stack = list(graph.consumers[name])
    while stack:
        node = graph[stack.pop()]
        if isinstance(node, ir.WEIGHTED):
            in_size = math.prod(graph.shapes[node.inputs[0]])
            total += macs[node.name] / in_size
        elif isinstance(node, _ROUTING):
            stack.extend(graph.consumers[node.name])
    return total


def layer_counts(graph: ir.Graph, spike_counts: dict[str, np.ndarray] | None = None, timesteps: int | None = None,
                 samples: int | None = None, sops: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """Per node: macs, sops, neuron_updates, weight and activation elements (per sample).
    ``sops``: the simulator's counts per weighted layer (``SimulationResult.sops``); without
    them SOPs are estimated from ``spike_counts``."""
    macs = graph.macs()
    rows = []
    for node in graph:
        shape = graph.shapes[node.name]
        elements = math.prod(shape)
        row = {
            "name": node.name, "type": type(node).__name__, "shape": list(shape), "macs": int(macs[node.name]),
            "weights": int(node.param_count()), "activations": 0 if isinstance(node, ir.Input) else int(elements),
            "reads": int(sum(math.prod(graph.shapes[i]) for i in node.inputs)),
            "sops": None, "neuron_updates": None, "spikes": None,
        }
        if isinstance(node, ir.NEURONS) and timesteps:
            row["neuron_updates"] = int(elements * timesteps)
        if spike_counts is not None and node.name in spike_counts:
            counts = spike_counts[node.name]
            spikes = float(counts.reshape(counts.shape[0], -1).sum(axis=1).mean())
            row["spikes"] = spikes
            if sops is None:
                row["sops"] = spikes * fan_out(graph, node.name, macs)
        if sops is not None and node.name in sops:
            row["sops"] = float(sops[node.name])
        rows.append(row)
    return rows


def tflite_counts(model: TFLiteModel) -> list[dict[str, Any]]:
    """Per operator of a .tflite: macs, weights, activations (per sample)."""
    tensors = model.tensors
    batch = max(1, tensors[model.inputs[0]].shape[0] if tensors[model.inputs[0]].shape else 1)
    rows = []
    for op in model.operators:
        outs = [tensors[i] for i in op.outputs if i >= 0]
        ins = [tensors[i] for i in op.inputs if i >= 0]
        out_elements = sum(math.prod(t.shape) for t in outs)
        macs = 0
        if op.op == "CONV_2D" and len(ins) > 1:
            _, kh, kw, cin = ins[1].shape
            macs = out_elements * kh * kw * cin
        elif op.op == "DEPTHWISE_CONV_2D" and len(ins) > 1:
            macs = out_elements * ins[1].shape[1] * ins[1].shape[2]
        elif op.op == "FULLY_CONNECTED" and len(ins) > 1:
            macs = out_elements * ins[1].shape[-1]
        elif op.op in ("AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D"):
            macs = out_elements * op.options.get("filterWidth", 1) * op.options.get("filterHeight", 1)
        elif op.op in ("MEAN", "SUM"):
            macs = math.prod(ins[0].shape)
        elif op.op == "MUL":
            macs = out_elements
        rows.append(
            {
                "name": f"{op.index} {op.op}", "type": op.op, "shape": list(outs[0].shape) if outs else [],
                "macs": int(macs // batch),
                "weights": int(sum(math.prod(t.shape) for t in ins if t.constant)),
                "activations": int(out_elements // batch),
                "reads": int(sum(math.prod(t.shape) for t in ins if not t.constant) // batch),
                "sops": None, "neuron_updates": None, "spikes": None,
            }
        )
    return rows
