"""Train the shipped event-camera example: a convolutional LIF SNN on the digits as event streams
(writes digits_events.nir).

Run from anywhere:  python models/train_digits_events.py [--out models/digits_events.nir]

Data: ``digits-events`` (npukit.data.digits_events): each 8x8 digit moves in three saccades on a
12x12 simulated event sensor, as N-MNIST was recorded; its events are binned into T = 30 frames
of 10 ms, two polarity channels (OFF, ON) of event counts. Trained on the 1437-sample train
split, measured on the 360-sample test split.

Network (NIR, channels-first): Conv2d 2->8 3x3 padding 1, LIF, SumPool2d 2, Conv2d 8->16 3x3
padding 1, LIF, SumPool2d 2, Flatten, Affine 144->64, LIF, Affine 64->10, LIF (output spikes).
Every LIF has beta = 0.9 (tau = dt/(1-beta), r = tau/dt, dt = 1e-4, snnTorch's convention),
threshold 1, reset to 0, v(0) = 0: NIR's equations under forward Euler (``--framework nir``).
The class is the output neuron that spikes most over the 30 steps.

Training: backpropagation through time in TensorFlow with a fast-sigmoid surrogate gradient
(1 / (1 + 10 |v - 1|)^2), the reset treated as constant in the backward pass; cross-entropy on
0.5 x the output spike counts; Adam (learning rate 2e-3, halved every 15 epochs), batch 64, 45
epochs. Seeds fixed with keras.utils.set_random_seed(0) and op determinism. The forward pass is
exactly the NIR graph's dynamics, so npukit's simulation of the written file reproduces the
trained network; the script prints both accuracies on the test split.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from npukit.models.snn_training import SEED, chain, fit, lif, run, sum_pool2  # noqa: E402

BETA = 0.9
EPOCHS = 45
C1, C2, HIDDEN, CLASSES = 8, 16, 64, 10
SIDE = 12  # the event sensor's width and height


def build(tf):
    init = tf.keras.initializers.GlorotUniform(seed=SEED)
    return {
        "conv1_w": tf.Variable(init((3, 3, 2, C1)) * 2.0, name="conv1_w"),
        "conv1_b": tf.Variable(tf.zeros(C1), name="conv1_b"),
        "conv2_w": tf.Variable(init((3, 3, C1, C2)) * 2.0, name="conv2_w"),
        "conv2_b": tf.Variable(tf.zeros(C2), name="conv2_b"),
        "fc1_w": tf.Variable(init((3 * 3 * C2, HIDDEN)) * 2.0, name="fc1_w"),
        "fc1_b": tf.Variable(tf.zeros(HIDDEN), name="fc1_b"),
        "fc2_w": tf.Variable(init((HIDDEN, CLASSES)) * 2.0, name="fc2_w"),
        "fc2_b": tf.Variable(tf.zeros(CLASSES), name="fc2_b"),
    }


def forward(tf, params, frames, spike):
    """Output spike counts (batch, 10) of the SNN on frames (batch, T, 12, 12, 2), NHWC."""
    beta = tf.constant(BETA, tf.float32)
    batch = tf.shape(frames)[0]
    v1 = tf.zeros((batch, SIDE, SIDE, C1))
    v2 = tf.zeros((batch, SIDE // 2, SIDE // 2, C2))
    v3 = tf.zeros((batch, HIDDEN))
    v4 = tf.zeros((batch, CLASSES))
    counts = tf.zeros((batch, CLASSES))

    def lif(v, current):
        v = beta * v + current
        s = spike(v - 1.0)
        return v * (1.0 - tf.stop_gradient(s)), s

    for t in range(frames.shape[1]):
        v1, s1 = lif(v1, tf.nn.conv2d(frames[:, t], params["conv1_w"], 1, "SAME") + params["conv1_b"])
        p1 = tf.nn.avg_pool2d(s1, 2, 2, "VALID") * 4.0  # sum pooling
        v2, s2 = lif(v2, tf.nn.conv2d(p1, params["conv2_w"], 1, "SAME") + params["conv2_b"])
        p2 = tf.reshape(tf.nn.avg_pool2d(s2, 2, 2, "VALID") * 4.0, (-1, 3 * 3 * C2))  # HWC order
        v3, s3 = lif(v3, p2 @ params["fc1_w"] + params["fc1_b"])
        v4, s4 = lif(v4, s3 @ params["fc2_w"] + params["fc2_b"])
        counts = counts + s4
    return counts


def nhwc(frames):
    """(N, T, 2, H, W) event frames -> (N, T, H, W, 2)."""
    return frames.transpose(0, 1, 3, 4, 2).copy()


def train():
    from npukit.data import digits_events

    return fit(build, forward, digits_events("train"), digits_events("test"), epochs=EPOCHS, halve_every=15,
               logit_scale=0.5, prepare=nhwc)


def to_nir(params):
    """The trained network as a NIR graph (channels-first, snnTorch's parameter convention)."""
    import nir
    import numpy as np

    from npukit.ir.layout import chw_order, conv_weight_to_oihw

    nodes = {
        "input": nir.Input(input_type={"input": np.array([2, SIDE, SIDE])}),
        "conv1": nir.Conv2d(input_shape=(SIDE, SIDE), weight=conv_weight_to_oihw(params["conv1_w"]), stride=1, padding=1,
                            dilation=1, groups=1, bias=params["conv1_b"]),
        "lif1": lif((C1, SIDE, SIDE), BETA),
        "pool1": sum_pool2(),
        "conv2": nir.Conv2d(input_shape=(SIDE // 2, SIDE // 2), weight=conv_weight_to_oihw(params["conv2_w"]), stride=1,
                            padding=1, dilation=1, groups=1, bias=params["conv2_b"]),
        "lif2": lif((C2, SIDE // 2, SIDE // 2), BETA),
        "pool2": sum_pool2(),
        "flatten": nir.Flatten(input_type={"input": np.array([C2, 3, 3])}, start_dim=0),
        # the training graph flattens in HWC order; NIR's column j is the CHW feature j
        "fc1": nir.Affine(weight=params["fc1_w"][chw_order((3, 3, C2))].T.copy(), bias=params["fc1_b"]),
        "lif3": lif((HIDDEN,), BETA),
        "fc2": nir.Affine(weight=params["fc2_w"].T.copy(), bias=params["fc2_b"]),
        "lif4": lif((CLASSES,), BETA),
        "output": nir.Output(output_type={"output": np.array([CLASSES])}),
    }
    return chain(nodes)


def main() -> None:
    run(__doc__, Path(__file__).with_name("digits_events.nir"), train, to_nir, "digits-events")


if __name__ == "__main__":
    main()
