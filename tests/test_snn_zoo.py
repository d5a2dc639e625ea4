"""npukit's float simulation against the frameworks' own runs of the five zoo networks
(tests/snn_zoo.py): sinabs and snnTorch event CNNs, an snnTorch recurrent audio network, a Norse
conv net, and NIR's IF CNN under NIR's equations.

For every spiking layer the frameworks' spike counts over T must equal npukit's on >= 99% of
(sample, neuron) pairs; the hidden layers must fire sparsely but not silently (2-15% spikes per
neuron per step) and the predictions (argmax of output counts) must vary across samples (>= 5
classes over 32 samples, few exact ties between the top two counts), so that agreement is not won
on silent or constant networks.
"""

from __future__ import annotations

import numpy as np
import pytest

from frameworks import need

need("torch", "the SNN zoo needs torch (pip install torch==2.13.0)")

import snn_zoo  # noqa: E402
from npukit.snn.simulate import simulate  # noqa: E402

MIN_EQUAL = 0.99  # fraction of (sample, neuron) pairs with equal spike counts, per layer
HIDDEN_RATE = (0.02, 0.15)  # spikes per neuron per step, mean over samples and neurons
MIN_CLASSES = 5
SAMPLES = 32


@pytest.mark.parametrize("builder", list(snn_zoo.BUILDERS))
def test_zoo_network_matches_its_framework(builder):
    net = snn_zoo.BUILDERS[builder](samples=SAMPLES)
    assert net.x.dtype == np.float32 and net.x.shape[0] == SAMPLES
    ours = simulate(net.graph, net.x, None)
    assert ours.timesteps == net.timesteps
    assert set(net.framework_counts) == set(ours.spike_counts), "every spiking layer recorded"
    for name, theirs in net.framework_counts.items():
        assert ours.spike_counts[name].shape == theirs.shape, name
        equal = float(np.mean(ours.spike_counts[name] == theirs))
        assert equal >= MIN_EQUAL, f"{builder} {name}: {equal:.4f} of (sample, neuron) counts equal"
    rates = net.rates()
    for name in net.hidden:
        assert HIDDEN_RATE[0] <= rates[name] <= HIDDEN_RATE[1], f"{builder} {name}: {rates[name]:.4f} spikes/neuron/step"
    out = net.framework_counts[net.output].reshape(SAMPLES, -1)
    assert out.sum() > 0
    assert len(np.unique(net.predictions())) >= MIN_CLASSES
    assert len(np.unique(net.predictions(ours.spike_counts))) >= MIN_CLASSES
    top = np.sort(out, axis=1)
    assert np.sum(top[:, -1] == top[:, -2]) <= SAMPLES // 8, "few exact ties between the top two counts"
    assert len({tuple(row) for row in out}) > SAMPLES // 2, "output counts differ between samples"
