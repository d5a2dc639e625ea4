"""NIR frontend: Neuromorphic Intermediate Representation graphs (.nir, HDF5) -> npukit IR.

Nodes: Input, Output, Affine, Linear, Scale, Conv2d, Flatten, SumPool2d, AvgPool2d, IF, LIF,
LI, CubaLIF, CubaLI, I, Threshold (``supported_nodes()``). Several edges into one node add up.

Time and neuron semantics: NIR neurons are continuous-time equations and a graph carries no dt,
no reset other than to a value and no spike count. ``framework`` selects the convention of the
framework that exported the graph (``npukit.snn.frameworks``: its dt, its discretization, how
it fires and resets); the default ``nir`` is NIR's equations under forward Euler with step
``dt`` (default 1e-4 s, snnTorch's exporter's). ``dt`` and ``reset`` override the convention.
See ``npukit.ir.neurons`` for the per-step forms and docs/nir.md for each framework. A per-step
coefficient within 1e-6 of 1 is taken as exactly 1: exporters compute r = tau/dt (and w_in =
tau_syn/dt) in float32, and the product dt * r / tau they mean is 1.

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
The state of each delay (a Delay node of k steps, a recurrent edge's one step: k float32 values
per element of its tensor) is charged to the same budget, and k is at most ``MAX_TIMESTEPS``
(``NirBuilder.delay_state``).

Recurrence: cycles through any number of nodes (``nir_graph.order`` finds the edges closing
them); each such edge carries its source's value of the previous step (an IR ``Delay`` added
before the nodes of the cycle it reads), docs/nir.md.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from npukit import ir
from npukit.converters.frontend import Builder, Registry, Value
from npukit.converters.nir_graph import edge_list, flatten, kind_of, order, text as _text
from npukit.errors import BadInputError, UnsupportedError
from npukit.ir.layout import conv_weight_to_ir, depthwise_weight_to_ir, hwc, hwc_order, values_to_ir
from npukit.snn.euler import exp_coefficients, exp_decay, integrator_gain, lif_coefficients, synapse_coefficients, unit
from npukit.snn.frameworks import convention
from npukit.validation import MAX_TIMESTEPS

DEFAULT_DT = 1e-4
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"

#: NIR node type -> converter(builder, node name, spec, input value) -> output value
NODES = Registry("NIR node")
nir_node = NODES.register


def supported_nodes() -> list[str]:
    return NODES.supported({"Input", "Output"})


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

    def __iter__(self):
        # defined here so that {**group} and dict(group) go through __getitem__ (CPython copies
        # a dict subclass's raw values when it keeps dict's own iterator)
        return super().__iter__()

    def copy(self) -> dict:
        return {key: self[key] for key in self}

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


def load_nir(path: str | Path, dt: float | None = None, framework: str | None = None, reset: str | None = None,
             budget=None) -> ir.Graph:
    """Load a .nir file into the IR, with the neuron convention of ``framework`` (default
    ``nir``), stepping by ``dt`` seconds (default: the framework's) and ``reset`` overriding
    its reset ("value", "zero", "subtract", "none"); what it reads is charged to ``budget``
    (``npukit.budget.LoadBudget``)."""
    from npukit.budget import LoadBudget

    budget = budget or LoadBudget(str(path))
    raw, typed = read_nir_file(path, budget)
    graph = graph_from_dict(raw, dt, str(path), framework, reset, budget)
    graph.meta.update({"source_format": "nir", "nir_typed_reader": typed})
    return graph


def from_nir_graph(graph, dt: float | None = None, framework: str | None = None, reset: str | None = None,
                   budget=None) -> ir.Graph:
    """Convert an in-memory ``nir.NIRGraph`` (arguments as ``load_nir``; its delays' state is
    charged to ``budget``, default a new ``LoadBudget``)."""
    return graph_from_dict(graph.to_dict(), dt, "<nir graph>", framework, reset, budget)


# -- graph conversion -----------------------------------------------------------------------------


class NirBuilder(Builder):
    """The frontend builder, with the framework's neuron convention, the step ``dt`` (seconds)
    and the load budget its delays' state is charged to."""

    def __init__(self, dt: float | None, source: str, framework: str | None = None, reset: str | None = None,
                 budget=None):
        from npukit.budget import LoadBudget

        self.convention = convention(framework, reset)
        dt = self.convention.dt if dt is None else dt
        if not (isinstance(dt, (int, float)) and not isinstance(dt, bool) and math.isfinite(dt) and dt > 0):
            raise BadInputError(f"dt must be a positive number of seconds. Received: {dt!r}")
        super().__init__(source)
        self.dt = float(dt)
        self.looped: set[str] = set()  # NIR nodes on a recurrent loop
        self.budget = budget or LoadBudget(source)

    def delay_state(self, name: str, steps: float, shape: tuple[int, ...]) -> int:
        """Charge the state of a delay of ``steps`` steps on a tensor of ``shape`` to the load
        budget: ``steps`` float32 tensors of that shape, the values it holds (the temporal
        TFLite model carries them as ``steps`` state tensors, the simulators as a history).
        At most ``MAX_TIMESTEPS`` steps, the longest run any command makes: a longer delay
        would only ever output its initial value. Returns the steps as an int."""
        size = math.prod(shape)
        nbytes = float(steps) * size * 4
        if not math.isfinite(nbytes) or steps > MAX_TIMESTEPS:
            raise BadInputError(
                f"{self.source}: Delay node {name!r} asks for {float(steps):,.0f} steps of {size:,} float32 values "
                f"({nbytes:,.0f} bytes of state); a delay is at most {MAX_TIMESTEPS:,} steps (the longest run) "
                f"and within the load budget of {self.budget.limit:,} bytes"
            )
        self.budget.charge(int(nbytes), f"Delay node {name!r} ({int(steps):,} steps of {size:,} float32 values of state)")
        return int(steps)

    def membrane(self, name: str, tau, r, v_leak, what: str = "tau") -> dict[str, np.ndarray]:
        """decay, gain and leak of a leaky membrane under the convention's discretization."""
        tau = np.asarray(tau, np.float64) * self.convention.tau_scale
        if self.convention.membrane == "exp":
            return _checked(self, name, exp_coefficients, tau, r, v_leak, self.dt, what, self.convention.exp_input)
        return _checked(self, name, lif_coefficients, tau, r, v_leak, self.dt, what)

    def synapse(self, name: str, tau_syn, w_in) -> dict[str, np.ndarray]:
        """syn_decay and syn_gain of a synaptic current under the convention."""
        tau_syn = np.asarray(tau_syn, np.float64) * self.convention.tau_scale
        w_in = np.asarray(w_in, np.float64)
        if self.convention.synapse == "exp":  # the input decays with the current in its step
            decay = _checked(self, name, exp_decay, tau_syn, self.dt, "tau_syn")
            return {"syn_decay": decay, "syn_gain": (decay * w_in).astype(np.float32)}
        coefficients = _checked(self, name, synapse_coefficients, tau_syn, w_in, self.dt)
        if self.convention.synapse == "jump":  # the input is added to the current as is
            coefficients["syn_gain"] = unit(w_in).astype(np.float32)
        return coefficients

    def integrator_gain(self, name: str, r) -> np.ndarray:
        """The gain of an IF or I membrane: dt r (Euler) or r (an input added as is)."""
        if self.convention.integrate == "jump":
            return unit(np.asarray(r, np.float64)).astype(np.float32)
        return _checked(self, name, integrator_gain, r, self.dt)

    def v_init(self, p) -> dict[str, np.ndarray]:
        """The initial membrane the convention starts from (0, v_leak or v_reset)."""
        if self.convention.v_init == "zero":
            return {}
        return {"v_init": _f32(p(self.convention.v_init, 0.0))}

    def to_ir(self, value, t: Value, what: str) -> np.ndarray:
        """A per-element parameter of the tensor ``t`` (NIR layout) in the IR's layout."""
        value = np.asarray(value, dtype=np.float64)
        if value.ndim == 2 and len(t.shape) == 3 and t.shape[1] == 1 and value.shape == (t.shape[0], t.shape[2]):
            value = value[:, None, :]  # a 1-D layer's (C, L) parameters, held as (C, 1, L)
        try:
            return values_to_ir(value, t.shape, t.flat_from)
        except ValueError:
            raise BadInputError(f"{self.source}: {what} has shape {np.shape(value)}, the layer has shape {t.shape}")


def _f32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def graph_from_dict(raw: dict[str, Any], dt: float | None, source: str, framework: str | None = None,
                    reset: str | None = None, budget=None) -> ir.Graph:
    """Convert a NIR graph given as plain dicts (``NIRGraph.to_dict()`` or the HDF5 contents);
    the state of its delays is charged to ``budget`` (``NirBuilder.delay_state``)."""
    b = NirBuilder(dt, source, framework, reset, budget)
    if not isinstance(raw, dict) or "nodes" not in raw:
        raise BadInputError(f"{source}: not a NIR graph (no nodes)")
    specs, edges = flatten({str(k): v for k, v in raw["nodes"].items()}, edge_list(raw.get("edges")), source)
    NODES.check_all([(kind_of(spec), f"node {name!r}") for name, spec in specs.items()], {"Input", "Output"}, source)
    for a, c in edges:
        for end in (a, c):
            if end not in specs:
                raise BadInputError(f"{source}: an edge names {end!r}, which is not a node")
    inputs = [n for n, s in specs.items() if _text(s["type"]) == "Input"]
    outputs = [n for n, s in specs.items() if _text(s["type"]) == "Output"]
    if len(inputs) != 1 or len(outputs) != 1:
        raise UnsupportedError(f"{source}: graphs with {len(inputs)} inputs and {len(outputs)} outputs are not supported (one each)")
    sequence, recurrent, b.looped = order(specs, edges, inputs[0], source)
    preds = {n: [a for a, c in edges if c == n and (a, c) not in recurrent] for n in specs}
    delayed = {n: [a for a, c in recurrent if c == n] for n in specs}
    values: dict[str, Value] = {}
    pending: list[tuple[ir.Delay, str]] = []  # a recurrent edge's Delay, and the NIR node it reads
    for name in sequence:
        spec = specs[name]
        kind = _text(spec["type"])
        if kind == "Input":
            shape = tuple(int(d) for d in np.asarray(spec.get("shape", spec.get("input_type", [])), dtype=np.int64).reshape(-1))
            if not shape or min(shape) <= 0:
                raise BadInputError(f"{source}: the Input node needs a static shape. Received: {shape}")
            if len(shape) == 2:  # a 1-D signal (C, L): input (L, C), held as the image (1, L, C) (C, 1, L in NIR's order)
                c, length = shape
                node = b.add(ir.Input(name, (), shape=(length, c)))
                values[name] = Value(b.add(ir.Reshape(f"{name}.as_image", (node,), shape=(1, length, c))), (c, 1, length), "nchw")
                continue
            values[name] = Value(b.add(ir.Input(name, (), shape=hwc(shape))), shape, "nchw" if len(shape) == 3 else "plain")
            continue
        if not preds[name]:
            what = "only recurrent inputs" if delayed[name] else "no incoming edge"
            raise BadInputError(f"{source}: node {name!r} has {what}")
        incoming = [values[p] for p in preds[name]]
        for a in delayed[name]:  # the value of a at the previous step, shaped like the feed-forward input
            ref = incoming[0]
            delay_name = b.unique(f"{a}.delayed")
            b.delay_state(delay_name, 1, b.shapes[ref.name])
            delay = ir.Delay(delay_name, (a,), shape=b.shapes[ref.name])
            pending.append((delay, a))
            incoming.append(Value(b.add(delay), ref.shape, ref.layout, ref.flat_from))
        x = incoming[0] if len(incoming) == 1 else _sum(b, name, incoming, source)
        if kind == "Output":
            values[name] = x
            continue
        values[name] = NODES[kind](b, name, spec, x)
    for delay, a in pending:  # the sources exist now
        delay.inputs = (values[a].name,)
    output = values[outputs[0]]
    meta = {
        "nir": {
            "dt": b.dt,
            "framework": b.convention.name,
            "input_shape_chw": list(values[inputs[0]].shape),
            "output_node": output.name,
        },
        "input_layout": _input_layout(specs[inputs[0]]),
        "framework": b.convention.name,
    }
    return b.finish(output.name, meta)


def _input_layout(spec: dict) -> str:
    """How a NIR model's samples may come: CHW images, CL 1-D signals (channels first), plain."""
    rank = np.asarray(spec.get("shape", spec.get("input_type", [])), dtype=np.int64).size
    return {3: "CHW", 2: "CL"}.get(rank, "plain")


def _sum(b: NirBuilder, name: str, xs: list[Value], source: str) -> Value:
    shapes = {x.shape for x in xs}
    if len(shapes) != 1:
        raise BadInputError(f"{source}: node {name!r} receives inputs of different shapes {sorted(shapes)}")
    node = b.add(ir.Add(f"{name}/sum", tuple(x.name for x in xs)))
    return Value(node, xs[0].shape, xs[0].layout, xs[0].flat_from)


# -- node converters ------------------------------------------------------------------------------


@nir_node("Affine", "Linear")
def _affine(b: NirBuilder, name: str, spec: dict, x: Value) -> Value:
    weight = np.asarray(spec["weight"], dtype=np.float32)
    if weight.ndim != 2:
        raise UnsupportedError(f"{b.source}: {name}: weights of rank {weight.ndim} are not supported (2-D only)")
    if len(x.shape) != 1:
        raise BadInputError(f"{b.source}: {name} reads a tensor of shape {x.shape}; Affine takes vectors (add a Flatten)")
    out_features, in_features = weight.shape
    if in_features != x.shape[0]:
        raise BadInputError(f"{b.source}: {name} expects {in_features} inputs, receives {x.shape[0]}")
    kernel = weight.T
    if x.flat_from is not None:  # IR row j (HWC order) is NIR row hwc_order[j] (CHW order)
        kernel = kernel[hwc_order(x.flat_from)]
    bias = np.asarray(spec.get("bias", np.zeros(out_features)), dtype=np.float32).reshape(-1)
    if bias.size == 1:
        bias = np.full(out_features, float(bias[0]), np.float32)
    return Value(b.add(ir.Dense(name, (x.name,), kernel=np.ascontiguousarray(kernel), bias=bias)), (out_features,))


@nir_node("Scale")
def _scale(b: NirBuilder, name: str, spec: dict, x: Value) -> Value:
    scale = b.to_ir(spec["scale"], x, f"{name}.scale")
    return Value(b.add(ir.Scale(name, (x.name,), scale=_f32(scale))), x.shape, x.layout, x.flat_from)


def _pair(value, what: str, source: str) -> tuple[int, int]:
    arr = np.asarray(value).reshape(-1)
    if arr.size == 1:
        arr = np.repeat(arr, 2)
    if arr.size != 2:
        raise BadInputError(f"{source}: {what} must be one or two integers. Received: {value!r}")
    return int(arr[0]), int(arr[1])


def _explicit_padding(b: NirBuilder, name: str, x: Value, pads: tuple[int, int]) -> tuple[str, tuple[int, int, int]]:
    """Insert a Pad2D for symmetric explicit padding; return (IR input name, new CHW shape)."""
    c, h, w = x.shape
    if pads == (0, 0):
        return x.name, x.shape
    node = b.add(ir.Pad2D(f"{name}/pad", (x.name,), pads=((pads[0], pads[0]), (pads[1], pads[1]))))
    return node, (c, h + 2 * pads[0], w + 2 * pads[1])


@nir_node("Conv2d")
def _conv(b: NirBuilder, name: str, spec: dict, x: Value) -> Value:
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
        node = ir.Conv2D(name, (src,), kernel=conv_weight_to_ir(weight), bias=bias, strides=strides, padding=mode, dilation=dilation)
    elif groups == cin and cin_g == 1 and cout % cin == 0:
        node = ir.DepthwiseConv2D(name, (src,), kernel=depthwise_weight_to_ir(weight, cin), bias=bias, strides=strides, padding=mode, dilation=dilation)
    else:
        raise UnsupportedError(f"{b.source}: {name}: grouped convolution with groups={groups} is not supported (1 or depthwise)")
    h, w, _ = b.shapes[b.add(node)]
    return Value(node.name, (cout, h, w), "nchw")


@nir_node("Conv1d")
def _conv1d(b: NirBuilder, name: str, spec: dict, x: Value) -> Value:
    """A 1-D convolution over (C, L), held as a 2-D one over (C, 1, L): CONV_2D with height 1."""
    weight = np.asarray(spec["weight"], dtype=np.float32)
    if weight.ndim != 3:
        raise BadInputError(f"{b.source}: {name}: Conv1d weight must be (C_out, C_in, k). Received: {weight.shape}")
    if len(x.shape) != 3 or x.shape[1] != 1:
        raise BadInputError(f"{b.source}: {name} (Conv1d) reads a tensor of shape {x.shape}; it needs (C, L)")

    def one(value, what: str):
        arr = np.asarray(value).reshape(-1)
        if arr.size != 1:
            raise BadInputError(f"{b.source}: {name}: {what} must be one integer. Received: {value!r}")
        return (1, int(arr[0]))

    padding = spec.get("padding", 0)
    as_2d = {
        **spec, "weight": weight[:, :, None, :], "stride": one(spec.get("stride", 1), "stride"),
        "dilation": one(spec.get("dilation", 1), "dilation"),
        "padding": _text(padding) if isinstance(padding, (str, bytes)) else (0, one(padding, "padding")[1]),
    }
    return _conv(b, name, as_2d, x)


@nir_node("SumPool2d", "AvgPool2d")
def _pool(b: NirBuilder, name: str, spec: dict, x: Value) -> Value:
    if len(x.shape) != 3:
        raise BadInputError(f"{b.source}: {name} (pooling) reads a tensor of shape {x.shape}; it needs (C, H, W)")
    kernel = _pair(spec["kernel_size"], f"{name}.kernel_size", b.source)
    stride = _pair(spec.get("stride", kernel), f"{name}.stride", b.source)
    src, _ = _explicit_padding(b, name, x, _pair(spec.get("padding", 0), f"{name}.padding", b.source))
    cls = ir.SumPool2D if _text(spec["type"]) == "SumPool2d" else ir.AveragePool2D
    node = b.add(cls(name, (src,), pool_size=kernel, strides=stride, padding="valid"))
    h, w, c = b.shapes[node]
    return Value(node, (c, h, w), "nchw")


@nir_node("Flatten")
def _flatten(b: NirBuilder, name: str, spec: dict, x: Value) -> Value:
    if len(x.shape) == 1:
        return Value(b.add(ir.Identity(name, (x.name,))), x.shape, x.layout, x.flat_from)
    size = int(np.prod(x.shape))
    flat_from = x.shape if len(x.shape) == 3 else None
    return Value(b.add(ir.Flatten(name, (x.name,))), (size,), flat_from=flat_from)


def _param(spec: dict, key: str, default=None):
    if key not in spec or spec[key] is None:
        if default is None:
            raise KeyError(key)
        return default
    return spec[key]


def _neuron(fn):
    """Wrap a neuron converter: missing parameters become one clear error."""

    def wrapper(b: NirBuilder, name: str, spec: dict, x: Value) -> Value:
        try:
            node = fn(b, name, spec, x)
        except KeyError as exc:
            raise BadInputError(f"{b.source}: {_text(spec['type'])} node {name!r} lacks its parameter {exc.args[0]!r}")
        return Value(b.add(node), x.shape, x.layout, x.flat_from)

    return wrapper


def _params(b: NirBuilder, name: str, spec: dict, x: Value):
    """p(key, default) -> the parameter in IR layout; missing required ones raise KeyError."""

    def p(key: str, default=None):
        return b.to_ir(_param(spec, key, default), x, f"{name}.{key}")

    p.tensor = x  # the layer's value: its shape and layout, for parameters read elsewhere
    p.node = name
    return p


def _checked(b: NirBuilder, name: str, fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except BadInputError as exc:
        raise BadInputError(f"{b.source}: {name}: {exc}")


def _spiking(b: NirBuilder, neuron: str, spec: dict, p) -> dict:
    """Threshold, reset and spike fields of a spiking neuron: the framework's convention, then
    what npukit's own NIR export recorded in the node's metadata (``npukit.*`` keys)."""
    theta = _f32(p("v_threshold"))
    fields = {"v_threshold": theta, "v_reset": _f32(p("v_reset", 0.0)), "reset": "value",
              **b.convention.spiking(theta, neuron, p.node in b.looped)}
    if b.convention.v_init != "zero":  # an IF neuron has no v_leak: Norse starts it at v_reset
        fields["v_init"] = fields["v_reset"] if neuron == "IF" or b.convention.v_init == "v_reset" else _f32(p("v_leak", 0.0))
    return {**fields, **_recorded(b, spec, p)}


#: the npukit.* metadata keys of npukit's NIR export (converters/nir_export.py) and their types
_RECORDED = {"reset": str, "reset_timing": str, "max_spikes": int, "fire_at_threshold": bool, "v_min": None, "v_init": None}


def _recorded(b: NirBuilder, spec: dict, p) -> dict:
    metadata = spec.get("metadata") if isinstance(spec.get("metadata"), dict) else {}
    out = {}
    for key, kind in _RECORDED.items():
        value = metadata.get(f"npukit.{key}")
        if value is None:
            continue
        if kind is None:  # per-neuron arrays, in NIR's layout
            out[key] = _f32(b.to_ir(value, p.tensor, f"npukit.{key}"))
        else:
            out[key] = kind(_text(value) if kind is str else np.asarray(value).item())
    return out


@nir_node("IF")
@_neuron
def _if(b, name, spec, x):
    p = _params(b, name, spec, x)
    return ir.IF(name, (x.name,), gain=b.integrator_gain(name, p("r")), **_spiking(b, "IF", spec, p))


@nir_node("LIF")
@_neuron
def _lif(b, name, spec, x):
    p = _params(b, name, spec, x)
    return ir.LIF(name, (x.name,), **b.membrane(name, p("tau"), p("r"), p("v_leak", 0.0)), **_spiking(b, "LIF", spec, p))


@nir_node("LI")
@_neuron
def _li(b, name, spec, x):
    p = _params(b, name, spec, x)
    return ir.LI(name, (x.name,), **b.membrane(name, p("tau"), p("r"), p("v_leak", 0.0)), **b.v_init(p))


def _cuba(b, name, spec, x):
    p = _params(b, name, spec, x)
    synapse = b.synapse(name, p("tau_syn"), p("w_in", 1.0))
    membrane = b.membrane(name, p("tau_mem"), p("r"), p("v_leak", 0.0), "tau_mem")
    return {**synapse, **membrane}, p


@nir_node("CubaLIF")
@_neuron
def _cuba_lif(b, name, spec, x):
    fields, p = _cuba(b, name, spec, x)
    return ir.CubaLIF(name, (x.name,), **fields, **_spiking(b, "CubaLIF", spec, p))


@nir_node("CubaLI")
@_neuron
def _cuba_li(b, name, spec, x):
    fields, p = _cuba(b, name, spec, x)
    return ir.CubaLI(name, (x.name,), **fields, **b.v_init(p))


@nir_node("I")
@_neuron
def _integrator(b, name, spec, x):
    p = _params(b, name, spec, x)
    return ir.Integrator(name, (x.name,), gain=b.integrator_gain(name, p("r")))


@nir_node("Delay")
def _delay(b: NirBuilder, name: str, spec: dict, x: Value) -> Value:
    """NIR's y(t) = x(t - delay): a whole number of steps of dt, one for the whole layer."""
    delay = np.asarray(_param(spec, "delay", np.zeros(1)), np.float64).reshape(-1)
    if delay.size == 0 or not np.all(np.isfinite(delay)):
        raise BadInputError(f"{b.source}: {name}: the delay must be finite numbers")
    if np.any(delay < 0):
        raise BadInputError(f"{b.source}: {name}: a delay cannot be negative. Received: min {delay.min():g}")
    with np.errstate(over="ignore"):
        steps = delay / b.dt
    b.delay_state(name, float(np.rint(np.max(steps))), b.shapes[x.name])  # refuses a delay too long to hold
    whole = np.rint(steps)
    if np.any(np.abs(steps - whole) > 1e-6 * np.maximum(whole, 1)):
        raise UnsupportedError(f"{b.source}: {name}: a delay of {delay.max():g} is not a whole number of steps of dt={b.dt:g}")
    if np.ptp(whole) != 0:
        raise UnsupportedError(f"{b.source}: {name}: delays that differ between neurons are not supported (one delay per layer)")
    k = int(whole[0])
    if k == 0:
        return Value(b.add(ir.Identity(name, (x.name,))), x.shape, x.layout, x.flat_from)
    return Value(b.add(ir.Delay(name, (x.name,), shape=b.shapes[x.name], steps=k)), x.shape, x.layout, x.flat_from)


@nir_node("Threshold")
@_neuron
def _threshold(b, name, spec, x):
    p = _params(b, name, spec, x)
    return ir.Threshold(name, (x.name,), v_threshold=_f32(p("threshold")))
