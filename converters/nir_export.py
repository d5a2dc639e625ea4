"""NIR export: a spiking IR graph -> a NIR graph (channels-first), so that networks npukit
converted from ANNs reach neuromorphic hardware through its NIR importers.

NIR can express less than the IR, so export goes through an *export view* of the graph, an IR
graph with NIR's semantics, which is what the written file computes and what re-importing it
gives back spike for spike:

* spikes carry amplitude 1: amplitudes are folded into the weights that read them
  (``fold_amplitudes``); BatchNorm is folded into the preceding layer;
* NIR has one reset, to a value, one spike per step on v > theta, no floor and no initial
  membrane: a neuron with other semantics (an IF layer with reset by subtraction from a
  rate-converted ANN, a sinabs or snnTorch convention) is written with NIR's nearest meaning
  (reset to 0, v(0) = 0), which loses the residue a subtractive reset keeps, so other tools
  compute a less accurate network: ``npukit convert --to nir`` prints both accuracies. The
  exact semantics travel as node metadata (``npukit.reset``, ``npukit.v_init``...:
  ``semantics_metadata``), which npukit's NIR frontend reads back, so npukit re-imports the
  network itself;
* analog activations after the last weighted layer (Softmax, a final ReLU) are dropped: the
  graph's output is the readout current, whose time-mean is the readout;
* Add becomes several edges into one node (NIR sums them); Pad2D merges into the Conv2d after
  it; GlobalAveragePool becomes an AvgPool2d over the whole map and a Flatten.

Neurons are written in NIR's continuous form for step ``dt``, the inverse of the importer's
forward Euler (``npukit.snn.euler``: ``integrator_r``, ``lif_parameters``, ``synapse_parameters``). MaxPool2D and Concatenate have no NIR
form and are refused.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from npukit import ir
from npukit.errors import BadInputError, UnsupportedError
from npukit.ir.layout import chw, chw_order, conv_weight_to_oihw, depthwise_weight_to_oihw, values_to_chw
from npukit.passes.fold_amplitudes import fold_amplitudes
from npukit.passes.fold_batchnorm import fold_batchnorm
from npukit.snn.euler import integrator_r, lif_parameters, synapse_parameters
from npukit.snn.neurons import CURRENT_BASED
from npukit.snn.plan import READOUT, make_plan


def _folded(snn: ir.Graph) -> ir.Graph:
    """The SNN with amplitudes and BatchNorm folded into weights (the same network)."""
    graph, _ = fold_amplitudes(snn)
    return fold_batchnorm(graph)


#: the spike/reset semantics NIR has no field for, with the value NIR's equations mean
NIR_SEMANTICS = {"reset": "value", "reset_timing": "fire", "max_spikes": 1, "fire_at_threshold": False, "v_min": None}


def export_view(snn: ir.Graph) -> ir.Graph:
    """The graph with NIR's semantics (module docstring), still as IR: every spiking neuron
    resets to its v_reset (0 after a subtractive reset), one spike per step when v > threshold,
    no floor, from v(0) = 0."""
    graph = _folded(snn)
    plan = make_plan(graph, 1, "current")
    keep = [n for n in graph if not (plan.region[n.name] == READOUT and isinstance(n, (ir.ReLU, ir.Softmax)))]
    output = graph.output
    while isinstance(graph[output], (ir.ReLU, ir.Softmax)) and plan.region[output] == READOUT:
        output = graph[output].inputs[0]
    nodes = []
    for node in keep:
        if isinstance(node, ir.SPIKING) and not isinstance(node, ir.Threshold):
            v_reset = node.v_reset if node.reset == "value" else np.zeros_like(node.v_reset)
            node = node.replace(v_reset=v_reset, v_init=np.zeros_like(node.v_init), **NIR_SEMANTICS)
        elif isinstance(node, ir.STATEFUL):
            node = node.replace(v_init=np.zeros_like(node.v_init))
        nodes.append(node)
    return ir.Graph(nodes, output, {**snn.meta, "nir_export_view": True})


def semantics_metadata(node: ir.Node, shape, flat) -> dict[str, Any]:
    """npukit's neuron semantics that NIR cannot express, as NIR node metadata (``npukit.*`` keys,
    read back by npukit's NIR frontend): reset, reset_timing, max_spikes, fire_at_threshold,
    v_min, v_reset after a subtractive reset, and v_init, where they differ from NIR's meaning."""
    out: dict[str, Any] = {}
    for key, nir_value in NIR_SEMANTICS.items():
        value = getattr(node, key, nir_value)
        if key == "v_min" and value is not None:
            out["npukit.v_min"] = values_to_chw(value, shape, flat)
        elif key != "v_min" and value != nir_value:
            out[f"npukit.{key}"] = int(value) if isinstance(value, bool) else value
    if getattr(node, "v_init", None) is not None and np.any(node.v_init != 0):
        out["npukit.v_init"] = values_to_chw(node.v_init, shape, flat)
    return out


def _nir_name(name: str) -> str:
    """NIR files are HDF5: a '/' in a node name would open a group, so it becomes '.'."""
    return name.replace("/", ".")


def to_nir(snn: ir.Graph, dt: float = 1e-4):
    """A ``nir.NIRGraph`` computing ``export_view(snn)`` under forward Euler with step ``dt``."""
    import nir

    view = export_view(snn)
    exact = _folded(snn)  # the network itself: its neurons' semantics travel as node metadata
    shapes = view.shapes
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    #: IR node -> (NIR nodes that carry its value, flatten origin (H, W, C) of a flat vector)
    carried: dict[str, tuple[list[str], tuple | None]] = {}
    pending_pad: dict[str, tuple[int, int]] = {}

    recurrent: dict[str, str] = {}  # a Delay on a cycle -> its source (written as the edge that closes the cycle)
    closing: list[tuple[str, str]] = []

    def connect(src: str, dst: str) -> None:
        if src in recurrent:  # its source comes later: the edge is added at the end
            closing.append((recurrent[src], dst))
            return
        for origin in carried[src][0]:
            edges.append((origin, dst))

    for node in view:
        name = _nir_name(node.name)
        shape = shapes[node.name]
        flat = carried[node.inputs[0]][1] if node.inputs and node.inputs[0] in carried else None
        if isinstance(node, ir.Input):
            nodes[name] = nir.Input(input_type={"input": np.array(chw(shape))})
            carried[node.name] = ([name], None)
            continue
        if isinstance(node, ir.Identity):
            carried[node.name] = carried[node.inputs[0]]
            continue
        if isinstance(node, ir.Delay) and node.name in view.recurrent_delays:
            if node.steps != 1 or np.any(node.init != 0):
                raise UnsupportedError(f"{node.name}: NIR's recurrent edges are one-step delays from zero")
            recurrent[node.name] = node.inputs[0]
            carried[node.name] = ([], flat)
            continue
        if isinstance(node, ir.Add):
            carried[node.name] = ([o for i in node.inputs for o in carried[i][0]], carried[node.inputs[0]][1])
            continue
        if isinstance(node, ir.Pad2D):
            (t, b), (l, r) = node.pads
            if t != b or l != r or any(not isinstance(view[c], (ir.Conv2D, ir.DepthwiseConv2D)) for c in view.consumers[node.name]):
                raise UnsupportedError(f"{node.name}: only symmetric zero padding before a convolution has a NIR form")
            pending_pad[node.name] = (t, l)
            carried[node.name] = carried[node.inputs[0]]
            continue
        nodes[name] = _node(nir, node, view, shapes, flat, pending_pad.get(node.inputs[0]), dt, exact)
        for src in node.inputs:
            connect(src, name)
        if isinstance(node, (ir.Flatten, ir.Reshape)):
            in_shape = shapes[node.inputs[0]]
            carried[node.name] = ([name], tuple(in_shape) if len(in_shape) == 3 else None)
        elif isinstance(node, ir.GlobalAveragePool):
            flat_name = f"{name}.flatten"
            c = shapes[node.inputs[0]][2]
            nodes[flat_name] = nir.Flatten(input_type={"input": np.array([c, 1, 1])}, start_dim=0)
            edges.append((name, flat_name))
            carried[node.name] = ([flat_name], None)
        else:  # element-wise nodes keep the layout of a flat vector; Dense starts a fresh one
            elementwise = isinstance(node, (*ir.NEURONS, ir.Scale, ir.BatchNorm))
            carried[node.name] = ([name], flat if elementwise and len(shape) == 1 else None)
    for src, dst in closing:
        for origin in carried[src][0]:
            edges.append((origin, dst))
    nodes["output"] = nir.Output(output_type={"output": np.array(chw(shapes[view.output]))})
    connect(view.output, "output")
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), view


def _node(nir, node: ir.Node, view: ir.Graph, shapes, flat, pad, dt: float, exact: ir.Graph):
    shape = shapes[node.name]
    if isinstance(node, ir.Dense):
        weight = node.kernel.T  # (out, in), columns in IR order
        if flat is not None:  # IR columns are HWC-flat; NIR's are CHW-flat
            weight = weight[:, chw_order(flat)]
        return nir.Affine(weight=np.ascontiguousarray(weight, np.float32), bias=node.bias.astype(np.float32))
    if isinstance(node, (ir.Conv2D, ir.DepthwiseConv2D)):
        in_shape = shapes[node.inputs[0]]
        if pad is not None:
            padding, spatial = pad, (in_shape[0] - 2 * pad[0], in_shape[1] - 2 * pad[1])
            if node.padding != "valid":
                raise UnsupportedError(f"{node.name}: explicit padding before a 'same' convolution has no NIR form")
        else:
            padding, spatial = node.padding, in_shape[:2]
        if isinstance(node, ir.Conv2D):
            weight, groups = conv_weight_to_oihw(node.kernel), 1
        else:
            weight, groups = depthwise_weight_to_oihw(node.kernel), node.kernel.shape[2]
        return nir.Conv2d(
            input_shape=tuple(int(v) for v in spatial), weight=np.ascontiguousarray(weight, np.float32),
            stride=node.strides, padding=padding, dilation=node.dilation, groups=groups, bias=node.bias.astype(np.float32),
        )
    if isinstance(node, (ir.AveragePool2D, ir.SumPool2D)):
        if node.padding != "valid":
            raise UnsupportedError(f"{node.name}: pooling with 'same' padding has no NIR form (count excludes padding)")
        cls = nir.AvgPool2d if isinstance(node, ir.AveragePool2D) else nir.SumPool2d
        return cls(kernel_size=np.array(node.pool_size), stride=np.array(node.strides), padding=np.array([0, 0]))
    if isinstance(node, ir.GlobalAveragePool):
        h, w, _ = shapes[node.inputs[0]]
        return nir.AvgPool2d(kernel_size=np.array([h, w]), stride=np.array([h, w]), padding=np.array([0, 0]))
    if isinstance(node, ir.Flatten) or (isinstance(node, ir.Reshape) and len(shape) == 1):
        return nir.Flatten(input_type={"input": np.array(chw(shapes[node.inputs[0]]))}, start_dim=0)
    if isinstance(node, ir.Scale):
        return nir.Scale(scale=values_to_chw(node.scale, shape, flat))
    if isinstance(node, ir.BatchNorm) and not np.any(node.shift):
        return nir.Scale(scale=values_to_chw(node.scale, shape, flat))
    if isinstance(node, ir.NEURONS):
        return _neuron(nir, node, shape, flat, dt, semantics_metadata(exact[node.name], shape, flat))
    if isinstance(node, ir.Delay):  # a delay line: NIR's y(t) = x(t - delay), delay in time
        if np.any(node.init != 0):
            raise UnsupportedError(f"{node.name}: NIR's delays start from zero")
        return nir.Delay(delay=np.full(chw(shape), node.steps * dt, np.float32))
    raise UnsupportedError(f"{node.name}: {type(node).__name__} has no NIR form")


def _neuron(nir, node, shape, flat, dt: float, metadata: dict[str, Any]):
    p = lambda name: values_to_chw(getattr(node, name), shape, flat)  # noqa: E731
    m = {"metadata": metadata} if metadata else {}
    if isinstance(node, ir.Threshold):
        return nir.Threshold(threshold=p("v_threshold"), **m)
    if isinstance(node, ir.Integrator):
        return nir.I(r=integrator_r(p("gain"), dt), **m)
    if isinstance(node, ir.IF):
        return nir.IF(r=integrator_r(p("gain"), dt), v_threshold=p("v_threshold"), v_reset=p("v_reset"), **m)
    try:
        membrane = lif_parameters(p("decay"), p("gain"), p("leak"), dt)
        synapse = synapse_parameters(p("syn_decay"), p("syn_gain"), dt) if isinstance(node, CURRENT_BASED) else {}
    except BadInputError as exc:
        raise UnsupportedError(f"{node.name}: {exc}; export a leak-free membrane as IF")
    tau = membrane.pop("tau")
    if isinstance(node, ir.CubaLIF):
        return nir.CubaLIF(tau_mem=tau, v_threshold=p("v_threshold"), v_reset=p("v_reset"), **synapse, **membrane, **m)
    if isinstance(node, ir.CubaLI):
        return nir.CubaLI(tau_mem=tau, **synapse, **membrane, **m)
    if isinstance(node, ir.LIF):
        return nir.LIF(tau=tau, v_threshold=p("v_threshold"), v_reset=p("v_reset"), **membrane, **m)
    return nir.LI(tau=tau, **membrane, **m)


def nir_bytes(graph) -> bytes:
    """The .nir (HDF5) file of a NIR graph, in memory."""
    import nir

    buffer = io.BytesIO()
    nir.write(buffer, graph, compression=None)
    return buffer.getvalue()
