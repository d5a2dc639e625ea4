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

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SEED = 0
BETA = 0.9
DT = 1e-4
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


def surrogate(tf):
    @tf.custom_gradient
    def spike(x):
        def grad(dy):
            return dy / tf.square(1.0 + 10.0 * tf.abs(x))

        return tf.cast(x > 0, tf.float32), grad

    return spike


def nhwc(frames):
    """(N, T, 2, H, W) event frames -> (N, T, H, W, 2)."""
    return frames.transpose(0, 1, 3, 4, 2).copy()


def train():
    import keras
    import numpy as np
    import tensorflow as tf

    from npukit.data import digits_events

    keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    train_set, test_set = digits_events("train"), digits_events("test")
    x_train, x_test = nhwc(train_set.x), nhwc(test_set.x)
    params = build(tf)
    spike = surrogate(tf)
    optimizer = tf.keras.optimizers.Adam(2e-3)

    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            counts = forward(tf, params, x, spike)
            loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(y, 0.5 * counts, from_logits=True))
        grads = tape.gradient(loss, list(params.values()))
        optimizer.apply_gradients(zip(grads, list(params.values())))
        return loss

    rng = np.random.default_rng(SEED)
    for epoch in range(EPOCHS):
        optimizer.learning_rate.assign(2e-3 * 0.5 ** (epoch // 15))
        order = rng.permutation(len(train_set))
        for start in range(0, len(order), 64):
            idx = order[start : start + 64]
            train_step(tf.constant(x_train[idx]), tf.constant(train_set.y[idx]))
    counts = forward(tf, params, tf.constant(x_test), lambda v: tf.cast(v > 0, tf.float32)).numpy()
    accuracy = float(np.mean(counts.argmax(axis=1) == test_set.y))
    return {k: v.numpy() for k, v in params.items()}, accuracy


def to_nir(params):
    """The trained network as a NIR graph (channels-first, snnTorch's parameter convention)."""
    import nir
    import numpy as np

    from npukit.ir.layout import chw_order, conv_weight_to_oihw

    def lif(shape):
        tau = np.float32(DT) / (np.float32(1.0) - np.float32(BETA))
        full = lambda value: np.full(shape, value, dtype=np.float32)  # noqa: E731
        return nir.LIF(
            tau=full(tau), r=full(tau / np.float32(DT)), v_leak=full(0.0), v_threshold=full(1.0), v_reset=full(0.0)
        )

    def pool():
        return nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))

    nodes = {
        "input": nir.Input(input_type={"input": np.array([2, SIDE, SIDE])}),
        "conv1": nir.Conv2d(input_shape=(SIDE, SIDE), weight=conv_weight_to_oihw(params["conv1_w"]), stride=1, padding=1,
                            dilation=1, groups=1, bias=params["conv1_b"]),
        "lif1": lif((C1, SIDE, SIDE)),
        "pool1": pool(),
        "conv2": nir.Conv2d(input_shape=(SIDE // 2, SIDE // 2), weight=conv_weight_to_oihw(params["conv2_w"]), stride=1,
                            padding=1, dilation=1, groups=1, bias=params["conv2_b"]),
        "lif2": lif((C2, SIDE // 2, SIDE // 2)),
        "pool2": pool(),
        "flatten": nir.Flatten(input_type={"input": np.array([C2, 3, 3])}, start_dim=0),
        # the training graph flattens in HWC order; NIR's column j is the CHW feature j
        "fc1": nir.Affine(weight=params["fc1_w"][chw_order((3, 3, C2))].T.copy(), bias=params["fc1_b"]),
        "lif3": lif((HIDDEN,)),
        "fc2": nir.Affine(weight=params["fc2_w"].T.copy(), bias=params["fc2_b"]),
        "lif4": lif((CLASSES,)),
        "output": nir.Output(output_type={"output": np.array([CLASSES])}),
    }
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])))


def main() -> None:
    import nir

    import npukit

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("digits_events.nir"))
    args = parser.parse_args()
    params, accuracy = train()
    nir.write(str(args.out), to_nir(params))
    report = npukit.simulate(args.out, "digits-events")
    print(
        f"wrote {args.out}: digits-events test accuracy {accuracy * 100:.2f}% (TensorFlow), "
        f"{report.accuracy() * 100:.2f}% (npukit simulation of the NIR file), T={report.result.timesteps}, "
        f"{len(report.data)} test samples"
    )


if __name__ == "__main__":
    main()
