"""NIR frontend: Neuromorphic Intermediate Representation graphs (.nir, HDF5) -> npukit IR.

Nodes: Input, Output, Affine, Linear, Scale, Conv2d, Flatten, SumPool2d, AvgPool2d, IF, LIF,
LI, CubaLIF, CubaLI, I, Threshold (``supported_nodes()``). Several edges into one node add up.

Time: NIR neurons are continuous-time equations and a graph carries no dt. npukit discretizes
them by forward Euler with step ``dt`` (default 1e-4 s, the convention of snnTorch's and
SpikingJelly's exporters; Norse uses 1e-3): see ``npukit.ir.neurons`` for the per-step forms and
docs/nir.md for how each framework maps its parameters. A per-step coefficient within 1e-6 of
1 is taken as exactly 1: exporters compute r = tau/dt (and w_in = tau_syn/dt) in float32, and the
product dt * r / tau they mean is 1.

Layout: NIR tensors are channels-first (C, H, W) without a batch axis; the IR is NHWC. Conv
weights are transposed, per-neuron parameters moved to (H, W, C), and after a Flatten of a
(C, H, W) map the IR keeps the NHWC order, so the weights of the Affine that reads it are
permuted accordingly: a Conv2d -> Flatten -> Affine graph computes exactly what NIR specifies.
Flatten flattens the whole per-sample tensor (exporters disagree on start_dim).

Reading: the HDF5 file is checked and read once in a child process (``npukit.hdf5_probe``: no
links, no external or virtual storage, built-in filters and plain data types only), where
``nir``'s own typed reader is tried on it too; graphs it refuses (type inference of older or
hand-written files) still load through this reader. Then h5py reads, in this process, only the
datasets the conversion uses, each after its declared size is charged to the load budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from npukit import ir
from npukit.errors import BadInputError, UnsupportedError
from npukit.snn.euler import integrator_gain, lif_coefficients, synapse_coefficients

DEFAULT_DT = 1e-4
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"

_NODES: dict[str, Callable] = {}


def nir_node(*types: str):
    def decorate(fn):
        for name in types:
            _NODES[name] = fn
        return fn

    return decorate


def supported_nodes() -> list[str]:
    return sorted(set(_NODES) | {"Input", "Output"})


# -- reading -------------------------------------------------------------------------------------


def read_nir_file(path: str | Path, budget=None) -> tuple[dict[str, Any], bool]:
    """(the graph as plain dicts, whether ``nir.read`` accepted it).

    The file is checked and read once in a child process first (``npukit.hdf5_probe``: links,
    external storage, virtual datasets, filters and data types refused; a hang or crash stays
    in the child). The dicts returned here hold the groups; a dataset is read only when the
    converter asks for it, after its declared size is charged to ``budget`` (a
    ``npukit.budget.LoadBudget``; default: a new one for this file)."""
    from npukit.budget import LoadBudget
    from npukit.files import check_regular_file

    path = check_regular_file(path, "model file")
    with open(path, "rb") as handle:
        if handle.read(8) != HDF5_MAGIC:
            raise BadInputError(f"{path}: not a NIR file (not HDF5: truncated or another format?)")
    from npukit.hdf5_probe import probe

    typed = bool(probe(path, nir=True).get("nir_typed"))
    reader = _DatasetReader(path, budget or LoadBudget(str(path)))
    raw = reader.structure("node")
    if raw is None:
        raise BadInputError(f"{path}: an HDF5 file without a NIR 'node' group")
    return raw, typed


class _Unread:
    """A dataset not read yet: its HDF5 path."""

    def __init__(self, name: str):
        self.name = name


class _LazyGroup(dict):
    """An HDF5 group as a dict whose datasets are read on first access: only what the
    converter uses is ever read."""

    def __init__(self, reader: "_DatasetReader"):
        super().__init__()
        self._reader = reader

    def __getitem__(self, key):
        value = super().__getitem__(key)
        if isinstance(value, _Unread):
            value = self._reader.read(value.name)
            super().__setitem__(key, value)
        return value

    def get(self, key, default=None):
        return self[key] if key in self else default

    def items(self):
        return [(key, self[key]) for key in self.keys()]

    def values(self):
        return [self[key] for key in self.keys()]


class _DatasetReader:
    """Opens the file for each read (the probe has read it whole already), charges the budget."""

    def __init__(self, path: Path, budget):
        self.path = path
        self.source = str(path)
        self.budget = budget

    def _open(self):
        import h5py

        return h5py.File(self.path, "r")

    def structure(self, root: str) -> "_LazyGroup | None":
        import h5py

        from npukit.hdf5_probe import check_link

        try:
            with self._open() as f:
                if root not in f:
                    return None
                check_link(f, root, self.source)
                if not isinstance(f[root], h5py.Group):
                    return None
                return self._group_to_dict(f[root], 0)
        except BadInputError:
            raise
        except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:  # h5py: RuntimeError on corrupt B-trees
            raise BadInputError(f"{self.source}: unreadable NIR/HDF5 file ({' '.join(str(exc).split())[:200]})")

    def _group_to_dict(self, group, depth: int) -> "_LazyGroup":
        import h5py

        from npukit.hdf5_probe import MAX_DEPTH, check_link

        if depth > MAX_DEPTH:
            raise BadInputError(f"{self.source}: groups nested deeper than {MAX_DEPTH} levels (a cycle?)")
        out = _LazyGroup(self)
        for key in group:
            check_link(group, key, self.source)
            item = group[key]
            if isinstance(item, h5py.Group):
                dict.__setitem__(out, key, self._group_to_dict(item, depth + 1))
            else:
                dict.__setitem__(out, key, _Unread(item.name))
        return out

    def read(self, name: str):
        from npukit.hdf5_probe import read_dataset

        try:
            with self._open() as f:
                value = read_dataset(f[name], self.source, self.budget)
        except BadInputError:
            raise
        except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
            raise BadInputError(f"{self.source}: unreadable dataset {name} ({' '.join(str(exc).split())[:200]})")
        return value.decode(errors="replace") if isinstance(value, bytes) else value


def load_nir(path: str | Path, dt: float = DEFAULT_DT, budget=None) -> ir.Graph:
    """Load a .nir file into the IR, discretizing neurons with step ``dt`` (seconds); what it
    reads is charged to ``budget`` (``npukit.budget.LoadBudget``)."""
    raw, typed = read_nir_file(path, budget)
    graph = graph_from_dict(raw, dt, str(path))
    graph.meta.update({"source_format": "nir", "nir_typed_reader": typed})
    return graph


def from_nir_graph(graph, dt: float = DEFAULT_DT) -> ir.Graph:
    """Convert an in-memory ``nir.NIRGraph``."""
    return graph_from_dict(graph.to_dict(), dt, "<nir graph>")


# -- graph conversion -----------------------------------------------------------------------------


@dataclass
class _Tensor:
    """What flows along an edge: the IR node holding it and its NIR (channels-first) shape.

    ``flat_from`` is the (C, H, W) shape a flat vector came from: its IR order is NHWC."""

    name: str
    shape: tuple[int, ...]
    flat_from: tuple[int, int, int] | None = None


class _Builder:
    def __init__(self, dt: float, source: str):
        if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
            raise BadInputError(f"dt must be a positive number of seconds. Received: {dt!r}")
        self.dt = float(dt)
        self.source = source
        self.nodes: list[ir.Node] = []
        self.shapes: dict[str, tuple[int, ...]] = {}

    def add(self, node: ir.Node) -> str:
        self.shapes[node.name] = tuple(node.output_shape([self.shapes[i] for i in node.inputs]))
        self.nodes.append(node)
        return node.name

    # NIR layout -> IR layout, for per-element parameters of a tensor
    def to_ir(self, value, t: _Tensor, what: str) -> np.ndarray:
        arr = np.asarray(value, dtype=np.float64)
        if arr.ndim == 0 or arr.size == 1:
            return arr.reshape(())
        try:
            arr = np.broadcast_to(arr, t.shape)
        except ValueError:
            raise BadInputError(f"{self.source}: {what} has shape {arr.shape}, the layer has shape {t.shape}")
        if len(t.shape) == 3:
            return np.ascontiguousarray(arr.transpose(1, 2, 0))
        if t.flat_from is not None:
            c, h, w = t.flat_from
            return np.ascontiguousarray(arr.reshape(c, h, w).transpose(1, 2, 0).reshape(-1))
        return arr

def _f32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def graph_from_dict(raw: dict[str, Any], dt: float, source: str) -> ir.Graph:
    """Convert a NIR graph given as plain dicts (``NIRGraph.to_dict()`` or the HDF5 contents)."""
    b = _Builder(dt, source)
    if not isinstance(raw, dict) or "nodes" not in raw:
        raise BadInputError(f"{source}: not a NIR graph (no nodes)")
    specs = {str(k): v for k, v in raw["nodes"].items()}
    edges = [(_text(a), _text(c)) for a, c in np.asarray(raw.get("edges", [])).reshape(-1, 2)]
    for name, spec in specs.items():
        kind = _text(spec.get("type", "?")) if isinstance(spec, dict) else "?"
        if kind == "NIRGraph":
            raise UnsupportedError(f"{source}: node {name!r} is a nested NIR graph (subgraphs, e.g. recurrent layers, are not supported)")
        if kind not in _NODES and kind not in ("Input", "Output"):
            raise UnsupportedError(
                f"{source}: NIR node {name!r} of type {kind} is not supported; supported: {', '.join(supported_nodes())}"
            )
    for a, c in edges:
        for end in (a, c):
            if end not in specs:
                raise BadInputError(f"{source}: an edge names {end!r}, which is not a node")
    inputs = [n for n, s in specs.items() if _text(s["type"]) == "Input"]
    outputs = [n for n, s in specs.items() if _text(s["type"]) == "Output"]
    if len(inputs) != 1 or len(outputs) != 1:
        raise UnsupportedError(f"{source}: graphs with {len(inputs)} inputs and {len(outputs)} outputs are not supported (one each)")
    order = _topological(specs, edges, source)
    preds = {n: [a for a, c in edges if c == n] for n in specs}
    values: dict[str, _Tensor] = {}
    for name in order:
        spec = specs[name]
        kind = _text(spec["type"])
        if kind == "Input":
            shape = tuple(int(d) for d in np.asarray(spec.get("shape", spec.get("input_type", [])), dtype=np.int64).reshape(-1))
            if not shape or min(shape) <= 0:
                raise BadInputError(f"{source}: the Input node needs a static shape. Received: {shape}")
            ir_shape = (shape[1], shape[2], shape[0]) if len(shape) == 3 else shape
            values[name] = _Tensor(b.add(ir.Input(name, (), shape=ir_shape)), shape)
            continue
        if not preds[name]:
            raise BadInputError(f"{source}: node {name!r} has no incoming edge")
        if len(preds[name]) == 1:
            x = values[preds[name][0]]
        else:
            x = _sum(b, name, [values[p] for p in preds[name]], source)
        if kind == "Output":
            values[name] = x
            continue
        values[name] = _NODES[kind](b, name, spec, x)
    output = values[outputs[0]]
    meta = {
        "nir": {
            "dt": b.dt,
            "input_shape_chw": list(values[inputs[0]].shape),
            "output_node": output.name,
        },
        "input_layout": "CHW" if len(values[inputs[0]].shape) == 3 else "flat",
    }
    return ir.Graph(b.nodes, output.name, meta)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _topological(specs, edges, source) -> list[str]:
    indegree = {n: 0 for n in specs}
    for _, c in edges:
        indegree[c] += 1
    ready = [n for n in specs if indegree[n] == 0]
    order = []
    while ready:
        n = ready.pop(0)
        order.append(n)
        for a, c in edges:
            if a == n:
                indegree[c] -= 1
                if indegree[c] == 0:
                    ready.append(c)
    if len(order) != len(specs):
        cyclic = sorted(n for n in specs if indegree[n] > 0)
        raise UnsupportedError(
            f"{source}: the graph has a cycle (a recurrent edge) through {cyclic}; recurrent NIR graphs are not supported"
        )
    return order


def _sum(b: _Builder, name: str, xs: list[_Tensor], source: str) -> _Tensor:
    shapes = {x.shape for x in xs}
    if len(shapes) != 1:
        raise BadInputError(f"{source}: node {name!r} receives inputs of different shapes {sorted(shapes)}")
    node = b.add(ir.Add(f"{name}/sum", tuple(x.name for x in xs)))
    return _Tensor(node, xs[0].shape, xs[0].flat_from)


# -- node converters ------------------------------------------------------------------------------


@nir_node("Affine", "Linear")
def _affine(b: _Builder, name: str, spec: dict, x: _Tensor) -> _Tensor:
    weight = np.asarray(spec["weight"], dtype=np.float32)
    if weight.ndim != 2:
        raise UnsupportedError(f"{b.source}: {name}: weights of rank {weight.ndim} are not supported (2-D only)")
    if len(x.shape) != 1:
        raise BadInputError(f"{b.source}: {name} reads a tensor of shape {x.shape}; Affine takes vectors (add a Flatten)")
    out_features, in_features = weight.shape
    if in_features != x.shape[0]:
        raise BadInputError(f"{b.source}: {name} expects {in_features} inputs, receives {x.shape[0]}")
    kernel = weight.T
    if x.flat_from is not None:  # IR row j (NHWC order) is NIR row perm[j] (CHW order)
        c, h, w = x.flat_from
        perm = np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)
        kernel = kernel[perm]
    bias = np.asarray(spec.get("bias", np.zeros(out_features)), dtype=np.float32).reshape(-1)
    if bias.size == 1:
        bias = np.full(out_features, float(bias[0]), np.float32)
    return _Tensor(b.add(ir.Dense(name, (x.name,), kernel=np.ascontiguousarray(kernel), bias=bias)), (out_features,))


@nir_node("Scale")
def _scale(b: _Builder, name: str, spec: dict, x: _Tensor) -> _Tensor:
    scale = b.to_ir(spec["scale"], x, f"{name}.scale")
    return _Tensor(b.add(ir.Scale(name, (x.name,), scale=_f32(scale))), x.shape, x.flat_from)


def _pair(value, what: str, source: str) -> tuple[int, int]:
    arr = np.asarray(value).reshape(-1)
    if arr.size == 1:
        arr = np.repeat(arr, 2)
    if arr.size != 2:
        raise BadInputError(f"{source}: {what} must be one or two integers. Received: {value!r}")
    return int(arr[0]), int(arr[1])


def _explicit_padding(b: _Builder, name: str, x: _Tensor, pads: tuple[int, int]) -> tuple[str, tuple[int, int, int]]:
    """Insert a Pad2D for symmetric explicit padding; return (IR input name, new CHW shape)."""
    c, h, w = x.shape
    if pads == (0, 0):
        return x.name, x.shape
    node = b.add(ir.Pad2D(f"{name}/pad", (x.name,), pads=((pads[0], pads[0]), (pads[1], pads[1]))))
    return node, (c, h + 2 * pads[0], w + 2 * pads[1])


@nir_node("Conv2d")
def _conv(b: _Builder, name: str, spec: dict, x: _Tensor) -> _Tensor:
    if len(x.shape) != 3:
        raise BadInputError(f"{b.source}: {name} (Conv2d) reads a tensor of shape {x.shape}; it needs (C, H, W)")
    weight = np.asarray(spec["weight"], dtype=np.float32)
    if weight.ndim != 4:
        raise BadInputError(f"{b.source}: {name}: Conv2d weight must be (C_out, C_in, kH, kW). Received: {weight.shape}")
    cout, cin_g, kh, kw = weight.shape
    groups = int(np.asarray(spec.get("groups", 1)).reshape(-1)[0])
    cin = x.shape[0]
    strides = _pair(spec.get("stride", 1), f"{name}.stride", b.source)
    dilation = _pair(spec.get("dilation", 1), f"{name}.dilation", b.source)
    bias = np.asarray(spec.get("bias", np.zeros(cout)), dtype=np.float32).reshape(-1)
    if bias.size == 1:
        bias = np.full(cout, float(bias[0]), np.float32)
    padding = spec.get("padding", 0)
    if isinstance(padding, (str, bytes)):
        mode, src, shape = _text(padding), x.name, x.shape
        if mode not in ("same", "valid"):
            raise BadInputError(f"{b.source}: {name}: padding {mode!r} is not 'same', 'valid' or integers")
    else:
        src, shape = _explicit_padding(b, name, x, _pair(padding, f"{name}.padding", b.source))
        mode = "valid"
    if groups == 1:
        if cin_g != cin:
            raise BadInputError(f"{b.source}: {name} expects {cin_g} input channels, receives {cin}")
        node = ir.Conv2D(name, (src,), kernel=weight.transpose(2, 3, 1, 0), bias=bias, strides=strides, padding=mode, dilation=dilation)
    elif groups == cin and cin_g == 1 and cout % cin == 0:
        kernel = weight.reshape(cin, cout // cin, kh, kw).transpose(2, 3, 0, 1)  # (kh, kw, C, multiplier)
        node = ir.DepthwiseConv2D(name, (src,), kernel=kernel, bias=bias, strides=strides, padding=mode, dilation=dilation)
    else:
        raise UnsupportedError(f"{b.source}: {name}: grouped convolution with groups={groups} is not supported (1 or depthwise)")
    h, w, _ = b.shapes[b.add(node)]
    return _Tensor(node.name, (cout, h, w))


@nir_node("SumPool2d", "AvgPool2d")
def _pool(b: _Builder, name: str, spec: dict, x: _Tensor) -> _Tensor:
    if len(x.shape) != 3:
        raise BadInputError(f"{b.source}: {name} (pooling) reads a tensor of shape {x.shape}; it needs (C, H, W)")
    kernel = _pair(spec["kernel_size"], f"{name}.kernel_size", b.source)
    stride = _pair(spec.get("stride", kernel), f"{name}.stride", b.source)
    src, _ = _explicit_padding(b, name, x, _pair(spec.get("padding", 0), f"{name}.padding", b.source))
    cls = ir.SumPool2D if _text(spec["type"]) == "SumPool2d" else ir.AveragePool2D
    node = b.add(cls(name, (src,), pool_size=kernel, strides=stride, padding="valid"))
    h, w, c = b.shapes[node]
    return _Tensor(node, (c, h, w))


@nir_node("Flatten")
def _flatten(b: _Builder, name: str, spec: dict, x: _Tensor) -> _Tensor:
    if len(x.shape) == 1:
        return _Tensor(b.add(ir.Identity(name, (x.name,))), x.shape, x.flat_from)
    size = int(np.prod(x.shape))
    flat_from = x.shape if len(x.shape) == 3 else None
    return _Tensor(b.add(ir.Flatten(name, (x.name,))), (size,), flat_from)


def _param(spec: dict, key: str, default=None):
    if key not in spec or spec[key] is None:
        if default is None:
            raise KeyError(key)
        return default
    return spec[key]


def _neuron(fn):
    """Wrap a neuron converter: missing parameters become one clear error."""

    def wrapper(b: _Builder, name: str, spec: dict, x: _Tensor) -> _Tensor:
        try:
            node = fn(b, name, spec, x)
        except KeyError as exc:
            raise BadInputError(f"{b.source}: {_text(spec['type'])} node {name!r} lacks its parameter {exc.args[0]!r}")
        return _Tensor(b.add(node), x.shape, x.flat_from)

    return wrapper


def _params(b: _Builder, name: str, spec: dict, x: _Tensor):
    """p(key, default) -> the parameter in IR layout; missing required ones raise KeyError."""

    def p(key: str, default=None):
        return b.to_ir(_param(spec, key, default), x, f"{name}.{key}")

    return p


def _checked(b: _Builder, name: str, fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except BadInputError as exc:
        raise BadInputError(f"{b.source}: {name}: {exc}")


@nir_node("IF")
@_neuron
def _if(b, name, spec, x):
    p = _params(b, name, spec, x)
    return ir.IF(
        name, (x.name,), v_threshold=_f32(p("v_threshold")), v_reset=_f32(p("v_reset", 0.0)), reset="value",
        fire_at_threshold=False, gain=_checked(b, name, integrator_gain, p("r"), b.dt),
    )


@nir_node("LIF")
@_neuron
def _lif(b, name, spec, x):
    p = _params(b, name, spec, x)
    coefficients = _checked(b, name, lif_coefficients, p("tau"), p("r"), p("v_leak", 0.0), b.dt)
    return ir.LIF(name, (x.name,), v_threshold=_f32(p("v_threshold")), v_reset=_f32(p("v_reset", 0.0)), **coefficients)


@nir_node("LI")
@_neuron
def _li(b, name, spec, x):
    p = _params(b, name, spec, x)
    return ir.LI(name, (x.name,), **_checked(b, name, lif_coefficients, p("tau"), p("r"), p("v_leak", 0.0), b.dt))


def _cuba(b, name, spec, x):
    p = _params(b, name, spec, x)
    synapse = _checked(b, name, synapse_coefficients, p("tau_syn"), p("w_in", 1.0), b.dt)
    membrane = _checked(b, name, lif_coefficients, p("tau_mem"), p("r"), p("v_leak", 0.0), b.dt, "tau_mem")
    return {**synapse, **membrane}, p


@nir_node("CubaLIF")
@_neuron
def _cuba_lif(b, name, spec, x):
    fields, p = _cuba(b, name, spec, x)
    return ir.CubaLIF(name, (x.name,), v_threshold=_f32(p("v_threshold")), v_reset=_f32(p("v_reset", 0.0)), **fields)


@nir_node("CubaLI")
@_neuron
def _cuba_li(b, name, spec, x):
    fields, _ = _cuba(b, name, spec, x)
    return ir.CubaLI(name, (x.name,), **fields)


@nir_node("I")
@_neuron
def _integrator(b, name, spec, x):
    p = _params(b, name, spec, x)
    return ir.Integrator(name, (x.name,), gain=_checked(b, name, integrator_gain, p("r"), b.dt))


@nir_node("Threshold")
@_neuron
def _threshold(b, name, spec, x):
    p = _params(b, name, spec, x)
    return ir.Threshold(name, (x.name,), v_threshold=_f32(p("threshold")))
