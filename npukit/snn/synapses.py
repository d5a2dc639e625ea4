"""The synaptic input of a weighted layer that reads spikes, as both simulators compute it.

A Dense, Conv2D or DepthwiseConv2D node in the temporal region whose input is spike-valued
(``npukit.snn.plan``: integers times a power-of-two unit) computes, for each input row,

    current = float32(exact sum of input x weight) + bias           (bias added in float32)

with the sum exact in float64 (``npukit.kernels.exact``: weight bands, input digits). Each call
picks a path from the density it measures on its input (the cost model below): event-driven,
where only the active inputs are visited (the compiled kernel ``npukit.kernels.events_jit``, or
scipy's sparse product without numba or with NPUKIT_NO_JIT=1), or dense float64 GEMMs. All
give the same bits, whatever the batch, the number of steps per call or the chunking, so the
time-folded simulator (all T steps in one call) equals the step loop (one call per step) spike
for spike.

Each layer also counts its synaptic operations from the input it really receives: every input
spike (a count k is k spikes; an input of value x holds x / unit spikes) times the number of
synapses leaving that input element (its exact fan-out: padding, borders and strides included).
"""

from __future__ import annotations

import functools
import os

import numpy as np

from npukit import ir
from npukit.kernels import events as kernels
from npukit.kernels.exact import MAX_BOUND, ConvGeometry, combine, combine_bands, digits, split_bands
from npukit.kernels.parallel import run_shards

#: set to 1 to use the scipy event path even where numba is installed (same bits, slower)
NO_JIT_ENV = "NPUKIT_NO_JIT"

#: cost model of the path choice (ns), fitted to timings of both paths on nine layer shapes at
#: densities 2-25% on a 2-core AMD EPYC (docs/snn.md; noisy: a shared machine): the event path
#: costs EVENT_ENTRY_NS + EVENT_COLUMN_NS x N per (active input, kernel offset) entry, N the
#: columns it updates, plus SCAN_NS per input value; the dense path GEMM_MAC_NS x (1 + GEMM_NARROW
#: / N) per multiply-accumulate (float64 BLAS slows down on narrow outputs) plus IM2COL_NS per
#: im2col value.
#: Only speed depends on the choice: both paths give the same bits.
EVENT_ENTRY_NS = 20.0
EVENT_COLUMN_NS = 0.35
#: The compiled kernel (``npukit.kernels.events_jit``) uses the same constants, counting only the
#: entries that land on the output (it visits no others). Its entries cost less (5-17 ns for 8-32
#: columns, 25-60 ns for 128-256, timed on ten layer shapes on the busy machine), but the dense
#: constants overestimate this machine's float64 GEMMs on the digits CNN by a similar factor, and
#: with these constants the break-even stays where both paths measured equal there (40-50%
#: nonzero inputs: conv2 and fc1 stay on the dense path).
#: the compiled kernel's row ranges per worker thread (load balance on a shared machine)
JIT_SHARDS_PER_WORKER = 4
SCAN_NS = 1.0
GEMM_MAC_NS = 0.1
GEMM_NARROW = 200.0
IM2COL_NS = 2.0
#: float64 output buffer per chunk of rows (event path: 2 MiB measured best among 512 KiB - 8 MiB
#: on the benchmark workloads; dense path: im2col input and output together)
EVENT_CHUNK_BYTES = 2 << 20
DENSE_CHUNK_BYTES = 4 << 20
#: event path: at most this many (active input, kernel offset) entries per chunk; each takes about
#: ENTRY_BYTES in index, value and temporary arrays
EVENT_CHUNK_ENTRIES = 1 << 17
ENTRY_BYTES = 40
#: the most memory the chunk buffers of one call take, whatever the batch (npukit.snn.memory)
CHUNK_WORK_BYTES = max(2 * DENSE_CHUNK_BYTES, EVENT_CHUNK_BYTES + ENTRY_BYTES * EVENT_CHUNK_ENTRIES)


@functools.lru_cache(maxsize=1)
def _events_jit():
    try:  # numba is a dependency, but the scipy path keeps working without it
        from npukit.kernels import events_jit
    except ImportError:
        return None
    return events_jit


def event_kernel() -> str:
    """The event path's kernel a new ``Synapses`` uses: "jit" (``npukit.kernels.events_jit``,
    numba) unless numba cannot be imported or the environment sets NPUKIT_NO_JIT=1, then
    "scipy" (``npukit.kernels.events``). Both give the same bits."""
    if os.environ.get(NO_JIT_ENV, "") == "1" or _events_jit() is None:
        return "scipy"
    return "jit"


class Synapses:
    """One weighted layer reading spike-valued input: integers times ``unit``, expected to be at
    most ``bound`` units (larger values are split into digits: slower, same results).
    ``kernel``: the event path's kernel, "jit" or "scipy" (default: ``event_kernel()``)."""

    def __init__(self, node: ir.Node, in_shape: tuple[int, ...], unit: float, bound: int = MAX_BOUND,
                 kernel: str | None = None):
        self.node, self.unit, self.bound = node, float(unit), int(bound)
        self.kernel = kernel or event_kernel()
        if self.kernel == "jit" and _events_jit() is None:
            raise ImportError("the jit event kernel needs numba (pip install numba)")
        self.bias = np.asarray(node.bias, np.float32)
        self.depthwise = isinstance(node, ir.DepthwiseConv2D)
        self.fan_out = fan_out(node, in_shape)
        inputs = self.fan_out.size
        jit = _events_jit() if self.kernel == "jit" else None
        if isinstance(node, ir.Dense):
            self.bands = split_bands(node.kernel, (0,), self.bound)
            k, n = self.bands.kernel.shape
            self.out_shape = (node.kernel.shape[1],)
            reach, macs, im2col, columns = 1.0, k * n, 0, n
            event_row_bytes, dense_row_bytes = 8 * n, 8 * (k + n)
            if jit:
                self.table, self.weights = jit.dense_table(inputs), self.bands.kernel
        else:
            self.geometry = g = ConvGeometry(in_shape, node.kernel.shape[:2], node.strides, node.dilation, node.padding)
            self.bands = split_bands(node.kernel, (0, 1) if self.depthwise else (0, 1, 2), self.bound, self.depthwise)
            kh, kw, c, n = self.bands.kernel.shape
            self.out_shape = (g.oh, g.ow, node.bias.shape[0])
            columns, out_width = n, n * (c if self.depthwise else 1)
            if jit:  # the scipy kernel's index arrays are not built
                self.table = jit.conv_table(g, self.depthwise)
                self.weights = np.ascontiguousarray(self.bands.kernel.reshape(kh * kw * c, n))
                reach = len(self.table.target) / (g.h * g.w)
            else:
                self.events = kernels.ConvEvents(g, self.bands.kernel, self.depthwise, self.fan_out)
                reach = float(self.events.reach.mean())
            if self.depthwise:
                macs, im2col = g.positions * kh * kw * c * n, 0
            elif kernels.uses_conv_matrix(g, self.bands.kernel.shape):
                macs, im2col, n = inputs * g.positions * n, 0, g.positions * n
            else:
                macs, im2col = g.positions * kh * kw * c * n, g.positions * kh * kw * c
            event_row_bytes = 8 * (g.positions + 1) * out_width
            dense_row_bytes = 8 * (max(im2col, inputs) + g.positions * out_width)
        self.event_entries_per_row = inputs * reach  # at density 1
        self.event_entry_ns = EVENT_ENTRY_NS + EVENT_COLUMN_NS * columns
        self.dense_ns_per_row = GEMM_MAC_NS * (1 + GEMM_NARROW / n) * macs + IM2COL_NS * im2col
        self.scan_ns_per_row = SCAN_NS * inputs
        self.chunk_rows = {
            "event": max(1, EVENT_CHUNK_BYTES // event_row_bytes),
            "dense": max(1, DENSE_CHUNK_BYTES // dense_row_bytes),
        }
        if jit:
            self.extra = np.concatenate([np.zeros(0, np.int64), *self.bands.columns]).astype(np.int64)
            self.bias_rows = self.bias.reshape(self.geometry.c if self.depthwise else 1, -1)
        self.sops = 0.0  # synaptic operations so far
        self.rows = {"event": 0, "dense": 0}  # input rows (sample x step) per path so far

    def max_event_density(self) -> float:
        """The input density (nonzero fraction) up to which the event path is expected to be faster."""
        dense = max(0.0, self.dense_ns_per_row - self.scan_ns_per_row)
        return dense / (self.event_entries_per_row * self.event_entry_ns)

    def __call__(self, x: np.ndarray, path: str | None = None) -> np.ndarray:
        """The float32 synaptic input for x (rows, *in_shape); ``path`` forces "event" or "dense"."""
        rows = x.shape[0]
        density = np.count_nonzero(x) / max(x.size, 1)
        if path is None:
            path = "event" if density <= self.max_event_density() else "dense"
        out = np.empty((rows,) + self.out_shape, np.float32)
        if path == "event" and self.kernel == "jit":
            self.rows[path] += rows
            self.sops += self._jit_events(x, out) / self.unit
            return out
        step = self.chunk_rows[path]
        if path == "event":  # bound the entries of a chunk too
            step = max(1, min(step, int(EVENT_CHUNK_ENTRIES / max(density * self.event_entries_per_row, 1.0))))
        sops = 0.0
        for lo in range(0, rows, step):
            chunk = x[lo : lo + step]
            partials = []
            for scale, part in digits(chunk, self.unit, self.bound):
                partial, part_sops = self._main(part, path)
                partials.append((scale, partial))
                sops += scale * part_sops
            total = combine(partials)
            if self.depthwise:  # (rows, OH, OW, C, bands x M)
                total = total.reshape(total.shape[:3] + (self.geometry.c, -1))
            out[lo : lo + step] = combine_bands(total, self.bands).reshape((-1,) + self.out_shape)  # one rounding
            out[lo : lo + step] += self.bias
        self.rows[path] += rows
        self.sops += sops / self.unit
        return out

    def _jit_events(self, x: np.ndarray, out: np.ndarray) -> float:
        """The event path by the compiled kernel, into out; returns synaptic operations x unit."""
        jit, t = _events_jit(), self.table
        x2 = jit.as_input(x)
        out2 = out.reshape(-1, self.bias_rows.shape[1])
        args = (t.start, t.target, t.offset, t.channels, t.target_mult, t.channel_mult, t.rows_per_frame,
                self.weights, self.fan_out)
        # one part (digits) when no value exceeds the bound: always for uint8 spikes under bound 255
        limit = np.inf if x2.dtype == np.uint8 and self.unit >= 1 and self.bound >= 255 else self.bound * self.unit
        results = []
        run_shards(lambda lo, hi: results.append(jit.run_rows(x2, lo, hi, *args, self.extra, self.bias_rows, out2, limit)),
                   x2.shape[0], x2.size, JIT_SHARDS_PER_WORKER)
        if min(results, default=0.0) >= 0:
            return sum(results)
        # a value above the bound: digits, a chunk of rows at a time (what was written is overwritten)
        sops, step, rpf = 0.0, self.chunk_rows["event"], t.rows_per_frame
        for lo in range(0, x2.shape[0], step):
            partials = []
            for scale, part in digits(x2[lo : lo + step], self.unit, self.bound):
                sums = np.zeros((part.shape[0] * rpf, self.weights.shape[1]))
                sops += scale * jit.scatter_rows(np.ascontiguousarray(part, np.float64), *args, sums)
                partials.append((scale, sums))
            jit.finish_rows(combine(partials), self.extra, self.bias_rows, out2[lo * rpf : (lo + step) * rpf])
        return sops

    def _main(self, x: np.ndarray, path: str) -> tuple[np.ndarray, float]:
        """(float64 sums of every band's columns, synaptic operations x unit) for one input part."""
        main = self.bands.kernel
        if path == "event":
            return kernels.dense_events(x, main, self.fan_out) if isinstance(self.node, ir.Dense) else self.events(x)
        magnitude = x if x.dtype.kind in "ub" else np.abs(x)
        sops = float(np.einsum("i,i->", magnitude.reshape(x.shape[0], -1).sum(axis=0, dtype=np.float64), self.fan_out))
        if isinstance(self.node, ir.Dense):
            return kernels.dense_dense(x, main), sops
        if self.depthwise:
            return kernels.depthwise_dense(x, main, self.geometry), sops
        return kernels.conv_dense(x, main, self.geometry), sops


def fan_out(node: ir.Node, in_shape: tuple[int, ...]) -> np.ndarray:
    """Synapses leaving each input element of a weighted layer (flat, in the input's order)."""
    if isinstance(node, ir.Dense):
        return np.full(node.kernel.shape[0], node.kernel.shape[1], np.float64)
    kh, kw, c, n = node.kernel.shape
    g = ConvGeometry(in_shape, (kh, kw), node.strides, node.dilation, node.padding)
    return np.repeat(g.fan_out_positions().astype(np.float64) * n, c)


def make_synapses(plan) -> dict[str, Synapses]:
    """A ``Synapses`` for each weighted temporal layer of the plan that reads spikes."""
    shapes = plan.graph.shapes
    return {
        name: Synapses(plan.graph[name], shapes[plan.graph[name].inputs[0]], unit, bound)
        for name, (unit, bound) in plan.synapses.items()
    }


#: readout-side nodes that pass a boundary signal through element by element
_PASS = (ir.Identity, ir.Flatten, ir.Reshape)


class SopCounters:
    """SOPs of readout layers that read spike counts: a Dense or convolution of the readout region
    whose input is a spike-valued boundary node (through Identity / Flatten / Reshape). The
    simulators integrate that node over T (a float64 sum of spike values, exact); its total
    per element / unit x fan-out is the layer's synaptic operations."""

    def __init__(self, plan):
        graph = plan.graph
        self.sources: dict[str, list[tuple[str, float, np.ndarray]]] = {}
        self.sops: dict[str, float] = {}
        for node in graph:
            if not isinstance(node, ir.WEIGHTED) or plan.region[node.name] == "temporal":
                continue
            source = node.inputs[0]
            while source not in plan.boundary and isinstance(graph[source], _PASS):
                source = graph[source].inputs[0]
            if source in plan.boundary and source in plan.units:
                reach = fan_out(node, graph.shapes[node.inputs[0]])
                self.sources.setdefault(source, []).append((node.name, plan.units[source], reach))
                self.sops[node.name] = 0.0

    def add_total(self, source: str, total: np.ndarray) -> None:
        """Count a batch: ``total`` (B, ...) is ``source`` summed over the T steps."""
        for name, unit, reach in self.sources.get(source, ()):
            element_counts = np.abs(total).reshape(total.shape[0], -1).sum(axis=0)
            self.sops[name] += float(element_counts @ reach) / unit


__all__ = ["Synapses", "SopCounters", "fan_out", "make_synapses"]
