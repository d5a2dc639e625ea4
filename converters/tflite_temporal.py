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

int8 variants (``converters/tflite_temporal_int8.py``, docs/snn.md): the weights rounded in the IR
beforehand (GPTQ, ``npukit.passes.gptq_rounding``), the float32 graph calibrated in numpy over every
calibration sample and step, ranges designed from its arithmetic, then quantized with int8
synapses and float32 states (``state`` "float32") or everything int8 ("int8": K set per layer to
4 / (one int8 step of the membrane), so a one-step excess over the threshold fires). The op
computing a layer's spikes is named ``npk_<index>_spikes`` so that the converted model's spike
tensors can be found (``spike_tensors``), and ``stored_weights`` reads the int8 weights back.

A recurrent ANN (an LSTM or GRU network, ``npukit.ir.recurrence``) is already one step of its
model: it converts as it is, no spikes, its h and c carried as Delay states like recurrent
spikes, and ``readout`` in the metadata says what the host keeps of the per-step readouts (the
last, or every step's; a spiking network's is their mean). Token ids enter as an int32 input.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from npukit import ir
from npukit.converters import tflite_temporal_int8 as int8
from npukit.converters.tflite_backend import Backend, check_options, io_metadata, run_converter, tf
from npukit.converters.tflite_lowering import check_lowerable, lower_node, op_name
from npukit.converters.tflite_temporal_int8 import STATES
from npukit.errors import BadInputError, InternalError, UnsupportedError
from npukit.ir.recurrence import check_token_ids, readout
from npukit.passes.ann_to_snn import ann_to_snn
from npukit.passes.gptq_rounding import gptq_round
from npukit.passes.round_weights import int8_scales, on_grid, round_weights
from npukit.snn.encoders import rates
from npukit.snn.neurons import advance, initial_value, is_one, state_kinds
from npukit.snn.plan import READOUT, make_plan
from npukit.tflite_file import read_tflite, with_metadata
from npukit.validation import one_of

FLOAT_STEEPNESS = float(2**64)
#: how int8 weights are rounded: GPTQ (``npukit.passes.gptq_rounding``; spiking graphs) or to the nearest level
ROUNDINGS = ("gptq", "nearest")
#: suffix of the name of the op computing a layer's spikes (``TensorFlowOps.fire``)
SPIKES = "spikes"


class TemporalBackend(Backend):
    """One invoke per timestep (module docstring). ``timesteps`` and ``encoding`` are the host
    loop the int8 calibration runs (``npukit.snn.encoders``); ``state`` the int8 state scheme
    (``converters/tflite_temporal_int8.py``: "float32" or "int8")."""

    mode = "temporal"

    def __init__(self, timesteps: int = 32, encoding: str = "current", percentile: float = 99.9,
                 state: str = "float32", rounding: str = "gptq"):
        super().__init__(timesteps, encoding, percentile)
        one_of("state", state, STATES)
        one_of("rounding", rounding, ROUNDINGS)
        self.state, self.rounding = state, rounding

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

    def calibration_steps(self) -> int:
        """The timesteps calibration, GPTQ and tuning simulate: T, or its first
        ``CALIBRATION_STEPS`` (converters/tflite_temporal_int8.py)."""
        return min(self.timesteps, int8.CALIBRATION_STEPS)

    def _calibration_samples(self, samples: np.ndarray) -> np.ndarray:
        """``samples`` as calibration sees them: a time series cut to ``calibration_steps``."""
        from npukit.snn.encoders import TIME_SERIES

        return samples[:, : self.calibration_steps()] if self.encoding == TIME_SERIES else samples

    def calibrate(self, graph: ir.Graph, samples: np.ndarray, batch: int, api_level: int = 30,
                  steepness: dict[str, float] | None = None, max_counts: dict[str, int] | None = None):
        """The float32 one-step model of ``graph`` run over every sample of ``samples`` and the
        first ``calibration_steps()`` steps in numpy: (its bytes, its state specs, the
        ``TensorStats`` of its tensors by index)."""
        fn, specs = build_step_function(graph, batch, api_level, steepness, max_counts)
        flat = run_converter(fn, None, "none", "float32")
        order = _bind(read_tflite(flat), specs)
        input_max = float(graph.meta.get("snn", {}).get("input_max", 1.0))
        return flat, specs, int8.calibrate(flat, order, self._calibration_samples(samples), self.calibration_steps(),
                                           self.encoding, input_max)

    def convert(self, graph, samples, quantize="none", io=None, batch=1, metadata=None, api_level=30):
        """float32, float32 with float16 weights ("fp16"), or int8 weights calibrated on
        ``samples`` with the backend's state scheme (module docstring)."""
        if not graph.is_spiking and not graph.is_recurrent:
            raise BadInputError("temporal mode converts spiking graphs and recurrent ANNs")
        io = check_options(quantize, io or ("float32" if quantize != "int8" or self.state == "float32" else "int8"), batch)
        if quantize != "int8":
            graph = round_weights(graph, "fp16") if quantize == "fp16" else graph
            fn, specs = build_step_function(graph, batch, api_level)
            return self._finish(run_converter(fn, None, quantize, "float32"), graph, specs, quantize, "float32", batch,
                                metadata)
        if samples is None or len(samples) == 0:
            raise BadInputError("int8 quantization needs calibration data")
        if self.state == "float32" and io != "float32":
            raise BadInputError(f"the float32 state scheme has float32 inputs and outputs (the host carries float "
                                f"states); io {io!r} needs state 'int8'")
        return self._int8(graph, samples, io, batch, metadata, api_level)

    def _int8(self, graph, samples, io, batch, metadata, api_level):
        """The int8 model (converters/tflite_temporal_int8.py): weights rounded in the IR (GPTQ for a
        spiking graph, unless ``rounding`` is "nearest"), the int8 state scheme's step functions
        from the exact model's ranges, calibration, the designed ranges, and for a spiking graph the
        synapse ranges and float32 synapses measured against its simulation."""
        spiking = graph.is_spiking
        rounding = self.rounding if spiking else "nearest"  # (a recurrent ANN's converter folds an Embedding
        # into the Dense after it: its stored weights cannot be checked against the IR's)
        steps, calibration = self.calibration_steps(), self._calibration_samples(samples)
        rounded = gptq_round(graph, calibration, steps, self.encoding) if rounding == "gptq" else round_weights(graph, "int8")
        input_max = float(graph.meta.get("snn", {}).get("input_max", 1.0))
        steepness = max_counts = None
        if self.state == "int8" and spiking:  # the exact float model's ranges set the step functions
            flat, specs, stats = self.calibrate(rounded, samples, batch, api_level)
            info = read_tflite(flat)
            by_state = {(s["layer"], s["kind"]): (stats[info.inputs[k + 1]].low, stats[info.inputs[k + 1]].high)
                        for k, s in enumerate(specs)}
            steepness = int8_steepness(rounded, by_state)
            max_counts = int8_max_counts(rounded, spike_peaks(info, rounded, stats))
        flat, specs, stats = self.calibrate(rounded, samples, batch, api_level, steepness, max_counts)
        info = read_tflite(flat)
        order = _bind(info, specs)
        chosen = int8.design(info, stats, self.state, order)
        extra: dict[str, Any] = {"state": self.state, "int8_ranges": _ranges_metadata(info, chosen), "rounding": rounding,
                                 "calibration_steps": steps}
        if spiking:
            from npukit.snn.simulate import simulate

            tuning_x = calibration[: int8.TUNING_SAMPLES]
            reference = simulate(graph, tuning_x, steps, encoding=self.encoding).outputs.reshape(len(tuning_x), -1)
            blob, tuning = int8.tune(flat, chosen, self.state, order, tuning_x, reference, steps, self.encoding,
                                     input_max)
            extra["tuning"] = tuning.to_dict()
            check_weights(read_tflite(blob), rounded)  # the weight floor is the float simulation of ``rounded``
        else:
            blob = int8.quantize(flat, chosen, self.state)
        return self._finish(blob, rounded, specs, "int8", io, batch, metadata, steepness, max_counts, extra)

    def _finish(self, flat, graph, specs, quantize, io, batch, metadata, steepness=None, max_counts=None, extra=None):
        """``flat`` with npukit's metadata: (bytes, metadata)."""
        info = read_tflite(flat)
        meta = dict(metadata or {})
        meta.update(io_metadata(info, graph, quantize, io, batch))
        meta.update({
            "mode": "temporal", "state_order": _bind(info, specs), "tensor_map": {graph.output: info.outputs[0]},
            "spike_tensors": spike_tensors(info, graph, specs),
            "state": "int8" if quantize == "int8" and self.state == "int8" else "float32",
            "steepness": {k: float(v) for k, v in (steepness or {}).items()},
            **({"max_counts": dict(max_counts)} if max_counts else {}),
            **(extra or {}),
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
        """The layer's spikes; the op that computes them is named ``<prefix>spikes`` (``SPIKES``)
        so that the converted model's spike tensor of each layer can be found."""
        tf_, name = self.tf, self.name
        spikes = name + SPIKES
        difference = tf_.subtract(m, _full(theta, self.shape), name=name)
        reached = self._step(difference, at_threshold, spikes if max_spikes == 1 else name)
        self.reached = reached  # 0/1 even when the spikes are counts: what a value reset uses
        if max_spikes == 1:
            return reached
        if self.steepness == FLOAT_STEEPNESS:  # reached * floor(m / theta): exact in float32
            counts = tf_.math.floor(tf_.math.divide(m, _full(theta, self.shape), name=name), name=name)
            return tf_.multiply(reached, counts, name=spikes)
        total = reached
        for k in range(2, self.max_count + 1):
            step = self._step(tf_.subtract(m, _full(k * theta, self.shape), name=name), True, name)
            total = tf_.add(total, step, name=spikes if k == self.max_count else name)
        return total

    def _step(self, difference, at_threshold: bool, name: str):
        if at_threshold:
            difference = self.tf.add(difference, np.float32(1.0 / self.steepness), name=self.name)
        return _step_function(self.tf, difference, self.steepness, self.name, name)

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


def _step_function(tf_, difference, steepness: float, name: str, out_name: str):
    """0/1 spikes from m - threshold: clip(K * d, -1, 1) (one fused MUL), then RELU (named ``out_name``)."""
    clipped = tf_.clip_by_value(tf_.multiply(difference, np.float32(steepness), name=name), -1.0, 1.0, name=name)
    return tf_.nn.relu(clipped, name=out_name)


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

    @tf_.function(input_signature=signature, autograph=False)  # Python control flow over the graph only
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


def spike_tensors(info, graph: ir.Graph, specs: list[dict[str, Any]]) -> dict[str, int]:
    """Spiking layer -> index of the tensor holding its spikes of the step: the output of the op
    named ``<prefix>spikes`` (the last of them: a reset at the next step computes the previous
    step's spikes first), else the readout (the output layer) or the next state of the Delay
    that carries the layer's spikes back."""
    order = list(graph)
    found: dict[str, int] = {}
    for t in info.tensors:
        for part in t.name.split(";"):
            head, marked, tail = part.partition(SPIKES)
            if not marked or not head.startswith("npk_") or not head.endswith("_") or (tail and not tail.lstrip("_").isdigit()):
                continue
            index = int(head[4:-1])
            rank = int(tail.lstrip("_") or 0)
            if index < len(order) and isinstance(order[index], ir.SPIKING):
                name = order[index].name
                if name not in found or rank >= found[name][0]:
                    found[name] = (rank, t.index)
    out = {name: index for name, (_, index) in found.items()}
    for node in order:
        if not isinstance(node, ir.SPIKING) or node.name in out:
            continue
        if node.name == graph.output:
            out[node.name] = info.outputs[0]
            continue
        for k, spec in enumerate(specs):
            if spec["kind"] == "delay1" and graph[spec["layer"]].inputs[0] == node.name:
                out[node.name] = info.outputs[k + 1]
                break
    return out


def spike_peaks(info, graph: ir.Graph, stats: dict) -> dict[str, int]:
    """The most spikes one neuron of each spiking layer emitted in one step during calibration."""
    found = spike_tensors(info, graph, [])
    return {name: int(round(stats[index].high)) for name, index in found.items() if index in stats}


def stored_weights(graph: ir.Graph, info) -> ir.Graph:
    """``graph`` with the int8 weights the converted model ``info`` stores: each Dense, Conv2D and
    DepthwiseConv2D kernel replaced by the int8 levels of its TFLite operator (found by the
    ``npk_<index>_`` marks of the op's output name) times the node's own per-channel scales
    (``npukit.passes.round_weights.int8_scales``). The converter may fold a constant factor into a
    kernel (a sum pool's 4 into the next convolution): levels do not change with such a factor,
    so they are read as stored (int8 synapses) or re-derived from the stored float32 values (a
    synapse left in float32). Nodes the model does not hold as one operator keep their kernels.
    This is the graph whose float simulation is the weight floor of an int8 model."""
    order = list(graph)
    by_node: dict[str, Any] = {}
    for o in info.operators:
        if o.op not in int8.WEIGHTED or len(o.inputs) < 2:
            continue
        marks = {int(m) for part in info.tensors[o.outputs[0]].name.split(";") for m in _MARKS.findall(part)}
        weighted = [order[m].name for m in marks if m < len(order) and isinstance(order[m], ir.WEIGHTED)]
        if len(weighted) == 1:
            by_node.setdefault(weighted[0], []).append(o)
    nodes = []
    for node in graph:
        ops = by_node.get(node.name, [])
        if isinstance(node, ir.WEIGHTED) and len(ops) == 1:
            levels = _stored_levels(info, ops[0])
            shape = node.kernel.shape
            if ops[0].op == "CONV_2D":
                levels = levels.transpose(1, 2, 3, 0)
            elif ops[0].op == "FULLY_CONNECTED":
                levels = levels.T
            levels = levels.reshape(shape) if levels.size == node.kernel.size else None
            if levels is not None:
                node = node.replace(kernel=on_grid(levels, int8_scales(node)))
        nodes.append(node)
    return graph.replace_nodes(nodes)


_MARKS = __import__("re").compile(r"npk_(\d+)_")


def _stored_levels(info, op) -> np.ndarray:
    """The int8 levels of an operator's kernel: its int8 values, or a float32 kernel's values
    divided by its per-output-channel scale (max |w| / 127) and rounded."""
    t = info.tensors[op.inputs[1]]
    values = info.constant_values(t.index)
    if t.dtype == "INT8":
        return values.astype(np.int32)
    axis = values.ndim - 1 if op.op == "DEPTHWISE_CONV_2D" else 0
    peak = np.max(np.abs(values), axis=tuple(a for a in range(values.ndim) if a != axis), keepdims=True)
    ratio = values.astype(np.float64) / np.where(peak > 0, peak / 127.0, 1.0)
    return (np.sign(ratio) * np.floor(np.abs(ratio) + 0.5)).astype(np.int32)


def check_weights(info, graph: ir.Graph) -> None:
    """The converted ``info`` stores the weights of ``graph`` (rounded to the int8 grid
    beforehand): ``stored_weights`` reads every kernel back unchanged. A converter that rescaled or
    re-rounded them would make the weight floor a prediction of another network."""
    back = stored_weights(graph, info)
    for node in graph:
        if isinstance(node, ir.WEIGHTED) and not np.array_equal(back[node.name].kernel, node.kernel):
            raise InternalError(f"the converted model does not store {node.name}'s weights as rounded")


def _ranges_metadata(info, chosen) -> list[dict[str, Any]]:
    """The ranges the int8 tensors were quantized with (docs/metadata.md: ``int8_ranges``)."""
    float_tensors = {t for o in chosen.float_ops for t in info.operators[o].outputs}
    return [
        {"tensor": info.tensors[index].name, "min": low, "max": high, "exact": index in chosen.exact}
        for index, (low, high) in sorted(chosen.ranges.items()) if index not in float_tensors
    ]
