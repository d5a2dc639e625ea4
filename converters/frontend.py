"""What every frontend (Keras, ONNX, NIR) shares: a registry of converters keyed by the source's
op names, a builder that collects IR nodes, and the clean-up passes run on every imported graph.

A frontend registers one function per source op (``@REGISTRY.register("Conv2D")``, optionally
with the op version whose semantics it implements), walks the source graph in order, calls the
converter of each op with its builder, and ends with ``finish``: the IR graph is built (shapes
inferred, so a graph that exists is consistent) and ``PASSES`` run on it, the same list for
every format.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

from npukit import ir
from npukit.ir.graph import ordering_inputs
from npukit.errors import UnsupportedError
from npukit.passes.fold_batchnorm import fold_batchnorm
from npukit.passes.fold_constants import fold_constants
from npukit.passes.fold_shuffles import fold_shuffles
from npukit.passes.fuse_gelu import fuse_gelu
from npukit.passes.recurrence import settle_delays

#: run on every imported graph, in order: GELU written with erf into one node, channel shuffles
#: (Reshape / Transpose chains) into one channel permutation, constants (Scale/Offset after a
#: weighted layer) into its weights, inference BatchNorm into the layer before it, recurrent
#: delays next to the neuron layers they delay (``npukit.passes.recurrence``)
PASSES: tuple[Callable[[ir.Graph], ir.Graph], ...] = (fuse_gelu, fold_shuffles, fold_constants, fold_batchnorm, settle_delays)


@dataclass
class Value:
    """What flows along an edge of the source graph: an IR node (``name``) or a constant (``const``).

    ``shape`` is the per-sample shape in the source's own layout; ``layout`` "nchw" means a
    channels-first (C, H, W) tensor that the IR holds as (H, W, C) (``npukit.ir.layout``);
    ``flat_from`` is the (C, H, W) a flat vector in IR (HWC) order was flattened from."""

    name: str | None = None
    shape: tuple[int, ...] = ()
    layout: str = "plain"
    flat_from: tuple[int, int, int] | None = None
    const: np.ndarray | None = None
    #: a batch of one flattened whole (ONNX ``Reshape(x, [-1])``, torch's ``as_strided``): the
    #: ONNX tensor has no batch axis; ``shape`` is its only axis
    batchless: bool = False


class Registry:
    """Source op name -> the function converting it (and the op version it implements)."""

    def __init__(self, what: str):
        self.what = what  # how errors call a source op: "Keras layer", "ONNX op", "NIR node"
        self.converters: dict[str, Callable] = {}
        self.versions: dict[str, int] = {}

    def register(self, *names: str, version: int | None = None) -> Callable[[Callable], Callable]:
        def decorate(fn: Callable) -> Callable:
            for name in names:
                if name in self.converters:
                    raise ValueError(f"{self.what} {name} is registered twice")
                self.converters[name] = fn
                if version is not None:
                    self.versions[name] = version
            return fn

        return decorate

    def __contains__(self, name: str) -> bool:
        return name in self.converters

    def __getitem__(self, name: str) -> Callable:
        return self.converters[name]

    def supported(self, extra: Iterable[str] = ()) -> list[str]:
        """The source op names this frontend converts (``extra``: ops handled outside the registry)."""
        return sorted(set(self.converters) | set(extra))

    def refusal(self, name: str, where: str, extra: Iterable[str] = ()) -> UnsupportedError:
        """The error for an op without a converter; ``where`` names the instance in the model."""
        return UnsupportedError(f"{where}: {self.what} {name} is not supported; supported: {', '.join(self.supported(extra))}")

    def check_all(self, found: Iterable[tuple[str, str]], extra: Iterable[str] = (), source: str = "") -> None:
        """Scan a model's ops before converting any: ``found`` holds (op name, where it occurs)
        for every op of the model. Raises one ``UnsupportedOpsError`` naming every op without
        a converter, each with where it occurs."""
        extra = set(extra)
        missing = [(name, where) for name, where in found if name not in self.converters and name not in extra]
        if missing:
            raise UnsupportedOpsError(self, missing, sorted(extra), source)


class UnsupportedOpsError(UnsupportedError):
    """The ops of a model that its frontend does not convert, all of them: ``ops`` is a list of
    {"op", "where"} (``npukit inspect`` lists them), ``supported`` what the frontend takes."""

    def __init__(self, registry: Registry, missing: list[tuple[str, str]], extra: list[str], source: str = ""):
        self.ops = [{"op": name, "where": where} for name, where in missing]
        self.supported = registry.supported(extra)
        places: dict[str, list[str]] = {}
        for name, where in missing:
            places.setdefault(name, []).append(where)
        listed = "; ".join(
            f"{name} ({', '.join(wheres[:5])}{f' and {len(wheres) - 5} more' if len(wheres) > 5 else ''})"
            for name, wheres in places.items()
        )
        prefix = f"{source}: " if source else ""
        if len(missing) == 1:  # the wording of a single refusal (Registry.refusal)
            (name, where), = missing
            message = f"{prefix}{where}: {registry.what} {name} is not supported"
        else:
            kinds = f"{len(places)} {registry.what}{'s' if len(places) > 1 else ''}"
            message = f"{prefix}{kinds} not supported ({len(missing)} in the model): {listed}"
        super().__init__(f"{message}; supported: {', '.join(self.supported)}")


class Builder:
    """Collects IR nodes while a source model is converted; infers each node's shape as it is
    added, so a converter can read the shapes of what it built."""

    def __init__(self, source: str):
        self.source = source  # the file (or "<in memory>") errors name
        self.nodes: list[ir.Node] = []
        self.shapes: dict[str, tuple[int, ...]] = {}
        #: in a recurrent model (the IR holds one step): the nodes holding one step of a
        #: sequence; the others hold the last step's value (``converters/keras_recurrent.py``)
        self.sequence: set[str] = set()

    def add(self, node: ir.Node) -> str:
        self.shapes[node.name] = tuple(node.output_shape([self.shapes[i] for i in ordering_inputs(node)]))
        self.nodes.append(node)
        return node.name

    def unique(self, name: str) -> str:
        """``name``, or ``name.1``, ``name.2``... if a node already has it."""
        base = name = name or "node"
        if name not in self.shapes:
            return name
        # the suffixes below the last one handed out are taken: resume there (linear, not
        # quadratic, in the number of nodes sharing one name; the same names as counting from 1)
        counters = self.__dict__.setdefault("_unique_last", {})
        k = counters.get(base, 1)
        while (name := f"{base}.{k}") in self.shapes:
            k += 1
        counters[base] = k
        return name

    def finish(self, output: str, meta: dict[str, Any]) -> ir.Graph:
        """The IR graph of the nodes that reach ``output`` (a Split part nobody reads is dropped;
        found by a walk over inputs, so a recurrent Delay added before the cycle it reads keeps
        that cycle), after the shared clean-up ``PASSES``."""
        from npukit.ir.graph import contributing

        needed = contributing(self.nodes, output)
        used = [n for n in self.nodes if n.name in needed or isinstance(n, ir.Input)]
        graph = ir.Graph(used, output, meta)
        for clean_up in PASSES:
            graph = clean_up(graph)
        return graph
