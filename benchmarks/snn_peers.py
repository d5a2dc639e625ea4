"""The peer frameworks of ``bench_simulator.py``: a NIR graph of Conv2d / SumPool2d / Flatten /
Affine / IF nodes (a chain) built directly in torch, run by sinabs and by an snnTorch-style step
loop. Neither is a dependency of npukit (`pip install torch==2.13.0 sinabs snntorch`).

Semantics on both sides are npukit's reading of NIR IF with ``dt = 1``: one step per frame,
v += I, a spike when v > threshold (one at most), reset to v_reset = 0.

* sinabs: ``IAFSqueeze`` layers (time folded into the batch: each Conv2d runs once on all
  N x T frames, then the neurons step through T), ``SingleSpike`` / ``MembraneReset``, no
  membrane floor. sinabs fires at v >= threshold, so it gets the next float32 above the
  threshold, which makes its test v > threshold for float32 membranes. (``sinabs.from_nir`` reads
  IF as ``MultiSpike``, ``MembraneSubtract`` and a floor at -threshold: other semantics, which
  npukit's NIR reader does not produce; and it needs nir <= 1.0.4.)
* snnTorch-style: every layer at every step, ``snntorch.Leaky(beta=1, reset_mechanism="zero",
  reset_delay=False)`` neurons (spike when v > threshold), the way snnTorch tutorials write it.
"""

from __future__ import annotations

import numpy as np


def _kind(node) -> str:
    return type(node).__name__


def torch_layers(graph):
    """[(kind, module or IF parameters)] for a chain-shaped ``nir.NIRGraph``, in edge order."""
    import torch

    order, successor = ["input"], dict(graph.edges)
    while order[-1] in successor:
        order.append(successor[order[-1]])
    layers = []
    for name in order:
        node = graph.nodes[name]
        kind = _kind(node)
        if kind == "Conv2d":
            cout, cin, kh, kw = node.weight.shape
            conv = torch.nn.Conv2d(cin, cout, (kh, kw), stride=tuple(np.broadcast_to(node.stride, 2)),
                                   padding=tuple(int(p) for p in np.broadcast_to(node.padding, 2)))
            conv.weight.data = torch.from_numpy(np.asarray(node.weight, np.float32).copy())
            conv.bias.data = torch.from_numpy(np.asarray(node.bias, np.float32).copy())
            layers.append(("linear", conv))
        elif kind == "Affine":
            fc = torch.nn.Linear(node.weight.shape[1], node.weight.shape[0])
            fc.weight.data = torch.from_numpy(np.asarray(node.weight, np.float32).copy())
            fc.bias.data = torch.from_numpy(np.asarray(node.bias, np.float32).copy())
            layers.append(("linear", fc))
        elif kind == "SumPool2d":
            k = tuple(int(v) for v in node.kernel_size)
            layers.append(("linear", torch.nn.LPPool2d(1, k, tuple(int(v) for v in node.stride))))
        elif kind == "Flatten":
            layers.append(("linear", torch.nn.Flatten()))
        elif kind == "IF":
            theta = np.unique(np.asarray(node.v_threshold, np.float32))
            if theta.size != 1 or np.any(np.asarray(node.v_reset) != 0) or np.any(np.asarray(node.r) != 1):
                raise SystemExit(f"{name}: the peers take IF with one threshold, r = 1 and v_reset = 0")
            layers.append(("if", (name, float(theta[0]))))
        elif kind not in ("Input", "Output"):
            raise SystemExit(f"benchmark graph has a node the peers do not build: {kind}")
    return layers


def sinabs_runner(graph, x: np.ndarray):
    """(run, counts): ``run()`` simulates the (N, T, C, H, W) events ``x`` with sinabs and
    returns the last layer's spike counts; ``counts`` maps each IF layer to its (N, ...) counts
    of the last run."""
    import sinabs.layers as sl
    import torch
    from sinabs.activation import MembraneReset, SingleSpike

    torch.set_num_threads(2)
    n, steps = x.shape[:2]
    modules, names = [], []
    for kind, layer in torch_layers(graph):
        if kind == "linear":
            modules.append(layer)
            continue
        name, theta = layer
        above = float(np.nextafter(np.float32(theta), np.float32(np.inf)))  # v >= above  <=>  v > theta
        modules.append(sl.IAFSqueeze(batch_size=n, spike_threshold=torch.tensor(above), spike_fn=SingleSpike,
                                     reset_fn=MembraneReset(0.0), min_v_mem=None))
        names.append((len(modules) - 1, name))
    net = torch.nn.Sequential(*modules)
    frames = torch.from_numpy(np.ascontiguousarray(x.reshape((n * steps,) + x.shape[2:])))
    counts: dict[str, np.ndarray] = {}
    spiking = dict(names)

    @torch.no_grad()
    def run():
        for module in net:
            if hasattr(module, "reset_states"):
                module.reset_states()
        h = frames
        for index, module in enumerate(net):
            h = module(h)
            if index in spiking:
                counts[spiking[index]] = h.reshape((n, steps) + h.shape[1:]).sum(1)
        return h

    return run, counts


def snntorch_runner(graph, x: np.ndarray):
    """(run, counts) like ``sinabs_runner``, with an snnTorch step loop: every layer, every step."""
    import snntorch
    import torch

    torch.set_num_threads(2)
    n, steps = x.shape[:2]
    layers = []
    for kind, layer in torch_layers(graph):
        if kind == "if":
            name, theta = layer
            layer = (name, snntorch.Leaky(beta=1.0, threshold=theta, reset_mechanism="zero", reset_delay=False))
        layers.append((kind, layer))
    frames = torch.from_numpy(np.ascontiguousarray(x))
    counts: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def run():
        mems: dict[str, torch.Tensor] = {}
        for t in range(steps):
            h = frames[:, t]
            for kind, layer in layers:
                if kind == "linear":
                    h = layer(h)
                    continue
                name, leaky = layer
                if name not in mems:
                    mems[name] = torch.zeros_like(h)
                    counts[name] = torch.zeros_like(h)
                h, mems[name] = leaky(h, mems[name])
                counts[name] += h
        return h

    return run, counts


def channels_last(counts: np.ndarray) -> np.ndarray:
    """(N, C, H, W) counts as npukit's (N, H, W, C); vectors unchanged."""
    counts = np.asarray(counts)
    return counts.transpose(0, 2, 3, 1) if counts.ndim == 4 else counts


def digits_snntorch_runner(snn, x: np.ndarray, timesteps: int, hoist_first: bool):
    """A callable simulating the digits IF network ``snn`` (an npukit IR graph from
    ``ann_to_snn``) with snnTorch, and the spike counts it fills: Leaky(beta=1,
    reset_mechanism="subtract") neurons, membranes started at threshold / 2.

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
