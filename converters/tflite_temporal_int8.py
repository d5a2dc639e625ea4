"""The int8 variants of a temporal-mode graph, designed from their arithmetic.

A temporal model is quantized in three steps:

1. **Calibration**: the float32 one-step graph runs in numpy (``npukit.runtime.NumpyInterpreter``)
   over every calibration sample and every timestep (the first ``CALIBRATION_STEPS`` of a longer
   run: its cost grows with T, and T may be 100,000), through the host loop; each tensor's range
   is recorded (``TensorStats``), and whether all its values are multiples of one unit (spikes are
   0/1; event frames, spike counts and sum-pooled spikes are integers; 2x2-averaged spikes are
   multiples of 1/4): a **lattice** tensor.
2. **Ranges by design**: a lattice tensor whose values fit 256 levels of its unit gets exactly
   that unit as its int8 scale (zero point -128), so spikes, counts and event frames cross into
   int8 without error and a weighted layer reading them sums exact integers. Operators that keep
   one scale from input to output (pooling, reshape, pad, transpose, concatenation) get one range
   for both, the finest unit of the pair. Other tensors keep their calibrated range.
3. **TensorFlow's MLIR quantizer** writes the int8 operators (per-channel int8 weights, int32
   bias, the requantization of each int8 output) from those ranges.

The state scheme (``STATES``, ``--state``) decides what is int8:

* ``float32``: the synapses are int8 (every weighted layer reading a lattice tensor or the model
  input, and the pooling / reshaping between a spike tensor and it); the neuron updates, the
  spike functions and every state stay float32. The graph is int8 -> DEQUANTIZE -> float32 neuron
  update -> QUANTIZE of spikes (exact) -> int8. Its inputs and outputs are float32, so the host
  carries states without rounding them. A membrane then accumulates the exact int8 products of
  every step, rounded once per step to the int8 output of its synapse. NN-API runs it whole from
  API 30 (QUANTIZE to int8); a driver may compute the float32 part in float16 when the app allows
  it (``setRelaxComputationFloat32toFloat16``).
* ``int8``: everything int8, for accelerators without float support: each state's input and
  output tensors share one range, so the host passes the integers through unchanged, and the
  spike function's steepness is set per layer (``int8_steepness``). Every neuron update rounds its
  intermediates to int8, so slow leaks and small currents suffer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from npukit.errors import InternalError

STATES = ("float32", "int8")
#: operators whose int8 kernels keep one scale and zero point from input 0 to output 0
SAME_SCALE = ("AVERAGE_POOL_2D", "MAX_POOL_2D", "RESHAPE", "PAD", "PADV2", "TRANSPOSE", "CONCATENATION")
WEIGHTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
#: values within this fraction of a unit of a multiple of it count as multiples (float32 rounding)
LATTICE_TOLERANCE = 1e-3
#: calibration samples stepped at once by the numpy interpreter
CALIBRATION_BATCH = 128


def _finer(a: float | None, b: float | None) -> float | None | bool:
    """The finer of two lattice units when it divides the other (None when neither is known), or
    False when neither divides the other."""
    if a is None or b is None:
        return a if b is None else b
    small, large = min(a, b), max(a, b)
    ratio = large / small
    return small if abs(ratio - round(ratio)) <= LATTICE_TOLERANCE else False


@dataclass
class TensorStats:
    """What calibration saw of one float tensor: its range over all samples and steps, and
    ``unit`` when every value was a multiple of it (a lattice tensor; None while all were 0)."""

    low: float
    high: float
    unit: float | None = None
    lattice: bool = True

    def add(self, value: np.ndarray) -> None:
        self.merge(TensorStats(float(value.min()), float(value.max())))
        if not self.lattice:
            return
        magnitude = np.abs(value)
        positive = magnitude[magnitude > 0]
        unit = _finer(self.unit, float(positive.min()) if positive.size else None)
        if unit is False:
            self.lattice = False
            return
        self.unit = unit
        if unit is not None:
            ratio = value / np.float32(unit)
            self.lattice = bool(np.max(np.abs(ratio - np.rint(ratio))) <= LATTICE_TOLERANCE)

    def merge(self, other: "TensorStats") -> None:
        """Widen to cover ``other`` too (one int8 range for both)."""
        self.low, self.high = min(self.low, other.low), max(self.high, other.high)
        unit = _finer(self.unit, other.unit)
        self.lattice = self.lattice and other.lattice and unit is not False
        self.unit = unit if self.lattice else None

    def levels(self) -> int | None:
        """How many units the range spans from 0 (None for a tensor that is no lattice)."""
        if not self.lattice or self.unit is None:
            return None
        return int(round(max(abs(self.low), abs(self.high)) / self.unit))

    def exact_range(self) -> tuple[float, float] | None:
        """The range whose int8 scale is the unit (zero point -128 for values >= 0, else 0), when
        the values fit 256 levels; None otherwise."""
        levels = self.levels()
        if levels is None:
            return None
        if self.low >= 0 and levels <= 255:
            return 0.0, 255 * self.unit
        if levels <= 127:
            return -128 * self.unit, 127 * self.unit
        return None

    def calibrated_range(self) -> tuple[float, float]:
        """The int8 range of this tensor: ``exact_range`` where there is one, else min and max (0
        included)."""
        return self.exact_range() or (min(self.low, 0.0), max(self.high, 0.0))


def calibrate(model: bytes, states: list[dict[str, Any]], x: np.ndarray, timesteps: int, encoding: str,
              input_max: float, batch: int = CALIBRATION_BATCH) -> dict[int, TensorStats]:
    """Run the float32 temporal ``model`` (its ``states``: the metadata's ``state_order``) over
    every sample of ``x`` and every step in numpy; return the stats of each float tensor it
    computes or is fed, by tensor index."""
    from npukit.runtime.numpy_interpreter import NumpyInterpreter
    from npukit.runtime.steploop import StepLoop
    from npukit.snn.encoders import encode

    stats: dict[int, TensorStats] = {}

    def observe(index: int, value: np.ndarray) -> None:
        if value.dtype != np.float32 or value.size == 0:
            return
        if index not in stats:
            stats[index] = TensorStats(float(value.min()), float(value.max()))
        stats[index].add(value)

    for first in range(0, len(x), batch):
        chunk = np.asarray(x[first : first + batch], np.float32)
        loop = StepLoop(NumpyInterpreter(model, batch=len(chunk), observer=observe), states)
        loop.run(encode(chunk, timesteps, encoding, input_max, 0, first), timesteps)
    return stats


class _Groups:
    """Union-find over tensor indices (tensors that must share one int8 range)."""

    def __init__(self):
        self.parent: dict[int, int] = {}

    def find(self, a: int) -> int:
        self.parent.setdefault(a, a)
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a: int, b: int) -> None:
        self.parent[self.find(a)] = self.find(b)



@dataclass
class Design:
    """The quantization of one temporal graph: ``ranges`` (tensor index -> (min, max)) to write
    before quantizing, ``exact`` the tensors whose scale is their unit, ``float_ops`` the operator
    indices left in float32 (denylisted by their output tensors' names)."""

    ranges: dict[int, tuple[float, float]]
    exact: set[int]
    float_ops: set[int]


def design(info, stats: dict[int, TensorStats], state: str, state_order: list[dict[str, Any]]) -> Design:
    """Ranges and float operators of the ``state`` scheme (module docstring) for the float32
    temporal model ``info`` (``npukit.tflite_file.TFLiteModel``) calibrated into ``stats``."""
    ops = info.operators
    groups = _Groups()
    for o in ops:
        if o.op in SAME_SCALE and o.inputs[0] in stats and o.outputs[0] in stats:
            for i in [o.inputs[0], *(o.inputs[1:] if o.op == "CONCATENATION" else [])]:
                groups.union(i, o.outputs[0])
    if state == "int8":  # a state's input and output share one range: the host passes integers on
        for s in state_order:
            groups.union(info.inputs[s["input"]], info.outputs[s["output"]])
    merged: dict[int, TensorStats] = {}
    for index in stats:  # one range per group of tensors that must share it
        root = groups.find(index)
        if root not in merged:
            merged[root] = TensorStats(stats[index].low, stats[index].high, stats[index].unit, stats[index].lattice)
        else:
            merged[root].merge(stats[index])
    ranges = {index: merged[groups.find(index)].calibrated_range() for index in stats}
    exact = {index for index in stats if merged[groups.find(index)].exact_range() is not None}
    float_ops: set[int] = set()
    if state == "float32":
        float_ops = set(range(len(ops))) - _int8_synapses(info, exact)
    return Design(ranges, exact, float_ops)


def _int8_synapses(info, exact: set[int]) -> set[int]:
    """Operators of the float32-state scheme that run in int8: every weighted layer whose input is
    exact in int8 or is the model's input, and the same-scale operators (and multiplications by
    a constant) between an exact tensor and it."""
    producer = {t: o for o in info.operators for t in o.outputs}
    keep: set[int] = set()
    for o in info.operators:
        if o.op not in WEIGHTED or not (o.inputs[0] in exact or o.inputs[0] in info.inputs):
            continue
        keep.add(o.index)
        todo = [o.inputs[0]]
        while todo:
            p = producer.get(todo.pop())
            if p is None or p.index in keep:
                continue
            constant_mul = p.op == "MUL" and any(info.tensors[i].constant for i in p.inputs)
            if (p.op in SAME_SCALE or constant_mul) and all(t in exact for t in p.outputs) and all(
                    i in exact or info.tensors[i].constant for i in p.inputs if i >= 0):
                keep.add(p.index)
                todo.extend(i for i in p.inputs if i >= 0 and not info.tensors[i].constant)
    return keep


def with_ranges(model: bytes, ranges: dict[int, tuple[float, float]]) -> bytes:
    """The float32 ``model`` with ``ranges`` written as its tensors' calibration statistics
    (what TensorFlow's calibrator writes, read by its MLIR quantizer)."""
    import flatbuffers

    from npukit.tflite_file import IDENTIFIER, schema

    s = schema()
    obj = s.ModelT.InitFromObj(s.Model.GetRootAs(model, 0))
    tensors = obj.subgraphs[0].tensors
    for index, (low, high) in ranges.items():
        q = s.QuantizationParametersT()
        q.min, q.max = [float(low)], [float(high)]
        tensors[index].quantization = q
    builder = flatbuffers.Builder(len(model) + 4096)
    builder.Finish(obj.Pack(builder), file_identifier=IDENTIFIER)
    return bytes(builder.Output())


def quantize(model: bytes, chosen: Design, state: str) -> bytes:
    """The int8 model of the ``chosen`` design: TensorFlow's MLIR quantizer on the float32
    ``model`` with the designed ranges, the float operators denylisted (by output tensor name);
    float32 inputs and outputs for the float32-state scheme, int8 for the int8 one."""
    from npukit.quiet import import_tensorflow, native_output_captured
    from npukit.tflite_file import read_tflite

    tf = import_tensorflow()
    try:
        from tensorflow.lite.python import convert
    except ImportError as exc:  # a TensorFlow without the MLIR quantizer entry point npukit uses
        raise InternalError(f"TensorFlow's MLIR quantizer is not available ({exc})")
    info = read_tflite(model)
    denied = sorted({info.tensors[t].name for o in chosen.float_ops for t in info.operators[o].outputs})
    io = tf.float32 if state == "float32" else tf.int8
    try:
        with native_output_captured():
            return convert.mlir_quantize(with_ranges(model, chosen.ranges), fully_quantize=state == "int8",
                                         input_data_type=io, output_data_type=io, denylisted_nodes=denied or None)
    except Exception as exc:
        raise InternalError(f"TFLite quantization failed: {' '.join(str(exc).split())[:400]}")


#: readout error of the int8 synapses may exceed the weight floor's by this fraction (module docstring)
TOLERANCE = 0.1
#: range factors tried for each int8 synapse output (1: the calibrated range; less: clipped)
RANGE_FACTORS = (1.0, 0.7, 0.5, 0.35)
#: calibration samples the tuning runs (the first ones)
TUNING_SAMPLES = 64
#: the most timesteps calibration, GPTQ and tuning simulate (the first ones): the shipped LIF SNN
#: (64 samples) then converts in about 20 s on 2 cores whatever T (docs/snn.md)
CALIBRATION_STEPS = 1024


def range_params(low: float, high: float) -> tuple[float, int]:
    """(scale, zero point) of an int8 tensor for the range [low, high] (0 included), as
    TensorFlow's quantizer computes them."""
    low, high = min(low, 0.0), max(high, 0.0)
    scale = (high - low) / 255.0 if high > low else 1.0
    zero = int(np.clip(round(-128 - low / scale), -128, 127))
    return float(np.float32(scale)), zero


def with_output_ranges(model: bytes, ranges: dict[int, tuple[float, float]]) -> bytes:
    """An int8 ``model`` with the scale and zero point of the given int8 tensors set from their
    ranges (the kernels derive every rescaling factor from them at run time)."""
    import flatbuffers

    from npukit.tflite_file import IDENTIFIER, schema

    s = schema()
    obj = s.ModelT.InitFromObj(s.Model.GetRootAs(model, 0))
    tensors = obj.subgraphs[0].tensors
    for index, (low, high) in ranges.items():
        scale, zero = range_params(low, high)
        tensors[index].quantization.scale = [scale]
        tensors[index].quantization.zeroPoint = [zero]
    builder = flatbuffers.Builder(len(model) + 1024)
    builder.Finish(obj.Pack(builder), file_identifier=IDENTIFIER)
    return bytes(builder.Output())


@dataclass
class Tuning:
    """What ``tune`` chose and measured on the calibration samples it ran: ``factors`` (int8
    synapse output tensor name -> the fraction of its calibrated range kept), ``float_synapses``
    (the weighted operators left in float32, by output tensor name), ``error`` and
    ``floor_error`` (mean absolute readout difference from the float simulation of the quantized
    graph and of the float32 graph with the rounded weights)."""

    factors: dict[str, float]
    float_synapses: list[str]
    error: float
    floor_error: float

    def to_dict(self) -> dict[str, Any]:
        return {"range_factors": self.factors, "float_synapses": self.float_synapses,
                "readout_error": round(self.error, 6), "floor_readout_error": round(self.floor_error, 6)}


def tune(flat: bytes, chosen: Design, state: str, order: list[dict[str, Any]], x: np.ndarray, reference: np.ndarray,
         timesteps: int, encoding: str, input_max: float, readout: str = "mean") -> tuple[bytes, Tuning]:
    """The int8 model of ``chosen`` with its synapse output ranges, and (float32-state scheme)
    which synapses stay float, chosen by measurement (module docstring): each int8 weighted
    layer's output keeps the fraction of its calibrated range (``RANGE_FACTORS``) that brings the
    readout closest to ``reference`` (the float simulation's readout on ``x``; tried from the widest
    down, stopping at the first that does not help); then, while the
    readout error exceeds the weight floor's by more than ``TOLERANCE``, the synapse whose float32
    version lowers it most is left in float32."""
    from npukit.tflite_file import read_tflite

    def readouts(model: bytes) -> np.ndarray:
        return _run(model, order, x, timesteps, encoding, input_max, readout)

    def error(model: bytes) -> float:
        return float(np.mean(np.abs(readouts(model) - reference)))

    floor = error(flat)
    floats = set(chosen.float_ops)
    blob = quantize(flat, Design(chosen.ranges, chosen.exact, floats), state)
    factors: dict[str, float] = {}
    while True:
        info = read_tflite(blob)
        synapses = {info.tensors[o.outputs[0]].name: o.outputs[0] for o in info.operators
                    if o.op in WEIGHTED and info.tensors[o.outputs[0]].dtype == "INT8"}
        base = {name: _range_of(info.tensors[index]) for name, index in synapses.items()}
        current = {name: factors.get(name, 1.0) for name in synapses}

        def trial(changes: dict[str, float]) -> bytes:
            picked = {**current, **changes}
            return with_output_ranges(blob, {synapses[n]: tuple(f * v for v in base[n]) for n, f in picked.items()})

        best = error(trial({}))
        for name in synapses:  # one pass of coordinate descent over the synapses, in graph order
            for factor in RANGE_FACTORS:  # narrower while it helps (the error is about unimodal in it)
                if factor >= current[name]:
                    continue
                e = error(trial({name: factor}))
                if e >= best:
                    break
                best, current[name] = e, factor
        factors.update(current)
        tuned = trial({})
        if state != "float32" or best <= floor * (1 + TOLERANCE) or not synapses:
            break
        candidates = []
        float_info = read_tflite(flat)
        float_index = {float_info.tensors[o.outputs[0]].name: o.index for o in float_info.operators}
        for name in synapses:
            if name not in float_index:
                continue
            floated = quantize(flat, Design(chosen.ranges, chosen.exact, floats | {float_index[name]}), state)
            candidates.append((_tuned_error(floated, factors, error), name))
        if not candidates:
            break
        gain, name = min(candidates)
        if gain >= best:
            break
        floats.add(float_index[name])
        factors.pop(name, None)
        blob = quantize(flat, Design(chosen.ranges, chosen.exact, floats), state)
    final_info = read_tflite(tuned)
    names = {o.outputs[0]: final_info.tensors[o.outputs[0]].name for o in final_info.operators if o.op in WEIGHTED}
    float_synapses = sorted(n for i, n in names.items() if final_info.tensors[i].dtype != "INT8")
    int8_synapses = {n for i, n in names.items() if final_info.tensors[i].dtype == "INT8"}
    return tuned, Tuning({k: v for k, v in factors.items() if k in int8_synapses}, float_synapses, best, floor)


def _tuned_error(model: bytes, factors: dict[str, float], error) -> float:
    from npukit.tflite_file import read_tflite

    info = read_tflite(model)
    ranges = {o.outputs[0]: tuple(factors[info.tensors[o.outputs[0]].name] * v for v in _range_of(info.tensors[o.outputs[0]]))
              for o in info.operators if o.op in WEIGHTED and info.tensors[o.outputs[0]].dtype == "INT8"
              and info.tensors[o.outputs[0]].name in factors}
    return error(with_output_ranges(model, ranges))


def _range_of(tensor) -> tuple[float, float]:
    scale, zero = tensor.scale[0], tensor.zero_point[0]
    return (-128 - zero) * scale, (127 - zero) * scale


def _run(model: bytes, order, x: np.ndarray, timesteps: int, encoding: str, input_max: float, readout: str) -> np.ndarray:
    """(N, outputs) readouts of a temporal model on ``x`` in numpy: the mean over T (spiking
    networks) or the last step's."""
    from npukit.runtime.numpy_interpreter import NumpyInterpreter
    from npukit.runtime.steploop import StepLoop
    from npukit.snn.encoders import encode

    loop = StepLoop(NumpyInterpreter(model, batch=len(x)), order)
    frames = encode(np.asarray(x, np.float32), timesteps, encoding, input_max, 0, 0)
    if readout == "mean":
        return (loop.run(frames, timesteps) / timesteps).reshape(len(x), -1)
    if readout == "last":
        return loop.run(frames, timesteps, keep="last").reshape(len(x), -1)
    return np.moveaxis(loop.run(frames, timesteps, keep="sequence"), 0, 1).reshape(len(x), -1)
