"""ONNX op converters of the ops modern exporters write (torch's dynamo exporter: opset 18 and
up): reductions, Pad, Squeeze / Unsqueeze, Slice / Split, Resize, LayerNormalization, Gelu and
Erf. Registered in the same ``OPS`` registry as ``converters/onnx_ops.py`` (its helpers and
layout rules apply); ``converters/onnx.py`` imports this module.

* Inputs that became inputs in later opsets (Reduce* ``axes`` from 18, ReduceSum's from 13,
  Split's ``split``, Squeeze / Unsqueeze ``axes``, Pad's ``pads``) are read from either place and
  must be constants.
* An ONNX axis of an image map (N, C, H, W) is IR axis 2, 0, 1 for C, H, W (``_ir_axis``).
* Resize: nearest with ``asymmetric`` + ``floor`` (PyTorch's nearest) or a centred mode with
  ``round_prefer_ceil``; linear with ``half_pixel``, ``pytorch_half_pixel`` (outputs above 1),
  ``align_corners`` or ``asymmetric``; 2-D images only.
* Shape of a tensor is a constant (shapes are static); Gather, Cast, Concat, Squeeze,
  Unsqueeze and Slice of constants fold, so shape arithmetic (the legacy exporter's torch.chunk)
  leaves only constants.
* LayerNormalization over the last axis only (ConvNeXt normalizes channels after a transpose to
  NHWC, which costs nothing); Gelu from opset 20 and the erf form of older exports (fused by
  ``npukit.passes.fuse_gelu``).
"""

from __future__ import annotations

import numpy as np

from npukit import ir
from npukit.converters.onnx_graph import OnnxBuilder as Builder
from npukit.converters.onnx_graph import T
from npukit.converters.onnx_ops import _const, _name, _same, _tensor, _unary, op, reshape_to
from npukit.errors import show

_NCHW_TO_IR = {1: 2, 2: 0, 3: 1}


def _ir_axis(b: Builder, node, x: T, axis: int) -> int:
    """The IR per-sample axis of ONNX axis ``axis`` (batch included, may be negative) of ``x``."""
    rank = len(x.shape) + 1
    if not -rank <= axis < rank:
        b.fail(node, f"axis {axis} is out of range for rank {rank}")
    axis %= rank
    if axis == 0:
        b.fail(node, "an operation along the batch axis is not supported")
    if x.flat_from is not None:
        b.fail(node, "an axis of a flattened image map is not supported (its IR order differs)")
    return _NCHW_TO_IR[axis] if x.layout == "nchw" else axis - 1


def _axes(b: Builder, node, args, attrs, index: int) -> list[int] | None:
    """The ``axes`` of a node, from input ``index`` (later opsets) or the attribute; None if absent."""
    if len(args) > index and args[index] is not None:
        return [int(a) for a in _const(b, node, args[index], "axes").reshape(-1)]
    if "axes" in attrs:
        return [int(a) for a in attrs["axes"]]
    return None


# -- reductions --------------------------------------------------------------------------------


def _reduce(kind: str):
    def convert(b: Builder, node, args, attrs):
        x = _tensor(b, node, args[0])
        axes = _axes(b, node, args, attrs, 1)
        keepdims = bool(attrs.get("keepdims", 1))
        if not axes:
            if attrs.get("noop_with_empty_axes", 0):
                return x
            b.fail(node, "no axes: reducing every axis, the batch included, is not supported")
        rank = len(x.shape) + 1
        onnx_axes = sorted({a % rank for a in axes})
        ir_axes = tuple(sorted(_ir_axis(b, node, x, a) for a in onnx_axes))
        kept = tuple(d for i, d in enumerate(x.shape, 1) if i not in onnx_axes)
        shape = tuple(1 if i in onnx_axes else d for i, d in enumerate(x.shape, 1)) if keepdims else kept
        if not shape:
            b.fail(node, "reducing every axis of a sample leaves no sample axis")
        if kind == "mean" and x.layout == "nchw" and onnx_axes == [2, 3]:  # global average pooling
            name = b.add(ir.GlobalAveragePool(_name(b, node), (x.name,), keepdims=keepdims))
        else:
            name = b.add(ir.Reduce(_name(b, node), (x.name,), op=kind, axes=ir_axes, keepdims=keepdims))
        if x.layout == "nchw" and keepdims:
            return T(name, shape, "nchw")
        if x.layout == "nchw" and len(shape) > 1 and 1 in onnx_axes:  # (H, W) or (H,) left: held as is
            return T(name, shape)
        if x.layout == "nchw" and len(shape) > 1:  # channels kept with some spatial axis: IR keeps C last
            b.fail(node, f"reducing axes {onnx_axes} of an image map without keepdims is not supported")
        return T(name, shape)

    return convert


for _kind, _version in (("mean", 18), ("max", 18), ("sum", 13)):
    op(f"Reduce{_kind.capitalize()}", _version)(_reduce(_kind))


@op("GlobalMaxPool", 1)
def global_max_pool(b: Builder, node, args, attrs):
    x = _tensor(b, node, args[0])
    if x.layout != "nchw":
        b.fail(node, f"needs an image tensor (N, C, H, W); received per-sample shape {x.shape}")
    name = b.add(ir.Reduce(_name(b, node), (x.name,), op="max", axes=(0, 1), keepdims=True))
    return T(name, (x.shape[0], 1, 1), "nchw")


# -- shapes ----------------------------------------------------------------------------------------


@op("Shape", 15)
def shape_(b: Builder, node, args, attrs):
    x = args[0]
    if x is None:
        b.fail(node, "missing input")
    full = np.asarray(x.const.shape if x.name is None else (b.batch, *x.shape), np.int64)
    start, end = int(attrs.get("start", 0)), attrs.get("end")
    return T(const=full[start:None if end is None else int(end)])


@op("Gather", 13)
def gather(b: Builder, node, args, attrs):
    data, indices = args[0], args[1]
    if data is not None and data.batchless and indices is not None and indices.name is None:
        return _strided_view(b, node, data, indices.const, int(attrs.get("axis", 0)))
    if data is None or indices is None or data.name is not None or indices.name is not None:
        b.fail(node, "Gather is supported on constants only (shape arithmetic), and on a flattened batch of one")
    values, indices = np.asarray(data.const), np.asarray(indices.const)
    axis = int(attrs.get("axis", 0))
    if values.ndim == 0 or not -values.ndim <= axis < values.ndim:
        b.refuse(node, f"axis {axis} is out of range for a constant of rank {values.ndim}")
    axis %= values.ndim
    if indices.dtype.kind not in "iu":
        b.refuse(node, f"indices must be integers (received {indices.dtype.name})")
    n = values.shape[axis]
    if indices.size and (int(indices.min()) < -n or int(indices.max()) >= n):
        b.refuse(node, f"indices out of range [{-n}, {n}) for axis {axis} of a constant of shape {show(values.shape)}")
    b.charge(node, values.shape[:axis] + indices.shape + values.shape[axis + 1:], values.dtype)
    return T(const=np.take(values, indices, axis=axis))


def _strided_view(b: Builder, node, flat: T, indices: np.ndarray, axis: int) -> T:
    """torch's ``as_strided`` as the dynamo exporter writes it: the batch of one flattened
    (``Reshape(x, [-1])``), then a Gather of constant indices shaped (1, ...). Supported when the
    indices visit every element once (a view that reorders, as ConvNeXt's pooled (1, C, 1, 1)):
    a reshape, with a channel permutation when the order changes."""
    size = flat.shape[0]
    indices = np.asarray(indices)
    if indices.size != size or indices.dtype.kind not in "iu":  # before listing them
        b.fail(node, f"a Gather of {indices.dtype.name} indices shaped {indices.shape} from a flattened batch of {size} values: "
                     f"only a view visiting every element once")
    order = indices.reshape(-1) % size if indices.size else indices.reshape(-1)
    if axis != 0 or indices.ndim < 2 or indices.shape[0] != 1 or sorted(order.tolist()) != list(range(size)):
        b.fail(node, f"a Gather of indices shaped {indices.shape} from a flattened batch: only a view visiting every element once")
    src = flat.name
    if order.tolist() != list(range(size)):
        src = b.add(ir.PermuteChannels(_name(b, node, ".order"), (flat.name,), order=tuple(int(v) for v in order)))
    return reshape_to(b, node, T(src, (size,)), tuple(int(d) for d in indices.shape[1:]))


@op("Cast", 19)
def cast(b: Builder, node, args, attrs):
    import onnx

    x = args[0]
    if x is None or x.name is not None:
        b.fail(node, "Cast is supported on constants only")
    try:
        dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(int(attrs["to"])))
    except (KeyError, ValueError, TypeError):
        b.refuse(node, f"unknown target type {show(attrs.get('to'))}")
    if dtype.hasobject or dtype.kind in "SU":
        b.refuse(node, f"a cast to {dtype.name}: npukit folds numeric constants only")
    b.charge(node, np.shape(x.const), dtype)
    return T(const=np.asarray(x.const).astype(dtype))


def _all_constant(args) -> bool:
    return all(a is None or a.name is None for a in args) and args and args[0] is not None


@op("Squeeze", 13)
def squeeze(b: Builder, node, args, attrs):
    if _all_constant(args):  # a view: nothing allocated
        axes = _axes(b, node, args, attrs, 1)
        value = np.asarray(args[0].const)
        try:
            return T(const=np.squeeze(value, axis=None if axes is None else tuple(axes)))
        except (ValueError, IndexError):
            b.refuse(node, f"axes {axes} are not axes of size 1 of a constant of shape {show(value.shape)}")
    x = _tensor(b, node, args[0])
    axes = _axes(b, node, args, attrs, 1)
    rank = len(x.shape) + 1
    full = (1, *x.shape)
    axes = [i for i, d in enumerate(full) if d == 1 and i > 0] if axes is None else [a % rank for a in axes]
    if 0 in axes:
        b.fail(node, "squeezing the batch axis is not supported")
    if any(full[a] != 1 for a in axes):
        b.fail(node, f"axes {axes} of shape {full} are not all of size 1")
    return reshape_to(b, node, x, tuple(d for i, d in enumerate(full) if i not in axes and i > 0))


@op("Unsqueeze", 13)
def unsqueeze(b: Builder, node, args, attrs):
    axes = _axes(b, node, args, attrs, 1)
    if _all_constant(args) and axes is not None:  # a view: nothing allocated
        value = np.asarray(args[0].const)
        rank = value.ndim + len(axes)
        if rank > 64 or len(set(a % rank for a in axes)) != len(axes) or not all(-rank <= a < rank for a in axes):
            b.refuse(node, f"axes {axes[:40]} do not insert distinct new axes into a constant of shape {show(value.shape)} "
                           f"(numpy holds 64 axes at most)")
        for a in sorted(a % rank for a in axes):
            value = np.expand_dims(value, a)
        return T(const=value)
    x = _tensor(b, node, args[0])
    if axes is None:
        b.fail(node, "missing axes")
    rank = len(x.shape) + 1 + len(axes)
    axes = sorted(a % rank for a in axes)
    if 0 in axes:
        b.fail(node, "a new batch axis is not supported")
    shape = list(x.shape)
    for a in axes:
        shape.insert(a - 1, 1)
    return reshape_to(b, node, x, tuple(shape))


def _slice(b: Builder, node, x: T, ranges: dict[int, tuple[int, int, int]], suffix: str = "") -> T:
    """IR Slice of ``x`` keeping, per ONNX axis a, ``ranges[a] = (begin, end, step)``."""
    begin, end, strides = [0] * len(x.shape), list(b.shapes[x.name]), [1] * len(x.shape)
    shape = list(x.shape)
    for axis, (start, stop, step) in ranges.items():
        k = _ir_axis(b, node, x, axis)
        begin[k], end[k], strides[k] = start, stop, step
        shape[axis - 1] = -(-(stop - start) // step)
    name = b.add(ir.Slice(_name(b, node, suffix), (x.name,), begin=tuple(begin), end=tuple(end), strides=tuple(strides)))
    return T(name, tuple(shape), x.layout)


@op("Slice", 13)
def slice_(b: Builder, node, args, attrs):
    if _all_constant(args):  # a view: nothing allocated
        value = np.asarray(args[0].const)
        if len(args) < 3 or args[1] is None or args[2] is None:
            b.refuse(node, "starts and ends are required")
        starts, ends = (np.asarray(args[i].const).reshape(-1) for i in (1, 2))
        axes = np.asarray(args[3].const).reshape(-1) if len(args) > 3 and args[3] is not None else range(len(starts))
        steps = np.asarray(args[4].const).reshape(-1) if len(args) > 4 and args[4] is not None else [1] * len(starts)
        if not len(starts) == len(ends) == len(axes) == len(steps):
            b.refuse(node, f"{len(starts)} starts, {len(ends)} ends, {len(axes)} axes and {len(steps)} steps do not match")
        index = [slice(None)] * value.ndim
        for start, stop, axis, step in zip(starts, ends, axes, steps):
            axis, step = int(axis), int(step)
            if not -value.ndim <= axis < value.ndim:
                b.refuse(node, f"axis {axis} is out of range for a constant of rank {value.ndim}")
            if step == 0:
                b.refuse(node, "a step of 0")
            index[axis % value.ndim] = slice(int(start), int(stop), step)
        return T(const=value[tuple(index)])
    x = _tensor(b, node, args[0])
    starts = [int(v) for v in _const(b, node, args[1], "starts").reshape(-1)]
    ends = [int(v) for v in _const(b, node, args[2], "ends").reshape(-1)]
    rank = len(x.shape) + 1
    axes = _axes(b, node, args, {}, 3) or list(range(len(starts)))
    steps = [int(v) for v in _const(b, node, args[4], "steps").reshape(-1)] if len(args) > 4 and args[4] is not None else [1] * len(starts)
    ranges = {}
    for start, stop, axis, step in zip(starts, ends, axes, steps):
        axis %= rank
        if step < 1:
            b.fail(node, f"step {step}: only positive steps are supported")
        size = (b.batch, *x.shape)[axis]
        start = min(max(start + size if start < 0 else start, 0), size)
        stop = min(max(stop + size if stop < 0 else stop, 0), size)
        if stop <= start:
            b.fail(node, f"an empty slice [{start}, {stop}) of axis {axis}")
        if (start, stop, step) != (0, size, 1):
            ranges[axis] = (start, stop, step)
    return _slice(b, node, x, ranges) if ranges else x


@op("Split", 18)
def split(b: Builder, node, args, attrs):
    x = _tensor(b, node, args[0])
    rank = len(x.shape) + 1
    axis = int(attrs.get("axis", 0)) % rank
    _ir_axis(b, node, x, axis)
    size = (1, *x.shape)[axis]
    if len(args) > 1 and args[1] is not None:
        sizes = [int(v) for v in _const(b, node, args[1], "split").reshape(-1)]
    elif "split" in attrs:
        sizes = [int(v) for v in attrs["split"]]
    else:
        parts = int(attrs.get("num_outputs", len(node.output)))
        if parts < 1 or parts != len(node.output):  # before dividing by it or listing the parts
            b.refuse(node, f"num_outputs {parts} does not match its {len(node.output)} outputs")
        chunk = -(-size // parts)
        sizes = [min(chunk, size - k * chunk) for k in range(parts)]
    if sum(sizes) != size or min(sizes) < 1 or len(sizes) != len(node.output):
        b.fail(node, f"split sizes {sizes} do not cut axis {axis} of size {size} into {len(node.output)} parts")
    outs, start = [], 0
    for k, part in enumerate(sizes):
        outs.append(_slice(b, node, x, {axis: (start, start + part, 1)}, f".{k}"))
        start += part
    return outs


@op("Pad", 18)
def pad(b: Builder, node, args, attrs):
    x = _tensor(b, node, args[0])
    if attrs.get("mode", "constant") != "constant":
        b.fail(node, f"mode {attrs.get('mode')!r}: only constant padding is supported")
    pads = [int(v) for v in (_const(b, node, args[1], "pads").reshape(-1) if len(args) > 1 and args[1] is not None
                             else attrs.get("pads", ()))]
    value = float(_const(b, node, args[2], "constant_value").reshape(-1)[0]) if len(args) > 2 and args[2] is not None else 0.0
    rank = len(x.shape) + 1
    axes = _axes(b, node, args, {}, 3) or list(range(rank))
    axes = [a % rank for a in axes]
    if len(pads) != 2 * len(axes) or min(pads, default=0) < 0:
        b.fail(node, f"pads {pads}: need one non-negative (begin, end) per axis (negative pads crop: not supported)")
    per_axis = {a: (pads[i], pads[i + len(axes)]) for i, a in enumerate(axes) if (pads[i], pads[i + len(axes)]) != (0, 0)}
    if not per_axis:
        return x
    if 0 in per_axis:
        b.fail(node, "padding the batch axis is not supported")
    ir_pads = [(0, 0)] * len(x.shape)
    shape = list(x.shape)
    for a, (before, after) in per_axis.items():
        ir_pads[_ir_axis(b, node, x, a)] = (before, after)
        shape[a - 1] += before + after
    if x.layout == "nchw" and value == 0.0 and 1 not in per_axis:
        name = b.add(ir.Pad2D(_name(b, node), (x.name,), pads=(ir_pads[0], ir_pads[1])))
    else:
        name = b.add(ir.Pad(_name(b, node), (x.name,), pads=tuple(ir_pads), value=value))
    return T(name, tuple(shape), x.layout)


# -- resize ------------------------------------------------------------------------------------------

_NEAREST = {("asymmetric", "floor"): "asymmetric", ("half_pixel", "round_prefer_ceil"): "half_pixel",
            ("align_corners", "round_prefer_ceil"): "align_corners"}
_LINEAR = {"half_pixel": "half_pixel", "pytorch_half_pixel": "half_pixel", "align_corners": "align_corners",
           "asymmetric": "asymmetric"}


@op("Resize", 19)
def resize(b: Builder, node, args, attrs):
    x = _tensor(b, node, args[0])
    if x.layout != "nchw":
        b.fail(node, f"needs an image tensor (N, C, H, W); received per-sample shape {x.shape}")
    if attrs.get("antialias", 0) or attrs.get("exclude_outside", 0) or attrs.get("axes") is not None:
        b.fail(node, "antialias, exclude_outside and axes are not supported")
    if attrs.get("keep_aspect_ratio_policy", "stretch") != "stretch":
        b.fail(node, "keep_aspect_ratio_policy other than stretch is not supported")
    c, h, w = x.shape
    if len(args) > 3 and args[3] is not None and args[3].const is not None and args[3].const.size:
        sizes = [int(v) for v in args[3].const.reshape(-1)]
    elif len(args) > 2 and args[2] is not None and args[2].const is not None and args[2].const.size:
        scales = [float(v) for v in args[2].const.reshape(-1)]
        if not all(np.isfinite(v) and v > 0 for v in scales):
            b.refuse(node, f"scales {scales[:8]} must be finite and positive")
        if len(scales) != 4 or scales[:2] != [1.0, 1.0]:
            b.fail(node, f"scales {scales}: only height and width may scale")
        sizes = [1, c, int(np.floor(h * scales[2])), int(np.floor(w * scales[3]))]
        if sizes[2] != h * scales[2] or sizes[3] != w * scales[3]:  # ONNX then maps with the scale, TFLite with sizes
            b.fail(node, f"scales {scales[2:]} do not give whole output sizes for input {h}x{w}; give sizes instead")
    else:
        b.fail(node, "needs constant scales or sizes")
    if min(sizes, default=0) < 1:
        b.refuse(node, f"sizes {sizes[:8]} must be positive")
    if len(sizes) != 4 or sizes[1] != c:
        b.fail(node, f"sizes {sizes}: only height and width may change")
    mode = attrs.get("mode", "nearest")
    transform = attrs.get("coordinate_transformation_mode", "half_pixel")
    if mode == "nearest":
        coordinates = _NEAREST.get((transform, attrs.get("nearest_mode", "round_prefer_floor")))
        method = "nearest"
    elif mode == "linear":
        coordinates, method = _LINEAR.get(transform), "bilinear"
        if transform == "pytorch_half_pixel" and 1 in sizes[2:]:
            coordinates = None
    else:
        coordinates, method = None, mode
    if coordinates is None:
        b.fail(node, f"mode {mode!r} with coordinate_transformation_mode {transform!r} and nearest_mode "
                     f"{attrs.get('nearest_mode', 'round_prefer_floor')!r} is not supported (docs/onnx.md lists the Resize modes TFLite computes)")
    name = b.add(ir.Resize(_name(b, node), (x.name,), size=(sizes[2], sizes[3]), method=method, coordinates=coordinates))
    return T(name, (c, sizes[2], sizes[3]), "nchw")


# -- normalization and activations -----------------------------------------------------------------


@op("LayerNormalization", 17)
def layer_normalization(b: Builder, node, args, attrs):
    x = _tensor(b, node, args[0])
    rank = len(x.shape) + 1
    if int(attrs.get("axis", -1)) % rank != rank - 1 or x.layout == "nchw" or x.flat_from is not None:
        b.fail(node, f"normalization from axis {attrs.get('axis', -1)} of a {x.layout} tensor of shape {x.shape}: "
                     f"only the last axis of a plain tensor (e.g. channels after a transpose to NHWC) is supported")
    if attrs.get("stash_type", 1) != 1:
        b.fail(node, "stash_type other than 1 (float32) is not supported")
    channels = x.shape[-1]
    params = [_const(b, node, a, what) for a, what in zip(args[1:3], ("Scale", "B")) if a is not None]
    if any(p.size not in (1, channels) for p in params):
        b.refuse(node, f"Scale and B of sizes {[p.size for p in params]} do not fit {channels} channels")
    b.charge(node, (2, channels), np.float32, "broadcasts its scale and shift to")
    gamma = np.broadcast_to(_const(b, node, args[1], "Scale").astype(np.float32).reshape(-1), (channels,))
    beta = (np.broadcast_to(_const(b, node, args[2], "B").astype(np.float32).reshape(-1), (channels,))
            if len(args) > 2 and args[2] is not None else np.zeros(channels, np.float32))
    name = b.add(ir.LayerNorm(_name(b, node), (x.name,), gamma=gamma.copy(), beta=beta.copy(),
                              epsilon=float(attrs.get("epsilon", 1e-5))))
    return [_same(x, name)]  # Mean and InvStdDev are not produced: a model that reads them is refused


op("Gelu", 20)(_unary(lambda b, node, x, a: ir.Gelu(_name(b, node), (x.name,), approximate=a.get("approximate", "none"))))
op("Erf", 13)(_unary(lambda b, node, x, a: ir.Erf(_name(b, node), (x.name,))))
