"""Event-driven spiking CNNs as NIR graphs, with random weights, and random event streams: the
workloads of ``benchmarks/bench_simulator.py`` and of the simulator's exactness tests.

* ``nmnist_cnn``: the N-MNIST CNN of the NIR paper (Pedersen et al., Nature Communications 2024):
  2x34x34 events -> Conv 5x5/2 (pad 1) 16 -> IF -> Conv 3x3 (pad 1) 16 -> IF -> SumPool 2 ->
  Conv 3x3 (pad 1) 8 -> IF -> SumPool 2 -> Flatten -> Affine 128->256 -> IF -> Affine 256->10 -> IF.
* ``vgg_cnn``: a 32x32x3 VGG-style SNN: Conv 3x3 64 -> IF -> SumPool 2 -> Conv 3x3 128 -> IF ->
  SumPool 2 -> Conv 3x3 256 -> IF -> SumPool 2 -> Flatten -> Affine 4096->10 -> IF.

IF neurons are NIR's (r = 1, threshold 1, reset to 0; npukit reads them with ``dt = 1``: one
step per frame). Weights are drawn so that on 5% random input events the hidden layers fire
sparsely (3-10% of their neurons per step), like trained event networks; they are not trained.
``events`` draws (N, T, C, H, W) 0/1 frames, channels-first like the NIR graph.
"""

from __future__ import annotations

import numpy as np


def _conv(rng, cin: int, cout: int, k: int, stride: int, gain: float, bias: float):
    import nir

    weight = (rng.standard_normal((cout, cin, k, k)) * gain / np.sqrt(cin * k * k)).astype(np.float32)
    return nir.Conv2d(input_shape=None, weight=weight, stride=stride, padding=1, dilation=1, groups=1,
                      bias=np.full(cout, bias, np.float32))


def _affine(rng, n_in: int, n_out: int, gain: float, bias: float):
    import nir

    weight = (rng.standard_normal((n_out, n_in)) * gain / np.sqrt(n_in)).astype(np.float32)
    return nir.Affine(weight=weight, bias=np.full(n_out, bias, np.float32))


def _if(shape: tuple[int, ...]):
    import nir

    return nir.IF(r=np.ones(shape, np.float32), v_threshold=np.ones(shape, np.float32),
                  v_reset=np.zeros(shape, np.float32))


def _pool():
    import nir

    return nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))


def _chain(nodes: dict, input_shape: tuple[int, ...], output_size: int):
    import nir

    nodes = {"input": nir.Input(input_type={"input": np.array(input_shape)}), **nodes,
             "output": nir.Output(output_type={"output": np.array([output_size])})}
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])))


def nmnist_cnn(seed: int = 0):
    """The NIR paper's N-MNIST CNN (module docstring) as a ``nir.NIRGraph``, random weights."""
    import nir

    rng = np.random.default_rng(seed)
    return _chain(
        {
            "conv1": _conv(rng, 2, 16, 5, 2, 6.0, 0.0), "if1": _if((16, 16, 16)),
            "conv2": _conv(rng, 16, 16, 3, 1, 3.5, -0.02), "if2": _if((16, 16, 16)),
            "pool2": _pool(),
            "conv3": _conv(rng, 16, 8, 3, 1, 0.6, -0.02), "if3": _if((8, 8, 8)),
            "pool3": _pool(),
            "flat": nir.Flatten(input_type={"input": np.array([8, 4, 4])}, start_dim=0),
            "fc1": _affine(rng, 128, 256, 0.5, -0.02), "if4": _if((256,)),
            "fc2": _affine(rng, 256, 10, 1.5, 0.0), "if5": _if((10,)),
        },
        (2, 34, 34), 10,
    )


def vgg_cnn(seed: int = 0):
    """The 32x32x3 VGG-style SNN (module docstring) as a ``nir.NIRGraph``, random weights."""
    import nir

    rng = np.random.default_rng(seed)
    return _chain(
        {
            "conv1": _conv(rng, 3, 64, 3, 1, 4.0, 0.0), "if1": _if((64, 32, 32)), "pool1": _pool(),
            "conv2": _conv(rng, 64, 128, 3, 1, 0.7, -0.02), "if2": _if((128, 16, 16)), "pool2": _pool(),
            "conv3": _conv(rng, 128, 256, 3, 1, 0.4, -0.02), "if3": _if((256, 8, 8)), "pool3": _pool(),
            "flat": nir.Flatten(input_type={"input": np.array([256, 4, 4])}, start_dim=0),
            "fc": _affine(rng, 4096, 10, 1.0, 0.0), "if4": _if((10,)),
        },
        (3, 32, 32), 10,
    )


def events(samples: int, timesteps: int, shape: tuple[int, ...], density: float, seed: int = 0) -> np.ndarray:
    """(samples, timesteps, *shape) float32 frames of 0/1 events, each element on with
    probability ``density`` at each step."""
    rng = np.random.default_rng(seed)
    return (rng.random((samples, timesteps) + tuple(shape)) < density).astype(np.float32)


__all__ = ["nmnist_cnn", "vgg_cnn", "events"]
