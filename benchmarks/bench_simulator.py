"""Spiking-simulator speed and memory: npukit against its step loop, sinabs and snnTorch.

    python benchmarks/bench_simulator.py [--repeats 5] [--workloads digits,nmnist,vgg] [--json]

Workloads (``npukit.models.event_snns`` builds the event networks, random weights):

* ``nmnist``: the NIR paper's N-MNIST CNN (2x34x34 -> Conv 5x5/2 16 -> IF -> Conv 3x3 16 -> IF ->
  SumPool 2 -> Conv 3x3 8 -> IF -> SumPool 2 -> Affine 256 -> IF -> Affine 10 -> IF) as a NIR graph,
  read with ``from_nir_graph(graph, dt=1.0)``; 32 samples x 100 steps of 5% random events.
* ``vgg``: a 32x32x3 VGG-style SNN (Conv 64 -> IF -> SumPool -> Conv 128 -> IF -> SumPool ->
  Conv 256 -> IF -> SumPool -> Affine 10 -> IF); 64 samples x 32 steps of 5% random events.
* ``digits``: the shipped digits CNN converted to IF neurons (npukit.passes.ann_to_snn,
  thresholds at the 99.9th percentile of 512 train samples), constant-current input, T = 32,
  one batch of 256 digits; against the step loop and snnTorch as before.

The event workloads run in npukit (time-folded simulator), sinabs (``IAFSqueeze``) and an
snnTorch step loop, all on the same weights and events (``snn_peers.py``: semantics, thresholds).
When the compiled event kernel is in use (numba), npukit with NPUKIT_NO_JIT=1 (the scipy kernel)
is timed in the same rounds; the header names the kernel and the machine's load average.
Contenders are timed in interleaved rounds after one warm-up run; the table shows the median,
and min-max over the rounds (the machine is shared: the spread says how noisy a run was); ratios
are of medians (the targets), and of the fastest rounds (less sensitive to a busy machine).
Spike counts of every layer are compared with npukit's. Peak resident memory of each npukit
simulation is measured in a fresh process (VmHWM after a reset, minus VmRSS before) against
``npukit.snn.memory``'s estimate. ``--json`` prints every figure as JSON instead of the table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import npukit  # noqa: E402
from npukit.profile.latency import cpu_name  # noqa: E402
from npukit.snn.simulate import simulate  # noqa: E402
from npukit.snn.stepwise import simulate_stepwise  # noqa: E402
from npukit.kernels.parallel import workers  # noqa: E402
from npukit.snn.synapses import NO_JIT_ENV, event_kernel  # noqa: E402

#: speed targets (issue 14): peer seconds / npukit seconds at least this
TARGETS = {("nmnist", "sinabs"): 2.0, ("nmnist", "snnTorch"): 3.0, ("vgg", "sinabs"): 1.0, ("digits", "snnTorch"): 3.0}
#: peak RSS within this fraction of the estimate
MEMORY_TOLERANCE = 0.25


def timed_rounds(contenders: dict, repeats: int) -> dict[str, list[float]]:
    """Wall times of each callable in interleaved rounds (round-robin), after one warm-up call
    each, so that a slow spell of a shared machine hits every contender alike."""
    for fn in contenders.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def event_workload(name: str):
    """(nir graph, npukit graph, events (N, T, C, H, W), batch) of an event workload."""
    from npukit.converters.nir import from_nir_graph
    from npukit.models.event_snns import events, nmnist_cnn, vgg_cnn

    if name == "nmnist":
        nir_graph, x = nmnist_cnn(), events(32, 100, (2, 34, 34), 0.05, seed=1)
    else:
        nir_graph, x = vgg_cnn(), events(64, 32, (3, 32, 32), 0.05, seed=2)
    return nir_graph, from_nir_graph(nir_graph, dt=1.0), x, x.shape[0]


def digits_workload(batch: int):
    from npukit.data import digits
    from npukit.models import DIGITS_CNN
    from npukit.passes.ann_to_snn import ann_to_snn

    snn = ann_to_snn(npukit.load(DIGITS_CNN), digits("train").x[:512])
    return snn, np.resize(digits("all").x, (batch, 8, 8, 1))


def agreement(ours: dict[str, np.ndarray], theirs: dict[str, np.ndarray]) -> float:
    """Fraction of neurons with equal spike counts, in the worst layer."""
    from snn_peers import channels_last

    worst = 1.0
    for name, counts in ours.items():
        other = channels_last(np.asarray(theirs[name])).reshape(counts.shape)
        worst = min(worst, float(np.mean(other == counts)))
    return worst


def run_event(name: str, repeats: int) -> dict:
    from snn_peers import sinabs_runner, snntorch_runner

    nir_graph, graph, x, batch = event_workload(name)
    ours = simulate(graph, x, None, batch_size=batch)
    contenders = {"npukit": lambda: simulate(graph, x, None, batch_size=batch)}
    if event_kernel() == "jit":  # the scipy kernel (the event path before the compiled one), same run
        contenders["npukit, scipy kernel"] = lambda: _without_jit(lambda: simulate(graph, x, None, batch_size=batch))
    peers, labels, note = {}, {}, "peers not installed: pip install torch==2.13.0 sinabs snntorch"
    for peer, module, runner, label in (("sinabs", "sinabs", sinabs_runner, "sinabs {}"),
                                        ("snnTorch", "snntorch", snntorch_runner, "snnTorch {} step loop")):
        try:
            version = __import__(module).__version__
        except ImportError:
            continue
        run, counts = runner(nir_graph, x)
        contenders[peer], peers[peer], labels[peer] = run, counts, label.format(version)
        note = f"torch {__import__('torch').__version__}, 2 threads"
    times = timed_rounds(contenders, repeats)
    agree = {peer: agreement(ours.spike_counts, {k: v.numpy() for k, v in counts.items()}) for peer, counts in peers.items()}
    return _figures(name, x.shape[0], x.shape[1], times, ours, agree, labels, note)


def _without_jit(fn):
    """fn() with the event path on the scipy kernel (NPUKIT_NO_JIT=1)."""
    os.environ[NO_JIT_ENV] = "1"
    try:
        return fn()
    finally:
        del os.environ[NO_JIT_ENV]


def kernel_note() -> str:
    """Which event kernel the npukit rows ran."""
    if event_kernel() == "jit":
        import numba

        return f"event kernel: jit (numba {numba.__version__}, {workers()} worker threads)"
    return "event kernel: scipy" + (f" ({NO_JIT_ENV}=1)" if os.environ.get(NO_JIT_ENV) == "1" else " (numba not installed)")


def run_digits(repeats: int, batch: int = 256, timesteps: int = 32) -> dict:
    snn, x = digits_workload(batch)
    ours = simulate(snn, x, timesteps, batch_size=batch)
    contenders = {
        "npukit": lambda: simulate(snn, x, timesteps, batch_size=batch),
        "npukit step loop": lambda: simulate_stepwise(snn, x, timesteps, batch_size=batch),
    }
    agree, labels, note = {}, {}, "snnTorch not installed"
    try:
        import snntorch
        import torch

        from snn_peers import digits_snntorch_runner
    except ImportError:
        snntorch = None
    if snntorch is not None:
        run, counts = digits_snntorch_runner(snn, x, timesteps, hoist_first=False)
        contenders["snnTorch"] = run
        contenders["snnTorch, first layer once"] = digits_snntorch_runner(snn, x, timesteps, hoist_first=True)[0]
        labels = {"snnTorch": f"snnTorch {snntorch.__version__}"}
        note = f"torch {torch.__version__}, 2 threads"
    times = timed_rounds(contenders, repeats)
    if snntorch is not None:
        agree["snnTorch"] = agreement(ours.spike_counts, {k: v.numpy() for k, v in counts.items()})
    return _figures("digits", batch, timesteps, times, ours, agree, labels, note)


def _figures(name, samples, timesteps, times, ours, agree, labels, note) -> dict:
    seconds = {k: statistics.median(v) for k, v in times.items()}
    ratios = {k: seconds[k] / seconds["npukit"] for k in seconds if k != "npukit"}
    fastest = {k: min(times[k]) / min(times["npukit"]) for k in seconds if k != "npukit"}
    targets = {peer: {"target": t, "met": ratios[peer] >= t} for (w, peer), t in TARGETS.items() if w == name and peer in ratios}
    return {
        "workload": name, "samples": samples, "timesteps": timesteps, "peers": labels, "peer_note": note,
        "seconds": seconds, "seconds_min_max": {k: [min(v), max(v)] for k, v in times.items()},
        "samples_x_timesteps_per_second": {k: samples * timesteps / v for k, v in seconds.items()},
        "ratios_vs_npukit": ratios, "ratios_of_fastest_rounds": fastest, "targets": targets, "spike_agreement": agree,
        "firing_rate": ours.firing_rates(), "sops_per_sample": ours.sops, "paths": ours.paths,
    }


def dense_path(repeats: int, batch: int = 256, timesteps: int = 32) -> dict:
    """The digits CNN's conv2 (the benchmarks' one layer on the dense path) four ways, on its input
    as the simulator sees it: 2x2-average-pooled 0/1 spikes at the measured 20% firing rate, T x B
    rows. float32 GEMMs in one-step blocks (the previous exactness rule, kept for analog inputs),
    one float32 call (fast, but not bit-identical across batch sizes), the exact float64 dense
    path, and the exact event path."""
    from npukit.kernels.conv import conv2d
    from npukit.snn.synapses import Synapses

    snn, _ = digits_workload(8)
    node = snn["conv2"]
    rng = np.random.default_rng(0)
    spikes = rng.random((timesteps * batch, 8, 8, 16)) < 0.2
    x = spikes.reshape(timesteps * batch, 4, 2, 4, 2, 16).sum(axis=(2, 4)).astype(np.float32) / 4
    syn = Synapses(node, (4, 4, 16), 0.25)
    conv = lambda block: conv2d(x, node.kernel, node.bias, node.strides, node.padding, node.dilation, block)  # noqa: E731
    contenders = {
        "float32, one-step blocks": lambda: conv(batch), "float32, one call": lambda: conv(None),
        "exact float64, dense": lambda: syn(x, "dense"), f"exact, event-driven ({syn.kernel})": lambda: syn(x, "event"),
    }
    if syn.kernel == "jit":
        scipy = Synapses(node, (4, 4, 16), 0.25, kernel="scipy")
        contenders["exact, event-driven (scipy)"] = lambda: scipy(x, "event")
    times = timed_rounds(contenders, repeats)
    seconds = {k: statistics.median(v) for k, v in times.items()}
    return {"rows": timesteps * batch, "seconds": seconds, "seconds_min_max": {k: [min(v), max(v)] for k, v in times.items()}}


def _load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:  # pragma: no cover - no load average on this platform
        return "unknown"


def rss_child(name: str) -> None:
    """Measure one npukit simulation's peak resident memory (run in a fresh process)."""
    from npukit.snn.encoders import event_input
    from npukit.snn.memory import FIXED_BYTES, bytes_per_sample
    from npukit.snn.plan import make_plan

    if name == "digits":
        graph, x = digits_workload(256)
        steps, encoding, batch = 32, "current", 256
    else:
        _, graph, x, batch = event_workload(name)
        steps, encoding = None, "time_series"
        x = np.ascontiguousarray(np.moveaxis(x, 2, -1))  # channels-last, as simulate takes it
    simulate(graph, x[:2], steps, batch_size=2)  # load the kernels and BLAS before measuring
    plan = make_plan(graph, steps or x.shape[1], encoding, None, *event_input(x, encoding, 1.0))
    with open("/proc/self/clear_refs", "w") as handle:  # reset VmHWM to the current RSS
        handle.write("5")
    before = _status_kib("VmRSS")
    simulate(graph, x, steps, batch_size=batch)
    peak = _status_kib("VmHWM")
    print(json.dumps({"measured_bytes": (peak - before) * 1024, "per_sample_bytes": bytes_per_sample(plan),
                      "batch": batch, "fixed_bytes": FIXED_BYTES}))


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise SystemExit(f"/proc/self/status has no {field}")


def memory(name: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--rss-child", name], capture_output=True, text=True, check=True)
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    estimate = figures["per_sample_bytes"] * figures["batch"] + figures["fixed_bytes"]
    figures["estimate_bytes"] = estimate
    figures["ratio"] = figures["measured_bytes"] / estimate
    figures["within_tolerance"] = abs(figures["ratio"] - 1) <= MEMORY_TOLERANCE
    return figures


def print_table(results: list[dict], header: str) -> None:
    print(header)
    for r in results:
        print(f"\n{r['workload']}: {r['samples']} samples x {r['timesteps']} steps ({r['peer_note']})")
        width = max(len(k) for k in r["seconds"]) + 2
        for k, s in r["seconds"].items():
            lo, hi = r["seconds_min_max"][k]
            label = r["peers"].get(k, k)
            print(f"  {label:<{width + 12}} {s * 1e3:9.1f} ms  (min {lo * 1e3:.1f}, max {hi * 1e3:.1f})"
                  f"  {r['samples_x_timesteps_per_second'][k]:12,.0f} samples x steps / s")
        for peer, ratio in r["ratios_vs_npukit"].items():
            target = r["targets"].get(peer)
            verdict = f" ({'meets' if target['met'] else 'MISSES'} the {target['target']:g}x target)" if target else ""
            print(f"  ratio {peer} / npukit: {ratio:.2f}x{verdict}; fastest rounds: {r['ratios_of_fastest_rounds'][peer]:.2f}x")
        for peer, share in r["spike_agreement"].items():
            print(f"  {peer} vs npukit: equal spike counts on {100 * share:.3f}% of neurons (worst layer)")
        rates = ", ".join(f"{k} {100 * v:.1f}%" for k, v in r["firing_rate"].items())
        print(f"  firing rates (spikes per neuron per step): {rates}")
        if r["paths"]:
            paths = ", ".join(f"{k} {'event' if p['event'] >= p['dense'] else 'dense'}" for k, p in r["paths"].items())
            print(f"  synaptic paths: {paths}; SOPs per sample {sum(r['sops_per_sample'].values()):,.0f}")
        if "memory" in r:
            m = r["memory"]
            verdict = "within" if m["within_tolerance"] else "OUTSIDE"
            print(f"  peak RSS {m['measured_bytes'] / 2**20:,.1f} MiB vs estimate {m['estimate_bytes'] / 2**20:,.1f} MiB: "
                  f"ratio {m['ratio']:.2f} ({verdict} {100 * MEMORY_TOLERANCE:.0f}%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workloads", default="nmnist,vgg,digits")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--rss-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.rss_child)
        return
    load_before = _load()
    results = []
    for name in args.workloads.split(","):
        result = run_digits(args.repeats) if name == "digits" else run_event(name, args.repeats)
        result["memory"] = memory(name)
        results.append(result)
    dense = dense_path(args.repeats)
    header = (f"machine: {cpu_name()}, {os.cpu_count()} cores, numpy {np.__version__}, npukit {npukit.__version__}\n"
              f"{kernel_note()}; load average (1, 5, 15 min) before: {load_before}, after: {_load()}")
    if args.json:
        print(json.dumps({"machine": header, "workloads": results, "dense_path": dense}, indent=1))
        return
    print_table(results, header)
    print(f"\ndense path: digits conv2 on {dense['rows']:,} rows (T x B) of pooled spikes")
    base = dense["seconds"]["float32, one-step blocks"]
    for k, s in dense["seconds"].items():
        lo, hi = dense["seconds_min_max"][k]
        print(f"  {k:<30} {s * 1e3:8.1f} ms  (min {lo * 1e3:.1f}, max {hi * 1e3:.1f})  {s / base:5.2f}x the blocks")


if __name__ == "__main__":
    main()
