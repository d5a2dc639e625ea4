"""Temporal mode: a spiking graph as a TFLite graph for ONE timestep, its state carried by the host.

Inputs: the input frame of the step, then the state of every neuron layer (membrane ``v``, and
the synaptic current ``i`` of current-based neurons), in the order of ``state_order`` in the
metadata. Outputs: the readout of the step (the output node's value: spikes of a spiking
output, the membrane of an integrator), then every next state in the same order. The host loops
T steps, feeding each step's next states back; the readout over T is the mean of the per-step
readouts, as in the numpy simulator (docs/snn.md).

Only arithmetic ops the NN-API delegate takes (docs/nnapi.md; no comparison, no bool tensor, no
CAST, no SELECT): a spike is a saturating step,
``s = RELU(MUL(m - threshold, K))`` with the MUL's fused RELU_N1_TO_1 clipping to [-1, 1]: with
K = 2**64 any positive float32 difference saturates to 1 and zero or less gives 0, so the float
model fires exactly when ``m > threshold`` (for ``>=``: ``m - threshold + 1/K``). Resets are
``v = m * (1 - s) + v_reset * s`` (exact for s in {0, 1}) or ``m - threshold * s``. States are
plain inputs and outputs (no variables), shapes static, rank <= 4.

The int8 variant quantizes every input, output and state, with ranges calibrated on states
recorded from the float32 model; there K is set per layer to 4 / (one int8 step of the
membrane), so a one-step excess over the threshold fires.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from npukit import ir
from npukit.converters.tflite import _LOWER, _io_metadata, _tf, supported_nodes
from npukit.errors import BadInputError, InternalError, UnsupportedError
from npukit.quiet import native_output_captured
from npukit.snn.plan import READOUT, make_plan
from npukit.tflite_file import read_tflite, with_metadata

_CURRENT_BASED = (ir.CubaLIF, ir.CubaLI)
_HAS_DECAY = (ir.LIF, ir.CubaLIF, ir.LI, ir.CubaLI)
FLOAT_STEEPNESS = float(2**64)


def state_specs(graph: ir.Graph) -> list[dict[str, Any]]:
    """One entry per state tensor: layer, kind ('v' or 'i'), per-sample shape, initial value."""
    specs = []
    for node in graph:
        if not isinstance(node, ir.STATEFUL):
            continue
        kinds = (("i", node.i_init), ("v", node.v_init)) if isinstance(node, _CURRENT_BASED) else (("v", node.v_init),)
        for kind, init in kinds:
            if np.ptp(init) != 0:
                raise UnsupportedError(f"{node.name}: temporal mode needs one initial {kind} for the whole layer")
            specs.append({"layer": node.name, "kind": kind, "shape": list(graph.shapes[node.name]), "init": float(init.reshape(-1)[0])})
    return specs


def _full(value: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return np.ascontiguousarray(np.broadcast_to(np.asarray(value, np.float32), shape))


def _step_function(tf, difference, steepness: float, name: str):
    """0/1 spikes from m - threshold: clip(K * d, -1, 1) (one fused MUL), then RELU."""
    clipped = tf.clip_by_value(tf.multiply(difference, np.float32(steepness), name=name), -1.0, 1.0, name=name)
    return tf.nn.relu(clipped, name=name)


def _neuron(tf, node, current, states: dict[str, Any], shape, name: str, steepness: float):
    """(output, next states) of one neuron layer for one step, per npukit.ir.neurons."""
    nxt = {}
    if isinstance(node, _CURRENT_BASED):
        i = states["i"]
        i = tf.add(tf.multiply(i, _full(node.syn_decay, shape), name=name), tf.multiply(current, _full(node.syn_gain, shape), name=name), name=name)
        nxt["i"] = i
        current = i
    m = states["v"]
    if isinstance(node, _HAS_DECAY):
        if np.any(node.decay != 1):
            m = tf.multiply(m, _full(node.decay, shape), name=name)
        if np.any(node.leak != 0):
            m = tf.add(m, _full(node.leak, shape), name=name)
    drive = current if not np.any(node.gain != 1) else tf.multiply(current, _full(node.gain, shape), name=name)
    m = tf.add(m, drive, name=name)
    if not isinstance(node, ir.SPIKING):
        nxt["v"] = m
        return m, nxt
    theta = _full(node.v_threshold, shape)
    difference = tf.subtract(m, theta, name=name)
    if node.fire_at_threshold:
        difference = tf.add(difference, np.float32(1.0 / steepness), name=name)
    spikes = _step_function(tf, difference, steepness, name)
    if node.reset == "subtract":
        nxt["v"] = tf.subtract(m, tf.multiply(spikes, theta, name=name), name=name)
    else:
        keep = tf.subtract(np.float32(1.0), spikes, name=name)
        nxt["v"] = tf.add(tf.multiply(m, keep, name=name), tf.multiply(spikes, _full(node.v_reset, shape), name=name), name=name)
    amplitude = getattr(node, "amplitude", np.float32(1))
    out = spikes if not np.any(amplitude != 1) else tf.multiply(spikes, _full(amplitude, shape), name=name)
    return out, nxt


def _threshold(tf, node, x, shape, name, steepness: float):
    return _step_function(tf, tf.subtract(x, _full(node.v_threshold, shape), name=name), steepness, name)


def build_step_function(graph: ir.Graph, batch: int, api_level: int = 30, steepness: dict[str, float] | None = None):
    """A tf.function (input frame, *states) -> (readout, *next states) for one timestep.

    ``steepness`` gives K per spiking layer (default 2**64: exact float32 spikes)."""
    tf = _tf()
    plan = make_plan(graph, 1, "bernoulli")  # regions only; the encoding makes the input temporal
    for node in graph:
        if plan.region[node.name] == READOUT and not isinstance(node, ir.AFFINE):
            raise UnsupportedError(
                f"temporal mode runs the readout step by step, so it must be affine; {node.name!r} is a "
                f"{type(node).__name__} after the last neuron layer"
            )
        if not isinstance(node, (ir.Input, *ir.NEURONS)) and type(node) not in _LOWER:
            raise UnsupportedError(f"{node.name!r} ({type(node).__name__}) has no TFLite lowering; supported: {', '.join(supported_nodes())}")
    specs = state_specs(graph)
    order = list(graph)
    index = {n.name: i for i, n in enumerate(order)}
    signature = [tf.TensorSpec([batch, *graph.input_shape], tf.float32, name="x")]
    signature += [tf.TensorSpec([batch, *s["shape"]], tf.float32, name=f"state_{k:03d}") for k, s in enumerate(specs)]

    @tf.function(input_signature=signature)
    def step(x, *states):
        by_layer: dict[str, dict[str, Any]] = {}
        for spec, tensor in zip(specs, states):
            by_layer.setdefault(spec["layer"], {})[spec["kind"]] = tensor
        values: dict[str, Any] = {}
        nxt: dict[tuple[str, str], Any] = {}
        for node in order:
            name = f"npk_{index[node.name]:04d}_"
            if isinstance(node, ir.Input):
                values[node.name] = x
            elif isinstance(node, ir.Threshold):
                k = (steepness or {}).get(node.name, FLOAT_STEEPNESS)
                values[node.name] = _threshold(tf, node, values[node.inputs[0]], graph.shapes[node.name], name, k)
            elif isinstance(node, ir.NEURONS):
                k = (steepness or {}).get(node.name, FLOAT_STEEPNESS)
                out, new = _neuron(tf, node, values[node.inputs[0]], by_layer[node.name], graph.shapes[node.name], name, k)
                values[node.name] = out
                for kind, tensor in new.items():
                    nxt[(node.name, kind)] = tensor
            else:
                values[node.name] = _LOWER[type(node)](tf, node, [values[i] for i in node.inputs], name, batch, api_level)
        outputs = [tf.identity(values[graph.output], name="readout")]
        outputs += [tf.identity(nxt[(s["layer"], s["kind"])], name=f"next_{k:03d}") for k, s in enumerate(specs)]
        return outputs

    return step, specs


def convert_temporal(
    graph: ir.Graph,
    representative: list[list[np.ndarray]] | None,
    quantize: str = "none",
    batch: int = 1,
    metadata: dict[str, Any] | None = None,
    api_level: int = 30,
    steepness: dict[str, float] | None = None,
) -> tuple[bytes, dict[str, Any]]:
    """Convert the one-step graph; int8 needs ``representative`` input lists [x, *states]."""
    if not graph.is_spiking:
        raise BadInputError("temporal mode converts spiking graphs")
    tf = _tf()
    fn, specs = build_step_function(graph, batch, api_level, steepness)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
    if quantize == "int8":
        if not representative:
            raise BadInputError("int8 temporal models need representative steps")

        def dataset():
            yield from representative

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    elif quantize != "none":
        raise BadInputError(f"quantize must be int8 or none. Received: {quantize!r}")
    try:
        with native_output_captured():
            flat = converter.convert()
    except Exception as exc:
        raise InternalError(f"TFLite conversion of the temporal graph failed: {' '.join(str(exc).split())[:400]}")
    info = read_tflite(flat)
    meta = dict(metadata or {})
    meta.update(_io_metadata(info, graph, quantize, "int8" if quantize == "int8" else "float32", batch))
    meta.update({
        "mode": "temporal", "state_order": _bind(info, specs), "tensor_map": {graph.output: info.outputs[0]},
        "steepness": {k: float(v) for k, v in (steepness or {}).items()},
    })
    return with_metadata(flat, meta), meta


def _bind(info, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Attach to each state its model input position (by name) and output position (the
    converter keeps the order of the returned tensors: readout first, then states)."""
    inputs = {info.tensors[t].name: k for k, t in enumerate(info.inputs)}
    if len(info.outputs) != len(specs) + 1 or inputs.get("x") != 0:
        raise InternalError("the converted temporal model's inputs and outputs are not in the expected order")
    bound = []
    for k, spec in enumerate(specs):
        position = inputs.get(f"state_{k:03d}")
        shapes = {tuple(info.tensors[info.inputs[position]].shape[1:]), tuple(info.tensors[info.outputs[k + 1]].shape[1:])}
        if position is None or shapes != {tuple(spec["shape"])}:
            raise InternalError(f"state {k} ({spec['layer']} {spec['kind']}) not found among the converted model's I/O")
        entry = dict(spec, input=position, output=k + 1)
        entry.update(_quant(info, info.inputs[position], "input_"))
        entry.update(_quant(info, info.outputs[k + 1], "output_"))
        bound.append(entry)
    return bound


def _quant(info, tensor: int, prefix: str) -> dict[str, Any]:
    t = info.tensors[tensor]
    return {
        f"{prefix}dtype": t.dtype.lower(),
        f"{prefix}scale": t.scale[0] if t.scale else None,
        f"{prefix}zero_point": t.zero_point[0] if t.zero_point else None,
    }


def record_steps(model: bytes, x: np.ndarray, timesteps: int, encoding: str, input_max: float, stride: int = 1):
    """Inputs [frame, *states] the float32 temporal ``model`` sees on ``x`` (every ``stride``-th
    step, through the host loop ``npukit.runtime.StepLoop``), to calibrate the int8 variant; and
    each state's (min, max)."""
    from npukit.runtime import StepLoop
    from npukit.runtime.steploop import batches
    from npukit.snn.encoders import encode

    loop = StepLoop.from_model(model)
    recorded: list[list[np.ndarray]] = []

    def keep(t: int, states: list[np.ndarray], step) -> None:
        if t % stride == 0:
            recorded.append([step.fed[0], *states])

    usable = x[: len(x) - len(x) % loop.batch] if len(x) >= loop.batch else x
    for first, chunk, _ in batches(usable, loop.batch):
        loop.run(encode(chunk, timesteps, encoding, input_max, 0, first), timesteps, keep)
    ranges = {}
    for k, s in enumerate(loop.states):
        values = np.concatenate([r[k + 1].reshape(-1) for r in recorded])
        ranges[(s["layer"], s["kind"])] = (float(values.min()), float(values.max()))
    return recorded, ranges


def int8_steepness(graph: ir.Graph, ranges: dict) -> dict[str, float]:
    """K per spiking layer for the int8 variant: 4 / (one int8 step of the membrane's range,
    the threshold included)."""
    out = {}
    for node in graph:
        if isinstance(node, ir.Threshold):
            out[node.name] = 1e6
        elif isinstance(node, ir.SPIKING):
            low, high = ranges.get((node.name, "v"), (0.0, 1.0))
            high = max(high, float(np.max(node.v_threshold)))
            low = min(low, float(np.min(node.v_reset)) if node.reset == "value" else low)
            out[node.name] = 4.0 * 255.0 / max(high - low, 1e-6)
    return out
