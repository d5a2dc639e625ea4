"""An independent simulator: snnTorch runs the converted shipped CNN with the same weights.

Optional: snnTorch is never an npukit dependency (`pip install torch==2.13.0 snntorch` to run
this); CI installs both and sets NPUKIT_REQUIRE_FRAMEWORKS=1, so there it runs and never skips.
Leaky(beta=1, reset_mechanism="subtract") is the IF neuron with reset by subtraction; its
membrane starts at threshold / 2. snnTorch fires on v > threshold and npukit on v >=
threshold, so counts may differ only where a membrane lands exactly on the threshold.
"""

from __future__ import annotations


import numpy as np

import npukit
from npukit.passes.ann_to_snn import ann_to_snn
from npukit.snn.simulate import simulate
from frameworks import need

torch = need("torch", "snnTorch cross-check needs torch (optional)")
snntorch = need("snntorch", "snnTorch cross-check needs snntorch (optional)")

MIN_EQUAL_COUNTS = 0.999  # fraction of neurons with identical spike counts


@torch.no_grad()
def test_spike_counts_match_snntorch(shipped_model, digits_train, digits_test):
    snn = ann_to_snn(npukit.load(shipped_model), digits_train.x[:256])
    x, T = digits_test.x[:64], 32
    ours = simulate(snn, x, T)
    h0 = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    mods, mems, counts = {}, {}, {}
    for node in snn:
        kind = type(node).__name__
        if kind == "Conv2D":
            m = torch.nn.Conv2d(node.kernel.shape[2], node.kernel.shape[3], 3, padding="same")
            m.weight.data, m.bias.data = torch.from_numpy(node.kernel.transpose(3, 2, 0, 1).copy()), torch.from_numpy(node.bias)
        elif kind == "Dense":
            m = torch.nn.Linear(*node.kernel.shape)
            m.weight.data, m.bias.data = torch.from_numpy(node.kernel.T.copy()), torch.from_numpy(node.bias)
        elif kind == "AveragePool2D":
            m = torch.nn.AvgPool2d(2)
        elif kind == "Flatten":
            m = lambda t: t.permute(0, 2, 3, 1).reshape(t.shape[0], -1)  # noqa: E731 - NHWC order
        elif kind == "IF":
            m = snntorch.Leaky(beta=1.0, threshold=float(node.v_threshold), reset_mechanism="subtract")
        else:
            continue
        mods[node.name] = (kind, m, node)
    readout = 0
    for _ in range(T):
        h = h0
        for name, (kind, m, node) in mods.items():
            if kind != "IF":
                h = m(h)
                continue
            if name not in mems:
                mems[name] = torch.full_like(h, float(node.v_threshold) / 2)
                counts[name] = torch.zeros_like(h)
            spikes, mems[name] = m(h, mems[name])
            counts[name] += spikes
            h = spikes * float(node.amplitude)
        readout = readout + h
    for name, theirs in counts.items():
        theirs = theirs.numpy()
        if theirs.ndim == 4:
            theirs = theirs.transpose(0, 2, 3, 1)
        assert np.mean(theirs == ours.spike_counts[name]) >= MIN_EQUAL_COUNTS, name
    np.testing.assert_allclose((readout / T).numpy(), ours.outputs, atol=1e-3)
