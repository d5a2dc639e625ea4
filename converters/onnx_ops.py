"""ONNX op converters, one function per op, registered with the op version whose semantics they
implement (opsets 13 to 21 all resolve to these versions: the ops below did not change inside
that range, except where a converter checks an attribute added later, e.g. AveragePool's
dilations in version 19).

Layout and constants: see ``converters/onnx.py``. Rules worth knowing:

* Conv: groups 1 or depthwise (groups = input channels); explicit pads become a Pad2D unless
  they equal TensorFlow's 'same'; auto_pad SAME_UPPER is 'same', SAME_LOWER explicit pads.
* MaxPool: padded cells never win. Pads equal to 'same' map exactly; other pads are zeros,
  exact only on non-negative inputs, so they are accepted after a ReLU / Clip(0, .) only.
* AveragePool: count_include_pad 1 pads zeros and divides by the window; 0 divides by the
  window's real cells ('same', or a sum pool times the reciprocal count per cell).
* Clip(0, m) is a clipped ReLU; Gemm needs transA = 0; MatMul needs a constant right operand;
  Add/Sub/Mul/Div take a constant operand, or two tensors held alike (both image maps, or both
  plain), broadcasting.
* Flatten with axis 0 or 1 flattens the sample; Reshape takes a constant shape whose first
  entry is the batch; Transpose keeps the batch first (NCHW <-> NHWC costs nothing).
* Opset 18 ops (Reduce*, Split, Squeeze, Resize, Pad, LayerNormalization, Gelu...) are in
  ``converters/onnx_ops_tensor.py``.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from npukit import ir
from npukit.converters.frontend import Registry
from npukit.converters.onnx_graph import OnnxBuilder as Builder
from npukit.converters.onnx_graph import T, ir_constant, onnx_order
from npukit.errors import BadInputError, show
from npukit.ir.geometry import window_1d
from npukit.ir.layout import conv_weight_to_ir, depthwise_weight_to_ir, hwc_order

#: ONNX op type -> converter(builder, node, args, attributes) -> T (or a list of T, one per output)
OPS = Registry("ONNX op")


def op(name: str, version: int):
    """Register the converter of ONNX op ``name``, implementing the semantics of op ``version``."""
    return OPS.register(name, version=version)


def supported_ops() -> list[str]:
    return OPS.supported()


# -- helpers ----------------------------------------------------------------------------------------


def _tensor(b: Builder, node, t: T | None, what: str = "input") -> T:
    if t is None:
        b.fail(node, f"missing {what}")
    if t.name is None:
        b.fail(node, f"a constant {what} where a tensor is expected")
    return t


def _const(b: Builder, node, t: T | None, what: str) -> np.ndarray:
    if t is None or t.const is None:
        b.fail(node, f"{what} must be a constant (an initializer)")
    return t.const


def _name(b: Builder, node, suffix: str = "") -> str:
    base = node.name or node.output[0]
    return b.unique(f"{base}{suffix}")


def _same(t: T, name: str) -> T:
    """A result that keeps the input's shape and layout."""
    return T(name, t.shape, t.layout, t.flat_from)


def _unary(node_factory):
    def convert(b: Builder, node, args, attrs):
        x = _tensor(b, node, args[0])
        return _same(x, b.add(node_factory(b, node, x, attrs)))

    return convert


def _spatial(b: Builder, node, x: T, attrs: dict, kernel: tuple[int, int], pool: bool):
    """Resolve ONNX padding attributes to (pads (t, b, l, r) or 'same'/'valid', strides, dilation)."""
    if x.layout != "nchw":
        b.fail(node, f"needs an image tensor (N, C, H, W); received per-sample shape {x.shape}")
    _, h, w = x.shape
    strides = tuple(int(s) for s in attrs.get("strides", (1, 1)))
    dilation = tuple(int(d) for d in attrs.get("dilations", (1, 1)))
    if len(strides) != 2 or len(dilation) != 2:
        b.fail(node, "only 2-D windows are supported")
    if min(strides) < 1 or min(dilation) < 1:
        b.refuse(node, f"strides {show(strides)} and dilations {show(dilation)} must be positive")
    auto = attrs.get("auto_pad", "NOTSET")
    if auto == "VALID":
        return "valid", strides, dilation
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        _, t0, b0 = window_1d(h, kernel[0], strides[0], dilation[0], "same")
        _, l0, r0 = window_1d(w, kernel[1], strides[1], dilation[1], "same")
        if auto == "SAME_UPPER":
            return "same", strides, dilation
        pads = (b0, t0, r0, l0)  # SAME_LOWER: the extra cell goes first
    else:
        p = [int(v) for v in attrs.get("pads", (0, 0, 0, 0))]
        pads = (p[0], p[2], p[1], p[3])  # ONNX: h_begin, w_begin, h_end, w_end
    if attrs.get("ceil_mode", 0):
        pads = _ceil_pads(pads, (h, w), kernel, strides, dilation)
    if pads == (0, 0, 0, 0):
        return "valid", strides, dilation
    _, t0, b0 = window_1d(h, kernel[0], strides[0], dilation[0], "same")
    _, l0, r0 = window_1d(w, kernel[1], strides[1], dilation[1], "same")
    if pads == (t0, b0, l0, r0) and all(v >= 0 for v in pads):
        return "same", strides, dilation
    return pads, strides, dilation


def _ceil_pads(pads, hw, kernel, strides, dilation):
    """Extra end padding that makes floor division give ONNX's ceil_mode output size."""
    out = list(pads)
    for axis, (size, k, s, d) in enumerate(zip(hw, kernel, strides, dilation)):
        begin, end = pads[2 * axis], pads[2 * axis + 1]
        k_eff = (k - 1) * d + 1
        n = math.ceil((size + begin + end - k_eff) / s) + 1
        if (n - 1) * s >= size + begin:  # the last window must start inside the padded input
            n -= 1
        out[2 * axis + 1] = end + max((n - 1) * s + k_eff - (size + begin + end), 0)
    return tuple(out)


def _pad_node(b: Builder, node, x: T, pads) -> str:
    top, bottom, left, right = pads
    return b.add(ir.Pad2D(_name(b, node, ".pad"), (x.name,), pads=((top, bottom), (left, right))))


def _image(b: Builder, name: str, x: T) -> T:
    h, w, c = b.shapes[name]
    return T(name, (c, h, w), "nchw")


def _non_negative(b: Builder, name: str) -> bool:
    """True when IR node ``name`` is a ReLU, or reads one through pools and pads (a loop: a
    file's chain of pools is not bounded by Python's recursion limit)."""
    by_name = {n.name: n for n in b.nodes}
    while True:
        node = by_name[name]
        if isinstance(node, ir.ReLU):
            return True
        if not isinstance(node, (ir.MaxPool2D, ir.AveragePool2D, ir.Pad2D, ir.Identity)):
            return False
        name = node.inputs[0]


# -- converters -------------------------------------------------------------------------------------


@op("Conv", 11)
def conv(b: Builder, node, args, attrs):
    x = _tensor(b, node, args[0])
    weight = _const(b, node, args[1], "the weight").astype(np.float32)
    if weight.ndim != 4:
        b.fail(node, f"only 2-D convolutions are supported (weight shape {weight.shape})")
    cout, cin_g, kh, kw = weight.shape
    if min(weight.shape) < 1:
        b.refuse(node, f"a weight of shape {show(weight.shape)} has an empty dimension")
    bias = _const(b, node, args[2], "the bias").astype(np.float32) if len(args) > 2 and args[2] is not None else np.zeros(cout, np.float32)
    groups = int(attrs.get("group", 1))
    padding, strides, dilation = _spatial(b, node, x, attrs, (kh, kw), pool=False)
    src = x.name
    if not isinstance(padding, str):
        src, padding = _pad_node(b, node, x, padding), "valid"
    cin = x.shape[0]
    if groups == 1:
        if cin_g != cin:
            b.fail(node, f"weight expects {cin_g} input channels, the input has {cin}")
        layer = ir.Conv2D(_name(b, node), (src,), kernel=conv_weight_to_ir(weight), bias=bias, strides=strides,
                          padding=padding, dilation=dilation)
    elif groups == cin and cin_g == 1 and cout % cin == 0:
        layer = ir.DepthwiseConv2D(_name(b, node), (src,), kernel=depthwise_weight_to_ir(weight, cin), bias=bias, strides=strides, padding=padding,
                                   dilation=dilation)
    elif groups > 1 and cin_g * groups == cin and cout % groups == 0:
        layer = ir.Conv2D(_name(b, node), (src,), kernel=conv_weight_to_ir(weight), bias=bias, strides=strides,
                          padding=padding, dilation=dilation, groups=groups)
    else:
        b.fail(node, f"group={groups} does not fit {cin} input channels and a weight of shape {weight.shape}")
    return _image(b, b.add(layer), x)


def _dense(b: Builder, node, x: T, kernel: np.ndarray, bias: np.ndarray) -> T:
    if len(x.shape) != 1:
        b.fail(node, f"needs a 2-D input (N, features); received per-sample shape {x.shape} (add a Flatten)")
    if kernel.shape[0] != x.shape[0]:
        b.fail(node, f"weight expects {kernel.shape[0]} inputs, the input has {x.shape[0]}")
    if x.flat_from is not None:  # IR row j (HWC order) is ONNX row hwc_order[j] (CHW order)
        kernel = kernel[hwc_order(x.flat_from)]
    name = b.add(ir.Dense(_name(b, node), (x.name,), kernel=np.ascontiguousarray(kernel, np.float32),
                          bias=np.asarray(bias, np.float32)))
    return T(name, (kernel.shape[1],))


@op("Gemm", 13)
def gemm(b: Builder, node, args, attrs):
    x = _tensor(b, node, args[0])
    if attrs.get("transA", 0):
        b.fail(node, "transA = 1 is not supported (the input must be (N, K))")
    weight = _const(b, node, args[1], "B").astype(np.float64)
    weight = weight.T if attrs.get("transB", 0) else weight
    alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
    n = weight.shape[1]
    bias = np.zeros(n)
    if len(args) > 2 and args[2] is not None:
        c = _const(b, node, args[2], "C").astype(np.float64)
        if c.size not in (1, n) or (c.ndim == 2 and c.shape[0] != 1):
            b.fail(node, f"C of shape {c.shape} must broadcast over rows (1 or {n} values)")
        bias = np.broadcast_to(c.reshape(-1), (n,)) * beta
    return _dense(b, node, x, weight * alpha, bias)


@op("MatMul", 13)
def matmul(b: Builder, node, args, attrs):
    x = _tensor(b, node, args[0])
    weight = _const(b, node, args[1], "the right operand")
    if weight.ndim != 2:
        b.fail(node, f"the right operand must be a 2-D constant (received {weight.shape})")
    if len(x.shape) == 3 and x.layout == "plain" and x.flat_from is None:  # (H, W, C) @ (C, K): a 1x1 convolution
        if weight.shape[0] != x.shape[2]:
            b.fail(node, f"weight expects {weight.shape[0]} inputs, the input has {x.shape[2]}")
        kernel = np.ascontiguousarray(weight.astype(np.float32)[None, None])
        name = b.add(ir.Conv2D(_name(b, node), (x.name,), kernel=kernel, bias=np.zeros(weight.shape[1], np.float32)))
        return T(name, (*x.shape[:2], weight.shape[1]))
    return _dense(b, node, x, weight.astype(np.float64), np.zeros(weight.shape[1]))


def _binary(kind: str):
    def convert(b: Builder, node, args, attrs):
        left, right = args[0], args[1]
        if left is None or right is None:
            b.fail(node, "needs two operands")
        if left.name is None and right.name is None:
            return T(const=_fold(b, node, kind, left.const, right.const))
        if left.name is not None and right.name is not None:
            return _two_tensors(b, node, kind, left, right)
        tensor, value, tensor_first = (left, right.const, True) if left.name is not None else (right, left.const, False)
        value = ir_constant(b, node, value, tensor)
        name = _name(b, node)
        if kind == "Add":
            result = b.add(ir.Offset(name, (tensor.name,), offset=value))
        elif kind == "Mul":
            result = b.add(ir.Scale(name, (tensor.name,), scale=value))
        elif kind == "Sub" and tensor_first:
            result = b.add(ir.Offset(name, (tensor.name,), offset=-value))
        elif kind == "Sub":  # c - x
            negated = b.add(ir.Scale(_name(b, node, ".negate"), (tensor.name,), scale=np.array(-1.0, np.float32)))
            result = b.add(ir.Offset(name, (negated,), offset=value))
        elif tensor_first:  # Div by a constant
            if np.any(value == 0):
                b.fail(node, "division by a constant containing zeros")
            result = b.add(ir.Scale(name, (tensor.name,), scale=(1.0 / value).astype(np.float32)))
        else:
            b.fail(node, "a constant divided by a tensor is not supported")
        return _same(tensor, result)

    return convert


def _two_tensors(b: Builder, node, kind: str, left: T, right: T) -> T:
    """Add / Sub / Mul / Div of two tensors, broadcasting as ONNX does (numpy rules) when both are
    held alike: both image maps (squeeze-excite: (C, H, W) times (C, 1, 1)), or both plain of one
    rank without a flattening order."""
    alike = left.layout == right.layout and len(left.shape) == len(right.shape) and left.flat_from == right.flat_from
    if not alike:
        b.fail(node, f"{kind} of tensors of shapes {left.shape} and {right.shape} held in different layouts")
    try:
        shape = tuple(np.broadcast_shapes(left.shape, right.shape))
    except ValueError:
        b.fail(node, f"shapes {left.shape} and {right.shape} do not broadcast")
    name = _name(b, node)
    if kind == "Add":
        result = b.add(ir.Add(name, (left.name, right.name)))
    elif kind == "Sub":
        negated = b.add(ir.Scale(_name(b, node, ".negate"), (right.name,), scale=np.array(-1.0, np.float32)))
        result = b.add(ir.Add(name, (left.name, negated)))
    elif kind == "Mul":
        result = b.add(ir.Multiply(name, (left.name, right.name)))
    else:
        result = b.add(ir.Divide(name, (left.name, right.name)))
    return T(result, shape, left.layout, left.flat_from)


def _fold(b: Builder, node, kind: str, a: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``kind`` of two constants; the broadcast result is charged to the load budget first."""
    a, c = np.asarray(a), np.asarray(c)
    try:
        shape = np.broadcast_shapes(a.shape, c.shape)
    except ValueError:
        b.refuse(node, f"constants of shapes {show(a.shape)} and {show(c.shape)} do not broadcast")
    integer = kind == "Div" and a.dtype.kind in "iu" and c.dtype.kind in "iu"
    result = np.result_type(a, c) if integer or kind != "Div" else np.result_type(a, c, np.float16)
    b.charge(node, shape, np.float64 if integer else result)  # integer division goes through float64
    if integer:
        if np.any(c == 0):
            b.refuse(node, "integer division by zero")
        return np.trunc(np.divide(a, c)).astype(result)  # ONNX integer division truncates
    return {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[kind](a, c)


for _kind in ("Add", "Sub", "Mul", "Div"):
    op(_kind, 14)(_binary(_kind))


@op("Relu", 14)
def relu(b: Builder, node, args, attrs):
    x = _tensor(b, node, args[0])
    return _same(x, b.add(ir.ReLU(_name(b, node), (x.name,))))


@op("Clip", 13)
def clip(b: Builder, node, args, attrs):
    x = _tensor(b, node, args[0])
    low = _scalar(b, node, args[1], "min") if len(args) > 1 and args[1] is not None else -np.inf
    high = _scalar(b, node, args[2], "max") if len(args) > 2 and args[2] is not None else np.inf
    if low == -np.inf and high == np.inf:
        return x
    if low != 0:
        b.fail(node, f"Clip({low}, {high}) is supported with min 0 only (a clipped ReLU)")
    max_value = None if high == np.inf else high
    return _same(x, b.add(ir.ReLU(_name(b, node), (x.name,), max_value=max_value)))


def _scalar(b: Builder, node, t: T | None, what: str) -> float:
    value = _const(b, node, t, what)
    if value.size != 1 or value.dtype.kind not in "biuf":
        b.refuse(node, f"{what} must be one number (received a {value.dtype.name} constant of shape {show(value.shape)})")
    return float(value.reshape(()))


op("LeakyRelu", 16)(_unary(lambda b, node, x, a: ir.LeakyReLU(_name(b, node), (x.name,), alpha=a.get("alpha", 0.01))))
op("Sigmoid", 13)(_unary(lambda b, node, x, a: ir.Sigmoid(_name(b, node), (x.name,))))
op("HardSigmoid", 6)(_unary(lambda b, node, x, a: ir.HardSigmoid(_name(b, node), (x.name,), alpha=a.get("alpha", 0.2),
                                                                  beta=a.get("beta", 0.5))))
op("HardSwish", 14)(_unary(lambda b, node, x, a: ir.HardSwish(_name(b, node), (x.name,))))


@op("Softmax", 13)
def softmax(b: Builder, node, args, attrs):
    x = _tensor(b, node, args[0])
    axis = int(attrs.get("axis", -1))
    rank = len(x.shape) + 1
    if (axis % rank) != rank - 1 or x.layout == "nchw":
        b.fail(node, f"softmax over axis {axis} of a rank-{rank} tensor: only the last axis of a plain tensor is supported")
    return _same(x, b.add(ir.Softmax(_name(b, node), (x.name,))))


def _pool_attrs(b: Builder, node, attrs):
    kernel = tuple(int(k) for k in attrs.get("kernel_shape", ()))
    if len(kernel) != 2:
        b.fail(node, "only 2-D pooling is supported")
    if min(kernel) < 1:
        b.refuse(node, f"kernel_shape {show(kernel)} must be positive")
    if any(int(d) != 1 for d in attrs.get("dilations", (1, 1))):
        b.fail(node, "dilated pooling is not supported")
    return kernel


@op("MaxPool", 12)
def max_pool(b: Builder, node, args, attrs):
    if len(node.output) > 1 and node.output[1]:
        b.fail(node, "the Indices output is not supported")
    x = _tensor(b, node, args[0])
    kernel = _pool_attrs(b, node, attrs)
    padding, strides, _ = _spatial(b, node, x, attrs, kernel, pool=True)
    src = x.name
    if not isinstance(padding, str):
        if not _non_negative(b, x.name):
            b.fail(node, f"padding {padding} on a possibly negative input: only 'same'-like pads, or pads after a ReLU, are exact")
        src, padding = _pad_node(b, node, x, padding), "valid"
    return _image(b, b.add(ir.MaxPool2D(_name(b, node), (src,), pool_size=kernel, strides=strides, padding=padding)), x)


@op("AveragePool", 19)
def average_pool(b: Builder, node, args, attrs):
    x = _tensor(b, node, args[0])
    kernel = _pool_attrs(b, node, attrs)
    include = bool(attrs.get("count_include_pad", 0))
    if include and attrs.get("ceil_mode", 0):
        b.fail(node, "ceil_mode with count_include_pad is not supported")
    padding, strides, _ = _spatial(b, node, x, attrs, kernel, pool=True)
    if isinstance(padding, str) and (padding == "valid" or not include):
        return _image(b, b.add(ir.AveragePool2D(_name(b, node), (x.name,), pool_size=kernel, strides=strides, padding=padding)), x)
    if isinstance(padding, str):  # 'same' pads that are counted
        _, h, w = x.shape
        _, t0, b0 = window_1d(h, kernel[0], strides[0], 1, "same")
        _, l0, r0 = window_1d(w, kernel[1], strides[1], 1, "same")
        padding = (t0, b0, l0, r0)
    padded = _pad_node(b, node, x, padding)
    if include:
        return _image(b, b.add(ir.AveragePool2D(_name(b, node), (padded,), pool_size=kernel, strides=strides)), x)
    total = b.add(ir.SumPool2D(_name(b, node, ".sum"), (padded,), pool_size=kernel, strides=strides))
    top, bottom, left, right = padding
    rows = _real_cells(x.shape[1], top, bottom, kernel[0], strides[0])
    columns = _real_cells(x.shape[2], left, right, kernel[1], strides[1])
    b.charge(node, (len(rows), len(columns), 1), np.float32, "counts the real cells per window in")
    counts = np.multiply.outer(rows, columns)[..., None]
    return _image(b, b.add(ir.Scale(_name(b, node), (total,), scale=(1.0 / counts).astype(np.float32))), x)


def _real_cells(size: int, before: int, after: int, kernel: int, stride: int) -> np.ndarray:
    """How many cells of an axis of ``size`` each 'valid' window of the axis padded by
    (``before``, ``after``) covers (float32; the 2-D count is the outer product of the two axes)."""
    inside = np.clip(np.arange(size + before + after + 1) - before, 0, size)  # real cells among the first i
    starts = np.arange(0, size + before + after - kernel + 1, stride)
    return (inside[starts + kernel] - inside[starts]).astype(np.float32)


@op("GlobalAveragePool", 1)
def global_average_pool(b: Builder, node, args, attrs):
    x = _tensor(b, node, args[0])
    if x.layout != "nchw":
        b.fail(node, f"needs an image tensor (N, C, H, W); received per-sample shape {x.shape}")
    name = b.add(ir.GlobalAveragePool(_name(b, node), (x.name,), keepdims=True))
    return T(name, (x.shape[0], 1, 1), "nchw")


@op("BatchNormalization", 15)
def batch_norm(b: Builder, node, args, attrs):
    if attrs.get("training_mode", 0):
        b.fail(node, "training_mode = 1 is not supported (inference only)")
    x = _tensor(b, node, args[0])
    scale, bias, mean, var = (_const(b, node, a, what).astype(np.float64)
                              for a, what in zip(args[1:5], ("scale", "B", "input_mean", "input_var")))
    channels = x.shape[0]
    if x.layout != "nchw" and len(x.shape) != 1:
        b.fail(node, f"needs (N, C, H, W) or (N, C) input; received per-sample shape {x.shape}")
    if any(p.size not in (1, channels) for p in (scale, bias, mean, var)):
        b.refuse(node, f"parameters of sizes {[p.size for p in (scale, bias, mean, var)]} do not fit {channels} channels")
    b.charge(node, (2, channels), np.float32, "broadcasts its scale and shift to")
    factor = scale / np.sqrt(var + float(attrs.get("epsilon", 1e-5)))
    shift = bias - mean * factor
    if x.flat_from is not None:
        b.fail(node, "BatchNormalization of a flattened map is not supported")
    name = b.add(ir.BatchNorm(_name(b, node), (x.name,), scale=np.broadcast_to(factor, (channels,)).astype(np.float32),
                              shift=np.broadcast_to(shift, (channels,)).astype(np.float32)))
    return _same(x, name)


@op("Flatten", 13)
def flatten(b: Builder, node, args, attrs):
    x = _tensor(b, node, args[0])
    axis = int(attrs.get("axis", 1))
    rank = len(x.shape) + 1
    if axis < 0:
        axis += rank
    if axis not in (0, 1):
        b.fail(node, f"axis {axis} keeps part of the sample outside the batch; axis 0 and 1 are supported")
    if axis == 0 and b.batch != 1:
        b.fail(node, f"axis 0 merges the batch of {b.batch} samples into one row; supported with batch 1 only")
    if len(x.shape) == 1:
        return x
    name = b.add(ir.Flatten(_name(b, node), (x.name,)))  # an image flattens in NHWC order: remember it
    return T(name, (math.prod(x.shape),), "plain", x.shape if _reorders(x) else None)


def _reorders(x: T) -> bool:
    """True when the IR's (H, W, C) flattening of ``x`` differs from ONNX's (C, H, W) one."""
    return x.layout == "nchw" and x.shape[1] * x.shape[2] > 1


@op("Reshape", 14)
def reshape(b: Builder, node, args, attrs):
    x = _tensor(b, node, args[0])
    target = [int(v) for v in _const(b, node, args[1], "the shape").reshape(-1)]
    if attrs.get("allowzero", 0) and 0 in target:
        b.fail(node, "allowzero with a zero in the shape is not supported")
    full = (1, *x.shape)
    target = [full[i] if v == 0 and i < len(full) else v for i, v in enumerate(target)]
    if target in ([-1], [math.prod(full)]) and b.batch == 1:  # the whole batch of one, flattened
        flat = onnx_order(b, reshape_to(b, node, x, (math.prod(x.shape),)), node.name or node.output[0])
        return T(flat.name, flat.shape, batchless=True)
    if not target or target[0] not in (1, -1):
        b.fail(node, f"the first entry of the target shape {target} must be the batch (1, 0 or -1)")
    per_sample = target[1:]
    size = math.prod(x.shape)
    if per_sample.count(-1) > 1:
        b.fail(node, f"shape {target} has more than one -1")
    if any(v < -1 for v in per_sample):
        b.refuse(node, f"shape {target} has a negative dimension other than -1")
    if -1 in per_sample:
        known = math.prod(v for v in per_sample if v != -1) or 1
        per_sample[per_sample.index(-1)] = size // known
    if math.prod(per_sample) != size:
        raise BadInputError(f"{b.source}: Reshape {node.name or node.output[0]!r} cannot turn {x.shape} into {per_sample}")
    return reshape_to(b, node, x, tuple(per_sample))


def reshape_to(b: Builder, node, x: T, per_sample: tuple[int, ...]) -> T:
    """``x`` reshaped to the ONNX per-sample shape ``per_sample`` (same element count)."""
    if per_sample == x.shape:
        return x
    if len(per_sample) == 1 and x.layout == "nchw":  # the usual flatten: no data movement
        return T(b.add(ir.Flatten(_name(b, node), (x.name,))), per_sample, "plain", x.shape if _reorders(x) else None)
    ordered = onnx_order(b, x, node.name or node.output[0])
    name = b.add(ir.Reshape(_name(b, node), (ordered.name,), shape=per_sample))
    if len(per_sample) == 3:  # an image again: back to the IR's NHWC
        name = b.add(ir.Transpose(_name(b, node, ".to_hwc"), (name,), perm=(1, 2, 0)))
        return T(name, per_sample, "nchw")
    return T(name, per_sample)


@op("Concat", 13)
def concat(b: Builder, node, args, attrs):
    if "axis" not in attrs:
        b.refuse(node, "the axis attribute is missing (Concat requires it)")
    if args and all(a is not None and a.name is None for a in args):  # shape arithmetic
        return T(const=_concat_constants(b, node, [np.asarray(a.const) for a in args], int(attrs["axis"])))
    xs = [_tensor(b, node, a) for a in args]
    layouts = {(x.layout, x.flat_from) for x in xs}
    if len(layouts) != 1:
        b.fail(node, "inputs of different layouts")
    rank = len(xs[0].shape) + 1
    axis = int(attrs["axis"]) % rank
    if axis == 0:
        b.fail(node, "concatenation along the batch axis is not supported")
    if xs[0].flat_from is not None:
        b.fail(node, "concatenation of flattened maps is not supported")
    ir_axis = {1: 2, 2: 0, 3: 1}[axis] if xs[0].layout == "nchw" else axis - 1
    name = b.add(ir.Concatenate(_name(b, node), tuple(x.name for x in xs), axis=ir_axis))
    shape = list(xs[0].shape)
    shape[axis - 1] = sum(x.shape[axis - 1] for x in xs)
    return T(name, tuple(shape), xs[0].layout)


def _concat_constants(b: Builder, node, arrays: list[np.ndarray], axis: int) -> np.ndarray:
    """Concatenated constants; the result's size, from the shapes, is charged first."""
    rank = arrays[0].ndim
    if rank == 0 or not -rank <= axis < rank:
        b.refuse(node, f"axis {axis} is out of range for constants of rank {rank}")
    axis %= rank
    for a in arrays[1:]:
        if a.ndim != rank or a.shape[:axis] + a.shape[axis + 1:] != arrays[0].shape[:axis] + arrays[0].shape[axis + 1:]:
            b.refuse(node, f"constants of shapes {show(arrays[0].shape)} and {show(a.shape)} do not concatenate along axis {axis}")
    shape = list(arrays[0].shape)
    shape[axis] = sum(a.shape[axis] for a in arrays)
    b.charge(node, shape, functools.reduce(np.promote_types, (a.dtype for a in arrays)))
    return np.concatenate(arrays, axis=axis)


@op("Identity", 16)
def identity(b: Builder, node, args, attrs):
    return args[0]


@op("Dropout", 13)
def dropout(b: Builder, node, args, attrs):
    if len(node.output) > 1 and node.output[1]:
        b.fail(node, "the mask output is not supported")
    if len(args) > 2 and args[2] is not None and args[2].const is not None and bool(args[2].const):
        b.fail(node, "training_mode = true is not supported")
    return args[0]


@op("Transpose", 13)
def transpose(b: Builder, node, args, attrs):
    x = args[0]
    if x is not None and x.name is None:  # a view: nothing allocated
        value = np.asarray(x.const)
        perm = list(attrs.get("perm", reversed(range(value.ndim))))
        if sorted(perm) != list(range(value.ndim)):
            b.refuse(node, f"perm {perm} is not a permutation of the {value.ndim} axes of a constant")
        return T(const=np.transpose(value, perm))
    x = _tensor(b, node, x)
    perm = list(attrs.get("perm", reversed(range(len(x.shape) + 1))))
    if x.layout == "nchw" and perm == [0, 2, 3, 1]:  # to NHWC: exactly how the IR holds it
        c, h, w = x.shape
        return T(x.name, (h, w, c))
    if x.layout == "plain" and len(x.shape) == 3 and perm == [0, 3, 1, 2] and x.flat_from is None:  # NHWC data to NCHW
        h, w, c = x.shape
        return T(x.name, (c, h, w), "nchw")
    if perm[0] != 0 or sorted(perm) != list(range(len(x.shape) + 1)):
        b.fail(node, f"perm {perm} moves the batch axis or is not a permutation")
    ordered = onnx_order(b, x, node.name or node.output[0])  # a general permutation, in ONNX's order
    sample_perm = tuple(p - 1 for p in perm[1:])
    name = b.add(ir.Transpose(_name(b, node), (ordered.name,), perm=sample_perm))
    return T(name, tuple(x.shape[p] for p in sample_perm))


@op("Constant", 13)
def constant(b: Builder, node, args, attrs):
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in attrs:  # a tensor is charged to the load budget as it is read (converters/onnx.py)
            value = np.asarray(attrs[key])
            if value.dtype.kind not in "biuf":
                b.refuse(node, f"a {value.dtype.name} constant; npukit reads numeric constants only")
            return T(const=value)
    b.fail(node, "only value, value_float(s) and value_int(s) constants are supported")
