"""Train the shipped spiking example: a LIF SNN on the 8x8 digits (writes digits_lif.nir).

Run from anywhere:  python models/train_digits_snn.py [--out models/digits_lif.nir]

Network (NIR, channels-first): Conv2d 1->8 3x3 padding 1, LIF, SumPool2d 2, Flatten, Affine
128->64, LIF, Affine 64->10, LIF (output spikes). Every LIF has beta = 0.9 (tau = dt/(1-beta),
r = tau/dt with dt = 1e-4, the snnTorch convention), threshold 1, reset to 0, v(0) = 0. The
input is the image (pixels / 16) as a constant current for T = 25 steps; the class is the
output neuron that spikes most.

Training: backpropagation through time in TensorFlow with a fast-sigmoid surrogate gradient
(1 / (1 + 10 |v - 1|)^2) for the spike, the reset treated as constant in the backward pass;
cross-entropy on 0.5 x the output spike counts; Adam (learning rate 2e-3, halved every 20
epochs), batch 64, 60 epochs, on npukit's digits train split (1437 samples). Seeds fixed with
keras.utils.set_random_seed(0) and op determinism. The forward pass is exactly the NIR graph's
forward-Euler dynamics, so npukit's simulation of the written file reproduces the trained
network; the script prints both accuracies on the 360-sample test split.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from npukit.models.snn_training import SEED, chain, fit, lif, run, sum_pool2  # noqa: E402

TIMESTEPS = 25
BETA = 0.9
EPOCHS = 60
CHANNELS, HIDDEN, CLASSES = 8, 64, 10


def build(tf):
    init = tf.keras.initializers.GlorotUniform(seed=SEED)
    return {
        "conv_w": tf.Variable(init((3, 3, 1, CHANNELS)) * 2.0, name="conv_w"),
        "conv_b": tf.Variable(tf.zeros(CHANNELS), name="conv_b"),
        "fc1_w": tf.Variable(init((4 * 4 * CHANNELS, HIDDEN)) * 2.0, name="fc1_w"),
        "fc1_b": tf.Variable(tf.zeros(HIDDEN), name="fc1_b"),
        "fc2_w": tf.Variable(init((HIDDEN, CLASSES)) * 2.0, name="fc2_w"),
        "fc2_b": tf.Variable(tf.zeros(CLASSES), name="fc2_b"),
    }


def forward(tf, params, x, spike):
    """Output spike counts (batch, 10) of the SNN on images x (batch, 8, 8, 1), NHWC."""
    beta = tf.constant(BETA, tf.float32)
    current1 = tf.nn.conv2d(x, params["conv_w"], 1, "SAME") + params["conv_b"]  # constant input
    v1 = tf.zeros_like(current1)
    v2 = tf.zeros((tf.shape(x)[0], HIDDEN))
    v3 = tf.zeros((tf.shape(x)[0], CLASSES))
    counts = tf.zeros((tf.shape(x)[0], CLASSES))
    for _ in range(TIMESTEPS):
        v1 = beta * v1 + current1
        s1 = spike(v1 - 1.0)
        v1 = v1 * (1.0 - tf.stop_gradient(s1))
        pooled = tf.nn.avg_pool2d(s1, 2, 2, "VALID") * 4.0  # sum pooling
        flat = tf.reshape(pooled, (-1, 4 * 4 * CHANNELS))  # HWC order
        v2 = beta * v2 + (flat @ params["fc1_w"] + params["fc1_b"])
        s2 = spike(v2 - 1.0)
        v2 = v2 * (1.0 - tf.stop_gradient(s2))
        v3 = beta * v3 + (s2 @ params["fc2_w"] + params["fc2_b"])
        s3 = spike(v3 - 1.0)
        v3 = v3 * (1.0 - tf.stop_gradient(s3))
        counts = counts + s3
    return counts


def train():
    from npukit.data import digits

    return fit(build, forward, digits("train"), digits("test"), epochs=EPOCHS, halve_every=20, logit_scale=0.5)


def to_nir(params):
    """The trained network as a NIR graph (channels-first, snnTorch's parameter convention)."""
    import nir
    import numpy as np

    from npukit.ir.layout import chw_order, conv_weight_to_oihw

    nodes = {
        "input": nir.Input(input_type={"input": np.array([1, 8, 8])}),
        "conv": nir.Conv2d(
            input_shape=(8, 8), weight=conv_weight_to_oihw(params["conv_w"]), stride=1, padding=1,
            dilation=1, groups=1, bias=params["conv_b"],
        ),
        "lif1": lif((CHANNELS, 8, 8), BETA),
        "pool": sum_pool2(),
        "flatten": nir.Flatten(input_type={"input": np.array([CHANNELS, 4, 4])}, start_dim=0),
        # the training graph flattens in HWC order; NIR's column j is the CHW feature j
        "fc1": nir.Affine(weight=params["fc1_w"][chw_order((4, 4, CHANNELS))].T.copy(), bias=params["fc1_b"]),
        "lif2": lif((HIDDEN,), BETA),
        "fc2": nir.Affine(weight=params["fc2_w"].T.copy(), bias=params["fc2_b"]),
        "lif3": lif((CLASSES,), BETA),
        "output": nir.Output(output_type={"output": np.array([CLASSES])}),
    }
    return chain(nodes)


def main() -> None:
    run(__doc__, Path(__file__).with_name("digits_lif.nir"), train, to_nir, "digits", timesteps=TIMESTEPS)


if __name__ == "__main__":
    main()
