"""Temporal parity down to the layer and the step: the float simulation, the deployed arithmetic and
LiteRT side by side, with the weight floor beside them.

For a spiking temporal .tflite, four runs step through the same samples in lockstep, a batch at
a time:

* ``snn``: the float simulation (``npukit.snn.stepwise``, the reference);
* ``floor``: the same simulation with the weights the .tflite stores (its int8 levels at the
  graph's per-channel scales, ``npukit.converters.tflite_temporal.stored_weights``; or rounded to
  float16): what the weights' precision alone costs;
* ``deployed``: the .tflite's own arithmetic in numpy (``npukit.runtime.deployed``): what the
  phone is predicted to compute;
* ``tflite``: LiteRT on the CPU (its default XNNPACK delegate), the spike tensors of every layer
  read as extra outputs.

Per spiking layer (docs/reports.md, ``deployed.layers``): the fraction of (sample, neuron, step)
spikes equal between pairs of runs, the fraction of (sample, neuron) spike counts over T equal,
the cosine and largest error of each state (membrane, synaptic current) against the float
simulation over all steps, and the first step at which each run's spikes leave the float
simulation's (the earliest over the samples, and the median of each sample's first).
``agreement_by_step`` is the top-1 agreement with the float simulation of the readout so far
(the mean of the per-step readouts up to step t), for t = 1..T.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from npukit.ir import SPIKING, Graph
from npukit.passes.round_weights import round_weights
from npukit.runtime.deployed import Stepper, numpy_interpreter
from npukit.runtime.interpreter import make_interpreter
from npukit.snn.encoders import encode
from npukit.snn.stepwise import simulate_stepwise

RUNS = ("snn", "floor", "deployed", "tflite")
#: pairs of runs whose spikes are compared, as reported
PAIRS = (("deployed", "snn"), ("tflite", "snn"), ("floor", "snn"), ("deployed", "tflite"))
#: samples stepped together (memory: every spiking layer's spikes of all T steps of a batch)
BATCH = 64


def floor_precision(meta: dict[str, Any]) -> str | None:
    """How the .tflite stores its weights: "int8", "fp16", or None (float32: no floor)."""
    return {"int8": "int8", "fp16": "fp16"}.get(meta.get("quantization"))


class _Tally:
    """Running sums of one spiking layer's comparisons."""

    def __init__(self, shape: tuple[int, ...]):
        self.shape = shape
        self.equal = {f"{a}_vs_{b}": 0 for a, b in PAIRS}
        self.counts_equal = {f"{a}_vs_{b}": 0 for a, b in PAIRS}
        self.spikes = 0
        self.pairs = 0
        self.firsts: dict[str, list[float]] = {run: [] for run in ("floor", "deployed", "tflite")}
        self.dot = {run: 0.0 for run in ("deployed", "tflite")}
        self.norm = {run: 0.0 for run in ("deployed", "tflite", "snn")}
        self.max_error = {run: 0.0 for run in ("deployed", "tflite")}

    def add_spikes(self, runs: dict[str, np.ndarray]) -> None:
        """runs: run -> (T, B, *shape) spikes of one batch."""
        steps, batch = runs["snn"].shape[:2]
        self.spikes += runs["snn"].size
        self.pairs += runs["snn"][0].size
        totals = {run: value.sum(axis=0) for run, value in runs.items()}
        for a, b in PAIRS:
            self.equal[f"{a}_vs_{b}"] += int(np.count_nonzero(runs[a] == runs[b]))
            self.counts_equal[f"{a}_vs_{b}"] += int(np.count_nonzero(totals[a] == totals[b]))
        for run in self.firsts:
            differs = (runs[run] != runs["snn"]).reshape(steps, batch, -1).any(axis=2)  # (T, B)
            first = np.where(differs.any(axis=0), differs.argmax(axis=0) + 1, np.inf)
            self.firsts[run].extend(first.tolist())

    def add_state(self, reference: np.ndarray, runs: dict[str, np.ndarray]) -> None:
        ref = reference.astype(np.float64)
        self.norm["snn"] += float(np.sum(ref * ref))
        for run, value in runs.items():
            value = value.astype(np.float64)
            self.dot[run] += float(np.sum(ref * value))
            self.norm[run] += float(np.sum(value * value))
            self.max_error[run] = max(self.max_error[run], float(np.max(np.abs(ref - value), initial=0.0)))

    def figures(self, name: str) -> dict[str, Any]:
        def first(run: str) -> dict[str, Any]:
            values = np.asarray(self.firsts[run])
            finite = values[np.isfinite(values)]
            return {
                "earliest": int(finite.min()) if finite.size else None,
                "median": float(np.median(values)) if finite.size * 2 > values.size else None,
                "samples_diverged": float(finite.size / max(values.size, 1)),
            }

        out: dict[str, Any] = {
            "layer": name,
            "neurons": int(np.prod(self.shape)),
            "spikes_equal": {k: v / self.spikes for k, v in self.equal.items()},
            "counts_equal": {k: v / self.pairs for k, v in self.counts_equal.items()},
            "first_divergence_step": {run: first(run) for run in self.firsts},
        }
        return out

    def state_figures(self) -> dict[str, Any]:
        """Cosine and largest absolute error of a state against the float simulation, all steps."""
        return {"cosine": {run: _cos(self.dot[run], self.norm["snn"], self.norm[run]) for run in self.dot},
                "max_error": dict(self.max_error)}


def _cos(dot: float, a: float, b: float) -> float:
    if a == 0 and b == 0:
        return 1.0
    if a == 0 or b == 0:
        return 0.0
    return round(dot / np.sqrt(a * b), 6)


def deployed_parity(snn: Graph, model: bytes, meta: dict[str, Any], x: np.ndarray, timesteps: int, encoding: str,
                    seed: int, progress=None) -> dict[str, Any]:
    """The figures of the module docstring for the temporal ``model`` (bytes, npukit metadata
    ``meta``) of the spiking graph ``snn`` on ``x`` (channels-last, (N, ...) or (N, T, ...));
    also the LiteRT readouts and output spike counts (``tflite_readouts``, ``tflite_counts``)."""
    precision = floor_precision(meta)
    if precision == "int8":  # the levels the file stores (GPTQ or nearest) at the graph's own scales
        from npukit.converters.tflite_temporal import stored_weights
        from npukit.tflite_file import read_tflite

        floor_graph = stored_weights(snn, read_tflite(model))
    else:
        floor_graph = round_weights(snn, precision) if precision else snn
    input_max = float(meta.get("input_max", snn.meta.get("snn", {}).get("input_max", 1.0)))
    spiking = [n.name for n in snn if isinstance(n, SPIKING)]
    layers = [name for name in spiking if name in (meta.get("spike_tensors") or {})]
    states = [(k, s["layer"], s["kind"]) for k, s in enumerate(meta["state_order"]) if s["kind"] in ("v", "i")]
    tallies = {name: _Tally(tuple(snn.shapes[name])) for name in layers}
    state_tallies = {(layer, kind): _Tally(tuple(snn.shapes[layer])) for _, layer, kind in states}
    by_step = {run: np.zeros(timesteps) for run in ("floor", "deployed", "tflite")}
    readouts: dict[str, list[np.ndarray]] = {run: [] for run in RUNS}
    counts: list[np.ndarray] = []
    output = snn.output
    litert = Stepper(model, lambda blob, batch: make_interpreter(blob), 1)
    model_batch = litert.loop.batch
    if model_batch != 1:
        litert = Stepper(model, lambda blob, batch: make_interpreter(blob), model_batch)
    for first in range(0, len(x), BATCH):
        xb = np.asarray(x[first : first + BATCH], np.float32)
        n = len(xb)
        spikes = {run: {name: [] for name in layers} for run in RUNS}
        state_values = {run: {key: [] for key in state_tallies} for run in RUNS}

        def simulated(run: str):
            def hook(_first, t, step_spikes, step_states, _values):
                for name in layers:
                    spikes[run][name].append(np.asarray(step_spikes[name], np.float32))
                for layer, kind in state_tallies:
                    state_values[run][(layer, kind)].append(np.asarray(step_states[layer][kind], np.float32))
            return hook

        cumulative = {}
        for run, graph in (("snn", snn), ("floor", floor_graph)):
            result = simulate_stepwise(graph, xb, timesteps, encoding=encoding, seed=seed, batch_size=n,
                                       checkpoints=range(1, timesteps + 1), on_step=simulated(run), first_index=first)
            cumulative[run] = result.readouts.reshape(timesteps, n, -1).astype(np.float64)  # means up to each step
        frames = encode(xb, timesteps, encoding, input_max, seed, first)
        running = {run: [] for run in ("deployed", "tflite")}

        def recorded(run: str, rows: slice):
            def hook(t, record):
                for name in layers:
                    _put(spikes[run][name], t, rows, n, record.spikes[name])
                for k, layer, kind in states:
                    _put(state_values[run][(layer, kind)], t, rows, n, record.states[k])
                _put(running[run], t, rows, n, record.readout)
            return hook

        Stepper(model, numpy_interpreter, n).run(frames, timesteps, recorded("deployed", slice(0, n)))
        for lo in range(0, n, model_batch):
            hi = min(lo + model_batch, n)
            constant = frames.ndim == len(litert.loop.frame_shape) + 1
            litert.run(_frames_chunk(frames, lo, hi, model_batch, constant), timesteps, recorded("tflite", slice(lo, hi)))
        for run in ("deployed", "tflite"):
            steps = np.stack(running[run]).reshape(timesteps, n, -1).astype(np.float64)
            cumulative[run] = np.cumsum(steps, axis=0) / np.arange(1, timesteps + 1)[:, None, None]
        reference = cumulative["snn"].argmax(axis=2)  # (T, B)
        for run in ("floor", "deployed", "tflite"):
            by_step[run] += np.sum(cumulative[run].argmax(axis=2) == reference, axis=1)
        for run in RUNS:
            readouts[run].append(cumulative[run][-1])
        for name in layers:
            tallies[name].add_spikes({run: np.stack(spikes[run][name]) for run in RUNS})
        for key, tally in state_tallies.items():
            tally.add_state(np.stack(state_values["snn"][key]),
                            {run: np.stack(state_values[run][key]) for run in ("deployed", "tflite")})
        if output in layers:
            counts.append(np.rint(np.stack(spikes["tflite"][output]).sum(axis=0)).astype(np.int32))
        if progress:
            progress(n)
    final = {run: np.concatenate(value) for run, value in readouts.items()}
    top = {run: value.argmax(axis=1) for run, value in final.items()}
    figures: dict[str, Any] = {
        "state": meta.get("state"),
        "weights": precision or "float32",
        "tuning": meta.get("tuning"),
        "agreement": {
            "deployed_vs_snn": _agree(top["deployed"], top["snn"]),
            "tflite_vs_snn": _agree(top["tflite"], top["snn"]),
            "floor_vs_snn": _agree(top["floor"], top["snn"]),
            "tflite_vs_deployed": _agree(top["tflite"], top["deployed"]),
        },
        "spike_agreement": _overall(tallies),
        "layers": [tallies[name].figures(name) for name in layers],
        "states": [{"layer": layer, "kind": kind, **tally.state_figures()} for (layer, kind), tally in state_tallies.items()],
        "agreement_by_step": {run: [round(float(v) / len(x), 6) for v in values] for run, values in by_step.items()},
    }
    return {"figures": figures, "tflite_readouts": final["tflite"], "tflite_counts": np.concatenate(counts) if counts else None,
            "top1": top}


def _put(rows_by_step: list, t: int, rows: slice, n: int, value: np.ndarray) -> None:
    """Write one interpreter batch's values of step t into the (B, ...) array of that step."""
    value = np.asarray(value, np.float32)
    if t == len(rows_by_step):
        rows_by_step.append(np.zeros((n, *value.shape[1:]), np.float32))
    rows_by_step[t][rows] = value[: rows.stop - rows.start]


def _frames_chunk(frames: np.ndarray, lo: int, hi: int, batch: int, constant: bool) -> np.ndarray:
    """Frames of samples lo..hi ((batch, ...) when ``constant``, else (T, batch, ...)), padded by
    repeating the last sample up to the model's static batch."""
    axis = 0 if constant else 1
    part = np.take(frames, np.arange(lo, hi), axis=axis)
    if hi - lo < batch:
        last = np.take(part, [-1], axis=axis)
        part = np.concatenate([part, np.repeat(last, batch - (hi - lo), axis=axis)], axis=axis)
    return part


def _agree(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(a == b))


def _overall(tallies: dict[str, _Tally]) -> dict[str, float] | None:
    """Fractions of (sample, neuron, step) spikes equal, over every spiking layer together."""
    total = sum(t.spikes for t in tallies.values())
    if not total:
        return None
    return {key: sum(t.equal[key] for t in tallies.values()) / total for key in next(iter(tallies.values())).equal}
