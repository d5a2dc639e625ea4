"""Temporal mode: a spiking graph as a TFLite graph for ONE timestep, its state carried by the host.

Inputs: the input frame of the step, then the state of every neuron layer (membrane ``v``, and
the synaptic current ``i`` of current-based neurons) and of every recurrent connection (a Delay:
its source's last values, ``delay1``...; the spikes a recurrent layer fed back), in the order of
``state_order`` in the metadata: the host carries recurrent spikes exactly like membranes. Outputs: the readout of the step (the output node's value: spikes of a spiking
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

The neuron equations are not written here: ``npukit.snn.neurons.advance`` (the simulators' own
step) runs with ``TensorFlowOps``, a namespace of TF ops, so the graph computes the same update
in the same order.

The int8 variant quantizes every input, output and state, with ranges calibrated on states
recorded from the float32 model through the host loop (``TemporalBackend.calibrate``); there K is
set per layer to 4 / (one int8 step of the membrane), so a one-step excess over the threshold
fires.

A recurrent ANN (an LSTM or GRU network, ``npukit.ir.recurrence``) is already one step of its
model: it converts as it is, no spikes, its h and c carried as Delay states like recurrent
spikes, and ``readout`` in the metadata says what the host keeps of the per-step readouts (the
last, or every step's; a spiking network's is their mean). Token ids enter as an int32 input.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from npukit import ir
from npukit.converters.tflite_backend import Backend, check_options, io_metadata, run_converter, tf
from npukit.converters.tflite_lowering import check_lowerable, lower_node, op_name
from npukit.errors import BadInputError, InternalError, UnsupportedError
from npukit.ir.recurrence import check_token_ids, readout
from npukit.passes.ann_to_snn import ann_to_snn
from npukit.snn.encoders import rates
from npukit.snn.neurons import advance, initial_value, is_one, state_kinds
from npukit.snn.plan import READOUT, make_plan
from npukit.tflite_file import read_tflite, with_metadata

FLOAT_STEEPNESS = float(2**64)
#: samples whose T steps calibrate an int8 temporal model (every step of each)
CALIBRATION_SAMPLES = 48


class TemporalBackend(Backend):
    """One invoke per timestep (module docstring). ``timesteps`` and ``encoding`` are the host
    loop the int8 calibration records (``npukit.snn.encoders``)."""

    mode = "temporal"

    def __init__(self, timesteps: int = 32, encoding: str = "current", percentile: float = 99.9,
                 calibration_samples: int = CALIBRATION_SAMPLES):
        super().__init__(timesteps, encoding, percentile)
        self.calibration_samples = calibration_samples
        self.ranges: dict[tuple[str, str], tuple[float, float]] = {}
        self.peaks: dict[str, int] = {}

    def prepare(self, graph: ir.Graph, samples: np.ndarray | None, metadata: dict[str, Any]) -> ir.Graph:
        """A spiking graph or a recurrent ANN as is; a feed-forward rate-coded one as its IF
        network with thresholds from ``samples`` (``npukit.passes.ann_to_snn``); the metadata
        records the spiking output, the input encoders' spike size, the conversion and the
        readout (``npukit.ir.recurrence.readout``)."""
        stepped = graph.is_spiking or graph.is_recurrent
        snn = graph if stepped else ann_to_snn(graph, rates(samples, graph.input_shape), self.percentile)
        metadata.update(
            spiking_output=isinstance(snn[snn.output], ir.SPIKING),
            input_max=float(snn.meta.get("snn", {}).get("input_max", 1.0)),
            snn=snn.meta.get("snn"),
            readout=readout(snn),
        )
        vocabulary = [n.table.shape[0] for n in snn if isinstance(n, ir.Embedding)]
        if vocabulary:
            metadata["input_vocabulary"] = min(vocabulary)
            if samples is not None:  # int8 calibration runs them through GATHER
                check_token_ids(samples, min(vocabulary))
        return snn

    def lower(self, graph: ir.Graph, batch: int, api_level: int = 30, steepness: dict[str, float] | None = None,
              max_counts: dict[str, int] | None = None):
        return build_step_function(graph, batch, api_level, steepness, max_counts)[0]

    def calibrate(self, graph: ir.Graph, samples: np.ndarray, batch: int, api_level: int = 30) -> list[list[np.ndarray]]:
        """[frame, *states] of every step the float32 model takes on the first samples; the
        states' ranges are kept in ``self.ranges`` (they set the int8 step functions)."""
        float_model, _ = self._convert(graph, None, "none", batch, {}, api_level)
        samples = samples[: max(batch, self.calibration_samples)]
        input_max = float(graph.meta.get("snn", {}).get("input_max", 1.0))
        steps, self.ranges = record_steps(float_model, samples, self.timesteps, self.encoding, input_max)
        self.peaks = {}
        if any(getattr(n, "max_spikes", 1) == 0 for n in graph):  # how many spikes a step must count in int8
            from npukit.snn.simulate import simulate

            self.peaks = simulate(graph, samples, self.timesteps, encoding=self.encoding).peak_spikes
        return steps

    def convert(self, graph, samples, quantize="none", io=None, batch=1, metadata=None, api_level=30):
        """Float32, or int8 (every input, output and state) calibrated on ``samples``."""
        if not graph.is_spiking and not graph.is_recurrent:
            raise BadInputError("temporal mode converts spiking graphs and recurrent ANNs")
        check_options(quantize, "int8" if io is None else io, batch)
        if quantize != "int8":
            return self._convert(graph, None, "none", batch, metadata, api_level)
        if samples is None or len(samples) == 0:
            raise BadInputError("int8 quantization needs calibration data")
        representative = self.calibrate(graph, samples, batch, api_level)
        return self._convert(graph, representative, "int8", batch, metadata, api_level, int8_steepness(graph, self.ranges),
                             int8_max_counts(graph, self.peaks))

    def _convert(self, graph, representative, quantize, batch, metadata, api_level, steepness=None, max_counts=None):
        fn, specs = build_step_function(graph, batch, api_level, steepness, max_counts)
        flat = run_converter(fn, representative, quantize, "int8" if quantize == "int8" else "float32")
        info = read_tflite(flat)
        meta = dict(metadata or {})
        meta.update(io_metadata(info, graph, quantize, "int8" if quantize == "int8" else "float32", batch))
        meta.update({
            "mode": "temporal", "state_order": _bind(info, specs), "tensor_map": {graph.output: info.outputs[0]},
            "steepness": {k: float(v) for k, v in (steepness or {}).items()},
            **({"max_counts": dict(max_counts)} if max_counts else {}),
        })
        return with_metadata(flat, meta), meta


def state_specs(graph: ir.Graph) -> list[dict[str, Any]]:
    """One entry per state tensor: layer, kind (``npukit.snn.neurons.state_kinds``), per-sample
    shape, initial value."""
    specs = []
    for node in graph:
        for kind in state_kinds(node):
            init = initial_value(node, kind)
            if np.ptp(init) != 0:
                raise UnsupportedError(f"{node.name}: temporal mode needs one initial {kind} for the whole layer")
            specs.append({"layer": node.name, "kind": kind, "shape": list(graph.shapes[node.name]), "init": float(init.reshape(-1)[0])})
    return specs


def _full(value: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return np.ascontiguousarray(np.broadcast_to(np.asarray(value, np.float32), shape))


class TensorFlowOps:
    """The array namespace of ``npukit.snn.neurons.advance`` as TF ops of one layer: parameters
    become constants of the layer's shape; a spike is the saturating step function of the
    module docstring with steepness K. Several spikes per step (``max_spikes`` 0) are
    ``floor(m / v_threshold)`` in float32 (DIV and FLOOR, NN-API from API 28), and a sum of
    ``max_count`` step functions ``step(m - k v_threshold)``, k = 1..max_count, in int8 (where
    FLOOR has no quantized kernel)."""

    def __init__(self, tf_, shape: tuple[int, ...], name: str, steepness: float, max_count: int = 1):
        self.tf, self.shape, self.name, self.steepness, self.max_count = tf_, shape, name, steepness, max_count
        self.reached = None

    def _value(self, x):
        return _full(x, self.shape) if isinstance(x, np.ndarray) else x

    def mul(self, a, coefficient):
        return self.tf.multiply(a, self._value(coefficient), name=self.name)

    def add(self, a, b):
        return self.tf.add(a, self._value(b), name=self.name)

    def sub(self, a, b):
        return self.tf.subtract(a, self._value(b), name=self.name)

    scaled = mul

    def fire(self, m, theta, at_threshold: bool, max_spikes: int):
        tf_, name = self.tf, self.name
        reached = self._step(tf_.subtract(m, _full(theta, self.shape), name=name), at_threshold)
        self.reached = reached  # 0/1 even when the spikes are counts: what a value reset uses
        if max_spikes == 1:
            return reached
        if self.steepness == FLOAT_STEEPNESS:  # reached * floor(m / theta): exact in float32
            counts = tf_.math.floor(tf_.math.divide(m, _full(theta, self.shape), name=name), name=name)
            return tf_.multiply(reached, counts, name=name)
        total = reached
        for k in range(2, self.max_count + 1):
            total = tf_.add(total, self._step(tf_.subtract(m, _full(k * theta, self.shape), name=name), True), name=name)
        return total

    def _step(self, difference, at_threshold: bool):
        if at_threshold:
            difference = self.tf.add(difference, np.float32(1.0 / self.steepness), name=self.name)
        return _step_function(self.tf, difference, self.steepness, self.name)

    def reset_where(self, v, spikes, value):
        tf_, name = self.tf, self.name
        spikes = self.reached  # any number of spikes resets once
        keep = tf_.subtract(np.float32(1.0), spikes, name=name)
        return tf_.add(tf_.multiply(v, keep, name=name), tf_.multiply(spikes, _full(value, self.shape), name=name), name=name)

    def floor(self, v, v_min):
        tf_, name = self.tf, self.name
        return tf_.add(tf_.nn.relu(tf_.subtract(v, _full(v_min, self.shape), name=name), name=name), _full(v_min, self.shape), name=name)

    def output(self, v):
        return v


def _step_function(tf_, difference, steepness: float, name: str):
    """0/1 spikes from m - threshold: clip(K * d, -1, 1) (one fused MUL), then RELU."""
    clipped = tf_.clip_by_value(tf_.multiply(difference, np.float32(steepness), name=name), -1.0, 1.0, name=name)
    return tf_.nn.relu(clipped, name=name)


def build_step_function(graph: ir.Graph, batch: int, api_level: int = 30, steepness: dict[str, float] | None = None,
                        max_counts: dict[str, int] | None = None):
    """A tf.function (input frame, *states) -> (readout, *next states) for one timestep.

    ``steepness`` gives K per spiking layer (default 2**64: exact float32 spikes); ``max_counts``
    the most spikes per step of a multi-spike layer in int8 (``TensorFlowOps``)."""
    tf_ = tf()
    if graph.is_spiking:  # an RNN's output is its last or every step's, not a mean: any op may follow
        plan = make_plan(graph, 1, "bernoulli")  # regions only; the encoding makes the input temporal
        for node in graph:
            if plan.region[node.name] == READOUT and not isinstance(node, ir.AFFINE):
                raise UnsupportedError(
                    f"temporal mode runs the readout step by step, so it must be affine; {node.name!r} is a "
                    f"{type(node).__name__} after the last neuron layer"
                )
    check_lowerable(graph, also=(*ir.NEURONS, ir.Delay))
    specs = state_specs(graph)
    order = list(graph)
    frame_type = tf_.int32 if graph[graph.input].dtype == "int32" else tf_.float32  # token ids index a GATHER
    signature = [tf_.TensorSpec([batch, *graph.input_shape], frame_type, name="x")]
    signature += [tf_.TensorSpec([batch, *s["shape"]], tf_.float32, name=f"state_{k:03d}") for k, s in enumerate(specs)]

    @tf_.function(input_signature=signature)
    def step(x, *states):
        by_layer: dict[str, dict[str, Any]] = {}
        for spec, tensor in zip(specs, states):
            by_layer.setdefault(spec["layer"], {})[spec["kind"]] = tensor
        values: dict[str, Any] = {}
        for index, node in enumerate(order):
            name = op_name(index)
            if isinstance(node, ir.Input):
                values[node.name] = x
            elif isinstance(node, ir.Delay):  # the oldest value held: delay{steps}
                values[node.name] = by_layer[node.name][f"delay{node.steps}"]
            elif isinstance(node, ir.NEURONS):
                k = (steepness or {}).get(node.name, FLOAT_STEEPNESS)
                xp = TensorFlowOps(tf_, graph.shapes[node.name], name, k, (max_counts or {}).get(node.name, 1))
                out = advance(node, by_layer.setdefault(node.name, {}), values[node.inputs[0]], xp)
                amplitude = getattr(node, "amplitude", None)
                if isinstance(node, ir.SPIKING) and amplitude is not None and not is_one(amplitude):
                    out = xp.mul(out, amplitude)
                values[node.name] = out
            else:
                values[node.name] = lower_node(tf_, node, [values[i] for i in node.inputs], name, batch, api_level)
        for node in order:  # delays shift: delay1 <- the source now, delay{j} <- delay{j-1}
            if isinstance(node, ir.Delay):
                held = by_layer[node.name]
                shifted = {f"delay{j}": held[f"delay{j - 1}"] for j in range(2, node.steps + 1)}
                by_layer[node.name] = {"delay1": values[node.inputs[0]], **shifted}
        outputs = [tf_.identity(values[graph.output], name="readout")]
        outputs += [tf_.identity(by_layer[s["layer"]][s["kind"]], name=f"next_{k:03d}") for k, s in enumerate(specs)]
        return outputs

    return step, specs


def convert_temporal(graph, representative, quantize="none", batch=1, metadata=None, api_level=30, steepness=None):
    """The one-step graph as .tflite bytes (float32, or int8 given ``representative`` inputs
    [x, *states] and ``steepness``); returns (bytes, metadata)."""
    return TemporalBackend(1)._convert(graph, representative, quantize, batch, metadata, api_level, steepness)


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


#: the most step functions a multi-spike layer's int8 spike count may sum
MAX_INT8_COUNT = 32


def int8_max_counts(graph: ir.Graph, peaks: dict[str, int]) -> dict[str, int]:
    """The most spikes per step of each multi-spike layer (``max_spikes`` 0) in int8: the most one
    neuron emitted in one step on the calibration data (``SimulationResult.peak_spikes``), at
    least 1, at most MAX_INT8_COUNT (more is refused: too many to count with step functions)."""
    out = {}
    for node in graph:
        if isinstance(node, ir.SPIKING) and getattr(node, "max_spikes", 1) == 0:
            count = max(1, int(peaks.get(node.name, 1)))
            if count > MAX_INT8_COUNT:
                raise UnsupportedError(
                    f"{node.name}: up to {count} spikes per step in the calibration data; int8 temporal mode counts at most "
                    f"{MAX_INT8_COUNT} (convert with quantize none)"
                )
            out[node.name] = count
    return out
