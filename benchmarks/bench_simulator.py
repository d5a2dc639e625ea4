"""Spiking-simulator throughput: time-folded vs the plain step loop vs snnTorch (when installed).

    python benchmarks/bench_simulator.py [--timesteps 32] [--batch 256] [--repeats 7]

Network: the shipped digits CNN converted to IF neurons (npukit.passes.ann_to_snn, thresholds at
the 99.9th percentile on 512 train samples): conv 3x3x16 IF, avg pool 2, conv 3x3x32 IF, avg
pool 2, dense 64 IF, dense 10 readout; constant-current input. One batch of `--batch` digits.

Prints, from one run on this machine: median wall time per batch of each simulator, throughput
in samples x timesteps per second, and the ratios. snnTorch (optional, never a dependency of
npukit; `pip install torch==2.13.0 snntorch`) simulates the same weights with Leaky(beta=1,
reset_mechanism="subtract") neurons, membranes started at threshold / 2, on the CPU with 2
threads; its spike counts are compared with npukit's (snnTorch fires on v > threshold, npukit on
v >= threshold, so equality is expected up to float ties).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

import npukit
from npukit.data import digits
from npukit.models import DIGITS_CNN
from npukit.passes.ann_to_snn import ann_to_snn
from npukit.profile.latency import cpu_name
from npukit.snn.simulate import simulate
from npukit.snn.stepwise import simulate_stepwise

TARGET_VS_SNNTORCH = 3.0


def median_seconds(contenders: dict, repeats: int) -> dict[str, float]:
    """Median wall time of each callable, measured in interleaved rounds (round-robin), so a
    slow spell of a shared machine hits every contender alike."""
    for fn in contenders.values():
        fn()  # warm up (caches, BLAS threads)
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def snntorch_runner(snn, x: np.ndarray, timesteps: int, hoist_first: bool):
    """A callable simulating ``snn`` with snnTorch, and the spike counts it fills.

    ``hoist_first=False`` is snnTorch as usually written (every layer at every step);
    ``True`` computes the constant-current first layer once, as npukit does."""
    import snntorch
    import torch

    torch.set_num_threads(2)
    layers = []
    for node in snn:
        kind = type(node).__name__
        if kind == "Conv2D":
            conv = torch.nn.Conv2d(node.kernel.shape[2], node.kernel.shape[3], node.kernel.shape[:2], padding="same")
            conv.weight.data = torch.from_numpy(node.kernel.transpose(3, 2, 0, 1).copy())
            conv.bias.data = torch.from_numpy(node.bias.copy())
            layers.append(("linear", conv))
        elif kind == "Dense":
            fc = torch.nn.Linear(*node.kernel.shape)
            fc.weight.data = torch.from_numpy(node.kernel.T.copy())
            fc.bias.data = torch.from_numpy(node.bias.copy())
            layers.append(("linear", fc))
        elif kind == "AveragePool2D":
            layers.append(("linear", torch.nn.AvgPool2d(node.pool_size)))
        elif kind == "Flatten":  # NHWC flatten order: permute back before flattening
            layers.append(("linear", lambda t: t.permute(0, 2, 3, 1).reshape(t.shape[0], -1)))
        elif kind == "IF":
            theta = float(node.v_threshold)
            leaky = snntorch.Leaky(beta=1.0, threshold=theta, reset_mechanism="subtract")
            layers.append(("if", (leaky, theta, float(node.amplitude), node.name)))
        elif kind != "Input":
            raise SystemExit(f"benchmark network has an unexpected layer {kind}")
    xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    counts: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def run():
        first = layers[0][1](xt) if hoist_first else None
        mems = {}
        total = 0.0
        for _ in range(timesteps):
            h = first if hoist_first else layers[0][1](xt)
            for kind, layer in layers[1:]:
                if kind == "linear":
                    h = layer(h)
                    continue
                leaky, theta, amplitude, name = layer
                if name not in mems:
                    mems[name] = torch.full_like(h, theta / 2)
                    counts[name] = torch.zeros_like(h)
                spk, mems[name] = leaky(h, mems[name])
                counts[name] += spk
                h = spk * amplitude
            total = total + h
        return total / timesteps

    return run, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=32)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    T, B = args.timesteps, args.batch

    graph = npukit.load(DIGITS_CNN)
    snn = ann_to_snn(graph, digits("train").x[:512])
    x = np.resize(digits("all").x, (B, 8, 8, 1))

    contenders = {
        "npukit time-folded": lambda: simulate(snn, x, T, batch_size=B),
        "npukit step loop": lambda: simulate_stepwise(snn, x, T, batch_size=B),
    }
    ours = simulate(snn, x, T, batch_size=B)
    torch_note = "snnTorch: not installed (pip install torch==2.13.0 snntorch)"
    try:
        import snntorch  # noqa: F401
        import torch
    except ImportError:
        snntorch = None
    if snntorch is not None:
        label = f"snnTorch {snntorch.__version__} (torch {torch.__version__}, 2 threads)"
        run, counts = snntorch_runner(snn, x, T, hoist_first=False)
        contenders[label] = run
        contenders[label + ", first layer once"] = snntorch_runner(snn, x, T, hoist_first=True)[0]
    seconds = median_seconds(contenders, args.repeats)
    rows = list(seconds.items())
    folded, stepped = seconds["npukit time-folded"], seconds["npukit step loop"]
    torch_seconds = hoisted_seconds = None
    if snntorch is not None:
        torch_seconds, hoisted_seconds = seconds[label], seconds[label + ", first layer once"]
        readout = run().numpy()
        same = [
            float(np.mean(counts[name].numpy().transpose(0, 2, 3, 1).reshape(ours.spike_counts[name].shape) == ours.spike_counts[name]))
            if counts[name].dim() == 4 else float(np.mean(counts[name].numpy() == ours.spike_counts[name]))
            for name in ours.spike_counts
        ]
        torch_note = (
            f"snnTorch vs npukit: equal spike counts on {100 * min(same):.3f}% of neurons (worst layer), "
            f"top-1 agreement {100 * np.mean(readout.argmax(1) == ours.outputs.argmax(1)):.2f}%"
        )

    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, numpy {np.__version__}")
    print(f"network: shipped digits CNN as IF SNN, T={T}, batch {B}, constant-current input")
    width = max(len(name) for name, _ in rows)
    for name, seconds in rows:
        print(f"  {name:<{width}}  {seconds * 1e3:8.1f} ms/batch  {B * T / seconds:12,.0f} samples x timesteps / s")
    print(f"ratio step loop / time-folded: {stepped / folded:.2f}x")
    if torch_seconds is not None:
        ratio = torch_seconds / folded
        verdict = "meets" if ratio >= TARGET_VS_SNNTORCH else "MISSES"
        print(f"ratio snnTorch / time-folded: {ratio:.2f}x ({verdict} the {TARGET_VS_SNNTORCH:.0f}x target)")
        print(f"ratio snnTorch with the first layer computed once / time-folded: {hoisted_seconds / folded:.2f}x")
    print(torch_note)


if __name__ == "__main__":
    main()
