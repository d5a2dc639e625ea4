"""The arithmetic a .tflite file carries, executed in numpy: an interpreter independent of LiteRT.

``NumpyInterpreter`` reads a .tflite (npukit.tflite_file) and runs its operators one by one with
the integer semantics of TFLite's int8 kernels (per-channel weights, int32 sums exact, the
requantization of every int8 output: ``npukit.runtime.fixed_point``), float32 ops as float32, and
QUANTIZE / DEQUANTIZE between them. It is what ``npukit simulate --as-deployed`` runs: a prediction
of what LiteRT (and an NN-API driver following the same rules) computes, from the file alone.

It offers the part of LiteRT's ``Interpreter`` interface the host loop uses (``get_input_details``,
``get_output_details``, ``set_tensor``, ``invoke``, ``get_tensor``), so ``npukit.runtime.StepLoop``
drives it unchanged, and it runs any batch: the model's static batch dimension is replaced by
``batch`` (all samples of a data set in one invoke).

Whose rounding: LiteRT's default CPU path, XNNPACK (convolution and fully connected outputs
rescaled in float32 and rounded to even; DEQUANTIZE as (q - zero point) x scale; QUANTIZE as
x x (1 / scale) rounded to even; int8 ADD / MUL / RELU in gemmlowp fixed point). Bit for bit the
same as LiteRT with XNNPACK on the models npukit writes (tests/test_deployed.py). LiteRT's builtin
kernels (used when XNNPACK is off, e.g. to read intermediate tensors) round differently: their
convolution output is one step higher in about one value in ten, and their DEQUANTIZE computes
q x scale - zero point x scale; an NN-API driver has its own rounding too.
``observer(index, value)``, when given, sees every tensor an invoke sets or computes (the int8
calibration of temporal models records their ranges with it).

Operators: the ones npukit's converters write for spiking and rate-coded graphs (``OPS``); any
other is refused in one line naming it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from npukit.errors import BadInputError, UnsupportedError
from npukit.runtime.fixed_point import requantize, requantize_fp32, round_half_away
from npukit.tflite_file import Operator, Tensor, TFLiteModel, read_tflite

_NUMPY = {"FLOAT32": np.float32, "INT8": np.int8, "UINT8": np.uint8, "INT32": np.int32, "INT64": np.int64,
          "INT16": np.int16, "BOOL": np.bool_, "FLOAT16": np.float16}
_LIMITS = {"INT8": (-128, 127), "UINT8": (0, 255), "INT16": (-32768, 32767)}
#: fused activation codes of the TFLite schema
NONE, RELU, RELU_N1_TO_1, RELU6 = 0, 1, 2, 3


class NumpyInterpreter:
    """A .tflite model run in numpy (module docstring)."""

    def __init__(self, model: bytes | str | Path | TFLiteModel, batch: int | None = None,
                 observer: Callable[[int, np.ndarray], None] | None = None):
        self.info = model if isinstance(model, TFLiteModel) else read_tflite(model)
        if self.info.subgraphs != 1:
            raise UnsupportedError(f"the model has {self.info.subgraphs} subgraphs; the numpy interpreter runs one")
        for op in self.info.operators:
            if op.op not in OPS:
                raise UnsupportedError(f"operator {op.index} is {op.op}, which the numpy interpreter does not model "
                                       f"(it models {', '.join(sorted(OPS))})")
        self.model_batch = int(self.info.tensors[self.info.inputs[0]].shape[0]) if self.info.inputs else 1
        self.batch = self.model_batch if batch is None else int(batch)
        self.values: dict[int, np.ndarray] = {}
        self.constants: dict[int, np.ndarray] = {}
        for t in self.info.tensors:
            if t.constant:
                self.constants[t.index] = self.info.constant_values(t.index)
        self.observer = observer
        self.cache: dict[int, object] = {}  # per operator: what it reuses at every invoke

    # -- LiteRT's interface ------------------------------------------------------------------------

    def _detail(self, index: int) -> dict:
        t = self.info.tensors[index]
        return {
            "index": index,
            "name": t.name,
            "shape": np.array(self.shape(index), np.int32),
            "dtype": _NUMPY[t.dtype],
            "quantization": (t.scale[0], t.zero_point[0]) if t.scale else (0.0, 0),
        }

    def get_input_details(self) -> list[dict]:
        return [self._detail(i) for i in self.info.inputs]

    def get_output_details(self) -> list[dict]:
        return [self._detail(i) for i in self.info.outputs]

    def get_tensor_details(self) -> list[dict]:
        return [self._detail(t.index) for t in self.info.tensors]

    def allocate_tensors(self) -> None:
        """Nothing to allocate (LiteRT compatibility)."""

    def shape(self, index: int) -> tuple[int, ...]:
        """A tensor's shape with the model's batch replaced by this interpreter's."""
        shape = tuple(self.info.tensors[index].shape)
        if index in self.constants or not shape or shape[0] != self.model_batch:
            return shape
        return (self.batch, *shape[1:])

    def set_tensor(self, index: int, value: np.ndarray) -> None:
        value = np.asarray(value)
        if tuple(value.shape) != self.shape(index):
            raise BadInputError(f"tensor {index} takes shape {self.shape(index)}; received {tuple(value.shape)}")
        self.values[index] = value.astype(_NUMPY[self.info.tensors[index].dtype], copy=False)

    def get_tensor(self, index: int) -> np.ndarray:
        value = self.values.get(index, self.constants.get(index))
        if value is None:
            raise BadInputError(f"tensor {index} has no value (not computed yet)")
        return value.astype(_NUMPY[self.info.tensors[index].dtype], copy=False)

    def invoke(self) -> None:
        for index in self.info.inputs:
            if index not in self.values:
                raise BadInputError(f"input tensor {index} ({self.info.tensors[index].name}) was not set")
        if self.observer is not None:
            for index in self.info.inputs:
                self.observer(index, self.values[index])
        for op in self.info.operators:
            OPS[op.op](self, op)
            if self.observer is not None:
                for index in op.outputs:
                    self.observer(index, self.values[index])

    # -- helpers of the operators --------------------------------------------------------------------

    def tensor(self, index: int) -> Tensor:
        return self.info.tensors[index]

    def read(self, index: int) -> np.ndarray:
        """A tensor's value: float32 for float tensors, int32 raw integers for quantized ones (the
        arithmetic widens them where products or shifts need more)."""
        value = self.values[index] if index in self.values else self.constants[index]
        return value.astype(np.int32, copy=False) if value.dtype.kind in "iu" and value.dtype != np.int64 else value

    def along_channels(self, index: int, values: list, dtype) -> np.ndarray:
        """A tensor's per-channel quantization ``values`` (scales or zero points) shaped to
        broadcast against it (a scalar when there is one value)."""
        t = self.tensor(index)
        array = np.asarray(values, dtype)
        if array.size == 1:
            return array.reshape(())
        shape = [1] * len(t.shape)
        shape[t.quantized_dimension] = array.size
        return array.reshape(shape)

    def centered(self, index: int) -> np.ndarray:
        """A quantized tensor's integers minus its zero point (per channel where it has several)."""
        t = self.tensor(index)
        return self.read(index) - self.along_channels(index, t.zero_point or [0], np.int32)

    def real(self, index: int) -> np.ndarray:
        """A tensor's real values (float64 for quantized tensors): what it stands for."""
        t = self.tensor(index)
        if not t.scale:
            return self.read(index)
        return self.centered(index) * self.along_channels(index, t.scale, np.float64)

    def write(self, index: int, value: np.ndarray) -> None:
        t = self.tensor(index)
        if t.dtype in _LIMITS:
            self.values[index] = np.asarray(value).astype(np.int32, copy=False)
        else:
            self.values[index] = np.asarray(value).astype(_NUMPY[t.dtype], copy=False)

    def quantized(self, index: int) -> bool:
        return self.tensor(index).dtype in _LIMITS

    def output_params(self, op: Operator) -> tuple[float, int, int, int]:
        """(scale, zero point, low, high) of an int8 output with its fused activation applied."""
        t = self.tensor(op.outputs[0])
        low, high = _LIMITS[t.dtype]
        scale, zero = t.scale[0], t.zero_point[0]
        act = op.options.get("fusedActivationFunction", NONE) or NONE
        bound = lambda value: zero + int(round_half_away(np.float32(value) / np.float32(scale)))  # noqa: E731
        if act == RELU:
            low = max(low, zero)
        elif act == RELU6:
            low, high = max(low, zero), min(high, bound(6.0))
        elif act == RELU_N1_TO_1:
            low, high = max(low, bound(-1.0)), min(high, bound(1.0))
        elif act != NONE:
            raise UnsupportedError(f"operator {op.index} ({op.op}): fused activation {act} is not modeled")
        return scale, zero, low, high


def _float_activation(op: Operator, x: np.ndarray) -> np.ndarray:
    act = op.options.get("fusedActivationFunction", NONE) or NONE
    if act == RELU:
        return np.maximum(x, np.float32(0))
    if act == RELU6:
        return np.minimum(np.maximum(x, np.float32(0)), np.float32(6))
    if act == RELU_N1_TO_1:
        return np.minimum(np.maximum(x, np.float32(-1)), np.float32(1))
    if act != NONE:
        raise UnsupportedError(f"operator {op.index} ({op.op}): fused activation {act} is not modeled")
    return x


OPS: dict[str, Callable[[NumpyInterpreter, Operator], None]] = {}


def op(*names: str):
    def register(fn):
        for name in names:
            OPS[name] = fn
        return fn

    return register


# -- conversions --------------------------------------------------------------------------------------


@op("QUANTIZE")
def _quantize(it: NumpyInterpreter, o: Operator) -> None:
    src, dst = o.inputs[0], o.outputs[0]
    t = it.tensor(dst)
    low, high = _LIMITS[t.dtype]
    scale, zero = np.float32(t.scale[0]), t.zero_point[0]
    if it.quantized(src):  # requantize int8 -> int8 (scales differ)
        real = it.tensor(src).scale[0] / t.scale[0]
        it.write(dst, requantize(it.centered(src), real, zero, low, high))
        return
    x = it.read(src).astype(np.float32, copy=False)
    q = np.rint(x * (np.float32(1) / scale))  # XNNPACK: x * (1 / scale), rounded to even
    q += np.float32(zero)
    it.write(dst, np.minimum(np.maximum(q, low, out=q), high, out=q).astype(np.int32))


@op("DEQUANTIZE")
def _dequantize(it: NumpyInterpreter, o: Operator) -> None:
    src = o.inputs[0]
    if it.tensor(src).dtype == "FLOAT16":
        it.write(o.outputs[0], it.read(src).astype(np.float32))
        return
    scale = it.along_channels(src, it.tensor(src).scale, np.float32)
    it.write(o.outputs[0], it.centered(src).astype(np.float32) * scale)


# -- weighted layers -------------------------------------------------------------------------------------


#: float32 sums of integers are exact below this magnitude
EXACT_FLOAT32 = 2**24


def _weighted(it: NumpyInterpreter, o: Operator, compute: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
    """A CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED: ``compute(x, w)`` is the sum of products
    over an output's inputs. Quantized: int32 sums of centered integers (exact: float32 GEMMs
    where no sum can reach 2**24, float64 otherwise), the int32 bias, then the requantization of
    XNNPACK; float: float32 products and sums, plus the bias."""
    x_index = o.inputs[0]
    prepared = it.cache.get(o.index)
    if prepared is None:
        prepared = it.cache[o.index] = _prepare_weighted(it, o)
    w, bias, factor, reach = prepared
    if factor is None:  # float32 products and sums (XNNPACK's order differs: the last bit may)
        total = compute(it.read(x_index).astype(np.float32, copy=False), w)
        if bias is not None:
            total = total + bias
        it.write(o.outputs[0], _float_activation(o, total.astype(np.float32, copy=False)))
        return
    x = it.centered(x_index)
    dtype = np.float32 if reach * float(np.max(np.abs(x), initial=0)) < EXACT_FLOAT32 else np.float64
    acc = np.rint(compute(x.astype(dtype), w.astype(dtype, copy=False))).astype(np.int64)
    if bias is not None:
        acc = acc + bias
    _, zero, low, high = it.output_params(o)
    it.write(o.outputs[0], requantize_fp32(acc, factor, zero, low, high))


def _prepare_weighted(it: NumpyInterpreter, o: Operator):
    """(weights, bias, rescaling factor or None for a float op, the largest sum of |weights| of
    one output): what a weighted op reuses at every invoke."""
    w_index = o.inputs[1]
    bias_index = o.inputs[2] if len(o.inputs) > 2 and o.inputs[2] >= 0 else None
    if not it.quantized(o.inputs[0]):
        w = it.real(w_index) if it.tensor(w_index).scale else it.read(w_index)
        bias = None if bias_index is None else it.read(bias_index).astype(np.float32)
        return np.asarray(w, np.float32), bias, None, 0.0
    w = it.centered(w_index)
    bias = None if bias_index is None else it.read(bias_index)
    s_in = it.tensor(o.inputs[0]).scale[0]
    s_w = np.asarray(it.tensor(w_index).scale, np.float64)
    scale = it.tensor(o.outputs[0]).scale[0]
    factor = (np.float32(s_in) * s_w.astype(np.float32)) / np.float32(scale)  # XNNPACK's float32 factor
    factor = factor if factor.size > 1 else factor[0]
    axis = 0 if o.op != "DEPTHWISE_CONV_2D" else w.ndim - 1  # output channels: first axis, last for depthwise
    reach = float(np.abs(w).sum(axis=tuple(a for a in range(w.ndim) if a != axis)).max(initial=0))
    return w.astype(np.float32), bias, factor, reach


def _padded_windows(x: np.ndarray, kh: int, kw: int, o: Operator, pad_value) -> np.ndarray:
    """(B, OH, OW, C, KH, KW) windows of an NHWC input with the op's padding, strides, dilation."""
    sh, sw = int(o.options.get("strideH", 1)), int(o.options.get("strideW", 1))
    dh, dw = int(o.options.get("dilationHFactor", 1) or 1), int(o.options.get("dilationWFactor", 1) or 1)
    _, h, w, _ = x.shape
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    if int(o.options.get("padding", 0)) == 0:  # SAME
        oh, ow = -(-h // sh), -(-w // sw)
        ph, pw = max((oh - 1) * sh + eh - h, 0), max((ow - 1) * sw + ew - w, 0)
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)), constant_values=pad_value)
    else:
        oh, ow = (h - eh) // sh + 1, (w - ew) // sw + 1
    windows = sliding_window_view(x, (eh, ew), axis=(1, 2))
    return windows[:, : (oh - 1) * sh + 1 : sh, : (ow - 1) * sw + 1 : sw, :, ::dh, ::dw]


def _geometry(o: Operator) -> dict:
    """The convolution geometry of a CONV_2D / DEPTHWISE_CONV_2D as ``npukit.kernels.conv`` takes it."""
    return {
        "strides": (int(o.options.get("strideH", 1)), int(o.options.get("strideW", 1))),
        "padding": "same" if int(o.options.get("padding", 0)) == 0 else "valid",
        "dilation": (int(o.options.get("dilationHFactor", 1) or 1), int(o.options.get("dilationWFactor", 1) or 1)),
    }


@op("CONV_2D")
def _conv2d(it: NumpyInterpreter, o: Operator) -> None:
    from npukit.kernels.conv import conv2d

    geometry = _geometry(o)

    def compute(x, w):  # w (O, KH, KW, C) -> (KH, KW, C, O); padding holds the zero point: 0 once centered
        return conv2d(x, w.transpose(1, 2, 3, 0), np.zeros(w.shape[0], x.dtype), **geometry)

    _weighted(it, o, compute)


@op("DEPTHWISE_CONV_2D")
def _depthwise(it: NumpyInterpreter, o: Operator) -> None:
    from npukit.kernels.conv import depthwise_conv2d

    _, kh, kw, cm = it.tensor(o.inputs[1]).shape
    geometry = _geometry(o)

    def compute(x, w):  # w (1, KH, KW, C * multiplier)
        c = x.shape[3]
        return depthwise_conv2d(x, w.reshape(kh, kw, c, cm // c), np.zeros(cm, x.dtype), **geometry)

    _weighted(it, o, compute)


@op("FULLY_CONNECTED")
def _fully_connected(it: NumpyInterpreter, o: Operator) -> None:
    units, depth = it.tensor(o.inputs[1]).shape
    keep = bool(o.options.get("keepNumDims", False))

    def compute(x, w):
        rows = x.reshape(-1, depth) @ w.T
        return rows.reshape(*x.shape[:-1], units) if keep else rows

    _weighted(it, o, compute)


# -- pooling ------------------------------------------------------------------------------------------------


def _pool(it: NumpyInterpreter, o: Operator, reduce: str) -> None:
    kh, kw = int(o.options["filterHeight"]), int(o.options["filterWidth"])
    x = it.read(o.inputs[0])
    quantized = it.quantized(o.inputs[0])
    fill = np.nan if not quantized else (np.iinfo(np.int64).min if reduce == "max" else 0)
    win = _padded_windows(x.astype(np.float64) if not quantized else x, kh, kw, o, fill)
    if reduce == "max":
        out = np.nanmax(win, axis=(4, 5)) if not quantized else win.max(axis=(4, 5))
        it.write(o.outputs[0], out if quantized else _float_activation(o, out.astype(np.float32)))
        return
    if not quantized:  # the mean of the valid (unpadded) elements, in float32
        valid = ~np.isnan(win)
        total = np.where(valid, win, 0).astype(np.float32).sum(axis=(4, 5), dtype=np.float32)
        it.write(o.outputs[0], _float_activation(o, total / valid.sum(axis=(4, 5)).astype(np.float32)))
        return
    counts = _padded_windows(np.ones(x.shape, np.int64), kh, kw, o, 0).sum(axis=(4, 5))
    acc = win.sum(axis=(4, 5))  # raw integers, zero points included (TFLite's reference kernel)
    half = counts // 2
    rounded = np.where(acc > 0, (acc + half) // counts, -((-acc + half) // counts))
    _, _, low, high = it.output_params(o)
    it.write(o.outputs[0], np.clip(rounded, low, high))


@op("AVERAGE_POOL_2D")
def _average_pool(it, o):
    _pool(it, o, "mean")


@op("MAX_POOL_2D")
def _max_pool(it, o):
    _pool(it, o, "max")


# -- element-wise ------------------------------------------------------------------------------------------


def _binary_float(it: NumpyInterpreter, o: Operator, fn) -> None:
    a, b = (it.read(i).astype(np.float32, copy=False) for i in o.inputs[:2])
    it.write(o.outputs[0], _float_activation(o, fn(a, b, dtype=np.float32)))


@op("ADD", "SUB")
def _add_sub(it: NumpyInterpreter, o: Operator) -> None:
    sign = 1 if o.op == "ADD" else -1
    if not it.quantized(o.inputs[0]):
        _binary_float(it, o, np.add if sign == 1 else np.subtract)
        return
    # XNNPACK's int8 ADD / SUB: each input times an integer multiplier (its scale / the output
    # scale, with 20 bits before the binary point of the larger), summed with a rounding bias,
    # shifted right (ties up)
    s1, s2 = (np.float32(it.tensor(i).scale[0]) for i in o.inputs[:2])
    scale, zero, low, high = it.output_params(o)
    a_scale, b_scale = s1 / np.float32(scale), sign * (s2 / np.float32(scale))
    exponent = int(np.frexp(max(abs(a_scale), abs(b_scale)))[1]) - 1
    shift = 20 - exponent
    a_mult = int(np.rint(np.ldexp(a_scale, shift)))
    b_mult = int(np.rint(np.ldexp(b_scale, shift)))
    acc = (it.centered(o.inputs[0]).astype(np.int64) * a_mult + it.centered(o.inputs[1]).astype(np.int64) * b_mult
           + (1 << (shift - 1)))
    it.write(o.outputs[0], np.clip((acc >> shift) + zero, low, high))


@op("MUL")
def _mul(it: NumpyInterpreter, o: Operator) -> None:
    if not it.quantized(o.inputs[0]):
        _binary_float(it, o, np.multiply)
        return
    s1, s2 = (np.float32(it.tensor(i).scale[0]) for i in o.inputs[:2])
    scale, zero, low, high = it.output_params(o)
    product = it.centered(o.inputs[0]).astype(np.int64) * it.centered(o.inputs[1])
    it.write(o.outputs[0], requantize_fp32(product, (s1 * s2) / np.float32(scale), zero, low, high))  # XNNPACK: float32


@op("DIV")
def _div(it, o):
    _binary_float(it, o, np.divide)


@op("MAXIMUM", "MINIMUM")
def _extremum(it: NumpyInterpreter, o: Operator) -> None:
    fn = np.maximum if o.op == "MAXIMUM" else np.minimum
    if not it.quantized(o.inputs[0]):
        _binary_float(it, o, fn)
        return
    if len({(it.tensor(i).scale[0], it.tensor(i).zero_point[0]) for i in (*o.inputs[:2], o.outputs[0])}) != 1:
        raise UnsupportedError(f"operator {o.index} ({o.op}): int8 inputs and output of different scales are not modeled")
    it.write(o.outputs[0], fn(it.read(o.inputs[0]), it.read(o.inputs[1])))


@op("FLOOR")
def _floor(it, o):
    it.write(o.outputs[0], np.floor(it.read(o.inputs[0]).astype(np.float32)))


def _activation(it: NumpyInterpreter, o: Operator, low_real: float | None, high_real: float | None) -> None:
    src = o.inputs[0]
    if not it.quantized(src):
        x = it.read(src).astype(np.float32)
        it.write(o.outputs[0], np.clip(x, None if low_real is None else np.float32(low_real),
                                       None if high_real is None else np.float32(high_real)))
        return
    t = it.tensor(o.outputs[0])
    scale, zero = t.scale[0], t.zero_point[0]
    low, high = _LIMITS[t.dtype]
    if low_real is not None:
        low = max(low, zero + int(round_half_away(np.float32(low_real) / np.float32(scale))))
    if high_real is not None:
        high = min(high, zero + int(round_half_away(np.float32(high_real) / np.float32(scale))))
    real = it.tensor(src).scale[0] / scale
    it.write(o.outputs[0], requantize(it.centered(src), real, zero, low, high))


@op("RELU")
def _relu(it, o):
    _activation(it, o, 0.0, None)


@op("RELU6")
def _relu6(it, o):
    _activation(it, o, 0.0, 6.0)


@op("RELU_N1_TO_1")
def _relu_n1_to_1(it, o):
    _activation(it, o, -1.0, 1.0)


# -- shapes ----------------------------------------------------------------------------------------------------


@op("RESHAPE")
def _reshape(it: NumpyInterpreter, o: Operator) -> None:
    it.write(o.outputs[0], it.read(o.inputs[0]).reshape(it.shape(o.outputs[0])))


@op("PAD", "PADV2")
def _pad(it: NumpyInterpreter, o: Operator) -> None:
    pads = it.read(o.inputs[1]).reshape(-1, 2)
    x = it.read(o.inputs[0])
    if len(o.inputs) > 2 and o.inputs[2] >= 0:
        value = it.read(o.inputs[2]).reshape(-1)[0]
    else:
        value = it.tensor(o.inputs[0]).zero_point[0] if it.quantized(o.inputs[0]) else 0
    it.write(o.outputs[0], np.pad(x, [tuple(int(v) for v in p) for p in pads], constant_values=value))


@op("CONCATENATION")
def _concatenation(it: NumpyInterpreter, o: Operator) -> None:
    axis = int(o.options.get("axis", 0))
    if not it.quantized(o.outputs[0]):
        parts = [it.read(i).astype(np.float32) for i in o.inputs]
        it.write(o.outputs[0], _float_activation(o, np.concatenate(parts, axis=axis)))
        return
    t = it.tensor(o.outputs[0])
    parts = []
    for i in o.inputs:  # inputs of another scale: round(q * s_i / s_out + bias) in float32
        s = it.tensor(i)
        if (s.scale[0], s.zero_point[0]) == (t.scale[0], t.zero_point[0]):
            parts.append(it.read(i))
            continue
        factor = np.float32(s.scale[0]) * (np.float32(1) / np.float32(t.scale[0]))
        bias = -np.float32(s.zero_point[0]) * factor
        parts.append(round_half_away(it.read(i).astype(np.float32) * factor + bias).astype(np.int64) + t.zero_point[0])
    low, high = _LIMITS[t.dtype]
    it.write(o.outputs[0], np.clip(np.concatenate(parts, axis=axis), low, high))


@op("TRANSPOSE")
def _transpose(it: NumpyInterpreter, o: Operator) -> None:
    it.write(o.outputs[0], np.transpose(it.read(o.inputs[0]), it.read(o.inputs[1]).astype(int)))


@op("LOGISTIC", "TANH")
def _sigmoid_tanh(it: NumpyInterpreter, o: Operator) -> None:
    if it.quantized(o.inputs[0]):
        raise UnsupportedError(f"operator {o.index} ({o.op}): int8 {o.op} (a lookup table in TFLite) is not modeled")
    x = it.read(o.inputs[0]).astype(np.float32)
    it.write(o.outputs[0], np.tanh(x) if o.op == "TANH" else np.float32(1) / (np.float32(1) + np.exp(-x)))


@op("GATHER")
def _gather(it: NumpyInterpreter, o: Operator) -> None:
    axis = int(o.options.get("axis", 0))
    it.write(o.outputs[0], np.take(it.read(o.inputs[0]), it.read(o.inputs[1]).astype(np.int64), axis=axis))


def _float_only(it: NumpyInterpreter, o: Operator) -> np.ndarray:
    if it.quantized(o.inputs[0]):
        raise UnsupportedError(f"operator {o.index} ({o.op}): the int8 {o.op} is not modeled")
    return it.read(o.inputs[0]).astype(np.float32, copy=False)


@op("SOFTMAX")
def _softmax(it: NumpyInterpreter, o: Operator) -> None:
    x = _float_only(it, o) * np.float32(o.options.get("beta", 1.0))
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    it.write(o.outputs[0], e / e.sum(axis=-1, keepdims=True))


@op("EXP")
def _exp(it, o):
    it.write(o.outputs[0], np.exp(_float_only(it, o)))


@op("LEAKY_RELU")
def _leaky_relu(it: NumpyInterpreter, o: Operator) -> None:
    x = _float_only(it, o)
    it.write(o.outputs[0], np.where(x >= 0, x, x * np.float32(o.options.get("alpha", 0.2))))


@op("HARD_SWISH")
def _hard_swish(it: NumpyInterpreter, o: Operator) -> None:
    x = _float_only(it, o)
    it.write(o.outputs[0], x * np.minimum(np.maximum(x + np.float32(3), np.float32(0)), np.float32(6)) / np.float32(6))


@op("MEAN", "SUM")
def _reduce(it: NumpyInterpreter, o: Operator) -> None:
    x = _float_only(it, o)
    axes = tuple(int(a) % x.ndim for a in np.atleast_1d(it.read(o.inputs[1])))
    keep = bool(o.options.get("keepDims", False))
    it.write(o.outputs[0], (np.mean if o.op == "MEAN" else np.sum)(x, axis=axes, keepdims=keep, dtype=np.float32))
